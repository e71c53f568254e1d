"""Extract voice features for the labelled speech corpora, as :class:`emotrace.modalities.audio.VoiceFeatures` does at run time.

Run from the repository root::

    python -m training.audio.features --out runs/voice/features.npz

Each clip (RAVDESS, EmoDB, EMOVO: :mod:`training.audio.corpora`) is cut to its speech
(:func:`~emotrace.modalities.audio.speech_span`) and featurised in several *views*:

* view 0: the clip alone, as ``emotrace evaluate audio`` scores it (the VAD finds its speech,
  which is encoded alone in a 30 s chunk);
* views 1..: each speaker's clips packed into one conversation in shuffled order with short
  pauses, so the recogniser's VAD glues several clips into each 30 s chunk and utterances
  straddle chunk edges, as in a real file. Views from the second on are also degraded the way
  real recordings are (background noise at 5–30 dB SNR, a random gain, half of them band-limited
  to telephone bandwidth), as augmentation.

The features are stored in their parts (pooled encoder states, prosody, cepstral statistics) so
that training can choose among them; the extra views are training augmentation, evaluation uses
view 0.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import numpy as np

from emotrace.asr_models import default_model_dir
from emotrace.labels import EMOTIONS
from emotrace.media import decode_audio
from emotrace.modalities.audio import N_PROSODY, N_SPECTRAL, VoiceFeatures, speech_span
from emotrace.modalities.base import SAMPLE_RATE

from .corpora import CORPORA, read_corpora

log = logging.getLogger("train.audio.features")

WIDTH = 384
"""Encoder state size of Whisper tiny.en."""


def degrade(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Noise at a random SNR (5–30 dB, white or brown-ish), random gain, and half the time
    telephone bandwidth (300–3400 Hz)."""
    x = x.astype(np.float64)
    if rng.random() < 0.5:
        spec = np.fft.rfft(x)
        f = np.fft.rfftfreq(len(x), 1 / SAMPLE_RATE)
        spec[(f < 300) | (f > 3400)] = 0
        x = np.fft.irfft(spec, n=len(x))
    noise = rng.normal(0, 1, len(x))
    if rng.random() < 0.5:  # brown-ish: more energy low, like rooms and traffic
        noise = np.cumsum(noise)
        noise -= np.convolve(noise, np.ones(401) / 401, mode="same")
    power = np.mean(x ** 2) + 1e-12
    snr = rng.uniform(5, 30)
    noise *= np.sqrt(power / (10 ** (snr / 10)) / (np.mean(noise ** 2) + 1e-12))
    y = (x + noise) * 10 ** (rng.uniform(-12, 6) / 20)
    return np.clip(y, -1, 1).astype(np.float32)


def packed(speech: list[np.ndarray], order: np.ndarray, rng: np.random.Generator):
    """Concatenate clips in ``order`` with 0.15–0.8 s of faint noise between them; returns audio and spans."""
    parts, spans, t = [], [None] * len(speech), 0.0
    for i in order:
        gap = rng.normal(0, 1e-4, int(rng.uniform(0.15, 0.8) * SAMPLE_RATE)).astype(np.float32)
        parts += [gap, speech[i]]
        start = t + len(gap) / SAMPLE_RATE
        spans[i] = (start, start + len(speech[i]) / SAMPLE_RATE)
        t = spans[i][1]
    return np.concatenate(parts), spans


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    ap.add_argument("--corpora", default=",".join(CORPORA))
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--packed-views", type=int, default=3, help="views 1.. (from view 2 on degraded)")
    ap.add_argument("--no-alone", action="store_true", help="skip view 0 (the slow one: one encoder pass per clip)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    clips = read_corpora(args.data_dir, args.corpora.split(","))
    feats = VoiceFeatures(default_model_dir(), "int8", args.threads, width=WIDTH)
    n_views = 1 + args.packed_views
    enc = np.full((n_views, len(clips), 2 * WIDTH), np.nan, np.float32)
    pros = np.full((n_views, len(clips), N_PROSODY), np.nan, np.float32)
    spec = np.full((n_views, len(clips), N_SPECTRAL), np.nan, np.float32)
    rng = np.random.default_rng(args.seed)
    t0 = time.time()
    speech, spans0 = [], []
    for c in clips:
        audio = decode_audio(c.path, SAMPLE_RATE)
        s, e = speech_span(audio)
        spans0.append((s, e))
        speech.append(audio[int(s * SAMPLE_RATE):int(e * SAMPLE_RATE)])

    def put(v, idx, audio, spans):
        f = feats.features(audio, spans)
        enc[v, idx], pros[v, idx], spec[v, idx] = np.split(f, [2 * WIDTH, 2 * WIDTH + N_PROSODY], axis=1)

    speakers = np.array([c.speaker for c in clips])
    for v in range(1, n_views):
        for spk in np.unique(speakers):
            idx = np.flatnonzero(speakers == spk)
            clips_v = [speech[i] for i in idx]
            if v >= 2:
                clips_v = [degrade(x, rng) for x in clips_v]
            audio, spans = packed(clips_v, rng.permutation(len(idx)), rng)
            put(v, idx, audio, spans)
        log.info("view %d done (%.0fs)", v, time.time() - t0)
        np.savez(args.out, encoder=enc, prosody=pros, spectral=spec, labels=np.array([EMOTIONS.index(c.label) for c in clips]),
                 speakers=speakers, corpora=np.array([c.corpus for c in clips]),
                 names=np.array([str(c.path) for c in clips]))
    if not args.no_alone:
        for i, c in enumerate(clips):
            put(0, [i], decode_audio(c.path, SAMPLE_RATE), [spans0[i]])
            if i % 100 == 0:
                log.info("view 0: %d/%d clips (%.0fs)", i, len(clips), time.time() - t0)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(args.out, encoder=enc, prosody=pros, spectral=spec, labels=np.array([EMOTIONS.index(c.label) for c in clips]),
             speakers=speakers, corpora=np.array([c.corpus for c in clips]), names=np.array([str(c.path) for c in clips]))
    log.info("wrote %s: %d views x %d clips", args.out, n_views, len(clips))


if __name__ == "__main__":
    main()
