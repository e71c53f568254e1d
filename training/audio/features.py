"""Extract voice features for RAVDESS clips, as :class:`emotrace.modalities.audio.VoiceFeatures` does at inference.

Run from the repository root::

    python -m training.audio.features --ravdess-dir ../shared/data/ravdess --out runs/audio/features.npz

Each clip is cut to its speech (:func:`~emotrace.modalities.audio.speech_span`) and featurised in
several *views*: view 0 alone (as ``emotrace evaluate audio`` scores a clip: the VAD finds its
speech, which is encoded alone in a 30 s chunk), views 1.. packed with the same actor's other
clips in shuffled order with short pauses between them, so that the speech recogniser's VAD glues
several clips into each 30 s chunk and utterances straddle chunk edges as they do in a real
conversation. The encoder states are computed by
:func:`emotrace.whisper_states.encode_speech`, the same states the pipeline's recogniser keeps
for the voice modality. The extra views are training augmentation; evaluation uses view 0.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import numpy as np

from emotrace.datasets import read_ravdess_dir
from emotrace.labels import EMOTIONS
from emotrace.modalities.audio import N_PROSODY, VoiceFeatures, bundled_whisper_dir, span_prosody, speech_span
from emotrace.modalities.base import SAMPLE_RATE

log = logging.getLogger("train.audio.features")

WIDTH = 384
"""Encoder state size of Whisper tiny.en."""


def load_audio(path: Path) -> np.ndarray:
    """Decode any audio file to 16 kHz mono float32, as the pipeline and ``emotrace evaluate audio`` do."""
    from emotrace.media import decode_audio

    return decode_audio(path, SAMPLE_RATE)


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


def clip_views(clips, packed_views: int, seed: int):
    """Yield ``(view, clip indices, audio, spans)``: each clip alone (view 0), then each actor's
    clips packed into one conversation per further view (the same for the same seed)."""
    rng = np.random.default_rng(seed)
    speech = []
    for i, c in enumerate(clips):
        audio = load_audio(c.path)
        s, e = speech_span(audio)
        speech.append(audio[int(s * SAMPLE_RATE):int(e * SAMPLE_RATE)])
        # view 0: the whole clip, its speech span as the utterance (as emotrace evaluate audio does)
        yield 0, [i], audio, [(s, e)]
    actors = np.array([c.actor for c in clips])
    for v in range(1, 1 + packed_views):
        for actor in np.unique(actors):
            idx = np.flatnonzero(actors == actor)
            order = rng.permutation(len(idx))
            audio, spans = packed_view([speech[i] for i in idx], order, rng)
            yield v, list(idx), audio, spans


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ravdess-dir", type=Path, default=Path("../shared/data/ravdess"))
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--packed-views", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--prosody-from", type=Path, default=None,
                    help="copy the pooled encoder states from this features file (made with the same "
                         "data, views and seed) and recompute only the prosody (after a prosody change)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    clips = read_ravdess_dir(args.ravdess_dir)
    feats = VoiceFeatures(bundled_whisper_dir(), "int8", args.threads, width=WIDTH)
    views = np.zeros((1 + args.packed_views, len(clips), feats.dim(WIDTH)), np.float32)
    if args.prosody_from is not None:
        old = np.load(args.prosody_from)
        if old["views"].shape != views.shape or list(old["names"]) != [c.path.name for c in clips]:
            raise SystemExit(f"{args.prosody_from} was made from other clips or views")
        views[:] = old["views"]
    t0 = time.time()
    for v, idx, audio, spans in clip_views(clips, args.packed_views, args.seed):
        if args.prosody_from is not None:
            views[v, idx, -N_PROSODY:] = np.stack([span_prosody(audio, s, e) for s, e in spans])
        else:
            views[v, idx] = feats.features(audio, spans)
        if v == 0 and idx[0] % 100 == 0:
            log.info("view 0: %d/%d clips (%.0fs)", idx[0], len(clips), time.time() - t0)
        elif v and idx[-1] == len(clips) - 1:
            log.info("view %d done (%.0fs)", v, time.time() - t0)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(args.out, views=views, labels=np.array([EMOTIONS.index(c.emotion) for c in clips]),
             actors=np.array([c.actor for c in clips]), names=np.array([c.path.name for c in clips]))
    log.info("wrote %s: %s", args.out, views.shape)


if __name__ == "__main__":
    main()
