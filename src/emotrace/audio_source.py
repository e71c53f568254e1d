"""The decoded audio of one file, read by span, in memory only while it is short.

A whole file's 16 kHz float32 signal costs 230 MB per hour, and every stage that used to take it
as one array (the VAD, the recogniser, the voice) made copies of it: an hour of silence cost about
0.9 GB. An :class:`AudioSource` keeps up to :data:`IN_MEMORY_SECONDS` of samples in memory, as
one array, exactly as before; past that it moves them to an anonymous temporary file
(:class:`~emotrace.spill.SpillFile`) and each read takes just the stretch asked
for from that file, so a stage that reads a window at a time needs the memory of one window
whatever the file's length. Stages read it by seconds (:meth:`AudioSource.span`) or by sample
index (slicing, ``source[a:b]``, as an array would be read).
"""

from __future__ import annotations

import numpy as np

from .errors import MediaError
from .spill import SpillFile

SAMPLE_RATE = 16_000
"""Sample rate of every decoded audio signal (mono float32 in [-1, 1])."""

IN_MEMORY_SECONDS = 600.0
"""Signals up to this long are kept in memory as one array (the recogniser's window,
:data:`~emotrace.windows.WINDOW_SECONDS`, is as long, so such a signal is read whole at once)."""

_FLUSH_SAMPLES = 1 << 18  # about 16 s: small writes are gathered before they go to the file


class AudioSource:
    """Mono float32 samples at ``sample_rate``, read by span; safe to read from several threads.

    Build one from an array (``AudioSource(samples)``, kept as it is) or with an
    :class:`AudioWriter` (what :func:`~emotrace.media.decode_audio_source` does).

    Attributes:
        sample_rate: samples per second.
    """

    def __init__(self, samples: np.ndarray | None = None, sample_rate: int = SAMPLE_RATE, *,
                 _file: SpillFile | None = None):
        self.sample_rate = int(sample_rate)
        if _file is not None:
            self._array, self._file, self._length = None, _file, _file.size // 4
        else:
            x = np.asarray(samples if samples is not None else np.zeros(0, np.float32))
            if x.ndim != 1:
                raise MediaError(f"audio must be one channel of samples, got shape {x.shape}")
            self._array = x if x.dtype == np.float32 else x.astype(np.float32)
            self._file, self._length = None, len(self._array)

    def __len__(self) -> int:
        return self._length

    def __repr__(self) -> str:
        where = "in memory" if self.in_memory else "in a temporary file"
        return f"AudioSource({self.duration:.1f} s at {self.sample_rate} Hz, {where})"

    @property
    def duration(self) -> float:
        """Seconds of audio."""
        return self._length / self.sample_rate

    @property
    def in_memory(self) -> bool:
        """Whether the samples are held as one array (short signals) rather than in a file."""
        return self._array is not None

    def __getitem__(self, index: slice) -> np.ndarray:
        """Samples ``source[a:b]`` (sample indices, as an array's slice; step 1 only)."""
        if not isinstance(index, slice):
            raise TypeError("an AudioSource is read by slices of sample indices (source[a:b])")
        lo, hi, step = index.indices(self._length)
        if step != 1:
            raise ValueError("an AudioSource is read with step 1")
        return self._read(lo, max(lo, hi))

    def span(self, start: float, end: float) -> np.ndarray:
        """The samples from ``start`` to ``end`` seconds (clipped to the signal; empty when
        ``end <= start``): for a stage that needs the audio of some stretch of the file."""
        lo = max(0, int(start * self.sample_rate))
        hi = min(self._length, int(end * self.sample_rate))
        return self._read(lo, max(lo, hi))

    def read(self) -> np.ndarray:
        """The whole signal as one array (the array itself when in memory: do not change it)."""
        return self._array if self._array is not None else self._read(0, self._length)

    def _read(self, lo: int, hi: int) -> np.ndarray:
        if self._array is not None:
            return self._array[lo:hi]
        return self._file.read_into(np.empty(hi - lo, np.float32), lo * 4)


class AudioWriter:
    """Gathers decoded samples into an :class:`AudioSource`: in memory up to ``memory_seconds``,
    then in an anonymous temporary file (in ``tempfile``'s folder, ``$TMPDIR``).

    Args:
        sample_rate: samples per second.
        memory_seconds: longest signal kept in memory (``math.inf``: always in memory).
    """

    def __init__(self, sample_rate: int = SAMPLE_RATE, memory_seconds: float = IN_MEMORY_SECONDS):
        self.sample_rate = int(sample_rate)
        self._limit = memory_seconds * sample_rate
        self._chunks: list[np.ndarray] = []
        self._pending = 0
        self._file = None
        self.length = 0
        """Samples written so far."""

    def append(self, samples: np.ndarray) -> None:
        """Add samples (float32) at the end."""
        x = np.asarray(samples, dtype=np.float32).reshape(-1)
        if not len(x):
            return
        self._chunks.append(x)
        self._pending += len(x)
        self.length += len(x)
        if self._file is None and self.length > self._limit:
            self._file = SpillFile("long audio")
        if self._file is not None and self._pending >= _FLUSH_SAMPLES:
            self._flush()

    def append_zeros(self, n: int) -> None:
        """Add ``n`` samples of silence."""
        while n > 0:
            k = min(n, _FLUSH_SAMPLES)
            self.append(np.zeros(k, np.float32))
            n -= k

    def _flush(self) -> None:
        for x in self._chunks:
            self._file.write(x)
        self._chunks, self._pending = [], 0

    def finish(self) -> AudioSource:
        """The samples written, as an :class:`AudioSource` (the writer is spent)."""
        if self._file is None:
            samples = np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.float32)
            self._chunks = []
            return AudioSource(samples, self.sample_rate)
        self._flush()
        f, self._file = self._file, None
        return AudioSource(sample_rate=self.sample_rate, _file=f)


def as_source(audio: "AudioSource | np.ndarray", sample_rate: int = SAMPLE_RATE) -> AudioSource:
    """``audio`` as an :class:`AudioSource` (an array is wrapped, not copied)."""
    return audio if isinstance(audio, AudioSource) else AudioSource(audio, sample_rate)
