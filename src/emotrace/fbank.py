"""Kaldi-compatible log-mel filterbanks, the input of the speaker-embedding model.

The same features as Kaldi's ``compute-fbank-feats`` (and ``torchaudio.compliance.kaldi.fbank``)
with 3D-Speaker's settings for CAM++: 16 kHz, 25 ms frames every 10 ms (edges snipped), DC
offset removed, pre-emphasis 0.97, Povey window, 512-point power spectrum, 80 triangular bins
on the mel scale from 20 Hz to 8 kHz, natural log, no dither. Written in NumPy so that the
speaker model runs without torch.
"""

from __future__ import annotations

import functools

import numpy as np
import scipy.fft

from .audio_source import SAMPLE_RATE

FRAME_LENGTH = 400  # 25 ms
FRAME_SHIFT = 160  # 10 ms
FFT_SIZE = 512
NUM_BINS = 80
LOW_FREQ = 20.0
PREEMPHASIS = 0.97
_EPS = float(np.finfo(np.float32).eps)


def _mel(f: np.ndarray | float) -> np.ndarray:
    return 1127.0 * np.log(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


@functools.lru_cache(maxsize=1)
def mel_banks() -> np.ndarray:
    """The (FFT_SIZE // 2 + 1, NUM_BINS) filterbank matrix, Kaldi's triangles in the mel domain."""
    half = FFT_SIZE // 2
    mel_low, mel_high = _mel(LOW_FREQ), _mel(SAMPLE_RATE / 2)
    delta = (mel_high - mel_low) / (NUM_BINS + 1)
    bins = _mel(np.arange(half) * SAMPLE_RATE / FFT_SIZE)  # Kaldi leaves the Nyquist bin out
    left = mel_low + np.arange(NUM_BINS) * delta
    centre, right = left + delta, left + 2 * delta
    up = (bins[None, :] - left[:, None]) / (centre - left)[:, None]
    down = (right[:, None] - bins[None, :]) / (right - centre)[:, None]
    weights = np.maximum(0.0, np.minimum(up, down))
    out = np.zeros((half + 1, NUM_BINS), dtype=np.float64)
    out[:half] = weights.T
    return out.astype(np.float32)


@functools.lru_cache(maxsize=1)
def _window() -> np.ndarray:
    n = np.arange(FRAME_LENGTH, dtype=np.float64)
    return ((0.5 - 0.5 * np.cos(2 * np.pi * n / (FRAME_LENGTH - 1))) ** 0.85).astype(np.float32)


def num_frames(samples: int) -> int:
    """How many frames :func:`fbank` gives for ``samples`` samples (0 when under one frame)."""
    return 0 if samples < FRAME_LENGTH else 1 + (samples - FRAME_LENGTH) // FRAME_SHIFT


def fbank(audio: np.ndarray) -> np.ndarray:
    """Log-mel filterbank energies, (frames, 80) float32, of 16 kHz mono audio.

    Not mean-normalised: the speaker model wants each window's own mean removed
    (:func:`normalise`), which depends on where the window is cut.
    """
    audio = np.asarray(audio, dtype=np.float32)
    n = num_frames(len(audio))
    if n == 0:
        return np.zeros((0, NUM_BINS), dtype=np.float32)
    frames = np.lib.stride_tricks.sliding_window_view(audio, FRAME_LENGTH)[::FRAME_SHIFT][:n]
    frames = frames - frames.mean(axis=1, keepdims=True)
    emphasised = np.empty_like(frames)
    emphasised[:, 1:] = frames[:, 1:] - PREEMPHASIS * frames[:, :-1]
    emphasised[:, 0] = frames[:, 0] * (1.0 - PREEMPHASIS)
    emphasised *= _window()
    spectrum = scipy.fft.rfft(emphasised, n=FFT_SIZE, axis=1)  # single precision, as the input
    power = spectrum.real ** 2 + spectrum.imag ** 2
    return np.log(np.maximum(power @ mel_banks(), _EPS)).astype(np.float32, copy=False)


def normalise(features: np.ndarray) -> np.ndarray:
    """Subtract the mean over time (per window, as the speaker model was trained)."""
    return features - features.mean(axis=0, keepdims=True)
