"""Rebuild the shipped face model: ``python -m training.face [--data-dir DIR] [--out runs/face/vgg]``.

Runs ``training.face.train`` with its defaults, the shipped recipe (:mod:`training.face.recipe`):
four phases of 26 epochs in all on FER2013 train, each from the previous phase's best epoch on
validation (7–10 minutes an epoch on one busy core). Then
``cp OUT/model.onnx OUT/config.json src/emotrace/models/face/`` ships it.
"""

from __future__ import annotations

import argparse

from . import train


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m training.face", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", default="../shared/data/fer2013", help="holds train.npz and validation.npz")
    p.add_argument("--out", default="runs/face/vgg", help="run folder (best.pt, model.onnx, config.json)")
    args = p.parse_args(argv)
    train.main(["--data-dir", args.data_dir, "--out", args.out])


if __name__ == "__main__":
    main()
