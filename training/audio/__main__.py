"""Rebuild the shipped voice model: ``python -m training.audio [--data-dir DIR] [--out runs/voice]``.

Runs the recipe's two steps with their defaults (:mod:`training.audio.recipe`):

1. ``training.audio.features``: each RAVDESS, EmoDB and EMOVO clip featurised alone and in three
   packed conversations (``OUT/features.npz``, ~50 min on 2 cores; kept and reused if present);
2. ``training.audio.train``: leave-one-corpus-out, calibration, held-out actors, then the model on
   everything (``OUT/mlp``: ``model.onnx``, ``config.json``, ``metrics.json``; ~5 min).

Then ``cp OUT/mlp/model.onnx OUT/mlp/config.json src/emotrace/models/audio/`` ships it.
"""

from __future__ import annotations

from ..entry import recipe_args
from . import features, train


def main(argv: list[str] | None = None) -> None:
    args = recipe_args("python -m training.audio", __doc__, argv, data_dir="../shared/data",
                       data_help="holds the speech-emotion corpora",
                       out="runs/voice", out_help="folder for the features and the model")
    feats = args.out / "features.npz"
    if not feats.exists():
        features.main(["--data-dir", args.data_dir, "--out", str(feats)])
    train.main(["--features", str(feats), "--out", str(args.out / "mlp")])


if __name__ == "__main__":
    main()
