"""Evaluation of emotrace's models on labelled public data (MELD's CSV format, …).

Each ``evaluate_*`` function returns a JSON-ready dict; the CLI only prints it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .config import TextOptions
from .datasets import read_meld_csv
from .labels import EMOTIONS, SENTIMENTS
from .metrics import classification_report
from .modalities.text import TextScorer


def evaluate_text(meld_csv: str | Path, options: TextOptions = TextOptions(), hook=None,
                  scorer: TextScorer | None = None) -> dict[str, Any]:
    """Score every utterance of a MELD-format CSV with the text model and compare to its labels.

    Each dialogue is scored in ``Utterance_ID`` order, so an utterance's context is the
    utterances before it in the same dialogue (``options.context_turns`` of them, or the
    model's default).

    Returns:
        ``{"n", "context_turns", "model", "emotion": {...}, "sentiment": {...}}`` where each
        task has ``weighted_f1``, ``macro_f1``, ``accuracy``, ``per_class_f1`` and ``support``.
    """
    dialogues = read_meld_csv(meld_csv)
    scorer = scorer or TextScorer(options)
    total = sum(len(d) for d in dialogues)
    true_e, true_s, pred_e, pred_s = [], [], [], []
    done = 0
    for dialogue in dialogues:
        scores = scorer.score_dialogue([u.text for u in dialogue])
        for u, s in zip(dialogue, scores):
            true_e.append(EMOTIONS.index(u.emotion))
            true_s.append(SENTIMENTS.index(u.sentiment))
            pred_e.append(EMOTIONS.index(s.top_emotion))
            pred_s.append(SENTIMENTS.index(s.top_sentiment))
        done += len(dialogue)
        if hook:
            hook("evaluate text", done, total)
    return {"n": total, "model": scorer.model_name, "context_turns": scorer.context_turns,
            "emotion": _rounded(classification_report(true_e, pred_e, EMOTIONS)),
            "sentiment": _rounded(classification_report(true_s, pred_s, SENTIMENTS))}


def _rounded(report: dict[str, Any]) -> dict[str, Any]:
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in report.items()}
