"""The labelled emotional-speech corpora the voice model is trained and validated on.

Three corpora, three languages, 40 speakers: RAVDESS (English; actors 1–20 here), EmoDB
(German) and EMOVO (Italian), the latter two in the ``labels.csv`` form of
``../shared/data/speech-emotion/`` (read with :func:`emotrace.datasets.read_labels_csv`).
Every clip is one utterance with a corpus, a speaker and one of emotrace's emotion names.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from emotrace.datasets import read_labels_csv, read_ravdess_dir

CORPORA = ("ravdess", "emodb", "emovo")


@dataclass(frozen=True)
class Clip:
    """One labelled clip: its file, corpus, speaker (``corpus:id``) and emotion."""

    path: Path
    corpus: str
    speaker: str
    label: str


def read_corpora(data_dir: Path, corpora=CORPORA) -> list[Clip]:
    """Every clip of the chosen corpora under ``data_dir`` (``../shared/data``), in a fixed order."""
    clips: list[Clip] = []
    for corpus in corpora:
        if corpus == "ravdess":
            clips += [Clip(c.path, "ravdess", f"ravdess:{c.actor:02d}", c.emotion)
                      for c in read_ravdess_dir(data_dir / "ravdess")]
        elif corpus in ("emodb", "emovo"):
            clips += [Clip(c.path, corpus, f"{corpus}:{c.speaker}", c.label)
                      for c in read_labels_csv(data_dir / "speech-emotion" / corpus / "labels.csv")]
        else:
            raise SystemExit(f"unknown corpus {corpus!r}; expected one of: {', '.join(CORPORA)}")
    return clips
