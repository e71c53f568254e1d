"""Evaluation of emotrace's models on labelled data: MELD's CSV (text), RAVDESS or any
``labels.csv`` of speech (voice), FER2013's ``.npz`` or a ``labels.csv`` of images (face).

Each ``evaluate_*`` function returns a JSON-ready dict; the CLI only prints it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .config import TextOptions
from .datasets import read_fer_npz, read_labels_csv, read_meld_csv, read_ravdess_dir
from .errors import ConfigError, DataError
from .labels import EMOTIONS, SENTIMENTS
from .metrics import classification_report, emotion_report
from .modalities.text import TextScorer


def evaluate_text(meld_csv: str | Path, options: TextOptions = TextOptions(), hook=None,
                  scorer: TextScorer | None = None) -> dict[str, Any]:
    """Score every utterance of a MELD-format CSV with the text model and compare to its labels.

    Each dialogue is scored in ``Utterance_ID`` order, so an utterance's context is the
    utterances before it in the same dialogue (``options.context_turns`` of them, or the
    model's default).

    Returns:
        ``{"n", "context_turns", "model", "emotion": {...}, "sentiment": {...}}`` where each
        task has ``weighted_f1``, ``macro_f1``, ``accuracy``, ``per_class_f1`` and ``support``.
    """
    dialogues = read_meld_csv(meld_csv)
    scorer = scorer or TextScorer(options)
    total = sum(len(d) for d in dialogues)
    true_e, true_s, pred_e, pred_s = [], [], [], []
    done = 0
    for dialogue in dialogues:
        scores = scorer.score_dialogue([u.text for u in dialogue])
        for u, s in zip(dialogue, scores):
            true_e.append(EMOTIONS.index(u.emotion))
            true_s.append(SENTIMENTS.index(u.sentiment))
            pred_e.append(EMOTIONS.index(s.top_emotion))
            pred_s.append(SENTIMENTS.index(s.top_sentiment))
        done += len(dialogue)
        if hook:
            hook("evaluate text", done, total)
    return {"n": total, "model": scorer.model_name, "context_turns": scorer.context_turns,
            "emotion": _rounded(classification_report(true_e, pred_e, EMOTIONS)),
            "sentiment": _rounded(classification_report(true_s, pred_s, SENTIMENTS))}


def _rounded(report: dict[str, Any]) -> dict[str, Any]:
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in report.items()}


def labels_csv_path(path: str | Path) -> Path:
    """The ``labels.csv`` named by ``path``: the file itself, or ``path/labels.csv`` for a folder."""
    path = Path(path)
    return path / "labels.csv" if path.is_dir() else path


def _one_source(**sources) -> tuple[str, Path]:
    """The one source given among ``sources`` (name → path or None); ConfigError otherwise."""
    given = [(name, Path(p)) for name, p in sources.items() if p is not None]
    if len(given) != 1:
        names = " or ".join(sources)
        raise ConfigError(f"give exactly one of {names} (got {len(given) or 'none'})")
    return given[0]


def score_clips(clips, scorer, hook=None):
    """Voice emotion probabilities ``(n, 7)`` for single-utterance clips, each cut to its speech and scored alone.

    The leading and trailing silence is cut with
    :func:`~emotrace.modalities.audio.speech_span`, as the recogniser's word times do on real
    files; the utterance's text is the clip's ``statement`` where it has one (RAVDESS).

    Args:
        clips: objects with a ``path`` (:class:`~emotrace.datasets.RavdessClip`,
            :class:`~emotrace.datasets.LabelledClip`).
        scorer: a loaded :class:`~emotrace.modalities.audio.AudioScorer`.
        hook: optional progress callback.
    """
    import numpy as np

    from .media import decode_audio
    from .modalities.audio import speech_span
    from .modalities.base import MediaContext
    from .types import Utterance

    probs = np.zeros((len(clips), len(EMOTIONS)))
    for i, clip in enumerate(clips):
        audio = decode_audio(clip.path)
        start, end = speech_span(audio)
        media = MediaContext.of_file(clip.path, audio)
        utterance = Utterance(start, end, getattr(clip, "statement", ""))
        scores = scorer.score_utterances(media, [utterance])[0]
        probs[i] = scores.emotions
        if hook:
            hook("evaluate audio", i + 1, len(clips))
    return probs


score_ravdess = score_clips
"""The former name of :func:`score_clips` (it first served RAVDESS only)."""


def evaluate_audio(ravdess_dir: str | Path | None = None, options=None, actors: set[int] | None = None,
                   hook=None, scorer=None, *, labels_csv: str | Path | None = None,
                   speakers: set[str] | None = None) -> dict[str, Any]:
    """Score labelled speech files with the voice model and compare to their labels.

    The files are either named like RAVDESS's (the emotion is in the name; calm counts as
    neutral) or listed in a ``labels.csv`` (``path,label[,speaker]``, paths relative to the
    CSV). Each file is cut to its speech (leading and trailing silence removed) and scored as
    one utterance.

    Args:
        ravdess_dir: a folder of ``Actor_NN`` folders or of files named like RAVDESS's.
        options: :class:`~emotrace.config.AudioOptions` (defaults when None).
        actors: RAVDESS only: only these actors (None: every file found).
        hook: optional progress callback.
        scorer: an already loaded AudioScorer (``options`` is then ignored).
        labels_csv: a ``labels.csv``, or a folder holding one (instead of ``ravdess_dir``).
        speakers: ``labels_csv`` only: only the rows of these speakers (None: every row).

    Returns:
        :func:`~emotrace.metrics.emotion_report`'s figures plus ``"model"`` and ``"source"``.

    Raises:
        ConfigError: neither or both of ``ravdess_dir`` and ``labels_csv`` given.
        DataError: no files found, or a bad ``labels.csv``.
    """
    from .config import AudioOptions
    from .modalities.audio import AudioScorer

    kind, source = _one_source(ravdess_dir=ravdess_dir, labels_csv=labels_csv)
    if kind == "labels_csv":
        source = labels_csv_path(source)
        clips = _speakers_only(read_labels_csv(source), speakers, source)
        truth = [EMOTIONS.index(c.label) for c in clips]
    else:
        clips = read_ravdess_dir(source, actors)
        truth = [EMOTIONS.index(c.emotion) for c in clips]
    scorer = scorer or AudioScorer(options or AudioOptions())
    probs = score_clips(clips, scorer, hook)
    return {"model": scorer.model_name, "source": str(source), **emotion_report(probs, truth)}


def _speakers_only(clips, speakers: set[str] | None, source: Path):
    if speakers is None:
        return clips
    kept = [c for c in clips if c.speaker in speakers]
    if not kept:
        found = sorted({c.speaker for c in clips})
        raise DataError(f"{source}: no rows for speaker(s) {', '.join(sorted(speakers))}; "
                        f"expected one of: {', '.join(found)}")
    return kept


def evaluate_face(fer_npz: str | Path | None = None, options=None, hook=None, scorer=None, *,
                  labels_csv: str | Path | None = None) -> dict[str, Any]:
    """Score labelled face images with the expression model and compare to their labels.

    From a FER2013-style ``.npz`` the images are already face crops of the model's size, so the
    detector is not used: this measures the expression model alone. From a ``labels.csv``
    (``path,label``, any image OpenCV reads, colour or grey) each image's largest face is found
    and its crop scored, as in a video; an image where no face is found is scored whole
    (resized to the model's input) and counted in ``no_face_detected``.

    Args:
        fer_npz: ``.npz`` with ``images (N, 48, 48)`` uint8, ``labels``, ``label_names``.
        options: :class:`~emotrace.config.FaceOptions` (defaults when None).
        hook: optional progress callback.
        scorer: an already loaded FaceScorer (``options`` is then ignored).
        labels_csv: a ``labels.csv`` of images, or a folder holding one (instead of ``fer_npz``).

    Returns:
        :func:`~emotrace.metrics.emotion_report`'s figures plus ``"model"``, ``"source"`` and,
        for a ``labels.csv``, ``"no_face_detected"``.

    Raises:
        ConfigError: neither or both of ``fer_npz`` and ``labels_csv`` given.
        DataError: a bad file, or images of the wrong size in the ``.npz``.
    """
    from .config import FaceOptions
    from .modalities.face import FaceScorer

    kind, source = _one_source(fer_npz=fer_npz, labels_csv=labels_csv)
    extra: dict[str, Any] = {}
    if kind == "labels_csv":
        source = labels_csv_path(source)
        clips = read_labels_csv(source)
        scorer = scorer or FaceScorer(options or FaceOptions())
        crops, missed = _face_crops(clips, scorer, hook)
        labels = [EMOTIONS.index(c.label) for c in clips]
        extra["no_face_detected"] = missed
    else:
        crops, labels = read_fer_npz(source)
        scorer = scorer or FaceScorer(options or FaceOptions())
        if crops.shape[1:] != (scorer.size, scorer.size):
            raise DataError(f"{source}: images are {crops.shape[1:]}, the face model needs "
                            f"{(scorer.size, scorer.size)}")
    probs = _predict(scorer, crops, hook)
    return {"model": scorer.model_name, "source": str(source), **extra, **emotion_report(probs, labels)}


def _face_crops(clips, scorer, hook=None):
    """``(crops (n, size, size) float32, images without a face)``: the largest face of each
    image, or the whole image where none is found."""
    import cv2
    import numpy as np

    from .modalities.face import choose_main, crop_face

    detector = scorer.follower().detector
    crops = np.zeros((len(clips), scorer.size, scorer.size), np.float32)
    missed = 0
    for i, clip in enumerate(clips):
        grey = cv2.imread(str(clip.path), cv2.IMREAD_GRAYSCALE)
        if grey is None or not grey.size:
            raise DataError(f"{clip.path}: not an image OpenCV can read")
        face = choose_main(scorer.detect(grey, detector), None)
        if face is None:
            missed += 1
            crops[i] = cv2.resize(grey, (scorer.size, scorer.size), interpolation=cv2.INTER_AREA) / 255.0
        else:
            crops[i] = crop_face(grey, face, scorer.size)
        if hook:
            hook("detect faces", i + 1, len(clips))
    return crops, missed


def _predict(scorer, crops, hook=None, batch: int = 512):
    """Emotion probabilities ``(n, 7)`` of face crops, in batches (progress after each)."""
    import numpy as np

    out = []
    for i in range(0, len(crops), batch):
        out.append(scorer.predict_crops(crops[i:i + batch]))
        if hook:
            hook("evaluate face", min(i + batch, len(crops)), len(crops))
    return np.concatenate(out) if out else np.zeros((0, len(EMOTIONS)))
