"""Text modality: emotion and sentiment of an utterance from its words (and the words before it).

The model is a small transformer encoder fine-tuned on MELD (see ``models/text/MODEL_CARD.md``),
run with ONNX Runtime and the ``tokenizers`` library only. The same :func:`encode` builds the
model's inputs in training and at inference, so the two can never drift apart.
"""

from __future__ import annotations

import logging
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Hashable, Sequence

import numpy as np

from ..config import TextOptions
from ..errors import ModelError
from ..labels import EMOTIONS, SENTIMENTS
from ..models import load_model
from ..onnx_runtime import onnx_session
from ..types import Scores, Utterance
from .base import MediaContext, Needs

log = logging.getLogger(__name__)

# The dialogue head reads conversations of at least this many utterances.
MIN_DIALOGUE = 2
SPEAKER_FEATURES = ("known", "same_as_previous", "same_as_two_before", "spoke_before")
"""The per-utterance speaker features a dialogue head trained with ``--speakers`` reads."""


def speaker_features(speakers: Sequence[Hashable | None]) -> np.ndarray:
    """``(n, 4)`` float32 :data:`SPEAKER_FEATURES` of one conversation's speakers, in spoken order.

    Only whether two utterances share a speaker matters, not the names. An unknown speaker
    (None or "") gets all zeros and matches no one, so a conversation without speakers is all zeros.
    """
    out = np.zeros((len(speakers), len(SPEAKER_FEATURES)), dtype=np.float32)
    seen: set = set()
    for i, who in enumerate(speakers):
        if who is None or who == "":
            continue
        out[i] = (1.0, i >= 1 and speakers[i - 1] == who, i >= 2 and speakers[i - 2] == who, who in seen)
        seen.add(who)
    return out
_PUNCT = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "…": "...", "—": " - ", "–": " - "})


def normalize_text(text: str) -> str:
    """Fold typographic quotes and dashes to ASCII and squeeze whitespace.

    MELD's transcripts use curly quotes while ASR output uses straight ones; folding both the
    same way keeps the tokenizer's view of training and inference text identical.
    """
    text = unicodedata.normalize("NFKC", text).translate(_PUNCT)
    return " ".join(text.split())


@dataclass(frozen=True)
class EncodedBatch:
    """Model inputs for a batch, each ``(batch, seq)`` int64."""

    input_ids: np.ndarray
    attention_mask: np.ndarray
    token_type_ids: np.ndarray

    def as_feeds(self) -> dict[str, np.ndarray]:
        """The dict ONNX Runtime expects."""
        return {"input_ids": self.input_ids, "attention_mask": self.attention_mask,
                "token_type_ids": self.token_type_ids}


def load_tokenizer(path: Path):
    """Load a ``tokenizers`` tokenizer with its built-in truncation and padding switched off."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(path))
    tok.no_truncation()
    tok.no_padding()
    return tok


def special_ids(tokenizer) -> tuple[int, int, int, bool]:
    """``(start, separator, padding, pair_gap)`` token ids of a tokenizer's vocabulary.

    BERT-style vocabularies (MiniLM) write ``[CLS] a [SEP] b [SEP]`` and pad with ``[PAD]``;
    RoBERTa/MPNet-style ones write ``<s> a </s></s> b </s>`` and pad with ``<pad>``
    (``pair_gap``: a second separator opens the second segment).

    Raises:
        ModelError: the vocabulary has neither set of special tokens.
    """
    for start, sep, pad, gap in (("[CLS]", "[SEP]", "[PAD]", False), ("<s>", "</s>", "<pad>", True)):
        ids = [tokenizer.token_to_id(t) for t in (start, sep, pad)]
        if None not in ids:
            return ids[0], ids[1], ids[2], gap
    raise ModelError("the text model's tokenizer has neither [CLS]/[SEP]/[PAD] nor <s>/</s>/<pad>")


def encode(tokenizer, texts: Sequence[str], contexts: Sequence[str] | None, max_length: int,
           max_text_tokens: int = 96) -> EncodedBatch:
    """Encode utterances as ``[CLS] text [SEP] context [SEP]`` (or ``[CLS] text [SEP]``).

    The utterance keeps up to ``max_text_tokens`` tokens; the context fills what is left and,
    when too long, loses its *oldest* tokens, because the words said just before matter most.
    Tokenizers with ``<s>``/``</s>`` get their own form (see :func:`special_ids`).

    Args:
        tokenizer: a ``tokenizers.Tokenizer`` (from :func:`load_tokenizer`).
        texts: the utterances to score.
        contexts: for each utterance the preceding utterances joined in spoken order, or None.
        max_length: total sequence length including special tokens.
        max_text_tokens: budget for the utterance itself.
    """
    cls_id, sep_id, pad_id, gap = special_ids(tokenizer)
    text_ids = [e.ids for e in tokenizer.encode_batch([normalize_text(t) for t in texts],
                                                      add_special_tokens=False)]
    if contexts is not None:
        ctx_ids = [e.ids for e in tokenizer.encode_batch([normalize_text(c) for c in contexts],
                                                         add_special_tokens=False)]
    else:
        ctx_ids = [[] for _ in texts]
    opening = [sep_id] if gap else []
    rows: list[tuple[list[int], list[int]]] = []
    for t, c in zip(text_ids, ctx_ids):
        t = t[: min(max_text_tokens, max_length - 2)]
        first = [cls_id, *t, sep_id]
        room = max_length - len(first) - 1 - len(opening)
        second = [*opening, *c[-room:], sep_id] if c and room > 0 else []
        rows.append((first, second))
    width = max(len(a) + len(b) for a, b in rows)
    ids = np.full((len(rows), width), pad_id, dtype=np.int64)
    mask = np.zeros_like(ids)
    types = np.zeros_like(ids)
    for i, (a, b) in enumerate(rows):
        n = len(a) + len(b)
        ids[i, :n] = a + b
        mask[i, :n] = 1
        types[i, len(a):n] = 1
    return EncodedBatch(ids, mask, types)


def contexts_for(texts: Sequence[str], turns: int) -> list[str] | None:
    """For utterances in spoken order, the ``turns`` utterances before each, joined."""
    if turns <= 0:
        return None
    return [" ".join(texts[max(0, i - turns):i]) for i in range(len(texts))]


class TextScorer:
    """Scores utterance texts with the shipped (or a user-given) ONNX text model.

    Loads the model once; :meth:`score` has no side effects, so one scorer can be shared by
    threads. Implements :class:`~emotrace.modalities.base.ModalityScorer`.
    """

    name = "text"
    needs = Needs()

    def __init__(self, options: TextOptions = TextOptions()):
        self.options = options
        model = load_model("text", options.model, "text", options.threads,
                           required=("config.json", "tokenizer.json"), with_sentiments=True)
        model_dir, self.info, self.session = model.folder, model.info, model.session
        self.tokenizer = load_tokenizer(model_dir / "tokenizer.json")
        # MPNet-style models have no segment ids, and their exported graph no such input.
        self.input_names = {i.name for i in self.session.get_inputs()}
        special_ids(self.tokenizer)  # a tokenizer without the special tokens fails here, not mid-file
        self.context_turns = (self.info.get("context_turns", 0) if options.context_turns is None
                              else options.context_turns)
        self.max_length = int(self.info.get("max_length", 128))
        self.model_name = model.name
        # Per-class log-probability offsets chosen on MELD dev (training/text/experiments/calibrate.py);
        # absent in the config means none.
        self.emotion_bias = _bias(self.info, "emotion_log_bias", len(EMOTIONS))
        self.sentiment_bias = _bias(self.info, "sentiment_log_bias", len(SENTIMENTS))
        # The dialogue head (training/text/dialogue.py) reads a whole conversation's scores.
        self.dialogue = _dialogue_session(model_dir, self.info, options.threads) if options.dialogue else None
        if not options.dialogue and "dialogue_head" in self.info:
            self.model_name += "-nodialogue"
        # A head trained with --speakers has a third input (training/text/dialogue.py --speakers).
        self.dialogue_reads_speakers = self.dialogue is not None and "speaker_features" in {
            i.name for i in self.dialogue.get_inputs()}
        # The language(s) the model was trained on (MELD: English); the pipeline does not ask
        # it to score words in any other language rather than read them as if they were English.
        self.languages: tuple[str, ...] = tuple(self.info.get("languages", ("en",)))

    def probabilities(self, texts: Sequence[str], contexts: Sequence[str] | None = None,
                      hook=None) -> tuple[np.ndarray, np.ndarray]:
        """The model's own emotion ``(n, 7)`` and sentiment ``(n, 3)`` probabilities, before
        the calibration offsets; ``contexts[i]`` is what was said just before ``texts[i]``."""
        bs = self.options.batch_size
        emo = np.zeros((len(texts), len(EMOTIONS)))
        sent = np.zeros((len(texts), len(SENTIMENTS)))
        # Sorting by length keeps padding (and so wasted compute) small in each batch.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]) + (len(contexts[i]) if contexts else 0))
        for start in range(0, len(order), bs):
            idx = order[start:start + bs]
            batch = encode(self.tokenizer, [texts[i] for i in idx],
                           [contexts[i] for i in idx] if contexts is not None else None,
                           self.max_length)
            feeds = {k: v for k, v in batch.as_feeds().items() if k in self.input_names}
            e, s = self.session.run(["emotion_probs", "sentiment_probs"], feeds)
            emo[idx], sent[idx] = e, s
            if hook:
                hook("text", min(start + bs, len(order)), len(order))
        return emo, sent

    def score(self, texts: Sequence[str], contexts: Sequence[str] | None = None,
              hook=None) -> list[Scores]:
        """Score each text on its own; ``contexts[i]`` is what was said just before ``texts[i]``.

        A dialogue head, when the model has one, is not used: it reads a conversation, and
        :meth:`score_dialogue` scores consecutive turns together.

        Args:
            texts: utterance texts.
            contexts: one context string per text, or None to score each text alone.
            hook: optional ``hook(stage, done, total)`` progress callback.
        """
        return self._scores(*self.probabilities(texts, contexts, hook=hook))

    def score_dialogue(self, texts: Sequence[str], hook=None,
                       speakers: Sequence[str | None] | None = None) -> list[Scores]:
        """Score utterances of one conversation in spoken order: each with its own context, then
        (when the model has a dialogue head and there are two or more) with the scores of the
        whole conversation; ``speakers[i]`` says who said ``texts[i]`` (None: unknown), which
        only a head trained with speakers reads."""
        return self._scores(*self.dialogue_probabilities(texts, hook=hook, speakers=speakers))

    def dialogue_probabilities(self, texts: Sequence[str], hook=None,
                               speakers: Sequence[str | None] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`score_dialogue`'s probabilities before the calibration offsets."""
        emo, sent = self.probabilities(texts, contexts_for(texts, self.context_turns), hook=hook)
        # One utterance has no conversation to read: read alone, the head did not help on MELD
        # dev (see the model card), so a lone utterance keeps the encoder's scores.
        if self.dialogue is not None and len(texts) >= MIN_DIALOGUE:
            emo, sent = self.read_dialogue(emo, sent, speakers)
        return emo, sent

    def read_dialogue(self, emo: np.ndarray, sent: np.ndarray,
                      speakers: Sequence[str | None] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The dialogue head over one conversation's ``(n, 7)`` / ``(n, 3)`` probabilities (and,
        for a head that reads them, its speakers' :func:`speaker_features`; none given: unknown)."""
        feeds = {"emotion_probs": emo.astype(np.float32), "sentiment_probs": sent.astype(np.float32)}
        if self.dialogue_reads_speakers:
            feeds["speaker_features"] = speaker_features(list(speakers) if speakers is not None
                                                         else [None] * len(emo))
        e, s = self.dialogue.run(None, feeds)
        return e.astype(np.float64), s.astype(np.float64)

    def _scores(self, emo: np.ndarray, sent: np.ndarray) -> list[Scores]:
        emo, sent = apply_bias(emo, self.emotion_bias), apply_bias(sent, self.sentiment_bias)
        return [Scores.from_arrays(e, s) for e, s in zip(emo, sent)]

    def score_utterances(self, media: MediaContext, utterances: Sequence[Utterance],
                         hook=None) -> list[Scores | None]:
        """The modality interface: the utterances of one file, in order, as one dialogue."""
        return list(self.score_dialogue([u.text for u in utterances], hook=hook,
                                        speakers=[u.speaker for u in utterances]))


def apply_bias(probs: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """Shift each class's log-probability by ``bias`` and renormalise rows, in float64."""
    logp = np.log(np.clip(np.asarray(probs, dtype=np.float64), 1e-12, None)) + bias
    logp -= logp.max(axis=-1, keepdims=True)
    p = np.exp(logp)
    return p / p.sum(axis=-1, keepdims=True)


def _dialogue_session(model_dir: Path, info: dict, threads: int):
    """The ONNX session of the model's dialogue head, or None when its config names none."""
    head = info.get("dialogue_head")
    if head is None:
        return None
    if not isinstance(head, dict) or not isinstance(head.get("onnx_file"), str):
        raise ModelError(f"text model config.json: dialogue_head must name an onnx_file, got {head!r}")
    return onnx_session(model_dir / head["onnx_file"], threads)


def _bias(info: dict, key: str, n: int) -> np.ndarray:
    value = info.get(key)
    if value is None:
        return np.zeros(n)
    bias = np.asarray(value, dtype=np.float64)
    if bias.shape != (n,) or not np.all(np.isfinite(bias)):
        raise ModelError(f"text model config.json: {key} must be {n} finite numbers, got {value!r}")
    return bias
