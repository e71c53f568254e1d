"""``emotion_report`` and ``emotrace evaluate audio|face --labels-csv`` (any labelled speech or images)."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from emotrace.cli import main
from emotrace.datasets import read_labels_csv
from emotrace.errors import ConfigError, DataError
from emotrace.evaluate import evaluate_audio, evaluate_face
from emotrace.labels import EMOTIONS
from emotrace.metrics import emotion_report

from .conftest import FIXTURES, shared_data

REPORT_KEYS = {"n", "model", "source", "accuracy", "unweighted_average_recall", "weighted_f1", "macro_f1",
               "accuracy_restricted", "ece", "labels_present", "per_class_f1", "support",
               "confusion_labels", "confusion_matrix"}

ANGER, FEAR, JOY, NEUTRAL, SURPRISE = (EMOTIONS.index(e) for e in ("anger", "fear", "joy", "neutral", "surprise"))


def peaked(top: int, p: float, second: int | None = None, q: float = 0.0) -> np.ndarray:
    """A distribution with ``p`` on ``top`` (and ``q`` on ``second``), the rest spread evenly."""
    row = np.zeros(len(EMOTIONS))
    row[top] = p
    if second is not None:
        row[second] = q
    rest = [i for i in range(len(EMOTIONS)) if row[i] == 0]
    row[rest] = (1 - row.sum()) / len(rest)
    return row


def write_labels(path: Path, rows: list[tuple], header=("path", "label", "speaker")) -> Path:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


def check_report(report: dict, n: int) -> None:
    """Invariants every evaluate report keeps, whatever the model predicts."""
    assert REPORT_KEYS <= set(report)
    assert report["n"] == n == sum(report["support"].values())
    assert report["confusion_labels"] == list(EMOTIONS)
    cm = np.array(report["confusion_matrix"])
    assert cm.shape == (7, 7) and cm.sum() == n
    assert cm.sum(axis=1).tolist() == [report["support"][e] for e in EMOTIONS]
    assert report["labels_present"] == [e for e in EMOTIONS if report["support"][e]]
    for key in ("accuracy", "unweighted_average_recall", "weighted_f1", "macro_f1", "accuracy_restricted", "ece"):
        assert 0.0 <= report[key] <= 1.0, key
    assert report["accuracy"] == pytest.approx(np.trace(cm) / n, abs=1e-4)
    assert report["accuracy_restricted"] >= report["accuracy"]  # restricting can only turn errors into hits
    json.dumps(report)  # JSON-ready


# --- emotion_report on hand-made arrays ---------------------------------------------------------

def test_uar_and_f1_average_over_the_labels_present_only():
    y = [ANGER] * 4 + [JOY] * 2
    probs = np.stack([peaked(ANGER, 0.9)] * 4 + [peaked(ANGER, 0.6), peaked(JOY, 0.7)])
    r = emotion_report(probs, y)
    assert r["n"] == 6 and r["accuracy"] == round(5 / 6, 4)
    assert r["unweighted_average_recall"] == 0.75  # anger 4/4, joy 1/2
    assert r["labels_present"] == ["anger", "joy"]
    # F1 anger 2*4/(4+5) = 8/9, joy 2*1/(2+1) = 2/3; the 5 absent classes do not drag the mean down
    assert r["macro_f1"] == round((8 / 9 + 2 / 3) / 2, 4)
    assert r["weighted_f1"] == round((4 * 8 / 9 + 2 * 2 / 3) / 6, 4)
    assert r["per_class_f1"]["surprise"] == 0.0 and r["support"]["surprise"] == 0
    assert r["confusion_matrix"][JOY][ANGER] == 1 and r["confusion_matrix"][ANGER][ANGER] == 4


def test_predicting_an_absent_label_is_an_error_and_restriction_repairs_it():
    y = [ANGER, ANGER, FEAR, FEAR]
    probs = np.stack([peaked(ANGER, 0.8), peaked(SURPRISE, 0.5, ANGER, 0.4),
                      peaked(FEAR, 0.7), peaked(SURPRISE, 0.5, JOY, 0.3)])
    r = emotion_report(probs, y)
    assert r["accuracy"] == 0.5 and r["unweighted_average_recall"] == 0.5
    assert r["confusion_matrix"][ANGER][SURPRISE] == 1 and r["confusion_matrix"][FEAR][SURPRISE] == 1
    assert r["labels_present"] == ["anger", "fear"]
    # restricted to {anger, fear}: row 2 becomes anger (right); row 4's even rest ties → anger (wrong)
    assert r["accuracy_restricted"] == 0.75
    assert r["macro_f1"] == round(2 / 3, 4)  # anger and fear each: 1 hit, 2 true, 1 predicted


def test_ece_is_zero_when_confidence_matches_accuracy():
    # all at confidence 0.8, right 8 times in 10: perfectly calibrated
    y = [JOY] * 10
    probs = np.stack([peaked(JOY, 0.8)] * 8 + [peaked(NEUTRAL, 0.8)] * 2)
    assert emotion_report(probs, y)["ece"] == 0.0


def test_ece_measures_overconfidence():
    # confidence 0.9 but right half the time: off by 0.4; a second bin at 0.35 right 1/2: off by 0.15
    y = [JOY] * 6
    probs = np.stack([peaked(JOY, 0.9), peaked(ANGER, 0.9), peaked(JOY, 0.9), peaked(ANGER, 0.9),
                      peaked(JOY, 0.35), peaked(ANGER, 0.35)])
    assert emotion_report(probs, y)["ece"] == round(4 / 6 * 0.4 + 2 / 6 * 0.15, 4)


def test_report_rounds_and_checks_lengths():
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(7), 30)
    y = rng.integers(0, 7, 30)
    r = emotion_report(probs, y)
    check_report({**r, "model": "m", "source": "s"}, 30)
    for key in ("accuracy", "unweighted_average_recall", "weighted_f1", "macro_f1", "ece"):
        assert r[key] == round(r[key], 4)
    with pytest.raises(ValueError):
        emotion_report(probs, y[:-1])


# --- labels.csv errors ---------------------------------------------------------------------------

def test_read_labels_csv_errors(tmp_path):
    (tmp_path / "a.wav").write_bytes(b"")
    with pytest.raises(DataError, match="missing column"):
        read_labels_csv(write_labels(tmp_path / "cols.csv", [("a.wav",)], header=("path",)))
    with pytest.raises(DataError, match="unknown label 'boredom'"):
        read_labels_csv(write_labels(tmp_path / "label.csv", [("a.wav", "boredom", "1")]))
    with pytest.raises(DataError, match="file not found"):
        read_labels_csv(write_labels(tmp_path / "file.csv", [("b.wav", "joy", "1")]))
    with pytest.raises(DataError, match="cannot read"):
        read_labels_csv(tmp_path / "absent.csv")
    clips = read_labels_csv(write_labels(tmp_path / "ok.csv", [("a.wav", "Joy", "1")]))
    assert clips[0].label == "joy" and clips[0].path == tmp_path / "a.wav" and clips[0].speaker == "1"


def test_bad_csv_is_a_one_line_error_through_the_cli(tmp_path, capsys):
    write_labels(tmp_path / "labels.csv", [("missing.wav", "joy", "1")])
    for modality in ("audio", "face"):
        assert main(["evaluate", modality, "--labels-csv", str(tmp_path), "-q"]) == 3
        err = capsys.readouterr().err.strip()
        assert err.startswith("emotrace: error:") and "file not found" in err and "\n" not in err


def test_exactly_one_source(tmp_path):
    with pytest.raises(SystemExit) as e:
        main(["evaluate", "audio", "-q"])
    assert e.value.code == 2
    with pytest.raises(SystemExit) as e:
        main(["evaluate", "face", "--fer-npz", "x.npz", "--labels-csv", "y.csv", "-q"])
    assert e.value.code == 2
    with pytest.raises(ConfigError, match="exactly one"):
        evaluate_audio(tmp_path, labels_csv=tmp_path)
    with pytest.raises(ConfigError, match="exactly one"):
        evaluate_face()


# --- evaluate face --labels-csv ------------------------------------------------------------------

def test_evaluate_face_on_generated_images(tmp_path, capsys):
    """Images without faces (noise, colour and grey, several formats) are scored whole and counted."""
    import cv2

    rng = np.random.default_rng(1)
    (tmp_path / "img").mkdir()
    cv2.imwrite(str(tmp_path / "img" / "a.png"), rng.integers(0, 255, (60, 80, 3), dtype=np.uint8))
    cv2.imwrite(str(tmp_path / "img" / "b.jpg"), rng.integers(0, 255, (120, 90), dtype=np.uint8))
    cv2.imwrite(str(tmp_path / "img" / "c.bmp"), np.full((48, 48), 128, np.uint8))
    write_labels(tmp_path / "labels.csv", [("img/a.png", "joy"), ("img/b.jpg", "anger"), ("img/c.bmp", "joy")],
                 header=("path", "label"))
    assert main(["evaluate", "face", "--labels-csv", str(tmp_path / "labels.csv"), "-q"]) == 0
    report = json.loads(capsys.readouterr().out)
    check_report(report, 3)
    assert report["labels_present"] == ["anger", "joy"]
    assert report["no_face_detected"] == 3
    assert report["source"] == str(tmp_path / "labels.csv")
    (tmp_path / "img" / "d.png").write_bytes(b"not an image")
    write_labels(tmp_path / "bad.csv", [("img/d.png", "joy")], header=("path", "label"))
    with pytest.raises(DataError, match="not an image"):
        evaluate_face(labels_csv=tmp_path / "bad.csv")


def test_evaluate_face_on_fer_crops_written_as_images(tmp_path, capsys):
    """FER2013 validation crops, two per class, written as PNG (some enlarged, some in colour)."""
    import cv2

    data = np.load(shared_data("fer2013", "validation.npz"))
    names = [str(n) for n in data["label_names"]]
    rows = []
    for k, name in enumerate(names):
        for j, i in enumerate(np.flatnonzero(data["labels"] == k)[:2]):
            img = data["images"][i]
            if j:  # the second of each: 4x larger and in colour, as a photo would be
                img = cv2.cvtColor(cv2.resize(img, (192, 192), interpolation=cv2.INTER_CUBIC), cv2.COLOR_GRAY2BGR)
            cv2.imwrite(str(tmp_path / f"{k}-{j}.png"), img)
            rows.append((f"{k}-{j}.png", name))
    write_labels(tmp_path / "labels.csv", rows, header=("path", "label"))
    assert main(["evaluate", "face", "--labels-csv", str(tmp_path), "-q"]) == 0
    report = json.loads(capsys.readouterr().out)
    check_report(report, 2 * len(names))
    assert all(report["support"][e] == 2 for e in EMOTIONS)
    assert 0 <= report["no_face_detected"] <= report["n"]


def test_fer_npz_report_has_the_new_fields(tmp_path, capsys):
    rng = np.random.default_rng(3)
    np.savez(tmp_path / "t.npz", images=rng.integers(0, 255, (5, 48, 48), dtype=np.uint8),
             labels=np.array([0, 3, 3, 4, 6]), label_names=np.array(EMOTIONS))
    assert main(["evaluate", "face", "--fer-npz", str(tmp_path / "t.npz"), "-q"]) == 0
    check_report(json.loads(capsys.readouterr().out), 5)


# --- evaluate audio --labels-csv -----------------------------------------------------------------

@pytest.mark.slow
def test_evaluate_audio_on_a_labels_csv(tmp_path, capsys):
    """The committed dialogue, once by absolute path and once copied beside the CSV."""
    (tmp_path / "clips").mkdir()
    shutil.copy(FIXTURES / "dialogue.wav", tmp_path / "clips" / "copy.wav")
    write_labels(tmp_path / "labels.csv", [(str(FIXTURES / "dialogue.wav"), "sadness", "s1"),
                                           ("clips/copy.wav", "joy", "s2")])
    assert main(["evaluate", "audio", "--labels-csv", str(tmp_path), "-q"]) == 0
    report = json.loads(capsys.readouterr().out)
    check_report(report, 2)
    assert report["labels_present"] == ["joy", "sadness"]
    assert report["source"] == str(tmp_path / "labels.csv")
    # the same audio twice: the same prediction for both rows
    cm = np.array(report["confusion_matrix"])
    assert (cm[EMOTIONS.index("joy")] == cm[EMOTIONS.index("sadness")]).all()
    assert main(["evaluate", "audio", "--labels-csv", str(tmp_path), "--speakers", "s2", "-q"]) == 0
    assert json.loads(capsys.readouterr().out)["n"] == 1
    assert main(["evaluate", "audio", "--labels-csv", str(tmp_path), "--speakers", "s9", "-q"]) == 3
    assert "expected one of: s1, s2" in capsys.readouterr().err


@pytest.mark.slow
def test_evaluate_audio_on_emodb_rows(tmp_path, capsys):
    """The first 20 EmoDB clips, through a labels.csv that points at the shared copy (nothing copied)."""
    emodb = shared_data("speech-emotion", "emodb", "labels.csv")
    with emodb.open(newline="") as f:
        rows = [(str(emodb.parent / r["path"]), r["label"], r["speaker"]) for r in list(csv.DictReader(f))[:20]]
    write_labels(tmp_path / "labels.csv", rows)
    assert main(["evaluate", "audio", "--labels-csv", str(tmp_path / "labels.csv"), "-q"]) == 0
    report = json.loads(capsys.readouterr().out)
    check_report(report, 20)
    assert report["support"]["surprise"] == 0 and "surprise" not in report["labels_present"]
