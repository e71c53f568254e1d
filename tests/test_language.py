"""Speech that is not English: the text modality (English only) is left out, with its reason,
and every output format says so. A stand-in multilingual recogniser and stand-in scorers keep
these tests about the plumbing (no model runs); tests/test_asr_base.py runs the real one."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest

from emotrace import Pipeline, PipelineConfig
from emotrace.asr import Transcript
from emotrace.cache import result_from_json, result_to_json
from emotrace.config import AsrOptions
from emotrace.export import render
from emotrace.labels import EMOTIONS
from emotrace.modalities.base import SAMPLE_RATE
from emotrace.pipeline import language_reason
from emotrace.types import Scores, Word

from .conftest import FIXTURES
from .mediahelpers import FakeScorer, HashTextScorer, check_invariants

REASON = "text model supports en only"


class FakeTranscriber:
    """Says the same two German sentences, in the language it was built with."""

    model_name = "fake-multilingual@test"
    device, compute_type = "cpu", "int8"

    def __init__(self, language: str = "de", probability: float = 0.93, source: str = "detected"):
        self.language, self.probability, self.source = language, probability, source

    def transcribe(self, audio, hook=None, keep_states=False):
        duration = len(audio) / SAMPLE_RATE
        words = (Word(0.3, 0.6, "Ich"), Word(0.6, 0.9, "bin"), Word(0.9, 1.6, "glücklich."),
                 Word(3.5, 4.0, "Gestern"), Word(4.0, 4.4, "war"), Word(4.4, 5.0, "ich"),
                 Word(5.0, 5.6, "traurig."))
        return Transcript(words, self.language, duration, 5.3, None, self.probability, self.source)


class EnglishText(HashTextScorer):
    """The stand-in text scorer, declaring (like the shipped model) that it reads English."""

    languages = ("en",)


class FakeVoice(FakeScorer):
    """A voice that hears sadness in everything, for any language."""

    name = "audio"
    model_name = "fake-voice@test"

    def score_utterances(self, media, utterances, hook=None):
        self.calls += 1
        e = np.full(len(EMOTIONS), 0.05)
        e[EMOTIONS.index("sadness")] = 0.7
        return [Scores.from_arrays(e, (0.6, 0.3, 0.1), quality=1.0) for _ in utterances]


def _pipeline(heard="de", modalities=("text", "audio"), **asr) -> tuple[Pipeline, dict]:
    """A pipeline whose recogniser hears ``heard``; ``asr``: the AsrOptions."""
    scorers = {"text": EnglishText(), "audio": FakeVoice()}
    scorers = {name: scorers[name] for name in modalities}
    config = PipelineConfig(modalities=modalities, asr=AsrOptions(**asr))
    return Pipeline(config, scorers=scorers, transcriber=FakeTranscriber(heard)), scorers


@pytest.fixture(scope="module")
def german():
    pipeline, scorers = _pipeline()
    return pipeline.analyze(FIXTURES / "german.flac"), scorers


def test_language_and_its_probability_are_reported(german):
    md = german[0].metadata
    assert md["language"] == "de" and md["language_probability"] == pytest.approx(0.93)
    assert md["language_source"] == "detected"
    assert md["absent_modalities"] == {"text": REASON}


def test_text_is_not_asked_and_voice_decides(german):
    result, scorers = german
    assert scorers["text"].calls == 0 and scorers["audio"].calls == 1
    assert len(result.utterances) == 2
    check_invariants(result)
    for r in result.utterances:
        assert set(r.modalities) == {"audio"} and r.modalities["audio"].weight == pytest.approx(1.0)
        assert r.absent == {"text": REASON} and r.scores.top_emotion == "sadness"


def test_every_format_says_so(german):
    result = german[0]
    body = json.loads(render(result, "json"))
    assert body["metadata"]["absent_modalities"] == {"text": REASON}
    assert all(u["absent_modalities"] == {"text": REASON} for u in body["analysis"]["utterances"])
    head = render(result, "table").splitlines()[0]
    assert "language de (0.93)" in head and f"text not scored: {REASON}" in head
    rows = list(csv.DictReader(io.StringIO(render(result, "csv"))))
    assert [row["absent"] for row in rows] == [f"text: {REASON}"] * 2 and rows[0]["weight_text"] == ""
    srt = render(result, "srt")
    assert srt.count("audio only]") == 2
    vtt = render(result, "vtt")
    assert vtt.startswith(f"WEBVTT\n\nNOTE language de (0.93) · text not scored: {REASON}\n\n")


def test_english_is_scored_by_the_words():
    pipeline, scorers = _pipeline("en")
    result = pipeline.analyze(FIXTURES / "german.flac")
    assert scorers["text"].calls == 1 and "absent_modalities" not in result.metadata
    assert all(set(r.modalities) == {"text", "audio"} and not r.absent for r in result.utterances)
    assert "absent_modalities" not in json.loads(render(result, "json"))["analysis"]["utterances"][0]
    assert "NOTE" not in render(result, "vtt") and "only]" not in render(result, "srt")
    assert render(result, "table").splitlines()[0].endswith("language en (0.93)")


def test_words_alone_in_another_language_give_no_utterances_and_say_why():
    pipeline, _ = _pipeline(modalities=("text",))
    result = pipeline.analyze(FIXTURES / "german.flac")
    assert result.utterances == () and result.metadata["reason"] == REASON
    assert f"no utterances: {REASON}" in render(result, "table")


def test_a_given_transcript_in_another_language():
    pipeline, scorers = _pipeline("de", language="de")
    result = pipeline.analyze(FIXTURES / "german.flac", transcript="Ich bin glücklich.")
    md = result.metadata
    assert (md["language"], md["language_source"], md["language_probability"]) == ("de", "given", None)
    assert scorers["text"].calls == 0 and result.utterances[0].absent == {"text": REASON}


def test_a_given_transcript_without_a_language_is_read_as_english():
    pipeline, scorers = _pipeline("de")
    result = pipeline.analyze(FIXTURES / "german.flac", transcript="I am happy.")
    assert result.metadata["language"] == "" and scorers["text"].calls == 1


def test_language_reason():
    assert language_reason(EnglishText(), "de") == REASON
    assert language_reason(EnglishText(), "en") is None
    assert language_reason(EnglishText(), "") is None  # unknown: not held against it
    assert language_reason(FakeVoice(), "de") is None  # no languages: judges any


def test_the_result_cache_keeps_what_was_left_out(german):
    result = german[0]
    again = result_from_json(json.loads(json.dumps(result_to_json(result))))
    assert again.to_dict() == result.to_dict()
    assert [r.absent for r in again.utterances] == [{"text": REASON}] * 2
