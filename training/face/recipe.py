"""The shipped face model's recipe, and the ``config.json`` it writes (no torch needed).

``train.py`` takes its defaults from here, so ``python -m training.face`` rebuilds what
``src/emotrace/models/face`` ships; ``tests/test_training_recipes.py`` checks that the shipped
``config.json`` is what :func:`model_config` writes from these defaults.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from emotrace.labels import EMOTIONS

NAME, VERSION = "emotrace-face-vgg", "3"

CHANNELS = ((32,), (64,), (128, 128), (256, 256))
"""Output channels of each conv layer, per stage of the network; a 2x2 max-pool ends every stage."""

SCHEDULE = (
    {"cycle": 30, "epochs": 6, "lr": 0.05, "warmup": 0.15},
    {"cycle": 6, "epochs": 6, "lr": 0.02, "warmup": 0.05},
    {"cycle": 4, "epochs": 4, "lr": 0.008, "warmup": 0.05},
    {"cycle": 10, "epochs": 10, "lr": 0.01, "warmup": 0.1},
)
"""Training phases, run in order, each from the previous phase's best epoch with a fresh one-cycle
learning rate: ``cycle`` epochs of schedule (peak ``lr``, ``warmup`` its share of rising), of which
the first ``epochs`` are run. In each phase the epoch with the best validation accuracy is kept."""

OPTIONS = {"batch_size": 128, "weight_decay": 5e-4, "label_smoothing": 0.05, "seed": 0}
"""SGD with Nesterov momentum 0.9; label smoothing; the seed of every phase's shuffling and augmentation."""


def model_config(schedule: Sequence[Mapping[str, Any]] = SCHEDULE, options: Mapping[str, Any] = OPTIONS,
                 version: str = VERSION) -> dict[str, Any]:
    """``config.json`` of an exported face model trained with ``schedule`` and ``options``."""
    return {"name": NAME, "version": version, "emotions": list(EMOTIONS), "input_size": 48,
            "input": "grey face crop, float32 in [0, 1], shape (N, 1, 48, 48)", "onnx_file": "model.onnx",
            "stages": [list(s) for s in CHANNELS],
            "training": {"data": "FER2013 train.npz; epochs chosen on validation.npz",
                         "schedule": [dict(phase) for phase in schedule], **dict(options)}}
