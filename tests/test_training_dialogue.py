"""training.text.dialogue: the dialogue head learns from context and exports to what the runtime runs."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="training code needs torch: bash scripts/setup --train")

from emotrace.config import TextOptions  # noqa: E402
from emotrace.modalities.text import TextScorer  # noqa: E402
from training.text import dialogue  # noqa: E402

from .conftest import TEXT_MODEL  # noqa: E402


def _probs(n: int, k: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.softmax(torch.randn(n, k, generator=g) * 2, -1)


def test_an_untrained_head_is_the_encoder_alone():
    e, s = _probs(6, 7, 0), _probs(6, 3, 1)
    out_e, out_s = dialogue.Ensemble([dialogue.DialogueHead(16), dialogue.DialogueHead(16)]).eval()(e, s)
    assert torch.allclose(out_e, e, atol=1e-6) and torch.allclose(out_s, s, atol=1e-6)


def test_joined_dialogues_keep_every_utterance_once():
    data = [tuple(torch.full((n,), i) for _ in range(4)) for i, n in enumerate([1, 3, 2, 5, 4, 2, 1])]
    runs = dialogue.joined(data, 3, np.random.default_rng(0))
    assert all(1 <= len({int(v) for v in r[0]}) <= 3 for r in runs) and len(runs) < len(data)
    assert sorted(int(v) for r in runs for v in r[0]) == sorted(int(v) for d in data for v in d[0])


def _synthetic(n_dialogues: int, seed: int):
    """Dialogues where each utterance's true emotion is the one the encoder gave the previous turn."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_dialogues):
        n = int(rng.integers(3, 9))
        guess = rng.integers(0, 7, n)
        e = np.full((n, 7), 0.02, dtype=np.float32)
        e[np.arange(n), guess] = 0.88
        s = np.full((n, 3), 1 / 3, dtype=np.float32)
        ye = np.concatenate([[guess[0]], guess[:-1]])
        out.append((e, s, ye, np.ones(n, dtype=np.int64)))
    return dialogue.as_tensors(out)


def test_the_head_learns_what_the_previous_turn_says(monkeypatch):
    import argparse

    train, dev = _synthetic(300, 0), _synthetic(60, 1)
    args = argparse.Namespace(seeds=1, hidden=32, dropout=0.0, lr=3e-3, epochs=4, join=0, sentiment_loss=0.5)
    epochs, states = dialogue.train_heads(train, dev, args)
    y = np.concatenate([d[2].numpy() for d in dev])
    alone = np.concatenate([d[0].numpy() for d in dev]).argmax(1)
    assert (alone == y).mean() < 0.4
    assert (epochs[-1]["pred_e"] == y).mean() > 0.9
    assert len(states) == 4 and len(states[0]) == 1


def _model_without_head(tmp_path):
    """A copy (by links) of the shipped text model folder without its dialogue head."""
    folder = tmp_path / "model"
    folder.mkdir()
    for f in TEXT_MODEL.parent.iterdir():
        if f.name not in ("config.json", "dialogue.onnx"):
            (folder / f.name).symlink_to(f)
    config = json.loads((TEXT_MODEL.parent / "config.json").read_text())
    config.pop("dialogue_head", None)
    (folder / "config.json").write_text(json.dumps(config))
    return folder


@pytest.mark.skipif(not TEXT_MODEL.exists(), reason="the shipped text model is absent")
def test_export_runs_in_onnx_runtime_as_in_torch(tmp_path):
    folder = _model_without_head(tmp_path)
    torch.manual_seed(0)
    heads = [dialogue.DialogueHead(16), dialogue.DialogueHead(16)]
    for h in heads:  # non-zero corrections, so the test sees the head's work
        torch.nn.init.normal_(h.emotion.weight, std=0.5)
        torch.nn.init.normal_(h.sentiment.weight, std=0.5)
    ensemble = dialogue.Ensemble(heads).eval()
    dialogue.export(ensemble, folder, {"chosen_epoch": 3, "settings": {"hidden": 16}})
    assert json.loads((folder / "config.json").read_text())["dialogue_head"]["onnx_file"] == "dialogue.onnx"

    scorer = TextScorer(TextOptions(model=str(folder)))
    e, s = _probs(9, 7, 2).numpy(), _probs(9, 3, 3).numpy()
    got_e, got_s = scorer.read_dialogue(e, s)
    want_e, want_s = ensemble(torch.from_numpy(e), torch.from_numpy(s))
    assert np.allclose(got_e, want_e.detach().numpy(), atol=1e-5)
    assert np.allclose(got_s, want_s.detach().numpy(), atol=1e-5)
    texts = ["Hi.", "You did what?", "I can't believe it!"]
    plain = TextScorer(TextOptions(model=str(folder), dialogue=False)).score_dialogue(texts)
    read = scorer.score_dialogue(texts)
    assert any(abs(a - b) > 1e-3 for p, r in zip(plain, read) for a, b in zip(p.emotions, r.emotions))


def test_folds_split_meld_by_dialogue(tmp_path):
    from training.text.train import meld_examples, meld_folds

    p = tmp_path / "m.csv"
    rows = ["Sr No.,Utterance,Speaker,Emotion,Sentiment,Dialogue_ID,Utterance_ID"]
    for i, (d, u) in enumerate([(0, 0), (0, 1), (1, 0), (2, 0), (2, 1), (2, 2)]):
        rows.append(f"{i},line {i},X,neutral,neutral,{d},{u}")
    p.write_text("\n".join(rows) + "\n")
    assert len(meld_examples(p, 0)) == 6
    assert meld_folds(p, 2) == [0, 0, 1, 0, 0, 0]
    assert meld_folds(p, 3) == [0, 0, 1, 2, 2, 2]


def test_speaker_features_say_who_spoke_when():
    from emotrace.modalities.text import speaker_features

    f = speaker_features(["S1", "S2", "S1", "S1", None, "S3", "S2"])
    # known, same as the previous utterance, same as the one before that, spoke before
    assert f.tolist() == [[1, 0, 0, 0], [1, 0, 0, 0], [1, 0, 1, 1], [1, 1, 0, 1], [0, 0, 0, 0],
                          [1, 0, 0, 0], [1, 0, 0, 1]]
    assert not speaker_features([None, None, ""]).any()


def test_meld_speakers_are_named_per_dialogue_and_joined_parts_keep_them_apart(tmp_path):
    p = tmp_path / "m.csv"
    rows = ["Sr No.,Utterance,Speaker,Emotion,Sentiment,Dialogue_ID,Utterance_ID"]
    for i, (d, u, who) in enumerate([(0, 0, "Ross"), (0, 1, "Rachel"), (0, 2, "Ross"),
                                     (1, 0, "Rachel"), (1, 1, "Rachel")]):
        rows.append(f"{i},line {i},{who},neutral,neutral,{d},{u}")
    p.write_text("\n".join(rows) + "\n")
    speakers = dialogue.meld_speakers(p)
    assert speakers == [["S1", "S2", "S1"], ["S1", "S1"]]
    data = [(np.full((len(s), 7), 1 / 7, np.float32), np.full((len(s), 3), 1 / 3, np.float32),
             np.zeros(len(s), np.int64), np.zeros(len(s), np.int64)) for s in speakers]
    seqs = dialogue.as_tensors(data, speakers)
    (run,) = dialogue.joined(seqs, 2, np.random.default_rng(0))
    names = run[4]
    assert len(names) == 5 and len(set(names)) == 3  # S1 of one dialogue is not S1 of the other
    # A CSV without MELD's Speaker column still reads; its speakers are unknown.
    q = tmp_path / "nospeaker.csv"
    q.write_text("\n".join(",".join(r.split(",")[:2] + r.split(",")[3:]) for r in rows) + "\n")
    assert dialogue.meld_speakers(q) == [["", "", ""], ["", ""]]
    assert not dialogue.speaker_features(dialogue.as_tensors(data, dialogue.meld_speakers(q))[0][4]).any()


@pytest.mark.skipif(not TEXT_MODEL.exists(), reason="the shipped text model is absent")
def test_a_head_with_speakers_exports_and_the_runtime_feeds_it(tmp_path):
    import argparse

    from emotrace.modalities.text import speaker_features
    from emotrace.types import Utterance

    folder = _model_without_head(tmp_path)
    args = argparse.Namespace(hidden=16, dropout=0.0, speakers=True)
    torch.manual_seed(0)
    heads = [dialogue.DialogueHead(16, 0.0, dialogue.n_speaker(args)) for _ in range(2)]
    for h in heads:
        torch.nn.init.normal_(h.emotion.weight, std=0.5)
        torch.nn.init.normal_(h.inp[1].weight, std=1.0)
    ensemble = dialogue.Ensemble(heads).eval()
    dialogue.export(ensemble, folder, {"chosen_epoch": 3, "settings": {"hidden": 16, "speakers": ["x"]}})
    scorer = TextScorer(TextOptions(model=str(folder)))
    assert scorer.dialogue_reads_speakers
    e, s = _probs(5, 7, 2).numpy(), _probs(5, 3, 3).numpy()
    who = ["S1", "S2", "S1", None, "S2"]
    got_e, _ = scorer.read_dialogue(e, s, who)
    want_e, _ = ensemble(torch.from_numpy(e), torch.from_numpy(s), torch.from_numpy(speaker_features(who)))
    assert np.allclose(got_e, want_e.detach().numpy(), atol=1e-5)
    unknown_e, _ = scorer.read_dialogue(e, s)  # no speakers: all unknown
    want_e, _ = ensemble(torch.from_numpy(e), torch.from_numpy(s), torch.zeros(5, 4))
    assert np.allclose(unknown_e, want_e.detach().numpy(), atol=1e-5)
    assert not np.allclose(got_e, unknown_e, atol=1e-3)
    texts = ["Hi.", "You did what?", "I can't believe it!"]
    utts = [Utterance(i, i + 1, t, speaker=w) for i, (t, w) in enumerate(zip(texts, ["S1", "S2", "S1"]))]
    by_turns = scorer.score_utterances(None, utts)
    by_texts = scorer.score_dialogue(texts, speakers=["S1", "S2", "S1"])
    assert [x.emotions for x in by_turns] == [x.emotions for x in by_texts]
