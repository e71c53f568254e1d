"""The face modality: main-face choice, crops, the shipped model, and ``emotrace evaluate face``."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from emotrace.cli import main
from emotrace.config import FaceOptions
from emotrace.errors import ConfigError, DataError, ModelError
from emotrace.evaluate import evaluate_face
from emotrace.labels import EMOTIONS
from emotrace.models import MODELS_DIR
from emotrace.modalities.base import MediaContext
from emotrace.modalities import face as face_module
from emotrace.modalities.face import Face, FaceScorer, choose_main, crop_face, to_grey
from emotrace.types import Utterance

from .conftest import shared_data

# Just under what the shipped model measured on FER2013 validation (see its MODEL_CARD.md).
FER_VALIDATION_ACCURACY_FLOOR = 0.62


@pytest.fixture(scope="module")
def scorer() -> FaceScorer:
    return FaceScorer()


def test_main_face_stays_the_same_person_not_the_largest_newcomer():
    speaker = Face(100, 80, 60, 60)
    poster = Face(300, 50, 120, 120)
    assert choose_main([speaker, poster], None) == poster  # nothing known yet: size decides
    assert choose_main([poster, Face(104, 83, 58, 58)], speaker) == Face(104, 83, 58, 58)
    assert choose_main([poster], speaker) == poster  # the speaker is gone: the face there
    assert choose_main([], speaker) is None


def test_tracking_follows_a_face_through_frames(scorer):
    clip = shared_data("media", "talking-head", "face_2.mp4")
    from emotrace.media import iter_frames

    times, frames = zip(*iter_frames(clip, 2.0, 480))
    follower = scorer.follower()
    faces = [f for t, frame in zip(times, frames) if (f := follower.step(float(t), frame)[1]) is not None]
    assert len(faces) >= 0.8 * len(frames)
    # one person talking to the camera: consecutive boxes overlap
    centres = np.array([f.centre for f in faces])
    assert np.abs(np.diff(centres, axis=0)).max() < 0.5 * max(f.w for f in faces)
    # a tracked box is also what a whole-frame search finds there
    whole = scorer.detect(to_grey(frames[0]))
    assert any(abs(w.centre[0] - faces[0].centre[0]) < 0.2 * w.w for w in whole)


def counting_detect(scorer, monkeypatch):
    """Count the scorer's whole-frame and around-the-face searches."""
    calls = {"whole": 0, "around": 0}
    detect = scorer.detect

    def counted(grey, detector=None, near=None):
        calls["whole" if near is None else "around"] += 1
        return detect(grey, detector, near)

    monkeypatch.setattr(scorer, "detect", counted)
    return calls


def test_following_searches_around_the_face_not_the_whole_frame(scorer, monkeypatch):
    from emotrace.media import iter_frames

    clip = shared_data("media", "talking-head", "face_2.mp4")
    frames = list(iter_frames(clip, 4.0, face_module.FRAME_SIDE, grey=True))
    calls = counting_detect(scorer, monkeypatch)
    follower = scorer.follower()
    found = [follower.step(t, frame)[1] for t, frame in frames]
    assert sum(f is not None for f in found) >= 0.8 * len(frames)
    # once found, the face is looked for around where it was: whole-frame searches are rare
    assert calls["whole"] <= max(2, 0.2 * len(frames)) and calls["around"] >= 0.7 * len(frames)


def test_without_faces_whole_frame_searches_back_off(scorer, monkeypatch):
    rng = np.random.default_rng(3)
    frames = [(i / 2, rng.integers(0, 255, (180, 320), dtype=np.uint8)) for i in range(240)]  # 2 min at 2 fps
    calls = counting_detect(scorer, monkeypatch)
    follower = scorer.follower()
    assert all(follower.step(t, frame)[1] is None for t, frame in frames)
    # 1, 2, 4, 8, 8, ... seconds apart: about 120 / 8 searches, not 240
    assert calls["whole"] <= 4 + 120 / face_module.FULL_RETRY_MAX + 1 and calls["around"] == 0


def test_streamed_frames_are_read_once_and_not_kept():
    import weakref

    from emotrace.media import frame_sampler

    clip = shared_data("media", "talking-head", "face_1.mp4")
    real = frame_sampler(clip, 2.0, 480)
    refs, alive, asked = [], [], []

    def stream(**kwargs):
        asked.append(kwargs)
        for t, frame in real(**kwargs):
            refs.append(weakref.ref(frame))
            alive.append(sum(r() is not None for r in refs))
            yield t, frame

    media = MediaContext(path=str(clip), duration=4.4, audio=None, has_video=True,
                         frame_stream=stream, frame_fps=2.0)
    every = FaceScorer(FaceOptions(max_frames_per_utterance=10))  # look at every sampled frame
    out = every.score_utterances(media, [Utterance(0.0, 2.0, "a"), Utterance(2.0, 4.0, "b")])
    assert all(s is not None for s in out)
    assert len(asked) == 1 and asked[0]["grey"] and asked[0]["max_side"] == face_module.FRAME_SIDE
    assert len(refs) >= 8 and max(alive) <= 3  # each frame is dropped once its crop is taken


def test_crop_is_square_grey_and_safe_at_the_edges():
    grey = np.tile(np.arange(200, dtype=np.uint8), (100, 1))
    for face in (Face(40, 20, 50, 50), Face(0, 0, 30, 40), Face(180, 80, 20, 20)):
        crop = crop_face(grey, face)
        assert crop.shape == (48, 48) and crop.dtype == np.float32
        assert 0.0 <= crop.min() <= crop.max() <= 1.0


def test_shipped_model_is_small_and_predicts_emotrace_labels(scorer):
    onnx = MODELS_DIR / "face" / "model.onnx"
    assert onnx.stat().st_size <= 20 * 1024 * 1024
    info = json.loads((MODELS_DIR / "face" / "config.json").read_text())
    assert tuple(info["emotions"]) == EMOTIONS
    assert (MODELS_DIR / "face" / "MODEL_CARD.md").is_file()
    probs = scorer.predict_crops(np.random.default_rng(0).integers(0, 255, (5, 48, 48), dtype=np.uint8))
    assert probs.shape == (5, len(EMOTIONS)) and np.allclose(probs.sum(1), 1.0, atol=1e-5)
    with pytest.raises(ModelError, match="face crops must be"):
        scorer.predict_crops(np.zeros((2, 32, 32), np.uint8))


def test_no_face_or_no_video_means_no_face_scores(scorer):
    rng = np.random.default_rng(1)
    frames = [(0.5, np.full((120, 160), 90, np.uint8)), (1.5, rng.integers(0, 255, (120, 160), dtype=np.uint8))]
    media = MediaContext(path="x.mp4", duration=2.0, audio=None, has_video=True,
                         frame_stream=lambda **kwargs: iter(frames), frame_fps=2.0)
    utts = [Utterance(0.0, 1.0, "a"), Utterance(1.0, 2.0, "b"), Utterance(5.0, 6.0, "no frames here")]
    assert scorer.score_utterances(media, utts) == [None, None, None]
    audio_only = MediaContext(path="x.wav", duration=2.0, audio=np.zeros(32000, np.float32))
    assert scorer.score_utterances(audio_only, utts) == [None, None, None]
    no_stream = MediaContext(path="x.mp4", duration=2.0, audio=None, has_video=True)  # no frames offered
    assert scorer.score_utterances(no_stream, utts) == [None, None, None]


def test_real_faces_in_video_are_found_and_scored(scorer):
    from emotrace.media import probe

    clip = shared_data("media", "talking-head", "face_1.mp4")
    media = MediaContext.of_file(clip, None, info=probe(clip), frame_fps=2.0, frame_max_side=480)
    half = media.duration / 2
    out = scorer.score_utterances(media, [Utterance(0.0, half, "a"), Utterance(half, media.duration, "b")])
    assert all(s is not None for s in out), "a talking head should be detected in every utterance"
    for s in out:
        assert math.isclose(sum(s.emotions), 1.0, abs_tol=1e-6)
        assert math.isclose(sum(s.sentiments), 1.0, abs_tol=1e-6)


def test_bad_options_and_models_fail_clearly(tmp_path):
    with pytest.raises(ConfigError, match="fps"):
        FaceOptions(fps=0)
    with pytest.raises(ModelError, match="missing or lacks"):
        FaceScorer(FaceOptions(model=str(tmp_path)))


def write_npz(path, images: np.ndarray, labels: np.ndarray, names=EMOTIONS) -> None:
    np.savez(path, images=images, labels=labels, label_names=np.array(names))


def test_evaluate_face_command_on_a_small_npz(tmp_path, capsys):
    rng = np.random.default_rng(2)
    names = ("anger", "disgust", "fear", "joy", "neutral", "sadness", "surprise")[::-1]  # another order
    write_npz(tmp_path / "tiny.npz", rng.integers(0, 255, (9, 48, 48), dtype=np.uint8),
              np.array([0, 1, 2, 3, 4, 5, 6, 6, 6]), names)
    assert main(["evaluate", "face", "--fer-npz", str(tmp_path / "tiny.npz"), "-q"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["n"] == 9
    assert {"n", "accuracy", "weighted_f1", "macro_f1", "per_class_f1"} <= set(report)
    assert report["support"]["anger"] == 3  # label 6 in the file's own order is anger
    write_npz(tmp_path / "bad.npz", np.zeros((2, 48, 48), np.uint8), np.array([0, 1]), ("happy", "sad"))
    with pytest.raises(DataError, match="unknown label name"):
        evaluate_face(tmp_path / "bad.npz")
    assert main(["evaluate", "face", "--fer-npz", str(tmp_path / "missing.npz"), "-q"]) == 3


def test_fer_validation_accuracy(scorer, tmp_path):
    """A third of FER2013 validation (every third image), through the evaluate function."""
    data = np.load(shared_data("fer2013", "validation.npz"))
    write_npz(tmp_path / "third.npz", data["images"][::3], data["labels"][::3], tuple(data["label_names"]))
    report = evaluate_face(tmp_path / "third.npz", scorer=scorer)
    assert report["n"] == len(data["labels"][::3])
    assert report["accuracy"] >= FER_VALIDATION_ACCURACY_FLOOR, report
