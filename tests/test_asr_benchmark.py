"""benchmarks/asr.py and its synthetic dialogue (the benchmark itself is run by hand)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def dialogue():
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import dialogue as module
    finally:
        sys.path.remove(str(BENCHMARKS))
    return module


@pytest.mark.parametrize("script", ["asr.py", "asr_stability.py"])
def test_help(script):
    proc = subprocess.run([sys.executable, str(BENCHMARKS / script), "--help"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: ") and f".venv/bin/python benchmarks/{script}" in proc.stdout


def test_turns_matched_by_iou(dialogue):
    turns = [dialogue.Turn("A", "a", 0.0, 2.0), dialogue.Turn("B", "b", 2.5, 3.0)]
    assert dialogue.iou((0.0, 2.0), (1.0, 3.0)) == pytest.approx(1 / 3)
    assert dialogue.turns_matched(turns, [(0.0, 1.8), (2.4, 3.0)]) == 1.0
    assert dialogue.turns_matched(turns, [(0.0, 3.0)]) == 0.5  # one utterance over both turns
    assert dialogue.turns_matched(turns, []) == 0.0


@pytest.mark.skipif(shutil.which("espeak-ng") is None or shutil.which("ffmpeg") is None,
                    reason="needs espeak-ng and ffmpeg (apt-get install -y espeak-ng ffmpeg)")
def test_dialogue_has_ordered_turns_inside_the_audio(dialogue, tmp_path):
    from emotrace.media import probe

    turns = dialogue.make_dialogue(tmp_path / "d.wav")
    assert [t.text for t in turns] == [text for _, text in dialogue.TURNS]
    assert all(a.end < b.start for a, b in zip(turns, turns[1:]))
    assert all(t.end - t.start > 0.2 for t in turns)
    assert turns[-1].end < probe(tmp_path / "d.wav").duration
