"""Helpers shared by the media, pipeline and CLI tests: the fixture sentences, result
invariants, and a small stand-in text scorer for tests about plumbing rather than the model."""

from __future__ import annotations

import hashlib
import math

import numpy as np
import pytest

from emotrace.labels import EMOTIONS, SENTIMENTS
from emotrace.modalities.base import Needs
from emotrace.types import AnalysisResult, Scores

from .conftest import TEXT_MODEL

SENTENCES = (
    "I am so happy today, this is the best day of my life!",
    "Get out of my house, I am furious with you!",
    "My old dog died last night and I miss him terribly.",
    "I am terrified, there is a stranger outside the window.",
    "Wow, what a surprise, I cannot believe it!",
)
"""What ``tests/fixtures/dialogue.{wav,mp4}`` says, in order (see tests/fixtures/README.md)."""

needs_text_model = pytest.mark.skipif(
    not TEXT_MODEL.is_file(),
    reason="src/emotrace/models/text/model.onnx is absent (the shipped text model is not in this checkout)")


class FakeScorer:
    """What every stand-in modality shares: no frames or encoder states needed, any language,
    and a count of its calls."""

    needs = Needs()
    languages: tuple[str, ...] = ()

    def __init__(self):
        self.calls = 0


class HashTextScorer(FakeScorer):
    """A stand-in text modality: a fixed, valid distribution derived from each text's hash.

    Used where a test is about timing, plumbing or formats and must not depend on the model.
    """

    name = "text"
    model_name = "hash-text@test"

    def score_utterances(self, media, utterances, hook=None):
        self.calls += 1
        out = []
        for u in utterances:
            seed = int.from_bytes(hashlib.sha256(u.text.encode()).digest()[:8], "little")
            rng = np.random.default_rng(seed)
            e, s = rng.random(len(EMOTIONS)) + 0.01, rng.random(len(SENTIMENTS)) + 0.01
            out.append(Scores.from_arrays(e / e.sum(), s / s.sum()))
        return out


def check_invariants(result: AnalysisResult, duration: float | None = None) -> None:
    """Utterances ordered, non-overlapping, inside the duration; words inside their utterance;
    every distribution sums to 1; the JSON form has the older service's shape."""
    duration = duration if duration is not None else result.metadata["duration"]
    last_end = 0.0
    for r in result.utterances:
        u = r.utterance
        assert 0.0 <= u.start <= u.end <= duration + 1e-6, (u.start, u.end, duration)
        assert u.start >= last_end - 1e-6, f"utterances overlap at {u.start} < {last_end}"
        last_end = u.end
        assert u.text.strip()
        for w in u.words:
            assert u.start - 1e-6 <= w.start <= w.end <= u.end + 1e-6
        for probs in (r.scores.emotions, r.scores.sentiments):
            assert math.isclose(sum(probs), 1.0, abs_tol=1e-6)
    body = result.to_dict()
    for u in body["analysis"]["utterances"]:
        assert {"start_time", "end_time", "text", "emotions", "sentiments"} <= set(u)
        assert [e["label"] for e in u["emotions"]] and len(u["emotions"]) == len(EMOTIONS)
        assert len(u["sentiments"]) == len(SENTIMENTS)
        conf = [e["confidence"] for e in u["emotions"]]
        assert conf == sorted(conf, reverse=True)
