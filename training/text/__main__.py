"""Rebuild the shipped text model: ``python -m training.text [--data-dir DIR] [--out runs/text]``.

Runs the recipe's three steps with their defaults (:mod:`training.text.recipe`):

1. ``training.text.train``: fine-tune the encoder on MELD train (``OUT/encoder``; ~30 min on 2 cores);
2. ``training.text.export``: ONNX, int8 when that costs ≤ 0.5 dev points (``OUT/model``);
3. ``training.text.dialogue --export``: the dialogue head over the exported encoder's scores,
   written into ``OUT/model`` (~8 min).

Then ``cp OUT/model/* src/emotrace/models/text/`` ships it.
"""

from __future__ import annotations

from ..entry import recipe_args
from . import dialogue, export, train
from .recipe import VERSION


def main(argv: list[str] | None = None) -> None:
    args = recipe_args("python -m training.text", __doc__, argv, data_dir="../shared/data",
                       data_help="holds meld/train_sent_emo.csv and dev_sent_emo.csv",
                       out="runs/text", out_help="folder for the runs and the model")
    encoder, model = args.out / "encoder", args.out / "model"
    train.main(["--data-dir", args.data_dir, "--out", str(encoder)])
    export.main(["--data-dir", args.data_dir, "--run", str(encoder), "--out", str(model), "--version", VERSION])
    dialogue.main(["--data-dir", args.data_dir, "--model", str(model), "--out", str(args.out / "dialogue"),
                   "--export"])


if __name__ == "__main__":
    main()
