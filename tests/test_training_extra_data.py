"""training.text.train's extra corpora: DailyDialog reading and the per-emotion cap (needs torch)."""

from __future__ import annotations

import collections
import gzip
import json

import pytest

pytest.importorskip("torch", reason="training code needs torch: bash scripts/setup --train")

from emotrace.labels import EMOTIONS, SENTIMENTS  # noqa: E402
from training.text.experiments.run_card import train_command  # noqa: E402
from training.text.train import IGNORE, cap_per_class, dailydialog_examples  # noqa: E402


@pytest.fixture()
def data_dir(tmp_path):
    dialogues = [
        {"dialogue_id": "a", "turns": [{"speaker": "A", "utterance": f"fine {i}", "emotion": "neutral"}
                                       for i in range(6)]
         + [{"speaker": "B", "utterance": "wow, really?", "emotion": "surprise"},
            {"speaker": "A", "utterance": "I love it", "emotion": "joy"}]},
        {"dialogue_id": "b", "turns": [{"speaker": "A", "utterance": "go away", "emotion": "anger"},
                                       {"speaker": "B", "utterance": "okay", "emotion": "neutral"}]},
    ]
    (tmp_path / "dailydialog").mkdir()
    with gzip.open(tmp_path / "dailydialog" / "train.jsonl.gz", "wt", encoding="utf-8") as f:
        for d in dialogues:
            f.write(json.dumps(d) + "\n")
    return tmp_path


def test_dailydialog_turns_carry_emotion_and_derived_sentiment(data_dir):
    out = dailydialog_examples(data_dir, turns=1)
    assert len(out) == 10
    by_text = {t: (c, e, s) for t, c, e, s in out}
    assert by_text["I love it"] == ("wow, really?", EMOTIONS.index("joy"), SENTIMENTS.index("positive"))
    assert by_text["go away"] == ("", EMOTIONS.index("anger"), SENTIMENTS.index("negative"))
    # Surprise splits between negative and positive in MELD, so it gets no sentiment label here.
    assert by_text["wow, really?"][2] == IGNORE


def test_per_class_cap_keeps_rare_emotions_and_trims_the_common_one(data_dir):
    out = dailydialog_examples(data_dir, turns=0, per_class=2, seed=3)
    counts = collections.Counter(EMOTIONS[e] for _, _, e, _ in out)
    assert counts == {"neutral": 2, "surprise": 1, "joy": 1, "anger": 1}
    assert dailydialog_examples(data_dir, turns=0, per_class=2, seed=3) == out


def test_cap_zero_keeps_everything_in_order():
    xs = [("a", None, 4, 1), ("b", None, 4, 1), ("c", None, 3, 2)]
    assert cap_per_class(xs, 0) == xs
    assert len(cap_per_class(xs, 1)) == 2


def test_train_command_records_the_dailydialog_cap():
    cfg = {"out": "runs/text/dd", "context": 0, "epochs": 3, "lr": 3e-05, "batch_size": 32, "max_length": 96,
           "class_weight_power": 0.0, "sentiment_loss": 0.5, "seed": 13, "base": "mpnet", "layers": 8,
           "extra": "dailydialog", "dailydialog_per_class": 1500}
    cmd = train_command(cfg)
    assert "--extra dailydialog --dailydialog-per-class 1500" in cmd
    assert "--goemotions-per-class" not in cmd


def test_weight_average_tracks_and_swaps_back():
    import torch
    from training.text.train import WeightAverage

    model = torch.nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        model.weight.fill_(0.0)
    ema = WeightAverage(model, decay=0.5)
    for _ in range(3):
        with torch.no_grad():
            model.weight.add_(1.0)
        ema.update()
    # Decay is capped at (1 + step) / (10 + step), below 0.5 for these first steps.
    d = [min(0.5, (1 + k) / (10 + k)) for k in (1, 2, 3)]
    expected = 0.0
    for k, w in enumerate((1.0, 2.0, 3.0)):
        expected = d[k] * expected + (1 - d[k]) * w
    with ema.swapped_in():
        assert torch.allclose(model.weight, torch.full((1, 2), expected))
    assert torch.allclose(model.weight, torch.full((1, 2), 3.0))
