"""Classification metrics (weighted F1, macro F1, accuracy, per-class F1) in plain NumPy.

Kept here rather than taken from scikit-learn so that ``emotrace evaluate`` needs no training
dependency; the definitions match scikit-learn's ``f1_score`` with ``zero_division=0``.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np


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
