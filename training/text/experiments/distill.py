"""Knowledge distillation: a finished run (the teacher) gives soft targets for a student's training.

``python -m training.text.train --teacher runs/text/mp12 --distill 0.5 ...`` trains a student on
a mix of the hard labels and the teacher's temperature-softened distributions; several
``--teacher`` runs are an ensemble (their logits averaged). Each teacher's logits over the
training examples are computed once and cached in its run folder, keyed by a hash of the
examples and the maximum length, so a second student reuses them.

``python -m training.text.experiments.distill --runs A B C`` scores each run and their ensemble on MELD dev
(the same cached logits), to choose the teachers on dev::

    python -m training.text.experiments.distill --runs runs/text/mp12 runs/text/mp8 --max-length 96
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

log = logging.getLogger("distill")


class TeacherMismatch(ValueError):
    """The teacher was trained on inputs shaped differently from the student's (e.g. context)."""


def examples_key(examples, max_length: int) -> str:
    """A short hash of the examples' texts and contexts, in order, and the maximum length."""
    h = hashlib.sha256(str(max_length).encode())
    for text, ctx, _, _ in examples:
        h.update(text.encode("utf-8")); h.update(b"\x1f")
        h.update((ctx or "").encode("utf-8")); h.update(b"\x1e")
    return h.hexdigest()[:16]


@torch.no_grad()
def teacher_logits(run: Path, examples, max_length: int, context: int,
                   batch_size: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """The teacher run's emotion and sentiment logits for each example, in order (cached)."""
    from ..train import base_model_dir, base_of, batches, load_run
    from emotrace.modalities.text import load_tokenizer

    cache = run / f"teacher_logits_{examples_key(examples, max_length)}.npz"
    if cache.exists():
        z = np.load(cache)
        return torch.from_numpy(z["emotion"]), torch.from_numpy(z["sentiment"])
    model, cfg = load_run(run)
    if int(cfg.get("context", 0)) != context:
        raise TeacherMismatch(f"teacher {run} was trained with --context {cfg.get('context', 0)}, "
                              f"the student with --context {context}")
    tokenizer = load_tokenizer(base_model_dir(base_of(cfg)) / "tokenizer.json")
    emo, sent = [], []
    for n, (feeds, _, _, _) in enumerate(batches(examples, tokenizer, batch_size, max_length, shuffle=False)):
        e, s = model(**feeds)
        emo.append(e); sent.append(s)
        if n % 20 == 0:
            log.info("teacher logits %d/%d", min((n + 1) * batch_size, len(examples)), len(examples))
    emo_t, sent_t = torch.cat(emo), torch.cat(sent)
    np.savez(cache, emotion=emo_t.numpy(), sentiment=sent_t.numpy())
    return emo_t, sent_t


def soft_loss(student: torch.Tensor, teacher: torch.Tensor, temperature: float) -> torch.Tensor:
    """KL(teacher ‖ student) at ``temperature``, scaled by T² so gradients keep their size."""
    t = temperature
    return F.kl_div(F.log_softmax(student / t, -1), F.log_softmax(teacher / t, -1),
                    reduction="batchmean", log_target=True) * t * t


def ensemble_logits(runs: list[Path], examples, max_length: int,
                    context: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The mean of several teachers' logits (one teacher: its own)."""
    return _mean([teacher_logits(r, examples, max_length, context) for r in runs])


def _mean(pairs: list[tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
    return (torch.stack([e for e, _ in pairs]).mean(0), torch.stack([s for _, s in pairs]).mean(0))


def main(argv=None) -> None:
    from emotrace.labels import EMOTIONS, SENTIMENTS
    from emotrace.metrics import classification_report

    from ..train import meld_examples

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=Path, nargs="+", required=True, help="finished training runs")
    p.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    p.add_argument("--split", default="dev", choices=("dev", "train"),
                   help="dev: print scores; train: only fill the teacher caches a student will use")
    p.add_argument("--max-length", type=int, default=96)
    p.add_argument("--context", type=int, default=0)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    examples = meld_examples(args.data_dir / "meld" / f"{args.split}_sent_emo.csv", args.context)

    def report(e: torch.Tensor, s: torch.Tensor) -> dict:
        emo = classification_report([x[2] for x in examples], e.argmax(-1).tolist(), EMOTIONS)
        sen = classification_report([x[3] for x in examples], s.argmax(-1).tolist(), SENTIMENTS)
        return {"emotion_wf1": round(emo["weighted_f1"], 4), "emotion_mf1": round(emo["macro_f1"], 4),
                "sentiment_wf1": round(sen["weighted_f1"], 4)}

    pairs = [teacher_logits(run, examples, args.max_length, args.context) for run in args.runs]
    rows = {str(run): report(*pair) for run, pair in zip(args.runs, pairs)}
    if len(pairs) > 1:
        rows["ensemble"] = report(*_mean(pairs))
    if args.split == "dev":
        print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
