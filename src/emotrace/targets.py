"""Many inputs, one output each: expanding folders into media files, choosing where each
file's result goes, skipping those already written, and writing a result atomically.

Shared by ``emotrace analyze`` on one machine and on a Ray cluster
(:mod:`emotrace.distributed`), so both name and write their outputs the same way.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from .errors import ConfigError
from .types import AnalysisResult

MEDIA_SUFFIXES = frozenset({
    ".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv", ".ts",
    ".wav", ".mp3", ".flac", ".ogg", ".opus", ".m4a", ".aac", ".wma", ".aiff", ".aif"})
"""What a folder given as input is searched for (files named directly are taken as they are)."""


@dataclass(frozen=True)
class Input:
    """One file to analyse.

    Attributes:
        path: the file, as given (or found in a folder given).
        name: what its output is named after: the file's stem, or for a file found in a folder
            its path under that folder without the suffix (``sub/clip``), so that a tree of
            inputs gives the same tree of outputs.
    """

    path: str
    name: str


def expand_inputs(items: Iterable[str]) -> list[Input]:
    """Files stay as given; a folder becomes its media files (by suffix, recursively, sorted).

    Raises:
        ConfigError: a folder holds no media file.
    """
    found: list[Input] = []
    for item in items:
        folder = Path(item)
        if not folder.is_dir():
            found.append(Input(str(item), Path(item).stem))
            continue
        media = sorted(p for p in folder.rglob("*") if p.suffix.lower() in MEDIA_SUFFIXES and p.is_file())
        if not media:
            raise ConfigError(f"{item}: a folder with no media file (looked for "
                              f"{', '.join(sorted(MEDIA_SUFFIXES))})")
        found += [Input(str(p), p.relative_to(folder).with_suffix("").as_posix()) for p in media]
    return found


def output_paths(inputs: Sequence[Input], output: str | None, extension: str,
                 folder: bool = False) -> list[Path | None]:
    """Where each input's result goes: None for stdout, else a path.

    Args:
        inputs: the files.
        output: a file or folder, or None for stdout.
        extension: the format's extension (``.json`` …).
        folder: whether a folder was among the inputs (``output`` is then a folder even for
            one file found in it).

    One input and an ``output`` that is not an existing folder (nor ends with a separator)
    is that file; otherwise ``output`` is a folder, created, holding ``NAME.EXT`` per input
    (``NAME-2.EXT`` … when two inputs share a name).
    """
    if output is None:
        return [None] * len(inputs)
    out = Path(output)
    if len(inputs) == 1 and not folder and not out.is_dir() and not output.endswith(("/", os.sep)):
        return [out]
    out.mkdir(parents=True, exist_ok=True)
    paths: list[Path | None] = []
    taken: set[Path] = set()  # a set: archives have tens of thousands of files
    for item in inputs:
        candidate, n = out / (item.name + extension), 1
        while candidate in taken:  # the same name from two folders
            n += 1
            candidate = out / f"{item.name}-{n}{extension}"
        paths.append(candidate)
        taken.add(candidate)
    return paths


def write_atomically(target: Path, text: str) -> None:
    """Write ``text`` to ``target`` through a temporary file in the same folder, so an
    interrupted run never leaves a partial output that a re-run would take as done."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_result(result: AnalysisResult, target: Path, fmt: str, include_words: bool = False) -> None:
    """Render ``result`` in ``fmt`` (see :func:`emotrace.export.render`) into ``target``."""
    from .export import render

    write_atomically(target, render(result, fmt, include_words))
