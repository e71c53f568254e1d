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


def read_meld_csv(path: str | Path) -> list[list[LabelledUtterance]]:
    """Read a CSV in MELD's format into dialogues, each in ``Utterance_ID`` order.

    Only the columns ``Utterance, Emotion, Sentiment, Dialogue_ID, Utterance_ID`` are needed;
    others are ignored. Dialogues keep their first-appearance order.

    Raises:
        DataError: the file is missing, a column is missing, or a label is unknown.
    """
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            missing = [c for c in MELD_COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise DataError(f"{path}: not in MELD's format, missing column(s) {', '.join(missing)}")
            rows = list(reader)
    except OSError as e:
        raise DataError(f"cannot read {path}: {e}") from e
    except (UnicodeDecodeError, csv.Error) as e:
        raise DataError(f"{path}: not a UTF-8 CSV file ({e})") from e
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
            LabelledUtterance(did, uid, row["Utterance"], emotion, sentiment))
    if not dialogues:
        raise DataError(f"{path}: no rows")
    return [sorted(d, key=lambda u: u.utterance_id) for d in dialogues.values()]
