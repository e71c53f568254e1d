"""The analysis actor: one process on a cluster node that loads the models once and analyses
one file at a time, reporting progress to whoever polls it and stopping when told to.

A file reaches it as a :class:`MediaSource`: a path the caller sees (with its size and time,
to tell the same file from another that has the same name on this node), and optionally its
bytes in Ray's object store. Results come back with the caller's paths in their metadata, so
they equal what the caller's own pipeline would have written.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import PipelineConfig
from ..errors import EmotraceError
from ..types import AnalysisResult


class Cancelled(EmotraceError):
    """The caller cancelled the analysis (raised inside the actor at its next progress report)."""


@dataclass(frozen=True)
class MediaSource:
    """A file as the caller sees it.

    Attributes:
        path: the caller's path.
        size: its size in bytes.
        mtime: its modification time, whole seconds.
        data: its bytes in the object store (an ``ObjectRef``), or None to read ``path``.
    """

    path: str
    size: int
    mtime: int
    data: Any = None

    @classmethod
    def of(cls, path: str | os.PathLike) -> "MediaSource":
        """The source for a local file (its bytes are not sent)."""
        st = os.stat(path)
        return cls(str(path), st.st_size, int(st.st_mtime))

    def visible_here(self) -> bool:
        """Whether this process sees the same file at ``path`` (same size and time)."""
        try:
            st = os.stat(self.path)
        except OSError:
            return False
        return st.st_size == self.size and int(st.st_mtime) == self.mtime

    def materialise(self, folder: str) -> str:
        """A path this process can open: ``path`` itself, or the sent bytes written in ``folder``."""
        if self.data is None:
            return self.path
        import ray

        local = Path(folder) / f"{len(os.listdir(folder))}{Path(self.path).suffix}"
        local.write_bytes(ray.get(self.data))
        return str(local)


@dataclass(frozen=True)
class Outcome:
    """What one call returns: a result, an error raised on purpose, or a request for the bytes
    (``need_data``: the worker does not see the file at the caller's path)."""

    result: AnalysisResult | None = None
    error: BaseException | None = None
    need_data: bool = False


def _with_caller_paths(result: AnalysisResult, media: MediaSource | None,
                       audio: MediaSource | None) -> AnalysisResult:
    meta = dict(result.metadata)
    if "file" in meta:
        meta["file"] = media.path if media is not None else None
    if "audio_file" in meta and audio is not None:
        meta["audio_file"] = audio.path
    return dataclasses.replace(result, metadata=meta)


def _portable(e: BaseException) -> BaseException:
    """The exception itself when the caller can rebuild it, else an EmotraceError saying it."""
    import pickle

    try:
        pickle.loads(pickle.dumps(e))
        return e
    except Exception:
        return EmotraceError(f"{type(e).__name__}: {e}")


class AnalysisWorker:
    """The body of a Ray actor (wrapped with ``ray.remote`` by :mod:`.pool`).

    Args:
        config: the pipeline's options; the models load here, once.
    """

    def __init__(self, config: PipelineConfig):
        from ..pipeline import Pipeline

        self.pipeline = Pipeline(config)
        self._lock = threading.Lock()
        self._progress: dict[str, tuple[str, float, float]] = {}
        self._cancelled: set[str] = set()

    def ping(self) -> bool:
        """True: the actor is up (its models loaded)."""
        return True

    def describe(self) -> dict[str, Any]:
        """The pipeline's description (models and versions), as ``Pipeline.describe``."""
        return self.pipeline.describe()

    def where(self) -> dict[str, Any]:
        """This actor's process id, node id, memory in use (resident bytes) and the CPU
        seconds it has used (user + system, all its threads)."""
        import ray

        rss = 0
        try:
            with open(f"/proc/{os.getpid()}/statm") as f:
                rss = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError, IndexError):
            pass
        times = os.times()
        return {"pid": os.getpid(), "node": ray.get_runtime_context().get_node_id(), "rss": rss,
                "cpu_s": times.user + times.system}

    def analyze(self, call_id: str, media: MediaSource | None, audio: MediaSource | None,
                transcript: str | None, speakers: int | None = None) -> Outcome:
        """Analyse one file; errors raised on purpose come back in the outcome, not raised."""
        for source in (media, audio):
            if source is not None and source.data is None and not source.visible_here():
                return Outcome(need_data=True)

        def hook(stage: str, done: float, total: float) -> None:
            with self._lock:
                if call_id in self._cancelled:
                    raise Cancelled("cancelled")
                self._progress[call_id] = (stage, float(done), float(total))

        try:
            with tempfile.TemporaryDirectory(prefix="emotrace-ray-") as folder:
                path = media.materialise(folder) if media is not None else None
                audio_path = audio.materialise(folder) if audio is not None else None
                result = self.pipeline.analyze(path, audio_path=audio_path, transcript=transcript,
                                               hook=hook, speakers=speakers)
                return Outcome(result=_with_caller_paths(result, media, audio))
        except Exception as e:  # the caller decides; a crash of the process itself is Ray's to report
            named = _caller_names(str(e), locals().get("folder"), media, audio)
            if isinstance(e, EmotraceError) and named != str(e):
                try:
                    e = type(e)(named)
                except Exception:
                    pass
            return Outcome(error=_portable(e))
        finally:
            with self._lock:
                self._progress.pop(call_id, None)
                self._cancelled.discard(call_id)

    def progress(self, call_id: str) -> tuple[str, float, float] | None:
        """The latest ``(stage, done, total)`` of a running call, or None."""
        with self._lock:
            return self._progress.get(call_id)

    def cancel(self, call_id: str) -> None:
        """Make a running call stop at its next progress report."""
        with self._lock:
            self._cancelled.add(call_id)


def _caller_names(message: str, folder: str | None, media: MediaSource | None,
                  audio: MediaSource | None) -> str:
    """An error message naming the caller's files, not this worker's temporary copies."""
    if not folder:
        return message
    for i, source in enumerate(s for s in (media, audio) if s is not None and s.data is not None):
        message = message.replace(str(Path(folder) / f"{i}{Path(source.path).suffix}"), source.path)
    return message
