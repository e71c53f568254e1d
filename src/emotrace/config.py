"""Options: one frozen dataclass per stage, validated when built.

Every invalid value raises :class:`~emotrace.errors.ConfigError` that names the option and
what is allowed, so a typo on the command line or in an API call fails at once and clearly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from .errors import ConfigError


def check_choice(name: str, value: object, allowed: Iterable[object]) -> None:
    """Raise ConfigError unless ``value`` is one of ``allowed``."""
    allowed = tuple(allowed)
    if value not in allowed:
        raise ConfigError(f"{name}={value!r} is not allowed; expected one of: "
                          + ", ".join(repr(a) for a in allowed))


def check_range(name: str, value: float, low: float | None = None, high: float | None = None) -> None:
    """Raise ConfigError unless ``low <= value <= high`` (either bound may be open)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{name} must be a number, got {value!r}")
    if (low is not None and value < low) or (high is not None and value > high):
        lo = "-inf" if low is None else low
        hi = "inf" if high is None else high
        raise ConfigError(f"{name}={value!r} is out of range; expected {lo} <= {name} <= {hi}")


@dataclass(frozen=True)
class TextOptions:
    """How the text modality scores utterances.

    Attributes:
        model: ``"default"`` for the model shipped in the package, or a path to a directory
            holding ``model.onnx``, ``tokenizer.json`` and ``config.json``.
        context_turns: how many preceding utterances to give the model as context; ``None``
            uses the number the model was trained and selected with (its ``config.json``).
        batch_size: utterances per ONNX Runtime call.
        threads: intra-op threads for ONNX Runtime; 0 lets it decide.
    """

    model: str = "default"
    context_turns: int | None = None
    batch_size: int = 32
    threads: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.model, str) or not self.model:
            raise ConfigError(f"text model must be 'default' or a directory path, got {self.model!r}")
        if self.context_turns is not None:
            check_range("context_turns", self.context_turns, 0, 20)
        check_range("batch_size", self.batch_size, 1, 4096)
        check_range("threads", self.threads, 0, 256)
