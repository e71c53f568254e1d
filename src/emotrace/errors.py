"""The error hierarchy: every error emotrace raises on purpose is an ``EmotraceError``.

The CLI turns each class into an exit message and the REST service into one HTTP status,
so callers can catch broadly (``EmotraceError``) or narrowly (``MediaError``).
"""

from __future__ import annotations


class EmotraceError(Exception):
    """Base class of every error emotrace raises on purpose."""


class ConfigError(EmotraceError, ValueError):
    """An option has a value outside what is allowed."""


class MediaError(EmotraceError):
    """A file cannot be read as media: not media, corrupt, or without the needed stream."""


class ModelError(EmotraceError):
    """A model cannot be found, loaded or run."""


class DataError(EmotraceError):
    """An evaluation or training data file is missing or not in the expected format."""


class StorageError(EmotraceError):
    """The server's storage cannot take a write (disk full, file-size limit), or its job
    database cannot be opened safely (damaged, unreadable)."""


class ClusterError(EmotraceError):
    """The distributed engine (Ray) is not installed, cannot be reached, or lost the worker
    running an analysis (see :mod:`emotrace.distributed`)."""


class WorkerLost(ClusterError):
    """The process (a Ray actor) analysing a file died, or its machine went away; running the
    file again on another worker may succeed.

    Attributes:
        worker: which worker of its pool it was (-1: unknown), so a retry can go elsewhere.
    """

    def __init__(self, message: str, worker: int = -1):
        super().__init__(message)
        self.worker = worker

    def __reduce__(self):
        return (type(self), (str(self), self.worker))
