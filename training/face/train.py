"""Train the facial-expression CNN on FER2013 and export it to ONNX.

Run from the repository root with the ``train`` extra installed::

    python -m training.face.train --data-dir ../shared/data/fer2013 --out runs/face/vgg

The model is a compact VGG-style network (four conv stages with batch norm, global average
pooling, one linear layer) on 48x48 grey crops, trained with flips, small rotations, scaling,
shifts and brightness/contrast jitter, in the phases of :data:`training.face.recipe.SCHEDULE`
(the defaults are the shipped recipe; ``python -m training.face`` runs this). Each phase keeps
its epoch with the best accuracy on ``validation.npz``; the last phase's is exported, with the
horizontal-flip average built into the ONNX graph, to ``<out>/model.onnx`` with its
``config.json`` and ``metrics.json``; copy those two files into ``src/emotrace/models/face/`` to ship them.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from emotrace.labels import EMOTIONS
from emotrace.metrics import classification_report

from .recipe import CHANNELS as STAGES
from .recipe import OPTIONS, SCHEDULE, VERSION, model_config

log = logging.getLogger("train.face")


class ExpressionNet(nn.Module):
    """VGG-style CNN: ``(N, 1, 48, 48)`` grey in [0, 1] → 7 emotion logits."""

    def __init__(self, stages=STAGES, dropout: float = 0.3):
        super().__init__()
        layers: list[nn.Module] = []
        c = 1
        for stage in stages:
            for out in stage:
                layers += [nn.Conv2d(c, out, 3, padding=1, bias=False), nn.BatchNorm2d(out),
                           nn.ReLU(inplace=True)]
                c = out
            layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(c, len(EMOTIONS))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Centre the grey levels inside the network so callers only scale to [0, 1].
        h = self.features((x - 0.5) / 0.25)
        return self.head(self.dropout(h.mean(dim=(2, 3))))


class FlipAveraged(nn.Module):
    """Export wrapper: softmax averaged over the image and its mirror (test-time augmentation)."""

    def __init__(self, net: ExpressionNet):
        super().__init__()
        self.net = net

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        p = F.softmax(self.net(image), dim=-1) + F.softmax(self.net(torch.flip(image, dims=[3])), dim=-1)
        return p / 2


def load_npz(path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """Images as ``(N, 1, 48, 48)`` float32 in [0, 1] and labels as int64 (checked against EMOTIONS)."""
    d = np.load(path, allow_pickle=True)
    names = tuple(str(n) for n in d["label_names"])
    if names != EMOTIONS:
        raise SystemExit(f"{path}: label_names {names} differ from {EMOTIONS}")
    x = torch.from_numpy(d["images"].astype(np.float32) / 255.0).unsqueeze(1)
    return x, torch.from_numpy(d["labels"].astype(np.int64))


def augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random flip, rotation (±12°), scale (0.9–1.1), shift (±10%), brightness and contrast."""
    n = x.shape[0]
    r = lambda *s: torch.rand(*s, generator=gen)  # noqa: E731
    angle = (r(n) * 2 - 1) * math.radians(12)
    scale = 0.9 + 0.2 * r(n)
    flip = torch.where(r(n) < 0.5, -1.0, 1.0)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0], theta[:, 0, 1] = cos * flip, -sin
    theta[:, 1, 0], theta[:, 1, 1] = sin * flip, cos
    theta[:, :, 2] = (r(n, 2) * 2 - 1) * 0.2
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    out = F.grid_sample(x, grid, padding_mode="border", align_corners=False)
    contrast = (0.7 + 0.6 * r(n, 1, 1, 1))
    bright = (r(n, 1, 1, 1) - 0.5) * 0.2
    mean = out.mean(dim=(2, 3), keepdim=True)
    return ((out - mean) * contrast + mean + bright).clamp(0, 1)


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, batch: int = 512) -> np.ndarray:
    """Flip-averaged probabilities, the same computation the exported model does."""
    model.eval()
    tta = FlipAveraged(model)
    out = [tta(x[i:i + batch].contiguous(memory_format=torch.channels_last)) for i in range(0, len(x), batch)]
    return torch.cat(out).numpy()


def export_onnx(model: ExpressionNet, path: Path) -> None:
    """Write the flip-averaged model with a dynamic batch axis (input ``image``, output ``emotion_probs``)."""
    model.eval()
    wrapper = FlipAveraged(model).to(memory_format=torch.contiguous_format)
    torch.onnx.export(wrapper, (torch.rand(2, 1, 48, 48),), str(path), input_names=["image"],
                      output_names=["emotion_probs"], opset_version=17, dynamo=False,
                      dynamic_axes={"image": {0: "batch"}, "emotion_probs": {0: "batch"}})


def train_phase(model: ExpressionNet, phase: dict, x_train, y_train, x_val, y_val,
                args: argparse.Namespace, out: Path) -> list[dict]:
    """One phase of the schedule from the model's current weights; leaves its best epoch in the
    model (and in ``out/best.pt``) and returns the per-epoch history."""
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    opt = torch.optim.SGD(model.parameters(), lr=phase["lr"], momentum=0.9, nesterov=True,
                          weight_decay=args.weight_decay)
    steps_per_epoch = math.ceil(len(x_train) / args.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=phase["lr"], epochs=phase["cycle"],
                                                steps_per_epoch=steps_per_epoch, pct_start=phase["warmup"])
    best, history = -1.0, []
    for epoch in range(1, phase["epochs"] + 1):
        model.train()
        t0, total = time.time(), 0.0
        perm = torch.randperm(len(x_train), generator=gen)
        for i in range(0, len(perm), args.batch_size):
            idx = perm[i:i + args.batch_size]
            xb = augment(x_train[idx], gen).contiguous(memory_format=torch.channels_last)
            loss = F.cross_entropy(model(xb), y_train[idx], label_smoothing=args.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
        probs = predict(model, x_val)
        report = classification_report(y_val.numpy(), probs.argmax(1), EMOTIONS)
        history.append({"epoch": epoch, "train_loss": total / len(x_train), "val_accuracy": report["accuracy"],
                        "val_weighted_f1": report["weighted_f1"], "seconds": time.time() - t0})
        log.info("epoch %d loss %.4f val acc %.4f wF1 %.4f (%.0fs)", epoch, total / len(x_train),
                 report["accuracy"], report["weighted_f1"], time.time() - t0)
        if report["accuracy"] > best:
            best = report["accuracy"]
            torch.save(model.state_dict(), out / "best.pt")
        (out / "history.json").write_text(json.dumps(history, indent=1))
    model.load_state_dict(torch.load(out / "best.pt"))
    return history


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", type=Path, default=Path("../shared/data/fer2013"))
    ap.add_argument("--out", type=Path, default=Path("runs/face/vgg"))
    ap.add_argument("--schedule", type=json.loads, default=[dict(p) for p in SCHEDULE],
                    help="the phases as JSON: [{\"cycle\": 30, \"epochs\": 6, \"lr\": 0.05, \"warmup\": 0.15}, ...] "
                         "(default: the shipped recipe's four)")
    ap.add_argument("--batch-size", type=int, default=OPTIONS["batch_size"])
    ap.add_argument("--weight-decay", type=float, default=OPTIONS["weight_decay"])
    ap.add_argument("--label-smoothing", type=float, default=OPTIONS["label_smoothing"])
    ap.add_argument("--seed", type=int, default=OPTIONS["seed"])
    ap.add_argument("--threads", type=int, default=2, help="torch threads (0: torch's default)")
    ap.add_argument("--model-version", default=VERSION,
                    help="version written to config.json (part of emotrace's result-cache key: raise it "
                         "for every model that ships)")
    x = ap.add_argument_group("experiments and checks")
    x.add_argument("--init", type=Path, default=None, help="start the first phase from these weights (a best.pt)")
    x.add_argument("--limit", type=int, default=0, help="train on the first N images only (smoke test)")
    x.add_argument("--export-only", action="store_true", help="export <out>/best.pt and measure it, no training")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    args.out.mkdir(parents=True, exist_ok=True)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)  # the network's initial weights

    x_train, y_train = load_npz(args.data_dir / "train.npz")
    x_val, y_val = load_npz(args.data_dir / "validation.npz")
    if args.limit:
        x_train, y_train = x_train[:args.limit], y_train[:args.limit]
        x_val, y_val = x_val[:args.limit], y_val[:args.limit]
    model = ExpressionNet().to(memory_format=torch.channels_last)
    if args.export_only:
        model.load_state_dict(torch.load(args.out / "best.pt"))
        return finish(model, x_val, y_val, args)
    if args.init:
        model.load_state_dict(torch.load(args.init))
    for n, phase in enumerate(args.schedule, 1):
        log.info("phase %d of %d: %s", n, len(args.schedule), phase)
        phase_out = args.out / f"phase{n}"
        phase_out.mkdir(exist_ok=True)
        train_phase(model, phase, x_train, y_train, x_val, y_val, args, phase_out)
    torch.save(model.state_dict(), args.out / "best.pt")
    finish(model, x_val, y_val, args)


def finish(model: ExpressionNet, x_val: torch.Tensor, y_val: torch.Tensor, args: argparse.Namespace) -> None:
    """Export the kept model and write its validation figures (checked on the ONNX file itself)."""
    import onnxruntime as ort

    from emotrace.metrics import confusion_matrix

    onnx_path = args.out / "model.onnx"
    export_onnx(model, onnx_path)
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    probs = np.concatenate([sess.run(None, {"image": x_val[i:i + 512].numpy()})[0]
                            for i in range(0, len(x_val), 512)])
    pred = probs.argmax(1)
    report = classification_report(y_val.numpy(), pred, EMOTIONS)
    report["confusion_matrix"] = confusion_matrix(y_val.numpy(), pred, len(EMOTIONS)).tolist()
    report["n"] = int(len(y_val))
    (args.out / "metrics.json").write_text(json.dumps(report, indent=1))
    options = {k: getattr(args, k) for k in OPTIONS}
    config = model_config(args.schedule, options, args.model_version)
    (args.out / "config.json").write_text(json.dumps(config, indent=1) + "\n")
    log.info("validation (ONNX): acc %.4f wF1 %.4f macro F1 %.4f", report["accuracy"],
             report["weighted_f1"], report["macro_f1"])


if __name__ == "__main__":
    main()
