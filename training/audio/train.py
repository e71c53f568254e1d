"""Train the voice emotion classifier on three corpora, validate it on the one it did not hear, export ONNX.

Run from the repository root (after ``training.audio.features``)::

    python -m training.audio.train --features runs/voice/features.npz --out runs/voice/mlp

With the defaults (:mod:`training.audio.recipe`) this reproduces the shipped model
(``src/emotrace/models/audio``) byte for byte from the same features; ``python -m training.audio``
runs ``training.audio.features`` first. Steps:

1. **Leave one corpus out** (RAVDESS, EmoDB, EMOVO): train on the other two (every view), score
   the left-out corpus's clips alone (view 0, as ``emotrace evaluate audio`` does) and packed
   into conversations (view 1, as the pipeline hears them); accuracy, unweighted average
   recall and more on the classes that corpus has.
2. **Calibration**: one temperature for the logits, fitted on the left-out predictions of every
   view (for the calibration error reported on corpus *k*, the temperature is fitted on the other
   corpora's left-out predictions only, so that figure is honest).
3. **RAVDESS held-out actors 17–20**: trained on actors 1–16 and both other corpora.
4. **The shipped model**: trained on everything, the temperature inside the ONNX graph, which
   also gives each utterance's *domain distance* (how far its features lie from the training
   clips'); the distances of corpora the model never heard set where the voice's quality (its
   fusion weight) starts to fall and where it reaches its floor.

``--parts``, ``--views`` and ``--speaker-norm`` are experiments (``training/EXPERIMENTS.md``);
with ``--parts`` or ``--speaker-norm`` nothing is exported.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from emotrace.labels import EMOTIONS
from emotrace.metrics import emotion_report
from emotrace.modalities.audio import FEATURES

from .recipe import HYPERPARAMETERS, SEED, TRAINED_ON, model_config

log = logging.getLogger("train.audio")

CORPORA = ("ravdess", "emodb", "emovo")
HELD_OUT_ACTORS = {f"ravdess:{a:02d}" for a in range(17, 21)}
PARTS = ("encoder", "prosody", "spectral")


class VoiceMLP(nn.Module):
    """Standardise the features (statistics of the training set, stored in the graph), then an MLP."""

    def __init__(self, mean: np.ndarray, std: np.ndarray, hidden: int, dropout: float, in_dropout: float):
        super().__init__()
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer("std", torch.as_tensor(std, dtype=torch.float32))
        self.net = nn.Sequential(nn.Dropout(in_dropout), nn.Linear(len(mean), hidden), nn.GELU(),
                                 nn.Dropout(dropout), nn.Linear(hidden, len(EMOTIONS)))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.net((features - self.mean) / self.std)


class Ensemble(nn.Module):
    """The mean of several models' logits."""

    def __init__(self, models: list[nn.Module]):
        super().__init__()
        self.models = nn.ModuleList(models)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return torch.stack([m(features) for m in self.models]).mean(0)


DOMAIN_COMPONENTS = 32
"""Principal components of the training features the domain distance is measured in."""


class DomainDistance(nn.Module):
    """How far feature rows lie from the training data: the mean squared whitened coordinate
    along the training features' first principal components (about 1 for typical training
    clips, larger for speech unlike any of it)."""

    def __init__(self, x: np.ndarray, k: int = DOMAIN_COMPONENTS):
        super().__init__()
        x = x.astype(np.float64)
        mean, std = x.mean(0), x.std(0) + 1e-5
        z = (x - mean) / std
        _, sv, vt = np.linalg.svd(z - z.mean(0), full_matrices=False)
        for name, value in (("mean", mean), ("std", std), ("components", vt[:k]),
                            ("inv_var", len(z) / (sv[:k] ** 2))):
            self.register_buffer(name, torch.as_tensor(value, dtype=torch.float32))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        c = ((features - self.mean) / self.std) @ self.components.T
        return (c * c * self.inv_var).mean(-1)


@torch.no_grad()
def distances(domain: DomainDistance, x: np.ndarray) -> np.ndarray:
    """``domain``'s distance of each feature row."""
    return domain(torch.from_numpy(x)).numpy().astype(np.float64)


class Calibrated(nn.Module):
    """Export wrapper: probabilities ``softmax(logits / temperature)`` and the domain distance."""

    def __init__(self, net: nn.Module, temperature: float, domain: DomainDistance):
        super().__init__()
        self.net, self.temperature, self.domain = net, float(temperature), domain

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return F.softmax(self.net(features) / self.temperature, dim=-1), self.domain(features)


def fit(x: np.ndarray, y: np.ndarray, hidden: int, dropout: float, in_dropout: float,
        weight_decay: float, epochs: int, seed: int, lr: float = 1e-3) -> VoiceMLP:
    """Train with AdamW, a one-cycle schedule and label smoothing 0.1, mini-batches of 64."""
    torch.manual_seed(seed)
    mean, std = x.mean(0), x.std(0) + 1e-5
    model = VoiceMLP(mean, std, hidden, dropout, in_dropout)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    steps = epochs * int(np.ceil(len(x) / 64))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    gen = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(len(xt), generator=gen)
        for i in range(0, len(perm), 64):
            idx = perm[i:i + 64]
            loss = F.cross_entropy(model(xt[idx]), yt[idx], label_smoothing=0.1)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    return model.eval()


@torch.no_grad()
def logits(model: nn.Module, x: np.ndarray) -> np.ndarray:
    return model(torch.from_numpy(x)).numpy().astype(np.float64)


def softmax(z: np.ndarray, t: float = 1.0) -> np.ndarray:
    z = z / t
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def fit_temperature(z: np.ndarray, y: np.ndarray) -> float:
    """The temperature minimising the negative log-likelihood of ``y`` (grid 0.25–8)."""
    grid = np.exp(np.linspace(np.log(0.25), np.log(8.0), 200))
    nll = [-np.log(softmax(z, t)[np.arange(len(y)), y] + 1e-12).mean() for t in grid]
    return float(grid[int(np.argmin(nll))])


def speaker_normalised(x: np.ndarray, speakers: np.ndarray) -> np.ndarray:
    """Each speaker's features standardised over that speaker's clips (experiment only: the
    pipeline does not know who speaks)."""
    x = x.copy()
    for s in np.unique(speakers):
        m = speakers == s
        x[m] = (x[m] - x[m].mean(0)) / (x[m].std(0) + 1e-6)
    return x


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--features", type=Path, default=Path("runs/voice/features.npz"))
    ap.add_argument("--out", type=Path, default=Path("runs/voice/mlp"))
    r = HYPERPARAMETERS
    ap.add_argument("--hidden", type=int, default=r["hidden"])
    ap.add_argument("--dropout", type=float, default=r["dropout"])
    ap.add_argument("--in-dropout", type=float, default=r["in_dropout"])
    ap.add_argument("--weight-decay", type=float, default=r["weight_decay"])
    ap.add_argument("--epochs", type=int, default=r["epochs"])
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--seeds", type=int, default=r["seeds"], help="models (seeds) whose logits are averaged")
    ap.add_argument("--no-export", action="store_true")
    x = ap.add_argument_group("experiments (off in the shipped recipe; training/EXPERIMENTS.md)")
    x.add_argument("--parts", default=",".join(PARTS), help="feature parts used")
    x.add_argument("--views", default="all", help="training views, e.g. 1 or 1,2,3 (default: every view)")
    x.add_argument("--speaker-norm", action="store_true", help="standardise per speaker")
    ap.add_argument("--export-held-out", type=Path, default=None,
                    help="also export the model that never heard RAVDESS actors 17-20 here (to score "
                         "them with `emotrace evaluate audio --audio-model DIR`)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(1)
    d = np.load(args.features)
    parts = args.parts.split(",")
    unknown = set(parts) - set(PARTS)
    if unknown:
        raise SystemExit(f"unknown feature part(s) {sorted(unknown)}; expected: {', '.join(PARTS)}")
    y, speakers, corpora = d["labels"], d["speakers"], d["corpora"]
    views = [np.concatenate([d[p][v] for p in parts], axis=1).astype(np.float32) for v in range(len(d[parts[0]]))]
    if args.speaker_norm:
        views = [speaker_normalised(x, speakers).astype(np.float32) for x in views]
    done = [v for v, x in enumerate(views) if not np.isnan(x).any()]
    train_views = done if args.views == "all" else [int(v) for v in args.views.split(",")]
    test_views = {"alone": 0, "in_conversation": 1, "noisy": 3}
    test_views = {k: v for k, v in test_views.items() if v in done}
    hp = dict(hidden=args.hidden, dropout=args.dropout, in_dropout=args.in_dropout,
              weight_decay=args.weight_decay, epochs=args.epochs)
    results_hp = {**hp, "seeds": args.seeds}

    def train_on(mask: np.ndarray) -> Ensemble:
        x = np.concatenate([views[v][mask] for v in train_views])
        return Ensemble([fit(x, np.tile(y[mask], len(train_views)), **hp, seed=args.seed + k)
                         for k in range(args.seeds)]).eval()

    def training_rows(mask: np.ndarray) -> np.ndarray:
        return np.concatenate([views[v][mask] for v in train_views])

    # 1. leave one corpus out (and how far each left-out clip lies from the others' features)
    oof = {k: np.zeros((len(y), len(EMOTIONS))) for k in test_views}
    far = {k: np.zeros(len(y)) for k in test_views}
    for corpus in CORPORA:
        test = corpora == corpus
        model, domain_model = train_on(~test), DomainDistance(training_rows(~test))
        for k, v in test_views.items():
            oof[k][test] = logits(model, views[v][test])
            far[k][test] = distances(domain_model, views[v][test])
        log.info("left out %s", corpus)

    # 2. calibration, nested for the reported error
    results: dict = {"features": FEATURES, "parts": parts, "train_views": train_views,
                     "speaker_norm": args.speaker_norm, "hyperparameters": results_hp, "leave_one_corpus_out": {}}
    for k in test_views:
        for corpus in CORPORA:
            test = corpora == corpus
            t_other = fit_temperature(np.concatenate([oof[v][~test] for v in test_views]),
                                      np.tile(y[~test], len(test_views)))
            rep = emotion_report(softmax(oof[k][test], t_other), y[test])
            rep["ece_uncalibrated"] = round(emotion_report(softmax(oof[k][test]), y[test])["ece"], 4)
            rep["temperature"] = round(t_other, 3)
            results["leave_one_corpus_out"].setdefault(k, {})[corpus] = rep
            log.info("%s %-7s n %d acc %.3f UAR %.3f restricted acc %.3f ECE %.3f (uncalibrated %.3f)", k, corpus,
                     rep["n"], rep["accuracy"], rep["unweighted_average_recall"], rep["accuracy_restricted"],
                     rep["ece"], rep["ece_uncalibrated"])
    # one temperature for every way a clip is heard (alone, in conversation, noisy)
    temperature = fit_temperature(np.concatenate([oof[v] for v in test_views]), np.tile(y, len(test_views)))
    results["temperature"] = round(temperature, 4)
    # the domain distance of a corpus never heard: typical (median) and far (99th percentile),
    # over clean speech (alone and in conversation); the voice's quality falls from 1 to the
    # floor between the two (emotrace.modalities.audio.domain_quality)
    clean = np.concatenate([far[k] for k in ("alone", "in_conversation") if k in far])
    domain = {"components": DOMAIN_COMPONENTS, "typical": round(float(np.median(clean)), 4),
              "far": round(float(np.percentile(clean, 99)), 4)}
    results["domain"] = domain
    log.info("domain distance of unheard corpora: median %.3f, 99th percentile %.3f", domain["typical"], domain["far"])

    # 3. RAVDESS actors 17-20, unseen
    held = np.isin(speakers, sorted(HELD_OUT_ACTORS))
    model = train_on(~held)
    results["ravdess_actors_17_20"] = {}
    held_probs = {}
    for k, v in test_views.items():
        held_probs[f"held_out_{k}"] = softmax(logits(model, views[v][held]), temperature)
        rep = emotion_report(held_probs[f"held_out_{k}"], y[held])
        results["ravdess_actors_17_20"][k] = rep
        log.info("RAVDESS actors 17-20 %s: acc %.3f UAR %.3f wF1 %.3f ECE %.3f", k, rep["accuracy"],
                 rep["unweighted_average_recall"], rep["weighted_f1"], rep["ece"])
    args.out.mkdir(parents=True, exist_ok=True)
    held_domain = DomainDistance(training_rows(~held))
    held_far = {f"held_out_distance_{k}": distances(held_domain, views[v][held]) for k, v in test_views.items()}
    if args.export_held_out is not None:
        export(model, temperature, held_domain, views[train_views[0]][:2],
               args.export_held_out, {**hp, "seeds": args.seeds}, domain,
               "RAVDESS actors 1-16, EmoDB, EMOVO (actors 17-20 held out)")
    # held-out predictions, for measuring the fusion on voices no model saw (training.fusion.measure)
    np.savez(args.out / "held_out.npz", **{f"logits_{k}": z for k, z in oof.items()}, **held_probs,
             **{f"distance_{k}": z for k, z in far.items()}, **held_far, domain_typical=domain["typical"],
             domain_far=domain["far"],
             held_out_names=d["names"][held], labels=y, corpora=corpora, speakers=speakers,
             names=d["names"], temperature=temperature)
    (args.out / "metrics.json").write_text(json.dumps(results, indent=1))
    if args.no_export or args.speaker_norm or parts != list(PARTS):
        return

    # 4. the shipped model: everything
    everything = np.ones(len(y), bool)
    model = train_on(everything)
    export(model, temperature, DomainDistance(training_rows(everything)), views[train_views[0]][:2], args.out,
           results_hp, domain, TRAINED_ON)


def export(model: nn.Module, temperature: float, domain_model: DomainDistance, example: np.ndarray, out: Path,
           hp: dict, domain: dict, trained_on: str) -> None:
    """Write ``model.onnx`` (probabilities at ``temperature``, and the domain distance) and
    ``config.json`` into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    x = torch.from_numpy(example)
    torch.onnx.export(Calibrated(model, temperature, domain_model), (x,), str(out / "model.onnx"),
                      input_names=["features"], output_names=["emotion_probs", "domain_distance"],
                      opset_version=17, dynamo=False,
                      dynamic_axes={"features": {0: "batch"}, "emotion_probs": {0: "batch"},
                                    "domain_distance": {0: "batch"}})
    config = model_config(temperature, domain, hp, trained_on, feature_dim=x.shape[1])
    (out / "config.json").write_text(json.dumps(config, indent=1) + "\n")
    log.info("exported %s (temperature %.3f)", out / "model.onnx", temperature)


if __name__ == "__main__":
    main()
