"""Rebuild the shipped face model: ``python -m training.face [--data-dir DIR] [--out runs/face/vgg]``.

Runs ``training.face.train`` with its defaults, the shipped recipe (:mod:`training.face.recipe`):
four phases of 26 epochs in all on FER2013 train, each from the previous phase's best epoch on
validation (7–10 minutes an epoch on one busy core). Then
``cp OUT/model.onnx OUT/config.json src/emotrace/models/face/`` ships it.
"""

from __future__ import annotations

from ..entry import recipe_args
from . import train


def main(argv: list[str] | None = None) -> None:
    args = recipe_args("python -m training.face", __doc__, argv, data_dir="../shared/data/fer2013",
                       data_help="holds train.npz and validation.npz",
                       out="runs/face/vgg", out_help="run folder (best.pt, model.onnx, config.json)")
    train.main(["--data-dir", args.data_dir, "--out", str(args.out)])


if __name__ == "__main__":
    main()
