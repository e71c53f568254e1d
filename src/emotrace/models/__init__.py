"""Model registry: where each modality's model lives.

Every default model ships inside this package, so emotrace never downloads anything unless a
user names a model that is not here.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import ModelError

MODELS_DIR = Path(__file__).resolve().parent


def text_model_dir(name: str = "default") -> Path:
    """The directory of a text model: ``"default"`` (shipped) or a user's directory path.

    Raises:
        ModelError: no such directory, or it lacks ``model.onnx``/``tokenizer.json``/``config.json``.
    """
    path = MODELS_DIR / "text" if name == "default" else Path(name).expanduser()
    missing = [f for f in ("config.json", "tokenizer.json") if not (path / f).is_file()]
    if not path.is_dir() or missing:
        raise ModelError(f"text model directory {path} is missing or lacks "
                         f"{', '.join(missing) or 'its files'}; expected 'default' or a directory "
                         "with model.onnx, tokenizer.json and config.json")
    return path


def modality_model_dir(modality: str, name: str = "default",
                       required: tuple[str, ...] = ("config.json", "model.onnx")) -> Path:
    """The directory of an audio or face model: ``"default"`` (shipped) or a user's directory.

    Raises:
        ModelError: no such directory, or it lacks one of ``required``.
    """
    path = MODELS_DIR / modality if name == "default" else Path(name).expanduser()
    missing = [f for f in required if not (path / f).is_file()]
    if not path.is_dir() or missing:
        raise ModelError(f"{modality} model directory {path} is missing or lacks "
                         f"{', '.join(missing) or 'its files'}; expected 'default' or a directory "
                         f"with {', '.join(required)}")
    return path
