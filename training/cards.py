"""Markdown tables of measured figures for model cards (from the ``metrics.json`` training writes).

    python -m training.cards runs/face/vgg/metrics.json            # the whole report
    python -m training.cards runs/audio/mlp/metrics.json held_out.alone
"""

from __future__ import annotations

import json
import sys
from typing import Any

from emotrace.labels import EMOTIONS


def figures_table(report: dict[str, Any]) -> str:
    """n, accuracy, weighted and macro F1, then per-class F1 and support."""
    lines = ["| n | accuracy | weighted F1 | macro F1 |", "|---|---|---|---|",
             f"| {report['n']} | {report['accuracy']:.4f} | {report['weighted_f1']:.4f} | {report['macro_f1']:.4f} |",
             "", "| class | F1 | support |", "|---|---|---|"]
    lines += [f"| {c} | {report['per_class_f1'][c]:.4f} | {report['support'][c]} |" for c in EMOTIONS]
    return "\n".join(lines)


def confusion_table(matrix: list[list[int]]) -> str:
    """Rows true, columns predicted."""
    head = "| true \\ predicted | " + " | ".join(EMOTIONS) + " |"
    lines = [head, "|" + "---|" * (len(EMOTIONS) + 1)]
    lines += [f"| {c} | " + " | ".join(str(v) for v in row) + " |" for c, row in zip(EMOTIONS, matrix)]
    return "\n".join(lines)


def main(argv: list[str]) -> None:
    report = json.loads(open(argv[0]).read())
    for key in argv[1].split(".") if len(argv) > 1 else []:
        report = report[key]
    print(figures_table(report))
    print()
    print(confusion_table(report["confusion_matrix"]))


if __name__ == "__main__":
    main(sys.argv[1:])
