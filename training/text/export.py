"""Export a trained text encoder to ONNX, int8-quantize it if that costs ≤ 0.5 dev wF1 points,
measure it on MELD dev with emotrace's own inference code, and write a runtime model folder
(model.onnx, tokenizer.json, config.json).

    python -m training.text.export --run runs/text/encoder --out runs/text/model

The dev figures of both files go to ``<run>/export_scores.json``. ``python -m training.text``
runs this between ``training.text.train`` and ``training.text.dialogue``.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import tempfile
from pathlib import Path

import torch
from torch import nn

from emotrace.config import TextOptions
from emotrace.evaluate import evaluate_text

from .recipe import VERSION, encoder_config
from .train import EmotionModel, base_model_dir, base_of, load_run

log = logging.getLogger("export")
MAX_QUANT_DROP = 0.005


class WithSoftmax(nn.Module):
    """The trained model with probability outputs, as the runtime expects them."""

    def __init__(self, model: EmotionModel):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask, token_type_ids):
        e, s = self.model(input_ids, attention_mask, token_type_ids)
        return e.softmax(-1), s.softmax(-1)


def export_onnx(model: nn.Module, path: Path) -> None:
    """Export a module that maps the three inputs to (emotion probs, sentiment probs)."""
    model.eval()
    ids = torch.ones(2, 16, dtype=torch.long)
    args = (ids, torch.ones_like(ids), torch.zeros_like(ids))
    names = ["input_ids", "attention_mask", "token_type_ids"]
    axes = {n: {0: "batch", 1: "sequence"} for n in names}
    axes.update({"emotion_probs": {0: "batch"}, "sentiment_probs": {0: "batch"}})
    torch.onnx.export(model, args, str(path), input_names=names,
                      output_names=["emotion_probs", "sentiment_probs"], dynamic_axes=axes,
                      opset_version=17, dynamo=False)


def quantize(src: Path, dst: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic
    quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8, per_channel=True)


def model_folder(onnx_file: Path, folder: Path, cfg: dict, version: str = VERSION) -> None:
    """Write a runtime model folder: the ONNX file, the base model's tokenizer and config.json."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(onnx_file, folder / "model.onnx")
    shutil.copy(base_model_dir(base_of(cfg)) / "tokenizer.json", folder / "tokenizer.json")
    (folder / "config.json").write_text(json.dumps(encoder_config(cfg, version), indent=2) + "\n")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", type=Path, default=Path("runs/text/encoder"),
                   help="training output folder (best.pt, train_config.json)")
    p.add_argument("--out", type=Path, default=Path("runs/text/model"), help="the model folder to write")
    p.add_argument("--version", default=VERSION,
                   help="model version: part of the result-cache key, so give each shipped model a new one")
    p.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    model, cfg = load_run(args.run)
    dev_csv = args.data_dir / "meld" / "dev_sent_emo.csv"
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        export_onnx(WithSoftmax(model), tmp / "fp32.onnx")
        quantize(tmp / "fp32.onnx", tmp / "int8.onnx")
        reports = {}
        for kind in ("fp32", "int8"):
            model_folder(tmp / f"{kind}.onnx", tmp / kind, cfg, version=args.version)
            reports[kind] = evaluate_text(dev_csv, TextOptions(model=str(tmp / kind)))
            log.info("%s dev emotion wF1 %.4f sentiment wF1 %.4f", kind,
                     reports[kind]["emotion"]["weighted_f1"], reports[kind]["sentiment"]["weighted_f1"])
        drop = reports["fp32"]["emotion"]["weighted_f1"] - reports["int8"]["emotion"]["weighted_f1"]
        kind = "int8" if drop <= MAX_QUANT_DROP else "fp32"
        log.info("shipping %s (int8 drop %.4f)", kind, drop)
        if args.out.exists():
            shutil.rmtree(args.out)
        shutil.copytree(tmp / kind, args.out)
    (args.run / "export_scores.json").write_text(json.dumps({"shipped": kind, "reports": reports}, indent=1) + "\n")


if __name__ == "__main__":
    main()
