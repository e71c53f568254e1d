"""The shipped text model, run for real through ONNX Runtime."""

from __future__ import annotations

import csv
import json
import math

import pytest

from emotrace.cli import main
from emotrace.config import TextOptions
from emotrace.errors import DataError, ModelError
from emotrace.evaluate import evaluate_text
from emotrace.labels import EMOTIONS, SENTIMENTS
from emotrace.modalities.text import TextScorer, apply_bias, contexts_for, encode, normalize_text

from .conftest import TEXT_MODEL, shared_data

# Floors set just under what the shipped model measured on MELD dev (see its MODEL_CARD.md).
MELD_DEV_EMOTION_WF1_FLOOR = 0.595
MELD_DEV_SENTIMENT_WF1_FLOOR = 0.685


@pytest.fixture(scope="module")
def scorer() -> TextScorer:
    return TextScorer()


def test_distributions_sum_to_one(scorer):
    scores = scorer.score(["Okay.", "What are you doing here?", "I love you so much!"])
    assert len(scores) == 3
    for s in scores:
        assert math.isclose(sum(s.emotions), 1.0, abs_tol=1e-6)
        assert math.isclose(sum(s.sentiments), 1.0, abs_tol=1e-6)
        assert len(s.emotions) == len(EMOTIONS) and len(s.sentiments) == len(SENTIMENTS)


def test_ranks_an_obviously_joyful_and_an_obviously_angry_sentence(scorer):
    joyful, angry = scorer.score([
        "Oh my god, this is the best day of my life! I'm so happy!",
        "Get out of my apartment right now! I am so sick of your lies!",
    ])
    assert joyful.top_emotion == "joy" and joyful.top_sentiment == "positive"
    assert angry.top_emotion == "anger" and angry.top_sentiment == "negative"
    assert joyful.emotion("joy") > angry.emotion("joy")
    assert angry.emotion("anger") > joyful.emotion("anger")


def test_batching_and_order_do_not_change_scores(scorer):
    texts = ["Hi.", "Why would you ever say that to her, of all people?", "Fine, whatever.", "Wow!"]
    one_by_one = [scorer.score([t])[0] for t in texts]
    together = scorer.score(texts)
    # int8 dynamic quantisation scales activations per batch (one scale per tensor), so
    # batch-mates move a probability a little: up to 0.03 for v1 and 0.06 for v2 on these four
    # sentences with onnxruntime 1.32 (weight-only int8, which has no such effect, was 3x slower).
    # Unmasked padding or scores written to the wrong rows would move them far more.
    for a, b in zip(one_by_one, together):
        assert max(abs(x - y) for x, y in zip(a.emotions, b.emotions)) < 0.1
        assert a.top_emotion == b.top_emotion and a.top_sentiment == b.top_sentiment


def test_context_is_the_preceding_turns_and_is_cut_oldest_first(scorer):
    assert contexts_for(["a", "b", "c"], 2) == ["", "a", "a b"]
    assert contexts_for(["a", "b"], 0) is None
    # The shipped tokenizer: the utterance is kept whole and the context loses its oldest words
    # (tests/test_text_encoding.py checks the exact layouts on small vocabularies).
    batch = encode(scorer.tokenizer, ["yes"], ["one two three four five six seven"], max_length=9)
    tokens = [scorer.tokenizer.id_to_token(i).lstrip("▁Ġ") for i in batch.input_ids[0].tolist()]
    assert "yes" in tokens and "seven" in tokens and "one" not in tokens
    assert len(tokens) == 9 and batch.attention_mask[0].all()


def test_normalize_folds_typographic_quotes():
    assert normalize_text("You’re  “right”…") == 'You\'re "right"...'


def test_unknown_model_directory_is_a_model_error(tmp_path):
    with pytest.raises(ModelError, match="text model directory"):
        TextScorer(TextOptions(model=str(tmp_path / "nope")))


def test_apply_bias_shifts_log_probabilities_and_renormalises():
    import numpy as np

    p = np.array([[0.5, 0.3, 0.2]])
    assert np.allclose(apply_bias(p, np.zeros(3)), p)
    shifted = apply_bias(p, np.array([0.0, 0.0, np.log(4.0)]))
    assert np.allclose(shifted, np.array([[0.5, 0.3, 0.8]]) / 1.6)


def _model_copy_with(tmp_path, **extra):
    """The shipped model's folder, its config.json extended with ``extra`` (files linked)."""
    folder = tmp_path / "model"
    folder.mkdir()
    for f in TEXT_MODEL.parent.iterdir():
        if f.name != "config.json":
            (folder / f.name).symlink_to(f)
    config = json.loads((TEXT_MODEL.parent / "config.json").read_text())
    config.update(extra)
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def test_log_bias_in_the_model_config_is_applied(tmp_path, scorer):
    text = ["We got the tickets!"]
    plain = scorer.score(text)[0]
    # A large offset for fear makes it the top emotion; sentiment is left alone.
    folder = _model_copy_with(tmp_path, emotion_log_bias=[0, 0, 20, 0, 0, 0, 0])
    biased = TextScorer(TextOptions(model=str(folder))).score(text)[0]
    assert biased.top_emotion == "fear"
    assert biased.sentiments == pytest.approx(plain.sentiments, abs=1e-6)


def test_malformed_log_bias_is_a_model_error(tmp_path):
    folder = _model_copy_with(tmp_path, sentiment_log_bias=[1.0, 2.0])
    with pytest.raises(ModelError, match="sentiment_log_bias"):
        TextScorer(TextOptions(model=str(folder)))


def test_the_dialogue_head_reads_the_whole_conversation(scorer):
    assert scorer.dialogue is not None, "the shipped model has a dialogue head (models/text/config.json)"
    texts = ["Hey, guess what?", "We got the apartment!", "No way! That's amazing!"]
    alone = TextScorer(TextOptions(dialogue=False))
    assert alone.dialogue is None and alone.model_name == scorer.model_name + "-nodialogue"
    read, plain = scorer.score_dialogue(texts), alone.score_dialogue(texts)
    for s in read:
        assert math.isclose(sum(s.emotions), 1.0, abs_tol=1e-6)
        assert math.isclose(sum(s.sentiments), 1.0, abs_tol=1e-6)
    assert any(abs(a - b) > 1e-3 for r, p in zip(read, plain) for a, b in zip(r.emotions, p.emotions))
    # A lone utterance has no conversation to read: it keeps the encoder's scores, as in score().
    one = scorer.score_dialogue(texts[:1])[0]
    assert one.emotions == pytest.approx(scorer.score(texts[:1])[0].emotions, abs=1e-9)
    assert one.emotions == pytest.approx(alone.score_dialogue(texts[:1])[0].emotions, abs=1e-9)
    # What comes after an utterance changes its scores: the head reads both directions.
    first_in_longer = scorer.score_dialogue(texts)[0]
    assert max(abs(a - b) for a, b in zip(one.emotions, first_in_longer.emotions)) > 1e-4


def test_a_dialogue_head_that_is_missing_or_malformed_is_a_model_error(tmp_path):
    folder = _model_copy_with(tmp_path, dialogue_head={"onnx_file": "absent.onnx"})
    with pytest.raises(ModelError, match="not found"):
        TextScorer(TextOptions(model=str(folder)))
    (folder / "config.json").write_text(json.dumps({**json.loads((folder / "config.json").read_text()),
                                                    "dialogue_head": "dialogue.onnx"}))
    with pytest.raises(ModelError, match="dialogue_head"):
        TextScorer(TextOptions(model=str(folder)))
    # Switched off, the head is not even opened.
    assert TextScorer(TextOptions(model=str(folder), dialogue=False)).dialogue is None


def _write_meld_csv(path, rows):
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["Sr No.", "Utterance", "Speaker", "Emotion", "Sentiment", "Dialogue_ID", "Utterance_ID"])
        for i, (text, emo, sent, d, u) in enumerate(rows, start=1):
            w.writerow([i, text, "X", emo, sent, d, u])


SMALL = [
    ("I'm so happy for you, this is wonderful!", "joy", "positive", 0, 0),
    ("Thank you, I can't stop smiling!", "joy", "positive", 0, 1),
    ("Get out! I hate you!", "anger", "negative", 1, 1),
    ("What did you just say to me?", "anger", "negative", 1, 0),
    ("The meeting is at three.", "neutral", "neutral", 2, 0),
]


def test_evaluate_text_on_a_small_csv(tmp_path, scorer):
    p = tmp_path / "small.csv"
    _write_meld_csv(p, SMALL)
    report = evaluate_text(p, scorer=scorer)
    assert report["n"] == 5
    for task in ("emotion", "sentiment"):
        assert set(report[task]) >= {"weighted_f1", "macro_f1", "accuracy", "per_class_f1"}
        assert 0.0 <= report[task]["weighted_f1"] <= 1.0
    # These are easy: a working model gets most of them.
    assert report["sentiment"]["accuracy"] >= 0.6


def test_evaluate_command_prints_one_json_object(tmp_path, capsys):
    p = tmp_path / "small.csv"
    _write_meld_csv(p, SMALL)
    assert main(["evaluate", "text", "--meld-csv", str(p), "--context", "0", "-q"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n"] == 5 and out["context_turns"] == 0
    assert set(out["emotion"]["per_class_f1"]) == set(EMOTIONS)
    assert main(["evaluate", "text", "--meld-csv", str(p), "--no-dialogue", "-q"]) == 0
    assert json.loads(capsys.readouterr().out)["model"].endswith("-nodialogue")


def test_evaluate_rejects_a_csv_in_another_format(tmp_path, capsys):
    p = tmp_path / "bad.csv"
    p.write_text("text,label\nhello,joy\n")
    with pytest.raises(DataError, match="missing column"):
        evaluate_text(p)
    assert main(["evaluate", "text", "--meld-csv", str(p)]) == 3
    assert "missing column" in capsys.readouterr().err


def test_text_command_prints_all_labels(capsys):
    assert main(["text", "--json", "I can't believe you did that!"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [e["label"] for e in out["emotions"]] and len(out["emotions"]) == 7
    assert len(out["sentiments"]) == 3
    assert main(["text", "What a lovely surprise!"]) == 0
    table = capsys.readouterr().out
    assert "emotion:" in table and "sentiment:" in table


@pytest.mark.slow
def test_meld_dev_stays_above_the_floor(scorer):
    report = evaluate_text(shared_data("meld", "dev_sent_emo.csv"), scorer=scorer)
    assert report["n"] == 1109
    assert report["emotion"]["weighted_f1"] >= MELD_DEV_EMOTION_WF1_FLOOR
    assert report["sentiment"]["weighted_f1"] >= MELD_DEV_SENTIMENT_WF1_FLOOR


if not TEXT_MODEL.exists():  # pragma: no cover - only while the model is being trained
    pytestmark = pytest.mark.skip(reason=f"{TEXT_MODEL} is absent (the text model has not been exported yet)")
