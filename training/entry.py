"""The command line shared by ``python -m training.text``, ``.audio`` and ``.face``."""

from __future__ import annotations

import argparse
from pathlib import Path


def recipe_args(prog: str, doc: str | None, argv: list[str] | None, *, data_dir: str, data_help: str,
                out: str, out_help: str) -> argparse.Namespace:
    """``--data-dir`` and ``--out`` (a :class:`~pathlib.Path`), the only options of a recipe's entry point."""
    p = argparse.ArgumentParser(prog=prog, description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", default=data_dir, help=data_help)
    p.add_argument("--out", type=Path, default=Path(out), help=out_help)
    return p.parse_args(argv)
