"""How utterances become model inputs, for BERT-style and MPNet-style vocabularies (no model)."""

from __future__ import annotations

import pytest
from tokenizers import Tokenizer, models, pre_tokenizers

from emotrace.errors import ModelError
from emotrace.modalities.text import encode, special_ids

WORDS = ["yes", "one", "two", "three", "four", "five", "no"]


def _tokenizer(specials: list[str]) -> Tokenizer:
    vocab = {t: i for i, t in enumerate(specials + WORDS)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token=specials[-1]))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    return tok


def _tokens(tok: Tokenizer, ids) -> list[str]:
    return [tok.id_to_token(int(i)) for i in ids]


def test_bert_style_pairs_and_padding():
    tok = _tokenizer(["[PAD]", "[CLS]", "[SEP]", "[UNK]"])
    batch = encode(tok, ["yes", "no no no"], ["one two three four five", ""], max_length=7)
    assert special_ids(tok) == (1, 2, 0, False)
    # The context keeps its newest tokens; the longest row sets the width.
    assert _tokens(tok, batch.input_ids[0]) == ["[CLS]", "yes", "[SEP]", "three", "four", "five", "[SEP]"]
    assert batch.token_type_ids[0].tolist() == [0, 0, 0, 1, 1, 1, 1]
    assert _tokens(tok, batch.input_ids[1]) == ["[CLS]", "no", "no", "no", "[SEP]", "[PAD]", "[PAD]"]
    assert batch.attention_mask[1].tolist() == [1, 1, 1, 1, 1, 0, 0]


def test_mpnet_style_pairs_open_the_context_with_a_second_separator_and_pad_with_pad():
    tok = _tokenizer(["<s>", "<pad>", "</s>", "<unk>"])
    assert special_ids(tok) == (0, 2, 1, True)
    batch = encode(tok, ["yes", "no"], ["one two three four", ""], max_length=8)
    assert _tokens(tok, batch.input_ids[0]) == ["<s>", "yes", "</s>", "</s>", "two", "three", "four", "</s>"]
    assert _tokens(tok, batch.input_ids[1]) == ["<s>", "no", "</s>"] + ["<pad>"] * 5
    assert batch.attention_mask[1].tolist() == [1, 1, 1, 0, 0, 0, 0, 0]


def test_a_vocabulary_without_known_special_tokens_is_a_model_error():
    with pytest.raises(ModelError, match="special|CLS"):
        special_ids(_tokenizer(["<unk>"]))
