"""Readers for the public evaluation data formats (MELD's CSV so far).

These read a user's own copy of the data; nothing is downloaded.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from .errors import DataError
from .labels import EMOTIONS, SENTIMENTS

MELD_COLUMNS = ("Utterance", "Emotion", "Sentiment", "Dialogue_ID", "Utterance_ID")


@dataclass(frozen=True)
class LabelledUtterance:
    """One utterance of a labelled dialogue corpus."""

    dialogue_id: str
    utterance_id: int
    text: str
    emotion: str
    sentiment: str
    speaker: str = ""
    """Who says it, as the CSV's ``Speaker`` column names them ("" when the file has no such column)."""


def _csv_rows(path: Path, required: tuple[str, ...], missing_message: str) -> list[dict[str, str]]:
    """The rows of a UTF-8 CSV with a header holding ``required`` (``missing_message`` gets the
    missing names).

    Raises:
        DataError: unreadable, not UTF-8 CSV, or a required column missing.
    """
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            missing = [c for c in required if c not in (reader.fieldnames or [])]
            if missing:
                raise DataError(f"{path}: " + missing_message.format(", ".join(missing)))
            return list(reader)
    except OSError as e:
        raise DataError(f"cannot read {path}: {e}") from e
    except (UnicodeDecodeError, csv.Error) as e:
        raise DataError(f"{path}: not a UTF-8 CSV file ({e})") from e


def read_meld_csv(path: str | Path) -> list[list[LabelledUtterance]]:
    """Read a CSV in MELD's format into dialogues, each in ``Utterance_ID`` order.

    Only the columns ``Utterance, Emotion, Sentiment, Dialogue_ID, Utterance_ID`` are needed;
    ``Speaker``, when present, is kept (``LabelledUtterance.speaker``); others are ignored.
    Dialogues keep their first-appearance order.

    Raises:
        DataError: the file is missing, a column is missing, or a label is unknown.
    """
    path = Path(path)
    rows = _csv_rows(path, MELD_COLUMNS, "not in MELD's format, missing column(s) {}")
    dialogues: dict[str, list[LabelledUtterance]] = {}
    for line, row in enumerate(rows, start=2):
        emotion, sentiment = row["Emotion"].strip().lower(), row["Sentiment"].strip().lower()
        if emotion not in EMOTIONS or sentiment not in SENTIMENTS:
            raise DataError(f"{path}:{line}: unknown label emotion={emotion!r} sentiment={sentiment!r}; "
                            f"expected emotions {', '.join(EMOTIONS)} and sentiments {', '.join(SENTIMENTS)}")
        try:
            uid = int(row["Utterance_ID"])
        except ValueError as e:
            raise DataError(f"{path}:{line}: Utterance_ID {row['Utterance_ID']!r} is not an integer") from e
        did = row["Dialogue_ID"].strip()
        dialogues.setdefault(did, []).append(
            LabelledUtterance(did, uid, row["Utterance"], emotion, sentiment, (row.get("Speaker") or "").strip()))
    if not dialogues:
        raise DataError(f"{path}: no rows")
    return [sorted(d, key=lambda u: u.utterance_id) for d in dialogues.values()]


RAVDESS_EMOTIONS = {"01": "neutral", "02": "neutral", "03": "joy", "04": "sadness", "05": "anger",
                    "06": "fear", "07": "disgust", "08": "surprise"}
"""RAVDESS emotion codes → emotrace's names (calm has no counterpart and counts as neutral)."""

RAVDESS_STATEMENTS = {"01": "Kids are talking by the door.", "02": "Dogs are sitting by the door."}
"""The two sentences every RAVDESS actor reads (field ``SS`` of the file name)."""


@dataclass(frozen=True)
class RavdessClip:
    """One RAVDESS speech file: ``03-01-EE-II-SS-RR-AA`` (emotion, intensity, statement, repetition, actor)."""

    path: Path
    actor: int
    emotion: str
    statement: str


def read_ravdess_dir(path: str | Path, actors: set[int] | None = None) -> list[RavdessClip]:
    """Find RAVDESS speech files (any audio extension) under ``path``, sorted by name.

    Args:
        path: a folder holding ``Actor_NN`` folders, one such folder, or the files themselves.
        actors: keep only these actors (None: all).

    Raises:
        DataError: the folder is missing or holds no file named in RAVDESS's scheme.
    """
    root = Path(path)
    if not root.is_dir():
        raise DataError(f"RAVDESS folder not found: {root}")
    clips = []
    for f in sorted(root.rglob("*")):
        parts = f.stem.split("-")
        if not f.is_file() or len(parts) != 7 or not all(p.isdigit() for p in parts):
            continue
        if parts[2] not in RAVDESS_EMOTIONS or parts[4] not in RAVDESS_STATEMENTS:
            raise DataError(f"{f}: emotion code {parts[2]} or statement code {parts[4]} is not RAVDESS's")
        actor = int(parts[6])
        if actors is None or actor in actors:
            clips.append(RavdessClip(f, actor, RAVDESS_EMOTIONS[parts[2]], RAVDESS_STATEMENTS[parts[4]]))
    if not clips:
        raise DataError(f"{root}: no RAVDESS files (named like 03-01-05-01-02-01-12.flac)")
    return clips


def read_fer_npz(path: str | Path):
    """Read a FER2013-style ``.npz``: ``images`` (N, 48, 48) uint8 and ``labels`` indexing ``label_names``.

    Returns:
        ``(images, labels)`` with labels re-indexed into :data:`~emotrace.labels.EMOTIONS`.

    Raises:
        DataError: the file is missing, lacks an array, or names an unknown emotion.
    """
    import numpy as np

    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as d:
            images, labels, names = d["images"], d["labels"], [str(n) for n in d["label_names"]]
    except (OSError, ValueError) as e:
        raise DataError(f"cannot read {path} as a FER2013-style .npz: {e}") from e
    except KeyError as e:
        raise DataError(f"{path}: missing array {e}; expected images, labels, label_names") from e
    unknown = [n for n in names if n not in EMOTIONS]
    if unknown:
        raise DataError(f"{path}: unknown label name(s) {unknown}; expected {', '.join(EMOTIONS)}")
    if images.ndim != 3 or len(images) != len(labels):
        raise DataError(f"{path}: images must be (N, H, W) with one label each, got {images.shape} "
                        f"and {labels.shape}")
    remap = np.array([EMOTIONS.index(n) for n in names], dtype=np.int64)
    return images, remap[labels.astype(np.int64)]


@dataclass(frozen=True)
class LabelledClip:
    """One labelled media file of a ``labels.csv`` (``path,label[,speaker]``)."""

    path: Path
    label: str
    speaker: str = ""


def read_labels_csv(path: str | Path) -> list[LabelledClip]:
    """Read a ``labels.csv`` with columns ``path,label`` and optionally ``speaker``.

    Paths are relative to the CSV's folder (absolute paths are kept); labels are emotrace's
    emotion names (:data:`~emotrace.labels.EMOTIONS`), case-insensitive.

    Raises:
        DataError: the file or a column is missing, a label is unknown, a listed file is absent,
            or there are no rows.
    """
    path = Path(path)
    rows = _csv_rows(path, ("path", "label"), "missing column(s) {}; expected path,label[,speaker]")
    clips = []
    for line, row in enumerate(rows, start=2):
        label = (row.get("label") or "").strip().lower()
        if label not in EMOTIONS:
            raise DataError(f"{path}:{line}: unknown label {label!r}; expected one of: {', '.join(EMOTIONS)}")
        file = path.parent / (row.get("path") or "").strip()
        if not file.is_file():
            raise DataError(f"{path}:{line}: file not found: {file}")
        clips.append(LabelledClip(file, label, (row.get("speaker") or "").strip()))
    if not clips:
        raise DataError(f"{path}: no rows")
    return clips
