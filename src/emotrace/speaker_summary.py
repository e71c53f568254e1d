"""Per-speaker summary of an analysis: talk time, utterances, mean emotion and sentiment."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from .labels import EMOTIONS, SENTIMENTS
from .types import UtteranceResult

if TYPE_CHECKING:
    from .diarization import Diarization


def speaker_summary(results: Sequence[UtteranceResult], speakers: "Diarization") -> dict[str, dict[str, Any]]:
    """``{"S1": {...}, ...}`` in order of first appearance.

    Each speaker's ``talk_time`` (seconds of their turns), ``utterances`` (how many scored
    utterances are theirs), and ``emotions`` / ``sentiments``: the mean of their utterances'
    fused distributions, weighted by each utterance's length (None when they have none).
    """
    out: dict[str, dict[str, Any]] = {}
    for name in speakers.speakers:
        talk = sum(t.end - t.start for t in speakers.turns if t.speaker == name)
        mine = [r for r in results if r.utterance.speaker == name]
        entry: dict[str, Any] = {"talk_time": round(talk, 3), "utterances": len(mine),
                                 "emotions": None, "sentiments": None}
        if mine:
            w = np.array([max(r.utterance.duration, 1e-3) for r in mine])
            emo = np.average(np.array([r.scores.emotions for r in mine]), axis=0, weights=w)
            sen = np.average(np.array([r.scores.sentiments for r in mine]), axis=0, weights=w)
            entry["emotions"] = {k: round(float(v), 4) for k, v in zip(EMOTIONS, emo)}
            entry["sentiments"] = {k: round(float(v), 4) for k, v in zip(SENTIMENTS, sen)}
        out[name] = entry
    return out
