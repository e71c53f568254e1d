"""Classification metrics (weighted F1, macro F1, accuracy, per-class F1, UAR, calibration error), the word error rate and the diarization error rate, in NumPy (SciPy for the speaker mapping).

Kept here rather than taken from scikit-learn so that ``emotrace evaluate`` needs no training
dependency; the definitions match scikit-learn's ``f1_score`` with ``zero_division=0``.
"""

from __future__ import annotations

import re
from typing import Any, Sequence

import numpy as np

from .labels import EMOTIONS


def confusion_matrix(y_true: Sequence[int], y_pred: Sequence[int], n_classes: int) -> np.ndarray:
    """Rows are true classes, columns predicted classes."""
    m = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(m, (np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)), 1)
    return m


def classification_report(y_true: Sequence[int], y_pred: Sequence[int],
                          labels: Sequence[str]) -> dict[str, Any]:
    """Weighted F1, macro F1, accuracy and per-class F1 over ``labels`` (indices into it).

    Macro F1 averages over the classes present in ``y_true`` or ``y_pred`` only, as
    scikit-learn does when given no explicit label list.
    """
    cm = confusion_matrix(y_true, y_pred, len(labels))
    tp = np.diag(cm).astype(float)
    support = cm.sum(axis=1).astype(float)
    predicted = cm.sum(axis=0).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        f1 = np.where(support + predicted > 0, 2 * tp / (support + predicted), 0.0)
    present = (support + predicted) > 0
    n = int(support.sum())
    return {
        "weighted_f1": float((f1 * support).sum() / n) if n else 0.0,
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        "accuracy": float(tp.sum() / n) if n else 0.0,
        "per_class_f1": {label: round(float(v), 4) for label, v in zip(labels, f1)},
        "support": {label: int(s) for label, s in zip(labels, support)},
    }


def unweighted_average_recall(y_true: Sequence[int], y_pred: Sequence[int], n_classes: int) -> float:
    """Mean recall over the classes present in ``y_true`` (UAR, the usual speech-emotion figure)."""
    cm = confusion_matrix(y_true, y_pred, n_classes)
    support = cm.sum(axis=1)
    present = support > 0
    return float((np.diag(cm)[present] / support[present]).mean()) if present.any() else 0.0


def expected_calibration_error(probs: np.ndarray, y_true: Sequence[int], bins: int = 10) -> float:
    """Expected calibration error of the top class: ``Σ_b |acc_b − conf_b| · n_b / n`` over
    ``bins`` equal-width confidence bins."""
    probs = np.asarray(probs, dtype=np.float64)
    if not len(probs):
        return 0.0
    conf = probs.max(axis=1)
    correct = probs.argmax(axis=1) == np.asarray(y_true)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, bins - 1)
    ece = 0.0
    for b in range(bins):
        m = which == b
        if m.any():
            ece += abs(correct[m].mean() - conf[m].mean()) * m.sum() / len(conf)
    return float(ece)


def restricted_predictions(probs: np.ndarray, allowed: Sequence[int]) -> np.ndarray:
    """Arg-max over the ``allowed`` classes only (for a corpus that lacks some classes)."""
    probs = np.asarray(probs)
    allowed = np.asarray(sorted(set(int(a) for a in allowed)))
    return allowed[np.argmax(probs[:, allowed], axis=1)]


def emotion_report(probs: np.ndarray, y_true: Sequence[int],
                   labels: Sequence[str] = EMOTIONS) -> dict[str, Any]:
    """Every figure ``emotrace evaluate`` reports for one labelled set, as a JSON-ready dict.

    F1 and recall are averaged over the labels present in ``y_true`` only, so a corpus without
    (say) surprise is not punished by an empty surprise class; a prediction of an absent label
    still counts as an error. ``accuracy_restricted`` takes the arg-max over the present
    labels only, i.e. what the model would score if told which labels the corpus uses.

    Args:
        probs: ``(n, len(labels))`` class probabilities.
        y_true: true class indices into ``labels``.
        labels: class names (default :data:`~emotrace.labels.EMOTIONS`).

    Returns:
        ``{"n", "accuracy", "unweighted_average_recall", "weighted_f1", "macro_f1",
        "accuracy_restricted", "ece", "labels_present", "per_class_f1", "support",
        "confusion_labels", "confusion_matrix"}``; floats rounded to 4 places. The confusion
        matrix (rows true, columns predicted), ``per_class_f1`` and ``support`` cover every
        label (an absent one has F1 0 and support 0); ``labels_present`` lists the labels the
        averages use.
    """
    k = len(labels)
    probs = np.asarray(probs, dtype=np.float64).reshape(-1, k)
    y_true = np.asarray(y_true, dtype=np.int64)
    if len(probs) != len(y_true):
        raise ValueError(f"{len(probs)} rows of probabilities for {len(y_true)} labels")
    y_pred = probs.argmax(axis=1)
    cm = confusion_matrix(y_true, y_pred, k)
    tp = np.diag(cm).astype(float)
    support = cm.sum(axis=1).astype(float)
    predicted = cm.sum(axis=0).astype(float)
    present = support > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        f1 = np.where(support + predicted > 0, 2 * tp / (support + predicted), 0.0)
    n = len(y_true)
    allowed = np.flatnonzero(present)
    restricted = restricted_predictions(probs, allowed) if n else y_pred
    r4 = lambda v: round(float(v), 4)  # noqa: E731
    return {
        "n": int(n),
        "accuracy": r4(tp.sum() / n) if n else 0.0,
        "unweighted_average_recall": r4(unweighted_average_recall(y_true, y_pred, k)),
        "weighted_f1": r4((f1 * support).sum() / n) if n else 0.0,
        "macro_f1": r4(f1[present].mean()) if present.any() else 0.0,
        "accuracy_restricted": r4((restricted == y_true).mean()) if n else 0.0,
        "ece": r4(expected_calibration_error(probs, y_true, bins=10)),
        "labels_present": [labels[i] for i in allowed],
        "per_class_f1": {label: r4(v) for label, v in zip(labels, f1)},
        "support": {label: int(s) for label, s in zip(labels, support)},
        "confusion_labels": list(labels),
        "confusion_matrix": cm.tolist(),
    }


def _norm_words(text: str) -> list[str]:
    return re.sub(r"[^\w\s']", " ", text.lower().replace("-", " ")).split()


def word_error_rate(reference: str, hypothesis: str) -> float:
    """Word error rate of ``hypothesis`` against ``reference``, case and punctuation ignored.

    (substitutions + deletions + insertions) / reference words, by edit distance.
    """
    ref, hyp = _norm_words(reference), _norm_words(hypothesis)
    if not ref:
        return float(bool(hyp))
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1] / len(ref)


def diarization_error_rate(reference: Sequence[tuple[float, float, str]],
                           hypothesis: Sequence[tuple[float, float, str]],
                           collar: float = 0.25, step: float = 0.01) -> dict[str, float]:
    """Diarization error rate of ``hypothesis`` turns against ``reference`` turns.

    Both are ``(start, end, speaker)`` in seconds; reference turns may overlap. Time is cut
    into ``step``-second frames; frames within ``collar`` seconds of a reference turn's start
    or end are not scored (the usual 0.25 s forgives boundary placement; 0 scores everything).
    Hypothesis speakers are mapped one-to-one to reference speakers so as to maximise the
    time they share (Hungarian assignment), as NIST's md-eval and pyannote.metrics do.

    Returns:
        ``der`` = (missed + false alarm + confusion) / scored reference speech, and those
        three parts in seconds with ``total`` (the scored reference speech).
    """
    from scipy.optimize import linear_sum_assignment

    end = max([e for _, e, _ in list(reference) + list(hypothesis)], default=0.0)
    n = int(np.ceil(end / step)) + 1
    ref_names = sorted({s for _, _, s in reference})
    hyp_names = sorted({s for _, _, s in hypothesis})

    def grid(turns, names):
        g = np.zeros((len(names), n), dtype=bool)
        for a, b, s in turns:
            g[names.index(s), int(round(a / step)):int(round(b / step))] = True
        return g

    ref, hyp = grid(reference, ref_names), grid(hypothesis, hyp_names)
    scored = np.ones(n, dtype=bool)
    if collar > 0:
        c = int(round(collar / step))
        for a, b, _ in reference:
            for t in (int(round(a / step)), int(round(b / step))):
                scored[max(0, t - c):t + c] = False
    ref, hyp = ref[:, scored], hyp[:, scored]
    n_ref, n_hyp = ref.sum(axis=0), hyp.sum(axis=0)
    shared = ref.astype(np.int64) @ hyp.T.astype(np.int64)  # frames each pair shares
    correct = 0
    if shared.size:
        rows, cols = linear_sum_assignment(-shared)
        correct = int(shared[rows, cols].sum())
    total = float(n_ref.sum())
    missed = float(np.maximum(n_ref - n_hyp, 0).sum())
    false_alarm = float(np.maximum(n_hyp - n_ref, 0).sum())
    confusion = float(np.minimum(n_ref, n_hyp).sum() - correct)
    der = (missed + false_alarm + confusion) / total if total else 0.0
    return {"der": der, "missed": missed * step, "false_alarm": false_alarm * step,
            "confusion": confusion * step, "total": total * step}
