"""Sentiment for modalities that only predict emotions (voice, face).

Speech and face corpora label emotions, not sentiment. In MELD, sentiment follows emotion almost
exactly (neutral→neutral, joy→positive, anger/disgust/fear/sadness→negative) and only surprise
splits (train: 614 negative, 591 positive), so a voice or face emotion distribution gives a
sentiment distribution by that table: ``P(s) = Σ_e P(e) · P(s | e)``.
"""

from __future__ import annotations

import numpy as np

from ..labels import EMOTIONS, SENTIMENTS
from ..types import Scores

_SURPRISE_NEGATIVE = 614 / (614 + 591)

SENTIMENT_GIVEN_EMOTION = np.array([
    # negative, neutral, positive
    [1.0, 0.0, 0.0],                                   # anger
    [1.0, 0.0, 0.0],                                   # disgust
    [1.0, 0.0, 0.0],                                   # fear
    [0.0, 0.0, 1.0],                                   # joy
    [0.0, 1.0, 0.0],                                   # neutral
    [1.0, 0.0, 0.0],                                   # sadness
    [_SURPRISE_NEGATIVE, 0.0, 1.0 - _SURPRISE_NEGATIVE],  # surprise
])
"""``P(sentiment | emotion)`` measured on MELD's train split; rows follow EMOTIONS, columns SENTIMENTS."""

assert SENTIMENT_GIVEN_EMOTION.shape == (len(EMOTIONS), len(SENTIMENTS))


def scores_from_emotions(emotions: np.ndarray, quality: float = 1.0) -> Scores:
    """Scores from an emotion distribution, its sentiment derived by :data:`SENTIMENT_GIVEN_EMOTION`
    (``quality``: see :attr:`~emotrace.types.Scores.quality`)."""
    e = np.asarray(emotions, dtype=np.float64)
    e = e / e.sum()
    s = e @ SENTIMENT_GIVEN_EMOTION
    return Scores.from_arrays(e, s / s.sum(), quality)
