"""Whisper encoder states of a signal's speech, on the signal's own timeline.

The speech recogniser (faster-whisper's batched pipeline) already runs Whisper's encoder over
every stretch of speech: its VAD cuts the speech out, glues it into chunks of at most 30 s and
encodes each chunk once. The voice modality pools those same states over each utterance, so
:class:`CapturingPipeline` keeps them while the recogniser runs (a second encoder pass used to
cost the voice modality about 60 ms per utterance), and :func:`encode_speech` computes exactly
the same states without decoding any text, for files whose transcript is not recognised here
(a given transcript, the sequential decoder, another Whisper model) and for training.

Each state covers 20 ms of the glued speech; :func:`map_to_signal` puts it back at its time in
the original signal through the VAD's speech segments. Only states of real speech are kept (not
the padding after a chunk's end), as float16: about 1.4 MB per minute of speech for tiny.en.
"""

from __future__ import annotations

import contextvars
import functools
import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .audio_source import SAMPLE_RATE, AudioSource, as_source
from .errors import ModelError
from .spill import SpilledRows

STATE_SECONDS = 0.02
"""Time step of Whisper's encoder states."""

CHUNK_SECONDS = 30.0
"""Longest chunk of glued speech encoded at once (Whisper's window)."""



@dataclass(frozen=True, eq=False)  # arrays: compared by identity
class EncoderStates:
    """Encoder states of the speech in one signal.

    Attributes:
        times: ``(n,)`` float64 seconds from the start of the signal (the centre of each state),
            increasing.
        states: ``(n, width)`` float16 encoder outputs: an array, or for a signal longer than
            one window (:mod:`emotrace.windows`) rows read from a temporary file
            (:class:`~emotrace.spill.SpilledRows`, read by index and slice as an array is).
        model: which encoder made them (see :func:`model_key`); states of another model or
            compute type are not interchangeable.
    """

    times: np.ndarray
    states: np.ndarray | SpilledRows
    model: str

    def __len__(self) -> int:
        return len(self.times)

    def between(self, start: float, end: float) -> np.ndarray:
        """States whose centre lies in ``[start, end)``."""
        lo, hi = np.searchsorted(self.times, [start, end], side="left")
        return self.states[lo:hi]

    def nearest(self, t: float) -> tuple[float, np.ndarray | None]:
        """Distance in seconds to the state closest to ``t``, and that state (None when empty)."""
        if not len(self.times):
            return math.inf, None
        k = int(np.clip(np.searchsorted(self.times, t), 1, len(self.times) - 1)) if len(self.times) > 1 else 0
        if len(self.times) > 1 and abs(self.times[k - 1] - t) <= abs(self.times[k] - t):
            k -= 1
        return float(abs(self.times[k] - t)), self.states[k]


class StatesJoiner:
    """Puts the states of a long signal's consecutive windows, given one window at a time and
    in order, on the signal's timeline; the states themselves go to a temporary file
    (:class:`~emotrace.spill.SpilledRows`, 1.5 MB a minute of speech for tiny.en), so a long
    file's states cost disk, not memory. Only the times (8 bytes a state) stay in memory.

    Args:
        model: :func:`model_key` of the encoder.
    """

    def __init__(self, model: str):
        self.model = model
        self._times: list[np.ndarray] = []
        self._rows: SpilledRows | None = None

    def add(self, offset: float, states: EncoderStates) -> None:
        """The states of the window starting ``offset`` seconds into the signal."""
        if not len(states):
            return
        if self._rows is None:
            self._rows = SpilledRows(states.states.shape[1], np.float16, "encoder states")
        self._times.append(states.times + offset)
        self._rows.append(states.states)

    def result(self) -> EncoderStates:
        """All the states added, on the signal's timeline."""
        if self._rows is None:
            return EncoderStates(np.zeros(0), np.zeros((0, 0), np.float16), self.model)
        return EncoderStates(np.concatenate(self._times), self._rows, self.model)


def model_key(model_dir: str, compute_type: str) -> str:
    """Identity of an encoder: its resolved directory and CTranslate2 compute type."""
    from pathlib import Path

    return f"{Path(model_dir).resolve()}|{compute_type}"


def vad_options():
    """The VAD settings faster-whisper's batched pipeline uses by default (30 s chunks)."""
    from faster_whisper.vad import VadOptions

    return VadOptions(max_speech_duration_s=CHUNK_SECONDS, min_silence_duration_ms=160)


def map_to_signal(segments: Sequence[dict], offsets: Sequence[float], outputs: Sequence[np.ndarray],
                  durations: Sequence[float], model: str) -> EncoderStates:
    """Place the states of glued-speech chunks on the original signal's timeline.

    Args:
        segments: the VAD's speech segments (``{"start", "end"}`` in samples), in order; the
            chunks are these segments glued end to end.
        offsets: each chunk's start in glued-speech seconds.
        outputs: each chunk's encoder output ``(frames, width)``.
        durations: each chunk's length in seconds (states past it encode padding: dropped).
        model: :func:`model_key` of the encoder.
    """
    starts = np.array([s["start"] for s in segments], dtype=np.float64)
    lengths = np.array([s["end"] - s["start"] for s in segments], dtype=np.float64)
    glued_starts = np.concatenate([[0.0], np.cumsum(lengths)[:-1]]) if len(lengths) else np.zeros(0)
    times, states = [], []
    for offset, out, duration in zip(offsets, outputs, durations):
        n = min(len(out), int(math.ceil(duration / STATE_SECONDS - 1e-9)))
        if n <= 0 or not len(segments):
            continue
        glued = (offset + (np.arange(n) + 0.5) * STATE_SECONDS) * SAMPLE_RATE
        k = np.clip(np.searchsorted(glued_starts, glued, side="right") - 1, 0, len(segments) - 1)
        times.append((starts[k] + glued - glued_starts[k]) / SAMPLE_RATE)
        states.append(np.asarray(out[:n], dtype=np.float16))
    if not times:
        width = outputs[0].shape[-1] if len(outputs) else 0
        return EncoderStates(np.zeros(0), np.zeros((0, width), np.float16), model)
    t, s = np.concatenate(times), np.concatenate(states)
    order = np.argsort(t, kind="stable")
    return EncoderStates(t[order], s[order], model)


_vad_sink: contextvars.ContextVar[list | None] = contextvars.ContextVar("emotrace_vad_sink", default=None)


@functools.lru_cache(maxsize=1)
def _install_vad_tap() -> bool:
    """Wrap faster-whisper's ``collect_chunks`` so that a capturing call sees the VAD's segments.

    The wrapper only records when :data:`_vad_sink` is set (by :class:`CapturingPipeline`, per
    call and per thread); it always returns what the original returns.
    """
    try:
        import faster_whisper.transcribe as ft
    except ImportError:
        return False
    original = getattr(ft, "collect_chunks", None)
    if original is None:
        return False
    if getattr(original, "_emotrace_tap", False):
        return True

    @functools.wraps(original)
    def collect_chunks(audio, chunks, *args, **kwargs):
        sink = _vad_sink.get()
        if sink is not None:
            sink.extend(dict(c) for c in chunks)
        return original(audio, chunks, *args, **kwargs)

    collect_chunks._emotrace_tap = True
    ft.collect_chunks = collect_chunks
    return True


def _pipeline_class():
    from faster_whisper import BatchedInferencePipeline

    class CapturingPipeline(BatchedInferencePipeline):
        """faster-whisper's batched pipeline that also keeps its encoder states.

        One per call (the parent keeps per-call state on itself too). After the segments have
        been consumed, :meth:`encoder_states` gives the states on the signal's timeline, or None
        when they could not be followed (an unexpected faster-whisper version).
        """

        def __init__(self, model, key: str):
            super().__init__(model)
            self.key = key
            self.segments: list[dict] = []
            self.chunks: list[tuple[float, float, np.ndarray]] = []
            self._metadata: list[dict] = []
            self.tapped = _install_vad_tap()

        def transcribe(self, audio, *args, **kwargs):
            token = _vad_sink.set(self.segments)
            try:
                return super().transcribe(audio, *args, **kwargs)
            finally:
                _vad_sink.reset(token)

        def forward(self, features, tokenizer, chunks_metadata, options):
            self._metadata = list(chunks_metadata)
            return super().forward(features, tokenizer, chunks_metadata, options)

        def generate_segment_batched(self, features, tokenizer, options):
            encoder_output, output = super().generate_segment_batched(features, tokenizer, options)
            arr = np.asarray(encoder_output)
            if len(self._metadata) == len(arr):
                for meta, states in zip(self._metadata, arr):
                    n = int(math.ceil(float(meta["duration"]) / STATE_SECONDS - 1e-9))
                    self.chunks.append((float(meta["offset"]), float(meta["duration"]),
                                        states[:n].astype(np.float16)))
            return encoder_output, output

        def encoder_states(self) -> EncoderStates | None:
            if not self.tapped or (self.chunks and not self.segments):
                return None
            return map_to_signal(self.segments, [c[0] for c in self.chunks], [c[2] for c in self.chunks],
                                 [c[1] for c in self.chunks], self.key)

    return CapturingPipeline


def capturing_pipeline(model, key: str):
    """A :class:`CapturingPipeline` over a loaded ``faster_whisper.WhisperModel``."""
    return _pipeline_class()(model, key)


def encode_speech(model, audio: "np.ndarray | AudioSource", key: str, batch_size: int = 8,
                  segments: Sequence[dict] | None = None) -> EncoderStates:
    """The encoder states faster-whisper's batched pipeline computes for ``audio``, without decoding.

    Same VAD, same gluing into chunks, same features and padding as
    :meth:`faster_whisper.BatchedInferencePipeline.transcribe`, so the states match what
    :class:`CapturingPipeline` keeps (up to the batch's rounding).

    A signal longer than :data:`~emotrace.windows.WINDOW_SECONDS` is heard a window at a time
    (:func:`~emotrace.windows.windows`), as the recogniser hears it.

    Args:
        model: a loaded ``faster_whisper.WhisperModel``.
        audio: 16 kHz mono float32 (an array or an :class:`~emotrace.audio_source.AudioSource`).
        key: :func:`model_key` of that model.
        batch_size: chunks encoded together.
        segments: the speech segments (``{"start", "end"}`` in samples, each at most
            :data:`CHUNK_SECONDS`) to use instead of the VAD's; only their samples are read.
    """
    from faster_whisper.audio import pad_or_trim
    from faster_whisper.vad import collect_chunks, get_speech_timestamps

    from .windows import WINDOW_SECONDS, windows

    source = as_source(audio)
    if segments is None:
        if len(source) > WINDOW_SECONDS * SAMPLE_RATE:
            joined = StatesJoiner(key)
            for lo, x in windows(source, WINDOW_SECONDS):
                joined.add(lo / SAMPLE_RATE, encode_speech(model, x, key, batch_size))
            return joined.result()
        audio = source.read()
        segments = get_speech_timestamps(audio, vad_options()) if len(audio) else []
    else:
        audio = source  # collect_chunks reads the segments' samples only
    segments = [dict(s) for s in segments if s["end"] > s["start"]]
    if not segments:
        return map_to_signal([], [], [], [], key)
    chunks, metadata = collect_chunks(audio, segments, max_duration=CHUNK_SECONDS)
    outputs: list[np.ndarray] = []
    try:
        for i in range(0, len(chunks), batch_size):
            feats = np.stack([pad_or_trim(model.feature_extractor(c)[..., :-1]) for c in chunks[i:i + batch_size]])
            outputs.extend(np.asarray(model.encode(feats)).astype(np.float16))
    except (RuntimeError, ValueError) as e:
        raise ModelError(f"the Whisper encoder failed: {e}") from e
    return map_to_signal(segments, [m["offset"] for m in metadata], outputs,
                         [m["duration"] for m in metadata], key)
