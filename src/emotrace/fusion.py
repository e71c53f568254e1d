"""Fusion: combine the modalities present for an utterance into one emotion/sentiment result.

Late fusion of probability distributions, one weight per modality and task, by one of

* ``"mean"`` — the weighted arithmetic mean (linear opinion pool): robust, a confident modality
  cannot veto the others; or
* ``"product"`` — the weighted geometric mean, renormalised (log-linear pool): a class that
  any present modality finds unlikely stays unlikely (each modality can veto); or
* ``"gated"`` — two questions answered apart. *Is it neutral?* by the weighted mean of the
  modalities' log-odds of neutral; *which emotion, if not?* by the weighted mean of their
  non-neutral probabilities. Words that carry no emotion ("Kids are talking by the door") then
  do not drown an angry voice, and a neutral face has no say in which emotion an emotional
  sentence shows. Sentiments are fused the same way around their neutral class.

An absent modality (``None``: no face in view, no audio track) is skipped and the remaining
weights are renormalised, never zero-filled, so a text-only utterance keeps exactly the text
model's distribution under every method. The weights are relative: only their ratios matter.

The defaults (``gated``, equal weights) were chosen on what can be measured here
(``training/fusion/README.md``): RAVDESS held-out actors (neutral words, acted voice), FER2013
validation faces and MELD dev text. Users who own MELD's
raw clips can learn the weights from them with ``training/fusion``, which writes a JSON file
that :meth:`FusionOptions.from_json` reads.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from .config import check_choice, check_range
from .errors import ConfigError
from .labels import EMOTIONS, SENTIMENTS
from .types import ModalityScores, Scores

METHODS = ("mean", "product", "gated")

DEFAULT_WEIGHTS: Mapping[str, float] = {"text": 1.0, "audio": 1.0, "face": 1.0}
DEFAULT_SENTIMENT_WEIGHTS: Mapping[str, float] = {"text": 1.0, "audio": 1.0, "face": 1.0}
DEFAULT_METHOD = "gated"
"""Chosen on RAVDESS held-out actors (``training/fusion/README.md``): with neutral words and an
acted voice, ``gated`` at equal weights keeps the voice's accuracy (0.671 fused vs 0.667 alone)
where ``mean`` at the same weights falls to 0.558, and it leaves text-only utterances unchanged.
With text model v2, which is surer that RAVDESS's read sentences are neutral, ``gated`` 1:1 scores
0.504 there (voice weight 2: 0.658); the weights were kept equal for real speech, where the voice
model leans toward joy (``training/fusion/README.md``)."""

_EPS = 1e-6


@dataclass(frozen=True)
class FusionOptions:
    """How modalities are combined.

    Attributes:
        weights: relative weight of each modality for the emotions (non-negative).
        sentiment_weights: the same for the sentiments (voice and face derive sentiment from
            their emotions, so they may deserve less weight there).
        method: one of :data:`METHODS` (see the module's docstring).
    """

    weights: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    sentiment_weights: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_SENTIMENT_WEIGHTS))
    method: str = DEFAULT_METHOD

    def __post_init__(self) -> None:
        check_choice("fusion method", self.method, METHODS)
        for table, label in ((self.weights, "fusion weight"), (self.sentiment_weights, "fusion sentiment weight")):
            if not isinstance(table, Mapping):
                raise ConfigError(f"{label}s must be a mapping of modality name to weight, got {table!r}")
            for name, w in table.items():
                check_range(f"{label} of {name}", w, 0.0, None)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (what :meth:`from_json` reads)."""
        return {"method": self.method, "weights": dict(self.weights),
                "sentiment_weights": dict(self.sentiment_weights)}

    @classmethod
    def from_json(cls, path: str | Path) -> "FusionOptions":
        """Read options written by ``training/fusion`` (or by hand): method, weights, sentiment_weights.

        Raises:
            ConfigError: the file cannot be read or holds invalid values.
        """
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, ValueError) as e:
            raise ConfigError(f"cannot read fusion options from {path}: {e}") from e
        unknown = set(data) - {"method", "weights", "sentiment_weights"}
        if unknown:
            raise ConfigError(f"{path}: unknown fusion option(s) {sorted(unknown)}; "
                              "expected method, weights, sentiment_weights")
        return cls(**data)


def _pool(p: np.ndarray, w: np.ndarray, method: str, neutral: int) -> np.ndarray:
    """Fuse ``p`` ``(n, m, c)`` with weights ``w`` ``(n, m)`` (rows summing to 1) → ``(n, c)``."""
    if method == "mean":
        out = np.einsum("nm,nmc->nc", w, p)
    elif method == "product":
        log = np.einsum("nm,nmc->nc", w, np.log(p + _EPS))
        out = np.exp(log - log.max(axis=1, keepdims=True))
    else:  # "gated"
        # Neutral or not: weighted mean of each modality's log-odds of neutral.
        n = np.clip(p[:, :, neutral], _EPS, 1 - _EPS)
        neutral_p = 1 / (1 + np.exp(-np.einsum("nm,nm->n", w, np.log(n / (1 - n)))))
        # Which non-neutral class: the linear pool of the non-neutral mass, so a modality that
        # hears or sees no emotion has no say in which emotion it is.
        rest = np.einsum("nm,nmc->nc", w, p)
        rest[:, neutral] = 0.0
        total = rest.sum(axis=1, keepdims=True)
        rest = np.where(total > 0, rest / np.where(total > 0, total, 1.0), 0.0)
        out = rest * (1 - neutral_p)[:, None]
        out[:, neutral] = neutral_p
    return out / out.sum(axis=1, keepdims=True)


def neutral_index(n_classes: int) -> int:
    """Index of the neutral class among the emotions (7) or the sentiments (3)."""
    if n_classes == len(EMOTIONS):
        return EMOTIONS.index("neutral")
    if n_classes == len(SENTIMENTS):
        return SENTIMENTS.index("neutral")
    raise ValueError(f"expected {len(EMOTIONS)} emotions or {len(SENTIMENTS)} sentiments, got {n_classes} classes")


def pool(dists: Mapping[str, np.ndarray], weights: Mapping[str, float], method: str) -> np.ndarray:
    """Fuse distributions (each summing to 1) with already normalised weights."""
    names = list(weights)
    p = np.stack([np.asarray(dists[k], dtype=np.float64) for k in names])[None]
    w = np.array([[weights[k] for k in names]], dtype=np.float64)
    return _pool(p, w, method, neutral_index(p.shape[-1]))[0]


def fuse_arrays(probs: Mapping[str, np.ndarray], present: Mapping[str, np.ndarray],
                weights: Mapping[str, float], method: str) -> np.ndarray:
    """Vectorised :func:`pool` over many utterances (used to learn and measure weights).

    Args:
        probs: modality → ``(n, classes)`` distributions (rows of absent modalities are ignored).
        present: modality → ``(n,)`` booleans, whether that modality judged the utterance.
        weights: relative weights (renormalised per row over the present modalities).
        method: one of :data:`METHODS`.

    Returns:
        ``(n, classes)`` fused distributions; rows where no weighted modality is present are NaN.
    """
    names = list(probs)
    w = np.stack([np.where(present[k], float(weights.get(k, 0.0)), 0.0) for k in names], axis=1)
    total = w.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        w = w / total
    p = np.stack([np.asarray(probs[k], dtype=np.float64) for k in names], axis=1)  # (n, m, c)
    with np.errstate(invalid="ignore"):
        return _pool(p, w, method, neutral_index(p.shape[-1]))


def _normalised(present: Mapping[str, Scores], table: Mapping[str, float], what: str) -> dict[str, float]:
    raw = {k: float(table.get(k, 0.0)) for k in present}
    total = sum(raw.values())
    if not present or total <= 0:
        raise ConfigError(f"nothing to fuse: modalities present {sorted(present)} with {what} {raw}")
    return {k: w / total for k, w in raw.items()}


def fuse(per_modality: Mapping[str, Scores | None],
         options: FusionOptions = FusionOptions()) -> tuple[Scores, dict[str, ModalityScores]]:
    """Fuse the available modalities' scores.

    Args:
        per_modality: modality name → its scores, or None when it has nothing to say.
        options: the method and weights.

    Returns:
        The fused scores and, for each present modality, its own scores with the normalised
        emotion weight it got.

    Raises:
        ConfigError: no modality has scores, or every present one has weight 0.
    """
    present = {k: v for k, v in per_modality.items() if v is not None}
    weights = _normalised(present, options.weights, "weights")
    sent_weights = _normalised(present, options.sentiment_weights, "sentiment weights")
    if len(present) == 1:  # keep a lone modality's numbers bit for bit
        (name, only), = present.items()
        return only, {name: ModalityScores(only, 1.0)}
    emo = pool({k: s.emotions for k, s in present.items()}, weights, options.method)
    sent = pool({k: s.sentiments for k, s in present.items()}, sent_weights, options.method)
    fused = Scores.from_arrays(emo, sent)
    return fused, {k: ModalityScores(present[k], weights[k]) for k in present}
