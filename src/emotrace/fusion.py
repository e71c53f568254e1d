"""Fusion: combine the modalities present for an utterance into one emotion/sentiment result.

Late fusion by a weighted mean of probability distributions. An absent modality is skipped and
the remaining weights are renormalised, so a text-only utterance keeps exactly the text model's
distribution.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

from .config import check_range
from .errors import ConfigError
from .types import ModalityScores, Scores

DEFAULT_WEIGHTS: Mapping[str, float] = {"text": 1.0, "audio": 0.5, "face": 0.5}


@dataclass(frozen=True)
class FusionOptions:
    """Relative weight of each modality (any non-negative numbers; they are renormalised)."""

    weights: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))

    def __post_init__(self) -> None:
        for name, w in self.weights.items():
            check_range(f"fusion weight of {name}", w, 0.0, None)


def fuse(per_modality: Mapping[str, Scores | None],
         options: FusionOptions = FusionOptions()) -> tuple[Scores, dict[str, ModalityScores]]:
    """Fuse the available modalities' scores.

    Args:
        per_modality: modality name → its scores, or None when it has nothing to say.
        options: the weights.

    Returns:
        The fused scores and, for each present modality, its own scores with the normalised
        weight it got.

    Raises:
        ConfigError: no modality has scores, or every present one has weight 0.
    """
    present = {k: v for k, v in per_modality.items() if v is not None}
    raw = {k: float(options.weights.get(k, 0.0)) for k in present}
    total = sum(raw.values())
    if not present or total <= 0:
        raise ConfigError(f"nothing to fuse: modalities present {sorted(present)} with weights {raw}")
    weights = {k: w / total for k, w in raw.items()}
    emo = sum(weights[k] * np.asarray(s.emotions) for k, s in present.items())
    sent = sum(weights[k] * np.asarray(s.sentiments) for k, s in present.items())
    fused = Scores.from_arrays(emo / emo.sum(), sent / sent.sum())
    return fused, {k: ModalityScores(present[k], weights[k]) for k in present}
