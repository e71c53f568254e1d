"""Model registry: where each modality's model lives, and loading one (its config and ONNX graph).

Every default model ships inside this package, so emotrace never downloads anything unless a
user names a model that is not here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ModelError
from ..onnx_runtime import onnx_session

MODELS_DIR = Path(__file__).resolve().parent


def modality_model_dir(modality: str, name: str = "default",
                       required: tuple[str, ...] = ("config.json", "model.onnx")) -> Path:
    """The directory of a modality's model: ``"default"`` (shipped) or a user's directory.

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


@dataclass(frozen=True)
class LoadedModel:
    """A model folder whose ``config.json`` was read and whose ONNX graph was loaded.

    Attributes:
        folder: the model's directory.
        info: its ``config.json``.
        session: the (cached, thread-safe) ONNX Runtime session of its ``onnx_file``.
    """

    folder: Path
    info: dict
    session: Any

    @property
    def name(self) -> str:
        """``name@version`` from ``config.json``, as results and cache keys name the model."""
        return f"{self.info.get('name', self.folder.name)}@{self.info.get('version', '?')}"


def load_model(modality: str, name: str, what: str, threads: int = 0, *,
               required: tuple[str, ...] = ("config.json", "model.onnx"),
               with_sentiments: bool = False, emotions: bool = True) -> LoadedModel:
    """Find a modality's model folder, read its ``config.json`` and load its ONNX graph.

    Args:
        modality: the folder under ``models/`` of the shipped model ("text", "audio", "face").
        name: ``"default"`` or a user's directory.
        what: how to name the model in errors ("text", "voice", "face").
        threads: ONNX Runtime intra-op threads (0: its choice).
        required: files the folder must hold.
        with_sentiments: the model must also predict emotrace's 3 sentiments.
        emotions: the model predicts emotrace's 7 emotions (False for the speaker model).

    Raises:
        ModelError: the folder, its config or its graph is missing or unusable.
    """
    folder = modality_model_dir(modality, name, required)
    info = read_model_config(folder, what, with_sentiments, emotions)
    return LoadedModel(folder, info, onnx_session(folder / info.get("onnx_file", "model.onnx"), threads))


def read_model_config(model_dir: Path, what: str, with_sentiments: bool = False,
                      emotions: bool = True) -> dict:
    """Read a model folder's ``config.json`` and check it predicts emotrace's labels.

    Args:
        model_dir: the model's folder.
        what: how to name the model in errors ("text", "voice", "face").
        with_sentiments: also require the 3 sentiments in emotrace's order.
        emotions: require the 7 emotions in emotrace's order (a speaker model predicts none).

    Raises:
        ModelError: the file is unreadable or its labels differ from emotrace's.
    """
    import json

    from ..labels import EMOTIONS, SENTIMENTS

    try:
        info = json.loads((model_dir / "config.json").read_text())
    except (OSError, ValueError) as e:
        raise ModelError(f"cannot read the {what} model's config.json in {model_dir}: {e}") from e
    if (emotions and tuple(info.get("emotions", ())) != EMOTIONS) or \
            (with_sentiments and tuple(info.get("sentiments", ())) != SENTIMENTS):
        raise ModelError(f"{what} model in {model_dir} does not predict emotrace's labels")
    return info
