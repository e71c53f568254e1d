"""One server per job database and upload folder.

At start-up a server re-runs the jobs it finds queued or running and removes uploads no job
owns; a second server on the same files would take the first one's live jobs for interrupted
ones. So the server holds an exclusive lock on a small file beside each (``fcntl.flock``,
released by the system even when the process is killed) and a second one stops with a clear
message. On systems without ``fcntl`` (Windows) no lock is taken.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import ConfigError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


class ServerLock:
    """Exclusive locks on ``paths`` (created if missing), held until :meth:`release`.

    Raises:
        ConfigError: another process (or another app in this one) holds one of them.
    """

    def __init__(self, paths: list[Path]):
        self._files: list = []
        if fcntl is None:
            return
        try:
            for path in dict.fromkeys(Path(p) for p in paths):  # each path once
                path.parent.mkdir(parents=True, exist_ok=True)
                f = open(path, "a+")
                try:
                    fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    f.seek(0)
                    holder = f.read().strip()
                    f.close()
                    raise ConfigError(
                        f"another emotrace server ({holder or 'pid unknown'}) is using {path.parent}; stop it, "
                        "or give this one its own --data-dir and --db") from None
                f.seek(0); f.truncate(); f.write(f"pid {os.getpid()}\n"); f.flush()
                self._files.append(f)
        except BaseException:
            self.release()
            raise

    def release(self) -> None:
        """Let go of every lock (idempotent)."""
        for f in self._files:
            try:
                fcntl.flock(f.fileno(), fcntl.LOCK_UN)
            finally:
                f.close()
        self._files = []
