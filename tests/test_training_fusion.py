"""The fusion-learning path (training/fusion) on tiny synthetic data the tests make."""

from __future__ import annotations

import csv
import json
import wave

import numpy as np
import pytest

from emotrace.fusion import FusionOptions, fuse
from emotrace.labels import EMOTIONS, SENTIMENTS
from emotrace.modalities.sentiment import SENTIMENT_GIVEN_EMOTION
from emotrace.types import Scores
from training.fusion import collect, fit


def noisy_probs(labels: np.ndarray, rng: np.random.Generator, informative: float) -> np.ndarray:
    """Distributions whose top class is the true label with probability about ``informative``."""
    n = len(labels)
    logits = rng.normal(0, 1, (n, len(EMOTIONS)))
    logits[np.arange(n), labels] += informative
    p = np.exp(logits)
    return p / p.sum(axis=1, keepdims=True)


def synthetic_scores(n: int, seed: int) -> dict[str, np.ndarray]:
    """Voice clearly informative, words barely, face absent for a third of the rows and useless."""
    rng = np.random.default_rng(seed)
    emotion = rng.integers(0, len(EMOTIONS), n)
    sentiment = np.array([rng.choice(3, p=SENTIMENT_GIVEN_EMOTION[e]) for e in emotion])
    data = {"emotion": emotion, "sentiment": sentiment, "ids": np.array([f"dia0_utt{i}" for i in range(n)])}
    for name, strength, present in (("text", 0.6, 1.0), ("audio", 3.0, 1.0), ("face", 0.0, 0.66)):
        e = noisy_probs(emotion, rng, strength)
        data[f"{name}_emotions"] = e
        data[f"{name}_sentiments"] = e @ SENTIMENT_GIVEN_EMOTION
        data[f"{name}_present"] = rng.random(n) < present
    return data


def test_fit_learns_to_trust_the_informative_modality(tmp_path):
    train, dev = synthetic_scores(400, 0), synthetic_scores(200, 1)
    np.savez(tmp_path / "train.npz", **train)
    np.savez(tmp_path / "dev.npz", **dev)
    out = tmp_path / "fusion.json"
    fit.main(["--train", str(tmp_path / "train.npz"), "--dev", str(tmp_path / "dev.npz"),
              "--step", "0.5", "--out", str(out)])
    options = FusionOptions.from_json(out)
    assert options.weights["audio"] > options.weights["text"]
    assert options.weights["face"] <= options.weights["audio"] / 2
    figures = json.loads(out.with_suffix(".metrics.json").read_text())
    dev_fig = figures["dev"]
    # Learned fusion beats the words alone on held-out rows and is no worse than the voice alone.
    assert dev_fig["fused"]["emotion"] > dev_fig["text_alone"]["emotion"] + 0.2
    assert dev_fig["fused"]["emotion"] >= dev_fig["audio_alone"]["emotion"] - 0.05
    # The options the fit writes drive the runtime fusion to the same predictions.
    row = 3
    parts = {n: Scores.from_arrays(dev[f"{n}_emotions"][row], dev[f"{n}_sentiments"][row])
             if dev[f"{n}_present"][row] else None for n in ("text", "audio", "face")}
    fused, _ = fuse(parts, options)
    expect = fit.fuse_arrays({n: dev[f"{n}_emotions"][row:row + 1] for n in parts},
                             {n: dev[f"{n}_present"][row:row + 1] for n in parts},
                             options.weights, options.method)[0]
    assert np.allclose(fused.emotions, expect, atol=1e-5)


def test_fit_refuses_files_it_did_not_write(tmp_path):
    np.savez(tmp_path / "bad.npz", x=np.zeros(3))
    with pytest.raises(SystemExit, match="not written by"):
        fit.main(["--train", str(tmp_path / "bad.npz"), "--out", str(tmp_path / "f.json")])


def write_wav(path, seconds: float, f0: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    t = np.arange(int(16000 * seconds)) / 16000
    x = 0.3 * np.sin(2 * np.pi * f0 * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t)) + rng.normal(0, 0.01, len(t))
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes((np.clip(x, -1, 1) * 32767).astype("<i2").tobytes())


@pytest.mark.slow
def test_collect_scores_clips_named_like_meld_raw(tmp_path):
    clips = tmp_path / "clips"
    clips.mkdir()
    rows = [("0", "0", "Hi there.", "joy", "positive"), ("0", "1", "Go away!", "anger", "negative"),
            ("0", "2", "Where is it?", "neutral", "neutral"), ("1", "0", "Oh no.", "sadness", "negative")]
    for i, (d, u, *_rest) in enumerate(rows[:3]):  # dia1_utt0 has no clip: skipped and counted
        write_wav(clips / f"dia{d}_utt{u}.wav", 1.5 + 0.5 * i, 140 + 60 * i, i)
    csv_path = tmp_path / "mini.csv"
    with csv_path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["Utterance", "Emotion", "Sentiment", "Dialogue_ID", "Utterance_ID"])
        for d, u, text, e, s in rows:
            w.writerow([text, e, s, d, u])
    out = tmp_path / "scores.npz"
    collect.main(["--meld-csv", str(csv_path), "--clips-dir", str(clips), "--modalities", "audio,face",
                  "--out", str(out)])
    data = dict(np.load(out))
    assert list(data["ids"]) == ["dia0_utt0", "dia0_utt1", "dia0_utt2"]
    assert list(data["emotion"]) == [EMOTIONS.index(e) for e in ("joy", "anger", "neutral")]
    assert data["audio_present"].all() and not data["face_present"].any()  # audio-only files: no face
    assert np.allclose(data["audio_emotions"].sum(1), 1.0, atol=1e-5)
    assert data["audio_sentiments"].shape == (3, len(SENTIMENTS))
    # The collected file is what fit consumes.
    options, _ = fit.fit(data, step=1.0)
    assert options.method in ("mean", "product")
