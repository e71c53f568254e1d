"""Each shipped model's ``config.json`` is what its training recipe's defaults write.

The recipes (``training/{text,audio,face}/recipe.py``) need no torch: these tests compare the
files byte for byte with what the recipe writes, taking from the shipped file only what training
measures (the text dialogue head's chosen epoch, the voice's temperature and domain thresholds).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from training.audio import recipe as audio
from training.face import recipe as face
from training.text import recipe as text

MODELS = Path(__file__).resolve().parents[1] / "src" / "emotrace" / "models"


def shipped(modality: str) -> tuple[str, dict]:
    raw = (MODELS / modality / "config.json").read_text()
    return raw, json.loads(raw)


def test_text_config_is_the_recipes():
    raw, config = shipped("text")
    epoch = config["dialogue_head"]["epoch"]  # chosen on MELD dev by training.text.dialogue
    assert raw == json.dumps(text.model_config(epoch), indent=2) + "\n"
    assert config["name"] == text.model_name(text.ENCODER) and config["version"] == text.VERSION


def test_voice_config_is_the_recipes():
    raw, config = shipped("audio")
    measured = config["temperature"], config["domain"]  # fitted on the left-out corpora by training.audio.train
    assert raw == json.dumps(audio.model_config(*measured), indent=1) + "\n"


def test_face_config_is_the_recipes():
    raw, _ = shipped("face")
    assert raw == json.dumps(face.model_config(), indent=1) + "\n"


def test_the_training_commands_default_to_the_recipes():
    """The scripts' command-line defaults are the recipe (the scripts import torch)."""
    pytest.importorskip("torch", reason="training code needs torch: bash scripts/setup --train")
    pytest.importorskip("transformers", reason="training code needs transformers: bash scripts/setup --train")
    from training.text import dialogue, train

    args = vars(train.parser().parse_args([]))
    assert {k: args[k] for k in text.ENCODER} == text.ENCODER
    args = vars(dialogue.parser().parse_args([]))
    assert {k: args[k] for k in text.DIALOGUE} == text.DIALOGUE


@pytest.mark.parametrize("model", ["text", "audio", "face"])
def test_each_model_has_one_entry_point(model):
    """``python -m training.MODEL`` runs the recipe; here only its --help (training takes hours)."""
    pytest.importorskip("torch", reason="training code needs torch: bash scripts/setup --train")
    pytest.importorskip("transformers", reason="training code needs transformers: bash scripts/setup --train")
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", f"training.{model}", "--help"], capture_output=True, text=True,
                          cwd=MODELS.parents[2], timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"usage: python -m training.{model}") and "--data-dir" in proc.stdout
