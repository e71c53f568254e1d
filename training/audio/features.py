"""Extract voice features for RAVDESS clips, as :class:`emotrace.modalities.audio.VoiceFeatures` does at inference.

Run from the repository root::

    python -m training.audio.features --ravdess-dir ../shared/data/ravdess --out runs/audio/features.npz

Each clip is cut to its speech (:func:`~emotrace.modalities.audio.speech_span`) and featurised in
several *views*: view 0 alone in its encoder window (as ``emotrace evaluate audio`` scores a
clip), views 1.. packed with the same actor's other clips in shuffled order with short pauses
between them, so that windows hold continuous speech and utterances straddle window edges as
they do in a real conversation. The extra views are training augmentation; evaluation uses view 0.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import numpy as np

from emotrace.datasets import read_ravdess_dir
from emotrace.labels import EMOTIONS
from emotrace.modalities.audio import VoiceFeatures, bundled_whisper_dir, speech_span
from emotrace.modalities.base import SAMPLE_RATE

log = logging.getLogger("train.audio.features")


def load_audio(path: Path) -> np.ndarray:
    """Decode any audio file to 16 kHz mono float32 (PyAV, through faster-whisper's helper)."""
    from faster_whisper.audio import decode_audio

    return decode_audio(str(path), sampling_rate=SAMPLE_RATE)


def packed_view(speech: list[np.ndarray], order: np.ndarray, rng: np.random.Generator):
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
    ap.add_argument("--ravdess-dir", type=Path, default=Path("../shared/data/ravdess"))
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--packed-views", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    rng = np.random.default_rng(args.seed)
    clips = read_ravdess_dir(args.ravdess_dir)
    feats = VoiceFeatures(bundled_whisper_dir(), "int8", args.threads)
    speech = []
    for c in clips:
        audio = load_audio(c.path)
        s, e = speech_span(audio)
        speech.append(audio[int(s * SAMPLE_RATE):int(e * SAMPLE_RATE)])
    views = np.zeros((1 + args.packed_views, len(clips), feats.dim), np.float32)
    t0 = time.time()
    for i, a in enumerate(speech):
        views[0, i] = feats.features(a, [(0.0, len(a) / SAMPLE_RATE)])[0]
        if i % 100 == 0:
            log.info("view 0: %d/%d clips (%.0fs)", i, len(clips), time.time() - t0)
    actors = np.array([c.actor for c in clips])
    for v in range(1, 1 + args.packed_views):
        for actor in np.unique(actors):
            idx = np.flatnonzero(actors == actor)
            order = rng.permutation(len(idx))
            audio, spans = packed_view([speech[i] for i in idx], order, rng)
            views[v, idx] = feats.features(audio, spans)
        log.info("view %d done (%.0fs)", v, time.time() - t0)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(args.out, views=views, labels=np.array([EMOTIONS.index(c.emotion) for c in clips]),
             actors=actors, names=np.array([c.path.name for c in clips]))
    log.info("wrote %s: %s", args.out, views.shape)


if __name__ == "__main__":
    main()
