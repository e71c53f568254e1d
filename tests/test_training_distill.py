"""training.text.experiments.distill: soft-target loss and cached teacher logits, on a tiny random MPNet (needs torch)."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch", reason="training code needs torch: bash scripts/setup --train")
transformers = pytest.importorskip("transformers", reason="training code needs transformers: bash scripts/setup --train")

from training.text import train  # noqa: E402
from training.text.experiments import distill  # noqa: E402

WORDS = ["<s>", "<pad>", "</s>", "<unk>", "i", "love", "it", "go", "away", "okay"]


@pytest.fixture()
def teacher_run(tmp_path, monkeypatch):
    """A finished 'run' folder: a tiny MPNet with heads, its config, and a base with a tokenizer."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    base = tmp_path / "base"
    config = transformers.MPNetConfig(vocab_size=len(WORDS), hidden_size=16, num_hidden_layers=2,
                                      num_attention_heads=2, intermediate_size=32,
                                      max_position_embeddings=64)
    torch.manual_seed(0)
    transformers.MPNetModel(config).save_pretrained(base)
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(WORDS)}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.save(str(base / "tokenizer.json"))
    monkeypatch.setattr(train, "base_model_dir", lambda name="minilm": base)

    run = tmp_path / "run"
    run.mkdir()
    cfg = {"base": "mpnet", "layers": 0, "context": 0, "pool": "all"}
    (run / "train_config.json").write_text(json.dumps(cfg))
    torch.save(train.model_for(cfg).state_dict(), run / "best.pt")
    return run


EXAMPLES = [("i love it", None, 3, 2), ("go away", None, 0, 0), ("okay", None, 4, 1)]


def test_soft_loss_is_zero_for_equal_logits_and_positive_otherwise():
    a = torch.tensor([[2.0, 0.0, -1.0], [0.5, 0.5, 0.0]])
    assert distill.soft_loss(a, a.clone(), 2.0).item() == pytest.approx(0.0, abs=1e-6)
    assert distill.soft_loss(a, a.flip(-1), 2.0).item() > 0.1
    # adding a constant to every logit changes no distribution
    assert distill.soft_loss(a + 3.0, a, 1.0).item() == pytest.approx(0.0, abs=1e-6)


def test_examples_key_depends_on_texts_order_and_length():
    k = distill.examples_key(EXAMPLES, 96)
    assert k == distill.examples_key(list(EXAMPLES), 96)
    assert k != distill.examples_key(EXAMPLES[::-1], 96)
    assert k != distill.examples_key(EXAMPLES, 64)


def test_teacher_logits_match_the_teacher_and_are_cached(teacher_run):
    emo, sent = distill.teacher_logits(teacher_run, EXAMPLES, 16, context=0, batch_size=2)
    assert emo.shape == (3, 7) and sent.shape == (3, 3)
    model, _ = train.load_run(teacher_run)
    tokenizer = tiny_tokenizer()
    feeds, _, _, _ = next(train.batches(EXAMPLES[1:2], tokenizer, 1, 16, shuffle=False))
    with torch.no_grad():
        e, s = model(**feeds)
    assert torch.allclose(emo[1], e[0], atol=1e-5) and torch.allclose(sent[1], s[0], atol=1e-5)
    assert len(list(teacher_run.glob("teacher_logits_*.npz"))) == 1
    (teacher_run / "best.pt").unlink()  # a second call must not need the weights
    emo2, _ = distill.teacher_logits(teacher_run, EXAMPLES, 16, context=0)
    assert torch.equal(emo, emo2)


def test_a_teacher_with_other_context_is_refused(teacher_run):
    with pytest.raises(distill.TeacherMismatch, match="--context"):
        distill.teacher_logits(teacher_run, EXAMPLES, 16, context=2)


def test_batches_yield_the_examples_indices(teacher_run):
    idx = []
    for _, ye, _, ix in train.batches(EXAMPLES * 2, tiny_tokenizer(), 4, 16, shuffle=True, seed=3):
        idx.extend(ix.tolist())
        assert [(EXAMPLES * 2)[i][2] for i in ix.tolist()] == ye.tolist()
    assert sorted(idx) == list(range(6))


def tiny_tokenizer():
    """The fixture's tokenizer (``train.base_model_dir`` is patched to the tiny base)."""
    from emotrace.modalities.text import load_tokenizer
    return load_tokenizer(train.base_model_dir("mpnet") / "tokenizer.json")


def test_an_ensemble_averages_its_teachers_logits(teacher_run, tmp_path):
    other = tmp_path / "run2"
    other.mkdir()
    cfg = json.loads((teacher_run / "train_config.json").read_text())
    (other / "train_config.json").write_text(json.dumps(cfg))
    torch.manual_seed(1)
    torch.save(train.model_for(cfg).state_dict(), other / "best.pt")
    a = distill.teacher_logits(teacher_run, EXAMPLES, 16, context=0)
    b = distill.teacher_logits(other, EXAMPLES, 16, context=0)
    e, s = distill.ensemble_logits([teacher_run, other], EXAMPLES, 16, context=0)
    assert not torch.allclose(a[0], b[0])
    assert torch.allclose(e, (a[0] + b[0]) / 2) and torch.allclose(s, (a[1] + b[1]) / 2)


def test_train_command_records_the_teachers():
    from training.text.experiments.run_card import train_command

    cfg = {"out": "runs/text/kd", "context": 0, "epochs": 3, "lr": 3e-05, "batch_size": 32, "max_length": 96,
           "class_weight_power": 0.0, "sentiment_loss": 0.5, "seed": 13, "base": "mpnet", "layers": 8,
           "teacher": ["runs/text/mp12", "runs/text/mp8"], "distill": 0.5, "temperature": 2.0}
    assert "--teacher runs/text/mp12 runs/text/mp8 --distill 0.5 --temperature 2.0" in train_command(cfg)
    assert "--teacher" not in train_command({**cfg, "teacher": None})


def test_the_model_card_names_the_teachers_and_inherits_their_licences(tmp_path):
    from emotrace.labels import EMOTIONS, SENTIMENTS
    from training.text.experiments.run_card import model_card

    base = {"context": 0, "epochs": 3, "lr": 3e-05, "batch_size": 32, "max_length": 96,
            "class_weight_power": 0.0, "sentiment_loss": 0.5, "seed": 13, "base": "mpnet", "layers": 8,
            "history": [{"epoch": 1, "emotion_wf1": 0.5, "emotion_mf1": 0.4, "sentiment_wf1": 0.6}]}
    for name, extra in (("plain", {}), ("dd", {"extra": "dailydialog", "dailydialog_per_class": 500})):
        (tmp_path / name).mkdir()
        (tmp_path / name / "train_config.json").write_text(json.dumps({**base, "out": str(tmp_path / name), **extra}))

    def report(labels):
        return {"weighted_f1": 0.5, "macro_f1": 0.4, "accuracy": 0.5,
                "per_class_f1": {l: 0.1 for l in labels}, "support": {l: 1 for l in labels}}

    scores = {"n": 1, "emotion": report(EMOTIONS), "sentiment": report(SENTIMENTS)}
    student = {**base, "out": "runs/text/kd", "distill": 0.5, "temperature": 2.0}
    card = model_card({**student, "teacher": [str(tmp_path / "plain"), str(tmp_path / "dd")]},
                      {"int8": scores, "fp32": scores}, "int8", version="9")
    assert "soft predictions of 2 teacher run(s)" in card
    assert "DailyDialog train, at most 500 turns per emotion (CC BY-NC-SA 4.0: non-commercial), through the teachers" in card
    assert "**non-commercial use only**" in card
    assert card.count("python -m training.text.train") == 3  # both teachers, then the student
    only_meld = model_card({**student, "teacher": [str(tmp_path / "plain")]},
                           {"int8": scores, "fp32": scores}, "int8", version="9")
    assert "non-commercial" not in only_meld and "through the teachers" not in only_meld
