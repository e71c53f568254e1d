"""The label sets every emotrace model predicts, in one fixed order."""

from __future__ import annotations

EMOTIONS: tuple[str, ...] = ("anger", "disgust", "fear", "joy", "neutral", "sadness", "surprise")
"""The 7 emotion classes (MELD's names), in the order of every model's outputs."""

SENTIMENTS: tuple[str, ...] = ("negative", "neutral", "positive")
"""The 3 sentiment classes, in the order of every model's outputs."""
