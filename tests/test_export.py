"""Writers: every format from a hand-built result, parsed back where a parser exists."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest

from emotrace.errors import ConfigError
from emotrace.export import CSV_COLUMNS, FORMATS, MEDIA_TYPES, render, render_many, timestamp
from emotrace.labels import EMOTIONS, SENTIMENTS
from emotrace.types import AnalysisResult, ModalityScores, Scores, Utterance, UtteranceResult, Word


def scores(top_emotion: str, top_sentiment: str) -> Scores:
    e = [0.05] * 7
    e[EMOTIONS.index(top_emotion)] = 0.7
    s = [0.1] * 3
    s[SENTIMENTS.index(top_sentiment)] = 0.8
    return Scores(tuple(e), tuple(s))


@pytest.fixture
def result() -> AnalysisResult:
    u1 = Utterance(0.11, 4.49, "I am so happy, today!",
                   (Word(0.11, 0.6, "I"), Word(0.6, 0.9, "am"), Word(0.9, 1.2, "so"),
                    Word(1.2, 2.0, "happy,"), Word(2.0, 4.49, "today!")))
    u2 = Utterance(65.5, 3725.25, 'He said "stop --> now" & <left>',
                   (Word(65.5, 3725.25, "said", 0.5),))
    r1 = UtteranceResult(u1, scores("joy", "positive"), {"text": ModalityScores(scores("joy", "positive"), 1.0)})
    r2 = UtteranceResult(u2, scores("anger", "negative"))
    return AnalysisResult((r1, r2), {"file": "clip.mp4", "duration": 3730.0, "language": "en"})


def test_every_format_has_a_media_type():
    assert set(MEDIA_TYPES) == set(FORMATS) == {"json", "csv", "srt", "vtt", "table"}


def test_json_keeps_the_older_service_shape(result):
    body = json.loads(render(result, "json"))
    u = body["analysis"]["utterances"][0]
    assert (u["start_time"], u["end_time"], u["text"]) == (0.11, 4.49, "I am so happy, today!")
    assert [e["label"] for e in u["emotions"]][0] == "joy" and len(u["emotions"]) == 7
    assert [s["label"] for s in u["sentiments"]][0] == "positive" and len(u["sentiments"]) == 3
    assert body["metadata"]["file"] == "clip.mp4"
    assert "words" not in u
    with_words = json.loads(render(result, "json", include_words=True))
    assert [w["text"] for w in with_words["analysis"]["utterances"][0]["words"]][:2] == ["I", "am"]


def test_csv_one_row_per_utterance_with_every_probability(result):
    rows = list(csv.DictReader(io.StringIO(render(result, "csv"))))
    assert len(rows) == 2 and tuple(rows[0]) == CSV_COLUMNS
    r = rows[1]
    assert r["text"] == 'He said "stop --> now" & <left>'  # quotes survive the round trip
    assert (r["emotion"], r["sentiment"]) == ("anger", "negative")
    assert float(r["emotion_anger"]) == pytest.approx(0.7) and float(r["emotion_confidence"]) == pytest.approx(0.7)
    assert sum(float(r[f"emotion_{e}"]) for e in EMOTIONS) == pytest.approx(1.0, abs=1e-3)
    assert sum(float(r[f"sentiment_{s}"]) for s in SENTIMENTS) == pytest.approx(1.0, abs=1e-3)
    assert (float(r["start"]), float(r["end"])) == (65.5, 3725.25)
    words = list(csv.DictReader(io.StringIO(render(result, "csv", include_words=True))))
    assert json.loads(words[0]["words"])[3]["text"] == "happy,"


def test_srt_cues(result):
    text = render(result, "srt")
    blocks = text.strip().split("\n\n")
    assert len(blocks) == 2
    lines = blocks[1].splitlines()
    assert lines[0] == "2"
    assert lines[1] == "00:01:05,500 --> 01:02:05,250"
    assert "-->" not in lines[2] and "stop" in lines[2]
    assert lines[3] == "[anger 70% · negative 80%]"
    assert blocks[0].splitlines()[3] == "[joy 70% · positive 80%]"


def test_vtt_cues_are_escaped(result):
    text = render(result, "vtt")
    assert text.startswith("WEBVTT\n\n")
    assert "00:00:00.110 --> 00:00:04.490" in text
    assert "&amp;" in text and "&lt;left>" in text and "<left>" not in text
    timing = [ln for ln in text.splitlines() if "-->" in ln]
    assert len(timing) == 2 and all(re.fullmatch(r"[\d:.]+ --> [\d:.]+", t) for t in timing)


def test_table_is_aligned_text(result):
    text = render(result, "table")
    lines = text.splitlines()
    assert "clip.mp4" in lines[0] and "2 utterances" in lines[0]
    assert lines[1].split()[:3] == ["time", "emotion", "sentiment"]
    assert "joy 0.70" in lines[2] and "I am so happy, today!" in lines[2]
    assert lines[2].index("I am so") == lines[1].index("text")
    assert "happy,@1.20" in render(result, "table", include_words=True)


def test_empty_result_says_why():
    empty = AnalysisResult((), {"file": "silence.wav", "duration": 2.0, "reason": "no speech detected"})
    assert "no utterances: no speech detected" in render(empty, "table")
    assert json.loads(render(empty, "json"))["analysis"]["utterances"] == []
    assert render(empty, "csv").strip() == ",".join(CSV_COLUMNS)
    assert render(empty, "vtt") == "WEBVTT\n\n" and render(empty, "srt") == ""


def test_several_results(result):
    other = AnalysisResult(result.utterances[:1], {"file": "b,c.mp4"})
    assert [r["metadata"]["file"] for r in json.loads(render_many([result, other], "json"))] == ["clip.mp4", "b,c.mp4"]
    rows = list(csv.DictReader(io.StringIO(render_many([result, other], "csv"))))
    assert [r["file"] for r in rows] == ["clip.mp4", "clip.mp4", "b,c.mp4"]
    assert render_many([result], "srt") == render(result, "srt")
    with pytest.raises(ConfigError, match="directory"):
        render_many([result, other], "vtt")


def test_unknown_format():
    with pytest.raises(ConfigError, match="expected one of: 'json', 'csv', 'srt', 'vtt', 'table'"):
        render(AnalysisResult(()), "xml")


def test_timestamps():
    assert timestamp(0) == "00:00:00,000"
    assert timestamp(3725.2504, ".") == "01:02:05.250"
    assert timestamp(-1) == "00:00:00,000"
