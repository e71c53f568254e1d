"""Face modality: emotion of an utterance from the speaker's facial expression.

Frames sampled through the file (a few per second, decoded once by the pipeline) are searched
for frontal faces with OpenCV's bundled Haar cascade (its model ships inside
``opencv-python-headless``, nothing is downloaded). The *main* face is followed from frame to
frame: once found, the next frame is searched only around it and at about its size (a few
milliseconds instead of tens for a whole-frame search), so the speaker who is there throughout
keeps the role and a passer-by does not take it over; a whole-frame search (picking the largest
face) runs only when the face is lost. Its grey 48x48 crop is scored by a small CNN trained on
FER2013 (ONNX, see ``models/face/MODEL_CARD.md``) and an utterance's distribution is the mean
over the frames inside it. Sentiment is derived from the emotions (:mod:`.sentiment`). No face
in an utterance's frames, or no video at all, gives None: the modality is then absent for that
utterance.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..config import FaceOptions
from ..errors import MediaError, ModelError
from ..labels import EMOTIONS
from ..models import modality_model_dir, read_model_config
from ..onnx_runtime import onnx_session
from ..types import Scores, Utterance
from .base import MediaContext
from .sentiment import scores_from_emotions

log = logging.getLogger(__name__)

CASCADE = "haarcascade_frontalface_alt2.xml"
"""The OpenCV cascade used (fewer false positives than ``..._default`` at a similar recall)."""

DETECT_SIDE = 240
"""Frames are shrunk so their shorter side is at most this many pixels before detection."""

TRACK_GAP = 2.0
"""A face seen at most this many seconds earlier is looked for around where it was."""

CROP_MARGIN = 0.08
"""Each side of the detected box grows by this fraction of its size (FER2013 crops show the whole face)."""

SPAN_SLACK = 0.25
"""Frames up to this many seconds outside an utterance still count for it (short utterances)."""


@dataclass(frozen=True)
class Face:
    """A detected face box in frame pixels."""

    x: int
    y: int
    w: int
    h: int

    @property
    def centre(self) -> tuple[float, float]:
        """Centre of the box."""
        return self.x + self.w / 2, self.y + self.h / 2

    def contains(self, point: tuple[float, float]) -> bool:
        """Whether a point lies inside the box."""
        return self.x <= point[0] <= self.x + self.w and self.y <= point[1] <= self.y + self.h


def to_grey(frame: np.ndarray) -> np.ndarray:
    """RGB (H, W, 3) or grey (H, W) uint8 → grey uint8."""
    import cv2

    if frame.ndim == 2:
        return frame
    return cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY)


def crop_face(grey: np.ndarray, face: Face, size: int = 48) -> np.ndarray:
    """A square crop around ``face`` (grown by :data:`CROP_MARGIN`), resized to ``size``, float32 in [0, 1]."""
    import cv2

    side = max(face.w, face.h) * (1 + 2 * CROP_MARGIN)
    cx, cy = face.centre
    x0, y0 = int(round(cx - side / 2)), int(round(cy - side / 2))
    x1, y1 = int(round(cx + side / 2)), int(round(cy + side / 2))
    pad = max(0, -x0, -y0, x1 - grey.shape[1], y1 - grey.shape[0])
    if pad:
        grey = cv2.copyMakeBorder(grey, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    crop = grey[y0 + pad:y1 + pad, x0 + pad:x1 + pad]
    return cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0


def overlap(a: Face, b: Face) -> float:
    """Intersection over union of two boxes."""
    w = max(0, min(a.x + a.w, b.x + b.w) - max(a.x, b.x))
    h = max(0, min(a.y + a.h, b.y + b.h) - max(a.y, b.y))
    inter = w * h
    return inter / float(a.w * a.h + b.w * b.h - inter) if inter else 0.0


def choose_main(faces: Sequence[Face], previous: Face | None) -> Face | None:
    """The main face among a frame's detections: the one overlapping the previous main face
    most (the same person, still there), else the largest."""
    if not faces:
        return None
    if previous is not None:
        best = max(faces, key=lambda f: overlap(f, previous))
        if overlap(best, previous) > 0.3:
            return best
    return max(faces, key=lambda f: f.w * f.h)


class FaceScorer:
    """Finds the main face in each utterance's frames and scores its expression.

    Loads the detector and the ONNX model once; :meth:`score_utterances` has no side effects,
    so one scorer can be shared by threads. Implements
    :class:`~emotrace.modalities.base.ModalityScorer`.
    """

    name = "face"

    def __init__(self, options: FaceOptions = FaceOptions()):
        import cv2

        self.options = options
        model_dir = modality_model_dir("face", options.model)
        self.info = read_model_config(model_dir, "face")
        self.size = int(self.info.get("input_size", 48))
        self.session = onnx_session(model_dir / self.info.get("onnx_file", "model.onnx"), options.threads)
        self.cascade_path = cv2.data.haarcascades + CASCADE
        # CascadeClassifier.detectMultiScale is not documented thread-safe: load one per call
        # (a few ms) instead of sharing it, see _detector().
        if cv2.CascadeClassifier(self.cascade_path).empty():
            raise ModelError(f"cannot load OpenCV's face cascade {self.cascade_path}")
        self.model_name = f"{self.info.get('name', model_dir.name)}@{self.info.get('version', '?')}" \
                          f"+opencv-{CASCADE.removesuffix('.xml')}"

    def _detector(self):
        import cv2

        return cv2.CascadeClassifier(self.cascade_path)

    def predict_crops(self, crops: np.ndarray, batch: int = 256) -> np.ndarray:
        """Emotion probabilities ``(n, 7)`` for grey face crops ``(n, 48, 48)`` (uint8 or float in [0, 1])."""
        x = np.asarray(crops)
        x = x.astype(np.float32) / 255.0 if x.dtype == np.uint8 else x.astype(np.float32)
        if x.ndim != 3 or x.shape[1:] != (self.size, self.size):
            raise ModelError(f"face crops must be (n, {self.size}, {self.size}), got {x.shape}")
        out = [self.session.run(["emotion_probs"], {"image": x[i:i + batch, None]})[0]
               for i in range(0, len(x), batch)]
        return np.concatenate(out) if out else np.zeros((0, len(EMOTIONS)), np.float32)

    def detect(self, grey: np.ndarray, detector=None, near: Face | None = None) -> list[Face]:
        """Frontal faces in a grey frame, in that frame's pixels.

        Args:
            grey: the frame.
            detector: a loaded cascade (one is loaded when None).
            near: search only around this box, for faces of 0.7-1.4 times its size (tracking).
        """
        import cv2

        detector = detector or self._detector()
        scale = min(1.0, DETECT_SIDE / min(grey.shape[:2]))
        small = cv2.resize(grey, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else grey
        small = cv2.equalizeHist(small)
        x0 = y0 = 0
        if near is None:
            side = max(20, int(self.options.min_face * min(small.shape[:2])))
            boxes = detector.detectMultiScale(small, scaleFactor=1.1, minNeighbors=5, minSize=(side, side))
        else:
            size = max(near.w, near.h) * scale
            cx, cy = (v * scale for v in near.centre)
            x0, y0 = max(0, int(cx - size)), max(0, int(cy - size))
            roi = small[y0:int(cy + size) + 1, x0:int(cx + size) + 1]
            lo, hi = max(20, int(0.7 * size)), int(1.4 * size) + 1
            if min(roi.shape[:2]) < lo:
                return []
            boxes = detector.detectMultiScale(roi, scaleFactor=1.1, minNeighbors=4, minSize=(lo, lo),
                                              maxSize=(hi, hi))
        return [Face(int(round((x + x0) / scale)), int(round((y + y0) / scale)), int(round(w / scale)),
                     int(round(h / scale))) for x, y, w, h in boxes]

    def track(self, times: np.ndarray, frames: Sequence[np.ndarray], indices: Sequence[int],
              hook=None) -> dict[int, tuple[np.ndarray, Face | None]]:
        """Grey frame and main face (or None) of each frame in ``indices`` (increasing)."""
        detector = self._detector()
        out: dict[int, tuple[np.ndarray, Face | None]] = {}
        last, last_t = None, -np.inf
        for n, i in enumerate(indices):
            grey = to_grey(frames[i])
            face = None
            if last is not None and times[i] - last_t <= TRACK_GAP:
                face = choose_main(self.detect(grey, detector, near=last), last)
            if face is None:
                face = choose_main(self.detect(grey, detector), last)
            if face is not None:
                last, last_t = face, times[i]
            out[i] = (grey, face)
            if hook:
                hook("face", n + 1, len(indices))
        return out

    def _frames(self, media: MediaContext):
        if media.frames is not None:
            return media.frames()
        try:
            from ..media import sample_frames
        except ImportError as e:
            raise MediaError("no frames given and emotrace.media.sample_frames is unavailable") from e
        return sample_frames(media.path, self.options.fps)

    def score_utterances(self, media: MediaContext, utterances: Sequence[Utterance],
                         hook=None) -> list[Scores | None]:
        """Scores per utterance from the main face in its frames, None where no face was seen."""
        if not media.has_video or not utterances:
            return [None] * len(utterances)
        times, frames = self._frames(media)
        times = np.asarray(times, dtype=np.float64)
        per_utt: list[np.ndarray] = []
        for u in utterances:
            idx = np.flatnonzero((times >= u.start - SPAN_SLACK) & (times <= u.end + SPAN_SLACK))
            k = self.options.max_frames_per_utterance
            if len(idx) > k:
                idx = idx[np.linspace(0, len(idx) - 1, k).round().astype(int)]
            per_utt.append(idx)
        needed = sorted(set(np.concatenate(per_utt).tolist())) if per_utt else []
        found = self.track(times, frames, needed, hook)
        with_face = [i for i in needed if found[i][1] is not None]
        crops = (np.stack([crop_face(found[i][0], found[i][1], self.size) for i in with_face])
                 if with_face else np.zeros((0, self.size, self.size), np.float32))
        probs = dict(zip(with_face, self.predict_crops(crops)))
        out: list[Scores | None] = []
        for idx in per_utt:
            rows = [probs[i] for i in idx.tolist() if i in probs]
            out.append(scores_from_emotions(np.mean(rows, axis=0)) if rows else None)
        return out
