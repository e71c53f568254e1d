"""Choose the diarizer's clustering threshold and smallest speaker on dialogues, never one file.

Tuning dialogues: speakers of RAVDESS, EmoDB and EMOVO (``corpus_dialogue``) and espeak-ng
voices (``espeak_dialogue``, seeds 100 and up; the benchmark uses seeds 0-9). Each dialogue's
blocks (and the stretches between back-to-back blocks) are embedded once; the clustering is then
run for every setting on the grid, and the setting with the lowest mean DER (0.25 s collar) over
the dialogues wins. ``--write`` stores it
in the speaker model's ``config.json``::

    python -m training.speakers.tune --data ../shared/data --out runs/speakers/tune.json --write
"""

from __future__ import annotations

import argparse
import json
import pickle
import time
from pathlib import Path

import numpy as np

from emotrace.config import DiarizationOptions
from emotrace.diarization import BlockVoices, Diarizer, assign_speakers, blocks, speech_regions
from emotrace.metrics import diarization_error_rate
from emotrace.models import MODELS_DIR
from training.speakers.dialogues import corpus_clips, corpus_dialogue, espeak_dialogue

THRESHOLDS = tuple(round(float(t), 3) for t in np.arange(0.35, 0.701, 0.025))
SMALLEST = (0.0, 1.5, 3.0, 4.5, 6.0)


def tuning_set(data: Path, per_corpus: int, espeak: int):
    """(name, audio, reference turns) of every tuning dialogue."""
    out = []
    for corpus in ("ravdess", "emodb", "emovo"):
        clips = corpus_clips(data, corpus)
        out += [(f"{corpus}-{s}", *corpus_dialogue(1000 + s, clips)) for s in range(per_corpus)]
    out += [(f"espeak-{100 + s}", *espeak_dialogue(100 + s)) for s in range(espeak)]
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=Path("../shared/data"))
    p.add_argument("--per-corpus", type=int, default=10, help="dialogues per acted corpus")
    p.add_argument("--espeak", type=int, default=10, help="espeak-ng dialogues")
    p.add_argument("--block", type=float, default=DiarizationOptions.block, help="longest block, seconds")
    p.add_argument("--out", type=Path, default=Path("runs/speakers/tune.json"))
    p.add_argument("--write", action="store_true", help="store the winner in models/speaker/config.json")
    a = p.parse_args(argv)
    options = DiarizationOptions(block=a.block)
    diarizer = Diarizer(options)
    started = time.perf_counter()
    cache = a.out.with_suffix(".prepared.pkl")  # embeddings, reused when only the clustering changes
    if cache.is_file():
        prepared = pickle.loads(cache.read_bytes())
    else:
        prepared = []
        for name, audio, ref in tuning_set(a.data, a.per_corpus, a.espeak):
            regions = speech_regions(audio)
            spans = blocks(regions, options.block, shortest=0.3)
            voices = BlockVoices.empty(len(spans))
            diarizer.hear(audio, spans, voices)
            pairs = [i for i in range(len(spans) - 1) if abs(spans[i][1] - spans[i + 1][0]) < 1e-6]
            between = dict(zip(pairs, diarizer.between(voices, pairs)))
            prepared.append((name, ref, regions, spans, voices.embeddings, between))
            print(f"{name}: {len({s for *_, s in ref})} speakers, {len(audio) / 16000:.1f} s", flush=True)
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_bytes(pickle.dumps(prepared))
    grid = []
    for th in THRESHOLDS:
        for smallest in SMALLEST:
            ders, counts = [], []
            for name, ref, regions, spans, emb, between in prepared:
                hyp = assign_speakers(regions, spans, emb, options, th, smallest,
                                      between=lambda pairs, b=between: np.stack([b[i] for i in pairs]))
                ders.append(diarization_error_rate(ref, [(t.start, t.end, t.speaker) for t in hyp.turns])["der"])
                counts.append(len(hyp.speakers) == len({s for *_, s in ref}))
            grid.append({"threshold": th, "min_speaker_seconds": smallest, "der": float(np.mean(ders)),
                         "count_right": float(np.mean(counts)),
                         "by_source": {src: float(np.mean([d for (n, *_), d in zip(prepared, ders)
                                                           if n.startswith(src)]))
                                       for src in ("ravdess", "emodb", "emovo", "espeak")}})
    best = min(grid, key=lambda g: (round(g["der"], 4), -g["count_right"]))
    result = {"best": best, "dialogues": [n for n, *_ in prepared], "grid": grid,
              "seconds": round(time.perf_counter() - started, 1)}
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(result, indent=1))
    print(json.dumps(best, indent=1))
    if a.write:
        path = MODELS_DIR / "speaker" / "config.json"
        info = json.loads(path.read_text())
        info.update(threshold=best["threshold"], min_speaker_seconds=best["min_speaker_seconds"])
        path.write_text(json.dumps(info, indent=2) + "\n")
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
