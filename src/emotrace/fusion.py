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

Each modality's weight is set per utterance: its fixed weight (:class:`FusionOptions`) times the
quality of its input there (:attr:`~emotrace.types.Scores.quality`: enough speech for the voice,
frames with a face and the face's size for the face). An absent modality (``None``: no face in
view, no audio track) is skipped and the remaining weights are renormalised, never zero-filled,
so a text-only utterance keeps exactly the text model's distribution under every method. The
weights are relative: only their ratios matter. :func:`agreement` says how far the modalities
agree on the top emotion.

The defaults (:data:`emotrace.config.DEFAULT_WEIGHTS` and below) were set on the held-out data there is here
(``training/fusion/README.md``). Users who own MELD's raw clips can learn the weights from them
with ``training/fusion``, which writes a JSON file that :meth:`FusionOptions.from_json` reads.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from .config import METHODS, FusionOptions
from .errors import ConfigError
from .labels import EMOTIONS, SENTIMENTS
from .types import ModalityScores, Scores

__all__ = ["METHODS", "FusionOptions", "fuse", "fuse_arrays", "agreement", "confidence", "row_weights"]

_EPS = 1e-6


def confidence(p: np.ndarray) -> np.ndarray:
    """How far each distribution (last axis) is from uniform: 0 at uniform, 1 when one class has it all."""
    k = p.shape[-1]
    return np.clip((p.max(axis=-1) - 1.0 / k) / (1.0 - 1.0 / k), 0.0, 1.0)


def row_weights(probs: np.ndarray, present: np.ndarray, quality: np.ndarray, fixed: np.ndarray,
                options: "FusionOptions") -> np.ndarray:
    """Per-utterance modality weights, rows summing to 1 (NaN where nothing is weighted).

    Args:
        probs: ``(n, m, c)`` distributions; present: ``(n, m)`` booleans; quality: ``(n, m)``
            in [0, 1]; fixed: ``(m,)`` the options' weights of these modalities.
    """
    w = np.where(present, fixed[None, :], 0.0)
    if options.adaptive:
        w = w * quality
        floor = options.confidence_floor
        if floor < 1.0:  # the default (1) weighs by quality alone
            w = w * (floor + (1 - floor) * confidence(probs))
    total = w.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return w / total


def _pool(p: np.ndarray, w: np.ndarray, method: str, neutral: int,
          trust: np.ndarray | None = None) -> np.ndarray:
    """Fuse ``p`` ``(n, m, c)`` with weights ``w`` ``(n, m)`` (rows summing to 1) → ``(n, c)``;
    ``trust`` ``(m,)`` scales each modality's evidence for neutral (``gated`` only)."""
    if method == "mean":
        out = np.einsum("nm,nmc->nc", w, p)
    elif method == "product":
        log = np.einsum("nm,nmc->nc", w, np.log(p + _EPS))
        out = np.exp(log - log.max(axis=1, keepdims=True))
    else:  # "gated"
        # Neutral or not: weighted mean of each modality's log-odds of neutral.
        n = np.clip(p[:, :, neutral], _EPS, 1 - _EPS)
        odds = np.log(n / (1 - n))
        gate_w = w
        if trust is not None:
            # a modality that finds the utterance neutral counts only as far as it is trusted
            # to: the weight it has in the neutral question shrinks (the others' grows)
            gate_w = np.where(odds > 0, w * trust[None, :], w)
            total = gate_w.sum(axis=1, keepdims=True)
            gate_w = np.where(total > 0, gate_w / np.where(total > 0, total, 1.0), w)
        neutral_p = 1 / (1 + np.exp(-np.einsum("nm,nm->n", gate_w, odds)))
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


def _per_modality(names: list[str], table: Mapping[str, float]) -> np.ndarray:
    """``table``'s value for each of ``names`` (0 where missing), as an array."""
    return np.array([float(table.get(k, 0.0)) for k in names])


def _trust(names: list[str], options: FusionOptions) -> np.ndarray:
    """Each modality's neutral trust (1 where the options name none)."""
    return np.array([float(options.neutral_trust.get(k, 1.0)) for k in names])


def fuse_arrays(probs: Mapping[str, np.ndarray], present: Mapping[str, np.ndarray],
                weights: Mapping[str, float], method: str | None = None,
                options: "FusionOptions | None" = None,
                quality: Mapping[str, np.ndarray] | None = None,
                confidence_of: Mapping[str, np.ndarray] | None = None) -> np.ndarray:
    """Vectorised :func:`fuse` over many utterances (used to learn and measure weights).

    Args:
        probs: modality → ``(n, classes)`` distributions (rows of absent modalities are ignored).
        present: modality → ``(n,)`` booleans, whether that modality judged the utterance.
        weights: the fixed relative weights (the options' emotion or sentiment weights).
        method: one of :data:`METHODS` (default: the options').
        options: the rest of the options (adaptive weights, neutral trust); default
            ``FusionOptions(adaptive=False)``, fixed weights only.
        quality: modality → ``(n,)`` input quality (default 1).
        confidence_of: modality → ``(n, 7)`` the emotion distributions whose confidence sets the
            adaptive weights (default ``probs``); :func:`fuse` weighs sentiments by the
            modalities' emotion confidence too.

    Returns:
        ``(n, classes)`` fused distributions; rows where no weighted modality is present are NaN.
    """
    options = options or FusionOptions(adaptive=False, neutral_trust={})
    names = list(probs)
    p = np.stack([np.asarray(probs[k], dtype=np.float64) for k in names], axis=1)  # (n, m, c)
    pres = np.stack([np.asarray(present[k], dtype=bool) for k in names], axis=1)
    q = np.stack([np.ones(len(p)) if quality is None or k not in quality else np.asarray(quality[k], float)
                  for k in names], axis=1)
    fixed = _per_modality(names, weights)
    c = p if confidence_of is None else np.stack([np.asarray(confidence_of[k], float) for k in names], axis=1)
    w = row_weights(np.where(pres[:, :, None], np.nan_to_num(c), 1.0 / c.shape[-1]), pres, q, fixed, options)
    with np.errstate(invalid="ignore"):
        return _pool(np.nan_to_num(p), w, method or options.method, neutral_index(p.shape[-1]),
                     _trust(names, options))


def fuse(per_modality: Mapping[str, Scores | None],
         options: FusionOptions = FusionOptions()) -> tuple[Scores, dict[str, ModalityScores]]:
    """Fuse the available modalities' scores.

    Args:
        per_modality: modality name → its scores, or None when it has nothing to say.
        options: the method and weights.

    Returns:
        The fused scores and, for each present modality, its own scores with the (normalised,
        per-utterance) emotion weight it got.

    Raises:
        ConfigError: no modality has scores, or every present one has weight 0.
    """
    present = {k: v for k, v in per_modality.items() if v is not None}
    if not present:
        raise ConfigError("nothing to fuse: no modality has scores")
    names = list(present)
    emo_p = np.array([[present[k].emotions for k in names]], dtype=np.float64)
    sent_p = np.array([[present[k].sentiments for k in names]], dtype=np.float64)
    ones = np.ones((1, len(names)), bool)
    quality = np.array([[present[k].quality for k in names]])
    w_emo = row_weights(emo_p, ones, quality, _per_modality(names, options.weights), options)
    w_sent = row_weights(emo_p, ones, quality, _per_modality(names, options.sentiment_weights), options)
    if not np.isfinite(w_emo).all() or not np.isfinite(w_sent).all():
        raise ConfigError(f"nothing to fuse: modalities present {sorted(present)} have no weight "
                          f"(weights {dict(options.weights)}, sentiment weights {dict(options.sentiment_weights)})")
    if len(present) == 1:  # keep a lone modality's numbers bit for bit
        (name, only), = present.items()
        return only, {name: ModalityScores(only, 1.0)}
    trust = _trust(names, options)
    emo = _pool(emo_p, w_emo, options.method, neutral_index(len(EMOTIONS)), trust)[0]
    sent = _pool(sent_p, w_sent, options.method, neutral_index(len(SENTIMENTS)), trust)[0]
    fused = Scores.from_arrays(emo, sent)
    return fused, {k: ModalityScores(present[k], float(w)) for k, w in zip(names, w_emo[0])}


def agreement(fused: Scores, own: Mapping[str, ModalityScores]) -> tuple[float, bool]:
    """How far the modalities agree on an utterance.

    Returns:
        The share of the fusion weight held by modalities whose top emotion is the fused one,
        and whether every modality names the same top emotion.
    """
    tops = {k: m.scores.top_emotion for k, m in own.items()}
    share = sum(m.weight for k, m in own.items() if tops[k] == fused.top_emotion)
    return float(min(1.0, share)), len(set(tops.values())) <= 1
