"""Knowledge distillation: a finished run (the teacher) gives soft targets for a student's training.

``python -m training.text.train --teacher runs/text/mp12 --distill 0.5 ...`` trains a student on
a mix of the hard labels and the teacher's temperature-softened distributions. The teacher's
logits over the training examples are computed once and cached in the teacher's run folder,
keyed by a hash of the examples and the maximum length, so a second student reuses them.
"""

from __future__ import annotations

import hashlib
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
    from .train import base_model_dir, batches, load_run
    from emotrace.modalities.text import load_tokenizer

    cache = run / f"teacher_logits_{examples_key(examples, max_length)}.npz"
    if cache.exists():
        z = np.load(cache)
        return torch.from_numpy(z["emotion"]), torch.from_numpy(z["sentiment"])
    model, cfg = load_run(run)
    if int(cfg.get("context", 0)) != context:
        raise TeacherMismatch(f"teacher {run} was trained with --context {cfg.get('context', 0)}, "
                              f"the student with --context {context}")
    tokenizer = load_tokenizer(base_model_dir(cfg.get("base", "minilm")) / "tokenizer.json")
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
