"""Long audio in bounded windows, cut at silences.

The recogniser (its VAD, features and encoder) and the voice's own encoder pass copy the signal
they are given several times over, so a whole long file at once costs memory in proportion to
its length. Signals longer than :data:`WINDOW_SECONDS` are therefore read and processed a window
at a time: each window ends at the quietest :data:`QUIET_SECONDS` in its last
:data:`SEARCH_SECONDS` (a pause between words, not the middle of one) and the next starts there,
so no word is cut in two and no stretch is heard twice. A signal up to one window long is one
window, processed exactly as it always was.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from typing import Callable, Iterator

import numpy as np

from .audio_source import SAMPLE_RATE, AudioSource

WINDOW_SECONDS = 600.0
"""Longest stretch of audio processed at once."""

SEARCH_SECONDS = 30.0
"""A window's end is looked for in its last this many seconds."""

QUIET_SECONDS = 0.5
"""Length of the quiet stretch a window ends in the middle of."""

_FRAME = 160  # 10 ms energy frames


@functools.lru_cache(maxsize=1)
def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):  # not glibc (macOS, musl, Windows): nothing to do
        return None


def release_freed_memory() -> None:
    """Give the memory freed since the last window back to the system (glibc's ``malloc_trim``).

    The recogniser's and the VAD's many mid-sized buffers of one window are freed into glibc's
    heaps, which keep them: without this, the next window's peak sits on top of the last one's
    leftovers (70-80 MB measured with tiny.en), and a file of two windows costs more than one of
    one window. Elsewhere than glibc it does nothing.
    """
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def quietest_point(x: np.ndarray, sample_rate: int = SAMPLE_RATE) -> int:
    """Index of the middle of the quietest stretch of ``x``: of the longest run of
    :data:`QUIET_SECONDS` stretches whose energy is near the lowest found."""
    n = len(x) // _FRAME
    span = max(1, int(QUIET_SECONDS * sample_rate) // _FRAME)
    if n <= span:
        return len(x) // 2
    energy = np.mean(x[:n * _FRAME].astype(np.float64).reshape(n, _FRAME) ** 2, axis=1)
    sums = np.convolve(energy, np.ones(span), mode="valid")  # stretch k covers frames k .. k+span-1
    quiet = sums <= sums.min() * 1.5 + 1e-12
    # the longest run of quiet stretches (ties: the latest, which leaves the longer window)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], quiet.astype(np.int8), [0]])))
    starts, ends = edges[::2], edges[1::2]
    longest = np.flatnonzero((ends - starts) == (ends - starts).max())[-1]
    middle = (starts[longest] + ends[longest] - 1) / 2 + span / 2
    return int(middle * _FRAME)


def windows(source: AudioSource, window: float = WINDOW_SECONDS,
            search: float = SEARCH_SECONDS) -> Iterator[tuple[int, np.ndarray]]:
    """``(first sample, samples)`` of consecutive windows covering ``source``, each at most
    ``window`` seconds and ending at a quiet point (the last ends with the signal).

    One window, the whole signal, when it is at most ``window`` seconds long.
    """
    rate = source.sample_rate
    size, reach = int(window * rate), int(min(search, window / 2) * rate)
    lo, n = 0, len(source)
    while lo < n:
        if n - lo <= size:
            yield lo, source[lo:n]
            return
        x = source[lo:lo + size]
        cut = size - reach + quietest_point(x[size - reach:], rate)
        yield lo, x[:cut]
        del x
        release_freed_memory()
        lo += cut
