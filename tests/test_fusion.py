"""Fusion of modality scores: invariants of both pooling methods, and emotion → sentiment."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from emotrace.errors import ConfigError
from emotrace.fusion import METHODS, FusionOptions, fuse, fuse_arrays
from emotrace.labels import EMOTIONS, SENTIMENTS
from emotrace.modalities.sentiment import SENTIMENT_GIVEN_EMOTION, scores_from_emotions
from emotrace.types import Scores


def random_scores(rng: np.random.Generator) -> Scores:
    return Scores.from_arrays(rng.dirichlet(np.ones(len(EMOTIONS))), rng.dirichlet(np.ones(len(SENTIMENTS))))


def one_hot_ish(label: str, p: float = 0.7) -> Scores:
    e = np.full(len(EMOTIONS), (1 - p) / (len(EMOTIONS) - 1))
    e[EMOTIONS.index(label)] = p
    return scores_from_emotions(e)


@pytest.mark.parametrize("method", METHODS)
def test_lone_modality_is_kept_exactly(method):
    text = random_scores(np.random.default_rng(0))
    fused, own = fuse({"text": text, "audio": None, "face": None}, FusionOptions(method=method))
    assert fused == text
    assert set(own) == {"text"} and own["text"].weight == 1.0 and own["text"].scores == text


@pytest.mark.parametrize("method", METHODS)
def test_absent_modality_is_skipped_not_zero_filled(method):
    rng = np.random.default_rng(1)
    text, audio = random_scores(rng), random_scores(rng)
    opts = FusionOptions(method=method)
    with_none, own = fuse({"text": text, "audio": audio, "face": None}, opts)
    without, _ = fuse({"text": text, "audio": audio}, opts)
    assert with_none == without
    assert "face" not in own
    assert math.isclose(sum(m.weight for m in own.values()), 1.0)
    assert math.isclose(own["audio"].weight / own["text"].weight,
                        opts.weights["audio"] / opts.weights["text"])


@pytest.mark.parametrize("method", METHODS)
def test_fused_distributions_sum_to_one_and_lie_between(method):
    rng = np.random.default_rng(2)
    for _ in range(50):
        parts = {"text": random_scores(rng), "audio": random_scores(rng), "face": random_scores(rng)}
        fused, _ = fuse(parts, FusionOptions(method=method))
        assert math.isclose(sum(fused.emotions), 1.0, abs_tol=1e-9)
        assert math.isclose(sum(fused.sentiments), 1.0, abs_tol=1e-9)
        if method == "mean":  # a convex combination stays inside the per-class range
            for i in range(len(EMOTIONS)):
                values = [s.emotions[i] for s in parts.values()]
                assert min(values) - 1e-9 <= fused.emotions[i] <= max(values) + 1e-9


def test_a_modality_can_veto_a_class_under_product_but_not_mean():
    fear = np.array([0.05, 0.05, 0.5, 0.1, 0.1, 0.1, 0.1])
    no_fear = np.array([0.2, 0.2, 0.001, 0.2, 0.199, 0.1, 0.1])
    parts = {"audio": scores_from_emotions(fear), "face": scores_from_emotions(no_fear)}
    even = {"audio": 1.0, "face": 1.0}
    prod, _ = fuse(parts, FusionOptions(method="product", weights=even))
    mean, _ = fuse(parts, FusionOptions(method="mean", weights=even))
    assert mean.top_emotion == "fear" and mean.emotion("fear") == pytest.approx(0.2505)
    assert prod.top_emotion != "fear" and prod.emotion("fear") < 0.05


def test_weights_decide_who_wins():
    text, audio = one_hot_ish("neutral"), one_hot_ish("anger")
    trust = {"text": 1.0}  # the words' "neutral" counts fully here, so the weights alone decide
    loud = FusionOptions(weights={"text": 1.0, "audio": 3.0}, sentiment_weights={"text": 1.0, "audio": 3.0},
                         neutral_trust=trust)
    quiet = FusionOptions(weights={"text": 3.0, "audio": 1.0}, sentiment_weights={"text": 3.0, "audio": 1.0},
                          neutral_trust=trust)
    assert fuse({"text": text, "audio": audio}, loud)[0].top_emotion == "anger"
    assert fuse({"text": text, "audio": audio}, quiet)[0].top_emotion == "neutral"
    zero = FusionOptions(weights={"text": 1.0, "audio": 0.0}, sentiment_weights={"text": 1.0, "audio": 0.0})
    fused, own = fuse({"text": text, "audio": audio}, zero)
    assert np.allclose(fused.emotions, text.emotions) and own["audio"].weight == 0.0


def test_errors_are_config_errors():
    with pytest.raises(ConfigError, match="nothing to fuse"):
        fuse({"text": None, "audio": None})
    with pytest.raises(ConfigError, match="nothing to fuse"):
        fuse({"face": one_hot_ish("joy")}, FusionOptions(weights={"face": 0.0}))
    with pytest.raises(ConfigError, match="expected one of"):
        FusionOptions(method="median")
    with pytest.raises(ConfigError, match="out of range"):
        FusionOptions(weights={"text": -1.0})


@pytest.mark.parametrize("method", METHODS)
def test_vectorised_fusion_matches_per_utterance_fusion(method):
    rng = np.random.default_rng(3)
    n = 40
    parts = {k: [random_scores(rng) for _ in range(n)] for k in ("text", "audio", "face")}
    present = {"text": rng.random(n) < 0.8, "audio": rng.random(n) < 0.7, "face": rng.random(n) < 0.5}
    opts = FusionOptions(method=method, weights={"text": 1.0, "audio": 0.7, "face": 0.4})
    fused = fuse_arrays({k: np.array([s.emotions for s in v]) for k, v in parts.items()}, present,
                        opts.weights, method)
    for i in range(n):
        here = {k: parts[k][i] if present[k][i] else None for k in parts}
        if not any(v is not None for v in here.values()):
            assert np.isnan(fused[i]).all()
            continue
        assert np.allclose(fused[i], fuse(here, opts)[0].emotions, atol=1e-5)  # eps in the log


def test_options_round_trip_through_json(tmp_path):
    opts = FusionOptions(weights={"text": 1.0, "audio": 0.25}, sentiment_weights={"text": 1.0, "audio": 0.0},
                         method="product")
    path = tmp_path / "fusion.json"
    path.write_text(json.dumps(opts.to_dict()))
    assert FusionOptions.from_json(path) == opts
    path.write_text(json.dumps({"weights": {"text": 1}, "temperature": 2}))
    with pytest.raises(ConfigError, match="unknown fusion option"):
        FusionOptions.from_json(path)
    with pytest.raises(ConfigError, match="cannot read"):
        FusionOptions.from_json(tmp_path / "missing.json")


def test_sentiment_follows_emotion_as_in_meld():
    assert np.allclose(SENTIMENT_GIVEN_EMOTION.sum(axis=1), 1.0)
    assert one_hot_ish("joy", 1.0).top_sentiment == "positive"
    assert one_hot_ish("neutral", 1.0).top_sentiment == "neutral"
    for label in ("anger", "disgust", "fear", "sadness"):
        assert one_hot_ish(label, 1.0).sentiment("negative") == pytest.approx(1.0)
    surprise = one_hot_ish("surprise", 1.0)
    assert surprise.sentiment("neutral") == 0.0
    assert 0.45 < surprise.sentiment("negative") < 0.55


def test_gated_lets_an_emotional_voice_speak_over_neutral_words():
    words = one_hot_ish("neutral", 0.8)
    voice = Scores.from_arrays([0.7, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05], [0.8, 0.1, 0.1])
    even = {"text": 1.0, "audio": 1.0}
    assert fuse({"text": words, "audio": voice}, FusionOptions(weights=even, method="mean"))[0].top_emotion == "neutral"
    gated, _ = fuse({"text": words, "audio": voice}, FusionOptions(weights=even, sentiment_weights=even, method="gated"))
    assert gated.top_emotion == "anger" and gated.top_sentiment == "negative"
    # ... while a neutral face has no say in *which* emotion emotional words show.
    joyful_words, neutral_face = one_hot_ish("joy", 0.9), one_hot_ish("neutral", 0.9)
    fused, _ = fuse({"text": joyful_words, "face": neutral_face},
                    FusionOptions(weights={"text": 1.0, "face": 1.0}, method="gated"))
    non_neutral = [e for e in EMOTIONS if e != "neutral"]
    assert max(non_neutral, key=fused.emotion) == "joy"
    assert fused.emotion("joy") / sum(fused.emotion(e) for e in non_neutral) > 0.8  # face adds only its 0.1


def test_neutral_words_do_not_hold_an_emotional_voice_at_neutral_by_default():
    words = one_hot_ish("neutral", 0.9)
    voice = one_hot_ish("sadness", 0.6)
    fused, own = fuse({"text": words, "audio": voice})
    assert fused.top_emotion == "sadness"
    # ... with full trust in the words' "neutral", they would win
    trusting = FusionOptions(neutral_trust={"text": 1.0})
    assert fuse({"text": words, "audio": voice}, trusting)[0].top_emotion == "neutral"
    # emotional words keep their full weight in the neutral question and lead in which emotion
    sad_words, joyful_voice = one_hot_ish("sadness", 0.45), one_hot_ish("joy", 0.5)
    assert fuse({"text": sad_words, "audio": joyful_voice})[0].top_emotion == "sadness"


def test_quality_scales_a_modalitys_weight_per_utterance():
    text = one_hot_ish("joy", 0.6)
    good = scores_from_emotions(np.array(one_hot_ish("anger", 0.6).emotions), quality=1.0)
    poor = scores_from_emotions(np.array(one_hot_ish("anger", 0.6).emotions), quality=0.25)
    opts = FusionOptions(weights={"text": 1.0, "audio": 1.0})
    _, own_good = fuse({"text": text, "audio": good}, opts)
    _, own_poor = fuse({"text": text, "audio": poor}, opts)
    assert own_good["audio"].weight == pytest.approx(0.5)
    assert own_poor["audio"].weight == pytest.approx(0.25 / 1.25)
    fixed = FusionOptions(weights={"text": 1.0, "audio": 1.0}, adaptive=False)
    assert fuse({"text": text, "audio": poor}, fixed)[1]["audio"].weight == pytest.approx(0.5)
    with pytest.raises(ValueError, match="quality"):
        Scores.from_arrays(text.emotions, text.sentiments, quality=1.5)


def test_confidence_weighting_favours_the_surer_modality_when_asked():
    sure, unsure = one_hot_ish("anger", 0.9), one_hot_ish("joy", 0.2)
    opts = FusionOptions(weights={"text": 1.0, "audio": 1.0}, confidence_floor=0.0)
    _, own = fuse({"text": unsure, "audio": sure}, opts)
    assert own["audio"].weight > 0.8


def test_agreement_says_whether_the_modalities_name_the_same_emotion():
    from emotrace.fusion import agreement

    text, voice = one_hot_ish("sadness", 0.7), one_hot_ish("joy", 0.5)
    fused, own = fuse({"text": text, "audio": voice})
    share, agree = agreement(fused, own)
    assert fused.top_emotion == "sadness" and not agree
    assert share == pytest.approx(own["text"].weight)
    fused, own = fuse({"text": text, "audio": one_hot_ish("sadness", 0.4)})
    assert agreement(fused, own) == (pytest.approx(1.0), True)
    fused, own = fuse({"text": text, "audio": None})
    assert agreement(fused, own) == (1.0, True)
