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


def read_model_config(model_dir: Path, what: str, with_sentiments: bool = False) -> dict:
    """Read a model folder's ``config.json`` and check it predicts emotrace's labels.

    Args:
        model_dir: the model's folder.
        what: how to name the model in errors ("text", "voice", "face").
        with_sentiments: also require the 3 sentiments in emotrace's order.

    Raises:
        ModelError: the file is unreadable or its labels differ from emotrace's.
    """
    import json

    from ..labels import EMOTIONS, SENTIMENTS

    try:
        info = json.loads((model_dir / "config.json").read_text())
    except (OSError, ValueError) as e:
        raise ModelError(f"cannot read the {what} model's config.json in {model_dir}: {e}") from e
    if tuple(info.get("emotions", ())) != EMOTIONS or \
            (with_sentiments and tuple(info.get("sentiments", ())) != SENTIMENTS):
        raise ModelError(f"{what} model in {model_dir} does not predict emotrace's labels")
    return info
