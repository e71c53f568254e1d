"""Face modality: emotion of an utterance from the speaker's facial expression.

Frames sampled through the file (a few per second) are read once, as a stream: only the frames
chosen for some utterance (at most ``max_frames_per_utterance`` each, evenly spread) are looked
at, each is reduced at once to a 48x48 crop of the main face, and nothing else of it is kept, so
memory does not grow with the video's length. Reading stops after the last utterance.

Faces are found with OpenCV's bundled Haar cascade (its model ships inside
``opencv-python-headless``, nothing is downloaded). The *main* face is followed from frame to
frame: once found, the next frame is searched only around it and at about its size, on a patch
shrunk so that the face is about :data:`ROI_FACE` pixels wide (about a millisecond instead of
tens for a whole-frame search), so the speaker who is there throughout keeps the role and a
passer-by does not take it over. A whole-frame search (picking the largest face) runs only when
the face is lost, and after one that found nothing the next waits :data:`FULL_RETRY` seconds of
video (a video without faces would otherwise pay a whole-frame search on every frame). The
crops of the whole file are scored in batches by a small CNN trained on FER2013 (ONNX, see
``models/face/MODEL_CARD.md``) and an utterance's distribution is the mean over its frames.
Sentiment is derived from the emotions (:mod:`.sentiment`). No face in an utterance's frames,
or no video at all, gives None: the modality is then absent for that utterance.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..config import FaceOptions
from ..errors import ModelError
from ..labels import EMOTIONS
from ..models import load_model
from ..types import Scores, Utterance
from .base import MediaContext, Needs
from .sentiment import scores_from_emotions

log = logging.getLogger(__name__)

CASCADE = "haarcascade_frontalface_alt2.xml"
"""The OpenCV cascade used (fewer false positives than ``..._default`` at a similar recall)."""

WINDOW = 20
"""The cascade's own window (pixels): the smallest face it finds."""

TRACK_GAP = 5.0
"""A face seen at most this many seconds earlier is looked for around where it was first (a
search there costs a millisecond or two; the frames looked at can be seconds apart)."""

ROI_FACE = 48
"""Around a known face, the search patch is shrunk so that the face is about this many pixels wide
(cheaper than the frame's own size; much smaller, the cascade misses turned faces)."""

ROI_REACH = 0.75
"""The patch searched around a known face reaches this many face sizes from its centre."""

ROI_SIZES = (0.8, 1.25)
"""Sizes looked for around a known face, relative to it."""

FULL_RETRY = 1.0
"""After a whole-frame search that found no face, the next one waits this many seconds of video,
twice as long after each further miss, up to :data:`FULL_RETRY_MAX`."""

FULL_RETRY_MAX = 8.0
"""Longest wait between whole-frame searches while no face is found (a face that appears in a
video without one is found at most this late)."""

FRAME_SIDE = 320
"""Frames are read (grey) with their longer side at most this: whole-frame searches run smaller
still, and a face of the smallest size looked for is still about 20 pixels wide."""

CROP_BATCH = 256
"""Face crops scored by the CNN at once."""

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


FULL_QUALITY_FACE = 48
"""A face smaller than the model's 48-pixel input (shortest side) is upscaled, so blurred: its
quality falls in proportion."""


def face_quality(with_face: int, looked_at: int, sizes: Sequence[int]) -> float:
    """Quality of the face evidence for an utterance: the share of its frames with a face, times
    the median face size relative to :data:`FULL_QUALITY_FACE` (at most 1)."""
    if not looked_at or not sizes:
        return 0.0
    return float(min(1.0, with_face / looked_at) * min(1.0, float(np.median(sizes)) / FULL_QUALITY_FACE))


class FaceScorer:
    """Finds the main face in each utterance's frames and scores its expression.

    Loads the detector and the ONNX model once; :meth:`score_utterances` has no side effects,
    so one scorer can be shared by threads. Implements
    :class:`~emotrace.modalities.base.ModalityScorer`.
    """

    name = "face"
    languages: tuple[str, ...] = ()  # faces have no language

    def __init__(self, options: FaceOptions = FaceOptions()):
        import cv2

        self.options = options
        self.needs = Needs(frames_fps=options.fps)
        model = load_model("face", options.model, "face", options.threads)
        self.info, self.session = model.info, model.session
        self.size = int(self.info.get("input_size", 48))
        self.cascade_path = cv2.data.haarcascades + CASCADE
        # CascadeClassifier.detectMultiScale is not documented thread-safe: load one per call
        # (a few ms) instead of sharing it, see _detector().
        if cv2.CascadeClassifier(self.cascade_path).empty():
            raise ModelError(f"cannot load OpenCV's face cascade {self.cascade_path}")
        self.model_name = f"{model.name}+opencv-{CASCADE.removesuffix('.xml')}"

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
            near: search only around this box, for faces of about its size (:data:`ROI_SIZES`; tracking).
        """
        import cv2

        detector = detector or self._detector()
        if near is None:
            # Shrunk so that the smallest face wanted is the cascade's own window: the cheapest
            # search that still finds it (and big faces are found more often at this size too).
            scale = min(1.0, WINDOW / (self.options.min_face * min(grey.shape[:2])))
            small = cv2.resize(grey, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else grey
            side = max(WINDOW, int(self.options.min_face * min(small.shape[:2])))
            # 3 neighbours: on the talking-head clips more faces found than with 4-5 and no
            # detection on the test pattern (benchmarks/README.md, "Voice and face cost").
            boxes = detector.detectMultiScale(cv2.equalizeHist(small), scaleFactor=1.1, minNeighbors=3,
                                              minSize=(side, side))
            return [Face(int(round(x / scale)), int(round(y / scale)), int(round(w / scale)),
                         int(round(h / scale))) for x, y, w, h in boxes]
        size = float(max(near.w, near.h))
        cx, cy = near.centre
        reach = ROI_REACH * size
        x0, y0 = max(0, int(cx - reach)), max(0, int(cy - reach))
        patch = grey[y0:int(cy + reach) + 1, x0:int(cx + reach) + 1]
        scale = min(1.0, ROI_FACE / size)
        lo = max(WINDOW, int(ROI_SIZES[0] * size * scale))
        hi = int(ROI_SIZES[1] * size * scale) + 1
        if min(patch.shape[:2]) * scale < lo:
            return []
        if scale < 1:
            patch = cv2.resize(patch, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        boxes = detector.detectMultiScale(cv2.equalizeHist(patch), scaleFactor=1.1, minNeighbors=4,
                                          minSize=(lo, lo), maxSize=(hi, hi))
        return [Face(int(round(x / scale)) + x0, int(round(y / scale)) + y0, int(round(w / scale)),
                     int(round(h / scale))) for x, y, w, h in boxes]

    def follower(self) -> "Follower":
        """A fresh :class:`Follower` (one per pass over a video; not shared between threads)."""
        return Follower(self)

    def _plan(self, grid: np.ndarray, utterances: Sequence[Utterance]) -> list[np.ndarray]:
        """For each utterance, the indices into ``grid`` (frame times) of the frames to look at."""
        per_utt = []
        k = self.options.max_frames_per_utterance
        for u in utterances:
            lo, hi = np.searchsorted(grid, [u.start - SPAN_SLACK, u.end + SPAN_SLACK + 1e-9])
            idx = np.arange(lo, hi)
            if len(idx) > k:
                # evenly spread, centred: the middle of k equal parts, not the span's edges
                idx = idx[((np.arange(k) + 0.5) * len(idx) / k).astype(int)]
            per_utt.append(idx)
        return per_utt

    def _numbered_frames(self, media: MediaContext, utterances: Sequence[Utterance]):
        """``(grid times, iterator of (grid index, seconds, frame), wanted)``: the media's frame
        stream, each frame numbered by its place on the sampling grid; the caller fills the set
        ``wanted`` with the grid indices to read before iterating (the others are not converted)."""
        fps = media.frame_fps or self.options.fps
        end = max(media.duration, max((u.end for u in utterances), default=0.0)) + SPAN_SLACK
        grid = np.arange(int(math.floor(end * fps)) + 1) / fps
        wanted: set[int] = set()

        def slot(t: float) -> int:
            return int(math.floor(t * fps + 1e-6))

        def numbered():
            for t, frame in media.frame_stream(grey=True, max_side=FRAME_SIDE,
                                               want=lambda t: slot(t) in wanted):
                yield slot(t), t, frame

        return grid, numbered(), wanted

    def score_utterances(self, media: MediaContext, utterances: Sequence[Utterance],
                         hook=None) -> list[Scores | None]:
        """Scores per utterance from the main face in its frames, None where no face was seen
        (or no frames are offered: ``media.frame_stream`` is None)."""
        if not media.has_video or media.frame_stream is None or not utterances:
            return [None] * len(utterances)
        grid, frames, wanted = self._numbered_frames(media, utterances)
        per_utt = self._plan(grid, utterances)
        wanted.update(np.concatenate(per_utt).tolist() if per_utt else ())
        last = max(wanted, default=-1)
        probs: dict[int, np.ndarray] = {}
        pending_ids: list[int] = []
        pending: list[np.ndarray] = []

        def flush() -> None:
            if pending:
                probs.update(zip(pending_ids, self.predict_crops(np.stack(pending))))
                pending_ids.clear()
                pending.clear()

        follower = self.follower()
        seen: set[int] = set()
        sizes: dict[int, int] = {}
        done = 0
        for i, t, frame in frames:
            if i > last:
                break  # past the last utterance's frames: stop decoding
            if i not in wanted or i in seen:
                continue
            seen.add(i)
            grey, face = follower.step(t, frame)
            if face is not None:
                sizes[i] = min(face.w, face.h)
                pending_ids.append(i)
                pending.append(crop_face(grey, face, self.size))
                if len(pending) >= CROP_BATCH:
                    flush()
            done += 1
            if hook:
                hook("face", done, len(wanted))
        frames.close()  # ends the decoder now, not at garbage collection
        flush()
        out: list[Scores | None] = []
        for idx in per_utt:
            ids = [i for i in idx.tolist() if i in probs]
            if not ids:
                out.append(None)
                continue
            out.append(scores_from_emotions(np.mean([probs[i] for i in ids], axis=0),
                                            face_quality(len(ids), len(idx), [sizes[i] for i in ids])))
        return out


class Follower:
    """Follows the main face through the frames of one video, in time order.

    Around the last face seen (at most :data:`TRACK_GAP` seconds earlier) it searches a small
    patch; otherwise, or when that fails, the whole frame, unless whole-frame searches have been
    failing: after a miss the next waits :data:`FULL_RETRY` seconds, doubling with each further
    miss up to :data:`FULL_RETRY_MAX`.
    """

    def __init__(self, scorer: FaceScorer):
        self.scorer = scorer
        self.detector = scorer._detector()
        self.last: Face | None = None
        self.last_t = -math.inf
        self.next_full = -math.inf
        self.wait = FULL_RETRY

    def step(self, t: float, frame: np.ndarray) -> tuple[np.ndarray, Face | None]:
        """The grey frame at ``t`` seconds and its main face (or None)."""
        grey = to_grey(frame)
        face = None
        if self.last is not None and t - self.last_t <= TRACK_GAP:
            face = choose_main(self.scorer.detect(grey, self.detector, near=self.last), self.last)
        if face is None and t >= self.next_full:
            face = choose_main(self.scorer.detect(grey, self.detector), self.last)
            if face is None:
                self.next_full = t + self.wait
                self.wait = min(2 * self.wait, FULL_RETRY_MAX)
        if face is not None:
            self.last, self.last_t = face, t
            self.next_full, self.wait = -math.inf, FULL_RETRY
        return grey, face
