"""Evaluation of emotrace's models on labelled public data (MELD's CSV format, …).

Each ``evaluate_*`` function returns a JSON-ready dict; the CLI only prints it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .config import TextOptions
from .datasets import read_meld_csv
from .labels import EMOTIONS, SENTIMENTS
from .metrics import classification_report
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


def score_ravdess(clips, scorer, hook=None):
    """Voice emotion probabilities ``(n, 7)`` for RAVDESS clips, each cut to its speech and scored alone.

    Args:
        clips: :class:`~emotrace.datasets.RavdessClip` list.
        scorer: a loaded :class:`~emotrace.modalities.audio.AudioScorer`.
        hook: optional progress callback.
    """
    import numpy as np

    from .media import decode_audio
    from .modalities.audio import speech_span
    from .modalities.base import SAMPLE_RATE, MediaContext
    from .types import Utterance

    probs = np.zeros((len(clips), len(EMOTIONS)))
    for i, clip in enumerate(clips):
        audio = decode_audio(clip.path)
        start, end = speech_span(audio)
        media = MediaContext(path=str(clip.path), duration=len(audio) / SAMPLE_RATE, audio=audio)
        scores = scorer.score_utterances(media, [Utterance(start, end, clip.statement)])[0]
        probs[i] = scores.emotions
        if hook:
            hook("evaluate audio", i + 1, len(clips))
    return probs


def evaluate_audio(ravdess_dir: str | Path, options=None, actors: set[int] | None = None, hook=None,
                   scorer=None) -> dict[str, Any]:
    """Score RAVDESS-named speech files with the voice model and compare to the emotion in their names.

    Each file is cut to its speech (leading and trailing silence removed) and scored as one
    utterance. Calm counts as neutral.

    Args:
        ravdess_dir: a folder of ``Actor_NN`` folders or of files named like RAVDESS's.
        options: :class:`~emotrace.config.AudioOptions` (defaults when None).
        actors: only these actors (None: every file found).
        hook: optional progress callback.
        scorer: an already loaded AudioScorer (``options`` is then ignored).

    Returns:
        ``{"n", "model", "accuracy", "weighted_f1", "macro_f1", "per_class_f1", "support"}``.
    """
    from .config import AudioOptions
    from .datasets import read_ravdess_dir
    from .modalities.audio import AudioScorer

    clips = read_ravdess_dir(ravdess_dir, actors)
    scorer = scorer or AudioScorer(options or AudioOptions())
    pred = score_ravdess(clips, scorer, hook).argmax(1)
    truth = [EMOTIONS.index(c.emotion) for c in clips]
    return {"n": len(clips), "model": scorer.model_name,
            **_rounded(classification_report(truth, pred, EMOTIONS))}


def evaluate_face(fer_npz: str | Path, options=None, hook=None, scorer=None) -> dict[str, Any]:
    """Score the face crops of a FER2013-style ``.npz`` with the expression model.

    The crops are already faces, so the detector is not used: this measures the expression
    model alone.

    Returns:
        ``{"n", "model", "accuracy", "weighted_f1", "macro_f1", "per_class_f1", "support"}``.
    """
    import numpy as np

    from .config import FaceOptions
    from .datasets import read_fer_npz
    from .errors import DataError
    from .modalities.face import FaceScorer

    images, labels = read_fer_npz(fer_npz)
    scorer = scorer or FaceScorer(options or FaceOptions())
    if images.shape[1:] != (scorer.size, scorer.size):
        raise DataError(f"{fer_npz}: images are {images.shape[1:]}, the face model needs "
                        f"{(scorer.size, scorer.size)}")
    preds = []
    for i in range(0, len(images), 512):
        preds.append(scorer.predict_crops(images[i:i + 512]).argmax(1))
        if hook:
            hook("evaluate face", min(i + 512, len(images)), len(images))
    pred = np.concatenate(preds) if preds else np.zeros(0, np.int64)
    return {"n": int(len(images)), "model": scorer.model_name,
            **_rounded(classification_report(labels, pred, EMOTIONS))}
