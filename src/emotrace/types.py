"""Domain types: frozen dataclasses shared by every stage.

``to_dict()`` on :class:`AnalysisResult` gives the older service's JSON shape
(``{"analysis": {"utterances": [...]}}``) with emotrace's own fields beside it, never instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping

from .labels import EMOTIONS, SENTIMENTS

_SUM_TOLERANCE = 1e-3


def _check_distribution(name: str, values: tuple[float, ...], size: int) -> None:
    if len(values) != size:
        raise ValueError(f"{name} needs {size} probabilities, got {len(values)}")
    if any(not math.isfinite(v) or v < 0.0 for v in values):
        raise ValueError(f"{name} has a negative or non-finite probability: {values}")
    total = math.fsum(values)
    if abs(total - 1.0) > _SUM_TOLERANCE:
        raise ValueError(f"{name} probabilities sum to {total:.4f}, not 1")


def ranked(labels: tuple[str, ...], probs: tuple[float, ...]) -> list[dict[str, Any]]:
    """Label/confidence pairs, highest confidence first (the older service's list shape)."""
    pairs = sorted(zip(labels, probs), key=lambda p: p[1], reverse=True)
    return [{"label": label, "confidence": round(float(p), 4)} for label, p in pairs]


@dataclass(frozen=True)
class Word:
    """One transcribed word with its time span in seconds from the start of the file."""

    start: float
    end: float
    text: str
    probability: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"start": round(self.start, 3), "end": round(self.end, 3), "text": self.text,
                "probability": round(self.probability, 4)}


@dataclass(frozen=True)
class SpeakerTurn:
    """A stretch of speech by one speaker (``"S1"``, ``"S2"``, … in order of first appearance)."""

    start: float
    end: float
    speaker: str


@dataclass(frozen=True)
class Utterance:
    """A span of speech judged as one unit: its time span, text, words and speaker (when
    speakers were looked for and found)."""

    start: float
    end: float
    text: str
    words: tuple[Word, ...] = ()
    speaker: str | None = None

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(f"utterance ends ({self.end}) before it starts ({self.start})")

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.end - self.start


@dataclass(frozen=True)
class Scores:
    """An emotion distribution (7, in :data:`EMOTIONS` order) and a sentiment one (3)."""

    emotions: tuple[float, ...]
    sentiments: tuple[float, ...]
    quality: float = 1.0
    """How well the input let the modality judge, from 0 to 1 (signal quality: enough speech
    for the voice, frames with a face and the face's size for the face); fusion weighs a
    modality by it. 1.0 for the words and for fused scores."""

    def __post_init__(self) -> None:
        _check_distribution("emotions", self.emotions, len(EMOTIONS))
        _check_distribution("sentiments", self.sentiments, len(SENTIMENTS))
        if not (0.0 <= self.quality <= 1.0):
            raise ValueError(f"quality must be between 0 and 1, got {self.quality}")

    @classmethod
    def from_arrays(cls, emotions: Any, sentiments: Any, quality: float = 1.0) -> "Scores":
        """Build from any two sequences of probabilities (numpy rows included)."""
        return cls(tuple(float(v) for v in emotions), tuple(float(v) for v in sentiments), float(quality))

    @property
    def top_emotion(self) -> str:
        """The most probable emotion."""
        return EMOTIONS[max(range(len(EMOTIONS)), key=self.emotions.__getitem__)]

    @property
    def top_sentiment(self) -> str:
        """The most probable sentiment."""
        return SENTIMENTS[max(range(len(SENTIMENTS)), key=self.sentiments.__getitem__)]

    def emotion(self, label: str) -> float:
        """Probability of one emotion by name."""
        return self.emotions[EMOTIONS.index(label)]

    def sentiment(self, label: str) -> float:
        """Probability of one sentiment by name."""
        return self.sentiments[SENTIMENTS.index(label)]

    def to_dict(self) -> dict[str, Any]:
        """The older service's two lists, all labels, highest first."""
        return {"emotions": ranked(EMOTIONS, self.emotions),
                "sentiments": ranked(SENTIMENTS, self.sentiments)}


@dataclass(frozen=True)
class ModalityScores:
    """What one modality (text, audio, face) said about an utterance, and its fusion weight."""

    scores: Scores
    weight: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: the two ranked lists, the weight and the input's quality."""
        return {**self.scores.to_dict(), "weight": round(self.weight, 4),
                "quality": round(self.scores.quality, 4)}


@dataclass(frozen=True)
class UtteranceResult:
    """One utterance with its fused scores and each modality's own scores."""

    utterance: Utterance
    scores: Scores
    modalities: Mapping[str, ModalityScores] = field(default_factory=dict)
    agreement: float = 1.0
    """Share of the fusion weight held by modalities whose top emotion is the fused one."""
    modalities_agree: bool = True
    """Whether every modality that judged the utterance names the same top emotion."""
    absent: Mapping[str, str] = field(default_factory=dict)
    """Modalities asked for that were not asked to judge this utterance, each with the reason
    (``{"text": "text model supports en only"}`` for speech in another language)."""

    def to_dict(self, include_words: bool = False) -> dict[str, Any]:
        """The older service's utterance shape plus ``modalities``, ``agreement`` and
        ``modalities_agree``, ``absent_modalities`` when some were left out (and ``words`` on
        request)."""
        u = self.utterance
        out: dict[str, Any] = {"start_time": round(u.start, 3), "end_time": round(u.end, 3),
                               "text": u.text, **self.scores.to_dict()}
        if u.speaker is not None:
            out["speaker"] = u.speaker
        if self.modalities:
            out["modalities"] = {name: m.to_dict() for name, m in self.modalities.items()}
            out["agreement"] = round(self.agreement, 4)
            out["modalities_agree"] = self.modalities_agree
        if self.absent:
            out["absent_modalities"] = dict(self.absent)
        if include_words:
            out["words"] = [w.to_dict() for w in u.words]
        return out


@dataclass(frozen=True)
class AnalysisResult:
    """Everything emotrace found in one file: the utterance timeline and how it was made.

    ``metadata`` holds the file's duration, the language, model names and versions, seconds
    spent per stage, and (when there are no utterances) the reason why.
    """

    utterances: tuple[UtteranceResult, ...]
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self, include_words: bool = False) -> dict[str, Any]:
        """``{"analysis": {"utterances": [...]}, "metadata": {...}}``."""
        return {"analysis": {"utterances": [r.to_dict(include_words) for r in self.utterances]},
                "metadata": dict(self.metadata)}
