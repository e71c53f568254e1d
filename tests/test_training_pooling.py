"""training.text.train.EmotionModel's pooling, on a tiny randomly initialised MPNet (needs torch)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch", reason="training code needs torch: bash scripts/setup --train")
transformers = pytest.importorskip("transformers", reason="training code needs transformers: bash scripts/setup --train")

from training.text.train import EmotionModel  # noqa: E402


@pytest.fixture(scope="module")
def tiny_mpnet(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny-mpnet")
    config = transformers.MPNetConfig(vocab_size=40, hidden_size=16, num_hidden_layers=2,
                                      num_attention_heads=2, intermediate_size=32,
                                      max_position_embeddings=64)
    torch.manual_seed(0)
    transformers.MPNetModel(config).save_pretrained(folder)
    return folder


def _batch():
    # <s> a b </s> | </s> c d e </s> <pad>: segment 1 is the context.
    ids = torch.tensor([[0, 5, 6, 2, 2, 7, 8, 9, 2, 1]])
    mask = torch.tensor([[1, 1, 1, 1, 1, 1, 1, 1, 1, 0]])
    types = torch.tensor([[0, 0, 0, 0, 1, 1, 1, 1, 1, 0]])
    return ids, mask, types


def test_utterance_pooling_averages_only_the_first_segment(tiny_mpnet):
    model = EmotionModel(tiny_mpnet, pool="utterance").eval()
    ids, mask, types = _batch()
    with torch.no_grad():
        emotion, sentiment = model(ids, mask, types)
        h = model.encoder(input_ids=ids, attention_mask=mask).last_hidden_state
        own = h[0, :4].mean(0)
        everything = h[0, :9].mean(0)
        assert torch.allclose(emotion[0], model.emotion(own), atol=1e-5)
        assert torch.allclose(sentiment[0], model.sentiment(own), atol=1e-5)
        assert not torch.allclose(emotion[0], model.emotion(everything), atol=1e-3)
        # The context still reaches the utterance's tokens through attention.
        alone = model(ids[:, :4], mask[:, :4], types[:, :4])[0]
        assert not torch.allclose(alone[0], emotion[0], atol=1e-4)


def test_without_context_both_poolings_agree(tiny_mpnet):
    ids, mask, _ = _batch()
    no_types = torch.zeros_like(ids)
    with torch.no_grad():
        a = EmotionModel(tiny_mpnet, pool="utterance").eval()
        b = EmotionModel(tiny_mpnet, pool="all").eval()
        b.load_state_dict(a.state_dict())
        assert torch.allclose(a(ids, mask, no_types)[0], b(ids, mask, no_types)[0], atol=1e-6)


def test_an_unknown_pooling_is_refused(tiny_mpnet):
    with pytest.raises(ValueError, match="unknown pooling"):
        EmotionModel(tiny_mpnet, pool="max")
