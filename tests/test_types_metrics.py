"""Domain types and metrics: pure, fast unit tests."""

import pytest

from emotrace.labels import EMOTIONS, SENTIMENTS
from emotrace.metrics import classification_report, confusion_matrix
from emotrace.types import AnalysisResult, Scores, Utterance, UtteranceResult, Word

EMO = (0.05, 0.05, 0.05, 0.6, 0.15, 0.05, 0.05)
SENT = (0.1, 0.2, 0.7)


def test_scores_rank_highest_first_and_keep_all_labels():
    d = Scores(EMO, SENT).to_dict()
    assert [e["label"] for e in d["emotions"]][0] == "joy"
    assert sorted(e["label"] for e in d["emotions"]) == sorted(EMOTIONS)
    assert [s["label"] for s in d["sentiments"]] == ["positive", "neutral", "negative"]
    confs = [e["confidence"] for e in d["emotions"]]
    assert confs == sorted(confs, reverse=True)


@pytest.mark.parametrize("emo,sent", [
    ((0.5,) * 7, SENT),                      # does not sum to 1
    (EMO[:6], SENT),                         # wrong length
    (EMO, (1.2, -0.1, -0.1)),                # negative probability
])
def test_scores_reject_non_distributions(emo, sent):
    with pytest.raises(ValueError):
        Scores(emo, sent)


def test_result_keeps_the_older_shape_and_adds_fields_beside_it():
    u = Utterance(3.8, 5.4, "Yeah, everybody's here.", (Word(3.8, 4.1, "Yeah,"),))
    r = AnalysisResult((UtteranceResult(u, Scores(EMO, SENT)),), {"duration": 6.0})
    d = r.to_dict(include_words=True)
    utt = d["analysis"]["utterances"][0]
    assert set(utt) >= {"start_time", "end_time", "text", "emotions", "sentiments"}
    assert utt["start_time"] == 3.8 and utt["end_time"] == 5.4
    assert utt["words"][0]["text"] == "Yeah,"
    assert d["metadata"]["duration"] == 6.0
    assert "words" not in r.to_dict()["analysis"]["utterances"][0]


def test_utterance_rejects_negative_duration():
    with pytest.raises(ValueError):
        Utterance(2.0, 1.0, "x")


def test_report_matches_hand_computed_f1():
    y_true = [0, 0, 1, 1, 2]
    y_pred = [0, 1, 1, 1, 0]
    r = classification_report(y_true, y_pred, ("a", "b", "c"))
    # a: P=1/2 R=1/2 F1=.5 ; b: P=2/3 R=1 F1=.8 ; c: F1=0
    assert r["per_class_f1"] == {"a": 0.5, "b": 0.8, "c": 0.0}
    assert r["accuracy"] == pytest.approx(3 / 5)
    assert r["macro_f1"] == pytest.approx((0.5 + 0.8 + 0) / 3)
    assert r["weighted_f1"] == pytest.approx((2 * 0.5 + 2 * 0.8 + 0) / 5)
    assert confusion_matrix(y_true, y_pred, 3).tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]


def test_label_orders_are_fixed():
    assert EMOTIONS == ("anger", "disgust", "fear", "joy", "neutral", "sadness", "surprise")
    assert SENTIMENTS == ("negative", "neutral", "positive")
