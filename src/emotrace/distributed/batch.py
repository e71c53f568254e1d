"""Many files over a pool of Ray actors, each result handed back as soon as its file finishes.

A file whose actor dies is run again on another actor, up to ``max_attempts`` starts; a file
that fails on purpose (not media, no audio track …) fails once and does not stop the others.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

from ..config import PipelineConfig
from ..targets import expand_inputs
from ..types import AnalysisResult
from .cluster import RayOptions
from .pool import ActorPool, WorkerLost

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FileOutcome:
    """How one file ended.

    Attributes:
        path: the file, as given.
        result: its analysis, or None when it failed.
        error: why it failed (an :class:`~emotrace.errors.EmotraceError` for the expected
            failures), or None.
        attempts: how many times an actor started it.
        seconds: wall time from its first start to its end.
    """

    path: str
    result: AnalysisResult | None
    error: BaseException | None
    attempts: int
    seconds: float

    @property
    def ok(self) -> bool:
        """Whether the file was analysed."""
        return self.error is None


def _one(pool: ActorPool, path: str, max_attempts: int) -> FileOutcome:
    started, avoid = time.perf_counter(), -1
    for attempt in range(1, max_attempts + 1):
        try:
            result = pool.analyze(path, avoid=avoid)
            return FileOutcome(path, result, None, attempt, time.perf_counter() - started)
        except WorkerLost as e:
            avoid = e.worker
            if attempt < max_attempts:
                log.warning("%s; running it again (attempt %d of %d)", e, attempt + 1, max_attempts)
                continue
            error: BaseException = WorkerLost(f"{e}; gave up after {attempt} attempt(s)", e.worker)
        except Exception as e:  # one bad file must not stop the others
            error = e
        return FileOutcome(path, None, error, attempt, time.perf_counter() - started)
    raise AssertionError("unreachable")


def analyze_many(paths: Iterable[str], config: PipelineConfig | None = None, *,
                 address: str = "auto", actors: int = 0, threads: int = 1,
                 options: RayOptions | None = None, pool: ActorPool | None = None,
                 ) -> Iterator[FileOutcome]:
    """Analyse files on a Ray cluster; yields each file's outcome as it finishes.

    Each actor loads the models once and analyses one file at a time; a file reaches it by
    its path when the actor's node sees the same file there, else through Ray's object store.

    Args:
        paths: the files (a folder stands for its media files, searched recursively).
        config: the pipeline's options (default ``PipelineConfig()``).
        address: the cluster (see :class:`RayOptions`); ``"auto"`` starts a local one when
            none is running.
        actors: how many actors; 0 fills the cluster's CPUs.
        threads: CPUs (and threads) of each actor.
        options: all the Ray options at once (then ``address``, ``actors`` and ``threads``
            are ignored).
        pool: a running :class:`ActorPool` to use (kept open afterwards); by default one is
            started and stopped here.

    Yields:
        One :class:`FileOutcome` per file, in the order they finish.

    Raises:
        ClusterError: Ray is missing, the cluster cannot be reached, or the actors cannot start.

    Example:
        >>> from emotrace.distributed import analyze_many
        >>> for done in analyze_many(["a.mp4", "b.mp4"], address="auto"):
        ...     print(done.path, "ok" if done.ok else done.error)
    """
    files = [i.path for i in expand_inputs(str(p) for p in paths)]
    options = options or RayOptions(address=address, actors=actors, threads=threads)
    own = pool is None
    if pool is None:
        pool = ActorPool(config, options)
    threads_pool = ThreadPoolExecutor(max_workers=max(1, pool.size), thread_name_prefix="emotrace-ray")
    pending: set[Future[Any]] = set()
    try:
        # the driver's threads only wait on Ray: one per actor keeps every actor busy
        pending = {threads_pool.submit(_one, pool, f, options.max_attempts) for f in files}
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                yield future.result()
    finally:
        for future in pending:
            future.cancel()
        if own:
            pool.stop()  # ends the running analyses too, so the waiting threads end at once
        threads_pool.shutdown(wait=True, cancel_futures=True)
        if own:
            pool.close()
