"""Learn fusion weights from per-modality scores (``training.fusion.collect``'s output).

Run from the repository root::

    python -m training.fusion.fit --train runs/fusion/train.npz --dev runs/fusion/dev.npz \\
        --out runs/fusion/fusion.json

For each method (``mean``, ``product``) every weight vector on a grid over the simplex
(``--step``; the text weight is fixed to 1 by scale invariance when text is present) is tried
on the training scores; emotion weights are chosen by emotion weighted F1 and sentiment weights
by sentiment weighted F1, then the method whose chosen weights do best on emotion is kept. The
result is measured on ``--dev`` (never used to choose) and written as JSON that
``FusionOptions.from_json`` reads::

    {"method": "product", "weights": {...}, "sentiment_weights": {...}}

The fused distributions are computed by :func:`emotrace.fusion.fuse_arrays`, the vectorised form
of what the pipeline does per utterance.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
from pathlib import Path

import numpy as np

from emotrace.fusion import METHODS, FusionOptions, fuse_arrays
from emotrace.labels import EMOTIONS, SENTIMENTS
from emotrace.metrics import classification_report

log = logging.getLogger("train.fusion.fit")


def load_scores(path: Path) -> dict[str, np.ndarray]:
    """The arrays ``collect`` wrote; raises SystemExit when the file does not look like it."""
    d = dict(np.load(path))
    if "emotion" not in d or not any(k.endswith("_present") for k in d):
        raise SystemExit(f"{path}: not written by training.fusion.collect")
    return d


def modalities_of(data: dict[str, np.ndarray]) -> list[str]:
    """The modality names present in collected data, text first."""
    names = sorted(k.removesuffix("_present") for k in data if k.endswith("_present"))
    return sorted(names, key=lambda n: n != "text")


def weight_grid(names: list[str], step: float) -> list[dict[str, float]]:
    """Weight vectors to try: the first modality fixed at 1, the others on ``0, step, …, 3``."""
    values = np.round(np.arange(0.0, 3.0 + 1e-9, step), 6)
    grid = []
    for rest in itertools.product(values, repeat=len(names) - 1):
        grid.append({names[0]: 1.0, **{n: float(v) for n, v in zip(names[1:], rest)}})
    return grid


def score(data: dict[str, np.ndarray], names: list[str], weights: dict[str, float], method: str,
          task: str) -> dict:
    """Classification report of the fused ``task`` (``"emotion"``/``"sentiment"``) on rows where
    at least one weighted modality is present."""
    key = "emotions" if task == "emotion" else "sentiments"
    fused = fuse_arrays({n: data[f"{n}_{key}"] for n in names}, {n: data[f"{n}_present"] for n in names},
                        weights, method)
    ok = ~np.isnan(fused).any(axis=1)
    labels = EMOTIONS if task == "emotion" else SENTIMENTS
    return classification_report(data[task][ok], fused[ok].argmax(1), labels)


def fit(train: dict[str, np.ndarray], step: float = 0.25) -> tuple[FusionOptions, dict]:
    """Choose method and weights on ``train``; returns the options and the search's figures."""
    names = modalities_of(train)
    grid = weight_grid(names, step)
    best: dict = {}
    for method in METHODS:
        per_task = {}
        for task in ("emotion", "sentiment"):
            scored = [(score(train, names, w, method, task)["weighted_f1"], w) for w in grid]
            per_task[task] = max(scored, key=lambda t: t[0])
        if not best or per_task["emotion"][0] > best["emotion"][0]:
            best = {"method": method, **per_task}
    options = FusionOptions(weights=best["emotion"][1], sentiment_weights=best["sentiment"][1],
                            method=best["method"])
    return options, {"train_emotion_weighted_f1": best["emotion"][0],
                     "train_sentiment_weighted_f1": best["sentiment"][0]}


def report(data: dict[str, np.ndarray], options: FusionOptions) -> dict:
    """Emotion and sentiment weighted F1 of the fused result and of each modality alone."""
    names = modalities_of(data)
    out = {"fused": {t: score(data, names, dict(options.weights if t == "emotion" else options.sentiment_weights),
                              options.method, t)["weighted_f1"] for t in ("emotion", "sentiment")}}
    for n in names:
        out[f"{n}_alone"] = {t: score(data, [n], {n: 1.0}, "mean", t)["weighted_f1"] for t in ("emotion", "sentiment")}
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train", type=Path, required=True)
    ap.add_argument("--dev", type=Path, default=None)
    ap.add_argument("--step", type=float, default=0.25)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    train = load_scores(args.train)
    options, figures = fit(train, args.step)
    figures["train"] = report(train, options)
    if args.dev:
        figures["dev"] = report(load_scores(args.dev), options)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(options.to_dict(), indent=1))
    args.out.with_suffix(".metrics.json").write_text(json.dumps(figures, indent=1))
    log.info("chosen %s; %s", options.to_dict(), json.dumps(figures))


if __name__ == "__main__":
    main()
