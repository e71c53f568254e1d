"""Service settings: defaults, overridden by ``EMOTRACE_*`` environment variables, then by flags.

Every value is checked when :class:`Settings` is built, so a typo in the environment stops the
server at start-up with a :class:`~emotrace.errors.ConfigError` naming the variable.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

from ..config import check_range, parse_duration
from ..errors import ConfigError

ENV_PREFIX = "EMOTRACE_"
DEFAULT_CORS_ORIGINS = ("http://localhost:3000",)
"""What the older service allowed, and nothing else."""

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


def default_data_dir() -> Path:
    """``$XDG_DATA_HOME/emotrace`` (``~/.local/share/emotrace`` when unset)."""
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "emotrace"


def default_workers() -> int:
    """Half the CPU cores, at least 1, at most 4: each analysis already uses several threads."""
    return max(1, min(4, (os.cpu_count() or 2) // 2))


def parse_size(text: str) -> int:
    """``"1G"``, ``"500MB"``, ``"1048576"`` → bytes (binary units).

    Raises:
        ConfigError: not a size.
    """
    m = _SIZE.match(str(text))
    if not m:
        raise ConfigError(f"{text!r} is not a size; expected a number of bytes, optionally with "
                          "K, M, G or T (for example 500M or 1G)")
    return int(float(m.group(1)) * _SIZE_UNITS[m.group(2).lower()])


def _split(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _bool(name: str, text: str) -> bool:
    low = text.strip().lower()
    if low in _TRUE | _FALSE:
        return low in _TRUE
    raise ConfigError(f"{name}={text!r} is not a boolean; expected one of: "
                      + ", ".join(sorted(_TRUE | _FALSE)))


@dataclass(frozen=True)
class Settings:
    """Everything the REST service can be told.

    Attributes:
        host: interface to listen on (``EMOTRACE_HOST``).
        port: TCP port (``EMOTRACE_PORT``).
        workers: analyses run at the same time, each in its own thread of one process that
            holds the models once (``EMOTRACE_WORKERS``).
        max_queue: analyses allowed to wait for a worker; beyond it requests get 503
            (``EMOTRACE_MAX_QUEUE``).
        max_upload_bytes: largest request body accepted, counted while it streams to disk
            (``EMOTRACE_MAX_UPLOAD``, e.g. ``1G`` or ``500M``).
        data_dir: where uploads wait for their job (``EMOTRACE_DATA_DIR``).
        db_path: the SQLite job store; ``None`` means ``data_dir/jobs.sqlite3`` (``EMOTRACE_DB``).
        api_keys: when non-empty, every endpoint but ``/health`` needs one of these keys as
            ``Authorization: Bearer KEY`` or ``X-API-Key: KEY`` (``EMOTRACE_API_KEYS``,
            comma-separated).
        cors_origins: origins browsers may call from (``EMOTRACE_CORS_ORIGINS``,
            comma-separated; ``*`` allows any origin but then without credentials).
        retry_after_s: the ``Retry-After`` sent with a 503 (``EMOTRACE_RETRY_AFTER``).
        requeue_interrupted: at start-up, run again the jobs a previous process left queued or
            running (``True``), or mark them failed (``EMOTRACE_REQUEUE_INTERRUPTED``).
        max_attempts: how many times a job may be started before an interrupted one is marked
            failed instead of re-run; stops a file that kills the process from doing so forever.
        keep_days: finished jobs (and their results) are removed this many days after they
            finish, at start-up and whenever a job ends; 0 keeps them forever
            (``EMOTRACE_KEEP_DAYS``).
        max_duration: longest media accepted, in seconds, read from the file's header before
            anything is decoded (413 beyond it); 0 means no limit (``EMOTRACE_MAX_DURATION``,
            e.g. ``4h``, ``90m``). Memory and time grow with duration, so a small upload of a
            long silence must not be able to take the server down.
    """

    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = field(default_factory=default_workers)
    max_queue: int = 16
    max_upload_bytes: int = 1024**3
    data_dir: Path = field(default_factory=default_data_dir)
    db_path: Path | None = None
    api_keys: tuple[str, ...] = ()
    cors_origins: tuple[str, ...] = DEFAULT_CORS_ORIGINS
    retry_after_s: int = 10
    requeue_interrupted: bool = True
    max_attempts: int = 2
    keep_days: float = 30.0
    max_duration: float = 4 * 3600.0

    def __post_init__(self) -> None:
        check_range("port", self.port, 0, 65535)
        check_range("workers", self.workers, 1, 256)
        check_range("max_queue", self.max_queue, 0, 100_000)
        check_range("max_upload_bytes", self.max_upload_bytes, 1)
        check_range("retry_after_s", self.retry_after_s, 1, 86_400)
        check_range("max_attempts", self.max_attempts, 1, 100)
        check_range("keep_days", self.keep_days, 0, 36_500)
        check_range("max_duration", self.max_duration, 0, 10 * 86_400)
        if not self.host:
            raise ConfigError("host must not be empty")
        if any(not k or any(c.isspace() for c in k) for k in self.api_keys):
            raise ConfigError("API keys must be non-empty and contain no spaces")
        object.__setattr__(self, "data_dir", Path(self.data_dir).expanduser())
        if self.db_path is not None:
            object.__setattr__(self, "db_path", Path(self.db_path).expanduser())

    @property
    def database(self) -> Path:
        """The SQLite file actually used."""
        return self.db_path if self.db_path is not None else self.data_dir / "jobs.sqlite3"

    @property
    def duration_limit(self) -> float | None:
        """``max_duration`` in seconds, or None for no limit."""
        return self.max_duration or None

    @property
    def upload_dir(self) -> Path:
        """Where uploads are written (under ``data_dir``)."""
        return self.data_dir / "uploads"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> "Settings":
        """Defaults, then ``EMOTRACE_*`` variables, then ``overrides`` (flags; ``None`` = unset).

        Raises:
            ConfigError: a variable or override has an invalid value.
        """
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        readers = {
            "host": str, "port": int, "workers": int, "max_queue": int,
            "max_upload_bytes": parse_size, "data_dir": Path, "db_path": Path,
            "api_keys": _split, "cors_origins": _split, "retry_after_s": int,
            "requeue_interrupted": None, "max_attempts": int, "keep_days": float,
            "max_duration": parse_duration,
        }
        names = {"max_upload_bytes": "MAX_UPLOAD", "db_path": "DB", "retry_after_s": "RETRY_AFTER"}
        for key, read in readers.items():
            var = ENV_PREFIX + names.get(key, key.upper())
            raw = env.get(var)
            if raw is None or (raw.strip() == "" and key not in ("api_keys", "cors_origins")):
                continue
            try:
                values[key] = _bool(var, raw) if read is None else read(raw)
            except ValueError as e:
                raise ConfigError(f"{var}={raw!r} is invalid: {e}") from e
        known = {f.name for f in fields(cls)}
        unknown = set(overrides) - known
        if unknown:
            raise ConfigError(f"unknown settings: {', '.join(sorted(unknown))}; expected one of: "
                              + ", ".join(sorted(known)))
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)
