"""A bounded pool of analysis threads, off the event loop.

Analyses are CPU-bound and long (seconds to minutes), so they run in a fixed number of worker
threads that share one loaded pipeline. At most ``workers + max_queue`` analyses are admitted at
a time; one more is refused with :class:`QueueFull` (the API answers 503 with ``Retry-After``)
instead of piling up memory and uploads. Admission is a *slot*, taken before the upload is read
so that a client is turned away before it sends a gigabyte.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable

log = logging.getLogger(__name__)


class QueueFull(Exception):
    """Every worker is busy and the waiting line is full."""

    def __init__(self, retry_after: int):
        super().__init__(f"the analysis queue is full; retry in {retry_after} s")
        self.retry_after = retry_after


class Slot:
    """A place in the pool, held from admission until the analysis ends.

    Use as a context manager around the work done before :meth:`Runner.submit`: if the request
    fails before submitting, leaving the block gives the place back.
    """

    def __init__(self, runner: "Runner"):
        self._runner = runner
        self._held = True
        self._lock = threading.Lock()

    def release(self) -> None:
        """Give the place back (idempotent)."""
        with self._lock:
            if not self._held:
                return
            self._held = False
        self._runner._release()

    def __enter__(self) -> "Slot":
        return self

    def __exit__(self, *exc: Any) -> None:
        if exc[0] is not None:
            self.release()


class Runner:
    """``workers`` threads with room for ``max_queue`` more analyses waiting.

    Args:
        workers: threads running analyses.
        max_queue: analyses admitted beyond the running ones.
        retry_after: seconds suggested to refused clients.
    """

    def __init__(self, workers: int, max_queue: int, retry_after: int = 10):
        self.workers, self.capacity, self.retry_after = workers, workers + max_queue, retry_after
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="emotrace-analysis")
        self._lock = threading.Lock()
        self._admitted = 0

    @property
    def admitted(self) -> int:
        """Analyses running or waiting (slots held)."""
        return self._admitted

    def reserve(self, force: bool = False) -> Slot:
        """Take a slot.

        Args:
            force: admit even when full (used to re-run interrupted jobs at start-up, which
                were admitted once already).

        Raises:
            QueueFull: no room and not ``force``.
        """
        with self._lock:
            if self._admitted >= self.capacity and not force:
                raise QueueFull(self.retry_after)
            self._admitted += 1
        return Slot(self)

    def _release(self) -> None:
        with self._lock:
            self._admitted -= 1

    def submit(self, slot: Slot, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Future:
        """Run ``fn(*args, **kwargs)`` in a worker; the slot is given back when it ends."""
        try:
            future = self._pool.submit(fn, *args, **kwargs)
        except BaseException:
            slot.release()
            raise
        future.add_done_callback(lambda _f: slot.release())
        return future

    def shutdown(self, wait: bool = False) -> None:
        """Stop taking work; queued analyses are dropped (their jobs stay queued in the store
        and are picked up by the next start), running ones finish unless the process exits."""
        self._pool.shutdown(wait=wait, cancel_futures=True)
