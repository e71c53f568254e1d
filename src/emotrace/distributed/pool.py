"""A pool of analysis actors on a Ray cluster, and :class:`RayPipeline`, the pool behind the
pipeline interface the REST service already uses.

Each actor reserves ``threads`` CPUs (``num_cpus``), loads the models once and is given one file
at a time: the pool hands a free actor to each call, polls its progress (relayed to the
caller's hook), tells it to stop when the hook raises or the caller cancels, and reports an
actor that died mid-file as :class:`WorkerLost`, so the caller can run the file again
elsewhere. Ray restarts a dead actor (``max_restarts=-1``) and the pool keeps using it.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
import uuid
from typing import Any, Protocol, runtime_checkable

from ..config import PipelineConfig
from ..errors import ClusterError, MediaError, WorkerLost
from ..progress import Hook
from ..types import AnalysisResult
from .cluster import RayOptions, cluster_actors, connect, disconnect, import_ray
from .worker import AnalysisWorker, Cancelled, MediaSource, Outcome

log = logging.getLogger(__name__)

POLL_S = 0.25
"""How often a running call's progress is asked for (and cancellation checked)."""
STOP_WAIT_S = 60.0
"""How long a cancelled call may take to reach its next progress report before its actor is
given to the next file anyway."""


@runtime_checkable
class Cancellable(Protocol):
    """A progress hook that can also say its analysis is no longer wanted (a deleted job)."""

    def cancelled(self) -> bool: ...


def with_threads(config: PipelineConfig, threads: int) -> PipelineConfig:
    """``config`` with every stage left at 0 ("decide") set to ``threads``: an actor uses the
    CPUs it reserved, not every core of its node."""
    changes = {}
    for name in ("asr", "text", "audio", "face"):
        stage = getattr(config, name)
        if getattr(stage, "threads", None) == 0:
            changes[name] = dataclasses.replace(stage, threads=threads)
    return dataclasses.replace(config, **changes)


def _short(e: BaseException) -> str:
    """The last meaningful line of a Ray error (they carry whole remote tracebacks)."""
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    return lines[-1] if lines else type(e).__name__


class ActorPool:
    """``options.actors`` analysis actors on the cluster ``options.address`` names.

    Args:
        config: the pipeline's options (each actor gets them with ``options.threads`` threads).
        options: where and how to run.

    Raises:
        ClusterError: Ray is missing, the cluster cannot be reached, or the actors did not
            all start (their models failed to load, or the cluster lacks the CPUs).
    """

    def __init__(self, config: PipelineConfig | None = None, options: RayOptions | None = None):
        ray = import_ray()
        self.options = options or RayOptions()
        self.config = with_threads(config or PipelineConfig(), self.options.threads)
        self._cond = threading.Condition()
        self._closed = False
        self._actors: list[Any] = []
        self._busy: dict[int, str] = {}
        self._started_here = connect(self.options)
        try:
            n = self.options.actors or cluster_actors(self.options.threads)
            room = cluster_actors(self.options.threads)
            if n > room:  # an autoscaling cluster may add the nodes; say why it waits
                log.warning("%d actors of %d CPU(s) asked for; the cluster has room for %d now: "
                            "the others start when nodes join (waiting up to %.0f s)", n,
                            self.options.threads, room, self.options.startup_timeout)
            # max_concurrency: progress and cancel calls reach an actor while it analyses (the
            # pool gives it one file at a time); SPREAD: the models' memory over every node
            remote = ray.remote(AnalysisWorker).options(
                num_cpus=self.options.threads, max_concurrency=4, max_restarts=-1,
                max_task_retries=0, scheduling_strategy="SPREAD")
            self._actors = [remote.remote(self.config) for _ in range(n)]
            self.description = self._wait_ready()
        except BaseException:
            self.close()
            raise
        self._free = list(range(n))
        log.info("%d analysis actor(s) of %d CPU(s) ready", n, self.options.threads)

    @property
    def size(self) -> int:
        """Number of actors."""
        return len(self._actors)

    def _wait_ready(self) -> dict[str, Any]:
        ray = import_ray()
        refs = [a.describe.remote() for a in self._actors]
        _, pending = ray.wait(refs, num_returns=len(refs), timeout=self.options.startup_timeout)
        if pending:
            cpus = ray.cluster_resources().get("CPU", 0)
            raise ClusterError(
                f"only {len(refs) - len(pending)} of {len(refs)} analysis actors started within "
                f"{self.options.startup_timeout:.0f} s; the cluster has {cpus:g} CPU(s) for "
                f"{len(refs)} actor(s) of {self.options.threads} CPU(s): ask for fewer actors "
                "or add machines")
        try:
            return ray.get(refs)[0]
        except ray.exceptions.RayError as e:
            raise ClusterError(f"the analysis actors could not start: {_short(e)}") from e

    # handing out actors -------------------------------------------------------------

    def _acquire(self, avoid: int = -1) -> int:
        with self._cond:
            while not self._free:
                if self._closed:
                    raise ClusterError("the Ray actor pool is closed")
                self._cond.wait(1.0)
            if self._closed:
                raise ClusterError("the Ray actor pool is closed")
            pick = next((i for i in self._free if i != avoid), self._free[0])
            self._free.remove(pick)
            return pick

    def _release(self, index: int) -> None:
        with self._cond:
            self._busy.pop(index, None)
            self._free.append(index)
            self._cond.notify()

    def busy_actors(self) -> list[Any]:
        """Handles of the actors analysing a file now (for tests and operators)."""
        with self._cond:
            return [self._actors[i] for i in self._busy]

    def memory(self) -> list[dict[str, Any]]:
        """Each actor's process id (``pid``), node id (``node``), resident memory in bytes
        (``rss``) and CPU seconds used so far (``cpu_s``)."""
        ray = import_ray()
        return ray.get([a.where.remote() for a in self._actors])

    # running one file ---------------------------------------------------------------

    def analyze(self, path: Any = None, *, audio_path: Any = None, transcript: str | None = None,
                hook: Hook | None = None, avoid: int = -1, speakers: int | None = None) -> AnalysisResult:
        """Analyse one file on a free actor (waiting for one), as ``Pipeline.analyze`` does.

        Args:
            path, audio_path, transcript, hook, speakers: as in
                :meth:`emotrace.pipeline.Pipeline.analyze`;
                a hook that is :class:`Cancellable` stops the analysis when it says so.
            avoid: an actor index to use only if no other is free (the one a retry follows).

        Raises:
            WorkerLost: the actor died meanwhile (the file may be run again).
            MediaError, ConfigError, ModelError: as the pipeline raises them, with these paths.
        """
        ray = import_ray()
        media = _source(path)
        audio = _source(audio_path)
        if self.options.transfer == "object-store":
            media, audio = _with_data(ray, media), _with_data(ray, audio)
        index = self._acquire(avoid)
        try:
            outcome = self._call(index, media, audio, transcript, hook, speakers)
            if outcome.need_data:
                if self.options.transfer == "path":
                    raise MediaError(f"{path or audio_path}: the Ray worker's node does not see "
                                     "this path; put the files where every node sees them at the "
                                     "same path, or use the transfer 'auto' or 'object-store'")
                outcome = self._call(index, _with_data(ray, media), _with_data(ray, audio),
                                     transcript, hook, speakers)
        finally:
            self._release(index)
        if outcome.error is not None:
            raise outcome.error
        assert outcome.result is not None
        return outcome.result

    def _call(self, index: int, media: MediaSource | None, audio: MediaSource | None,
              transcript: str | None, hook: Hook | None, speakers: int | None = None) -> Outcome:
        ray = import_ray()
        actor, call_id = self._actors[index], uuid.uuid4().hex
        with self._cond:
            self._busy[index] = call_id
        self._wait_alive(index, media or audio)
        ref = actor.analyze.remote(call_id, media, audio, transcript, speakers)
        last = None
        try:
            while True:
                ready, _ = ray.wait([ref], timeout=POLL_S)
                if ready:
                    return ray.get(ref)
                if isinstance(hook, Cancellable) and hook.cancelled():
                    raise Cancelled("the analysis was cancelled")
                if hook is not None:
                    try:
                        now = ray.get(actor.progress.remote(call_id), timeout=10)
                    except ray.exceptions.GetTimeoutError:
                        continue
                    if now is not None and now != last:
                        last = now
                        hook(*now)
        except (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError,
                ray.exceptions.ObjectLostError) as e:
            name = (media or audio).path if (media or audio) else "the file"
            raise WorkerLost(f"the Ray worker analysing {name} died ({_short(e)})", index) from e
        except ray.exceptions.RayTaskError as e:  # the actor method itself failed
            raise ClusterError(f"the Ray worker failed: {_short(e)}") from e
        except BaseException:  # the hook raised, the caller cancelled or was interrupted
            self._stop(actor, call_id, ref)
            raise

    def _wait_alive(self, index: int, source: MediaSource | None) -> None:
        """Wait while Ray restarts the actor (after its process died), so that only a death
        during the analysis itself counts as a lost attempt."""
        ray = import_ray()
        deadline = time.monotonic() + self.options.startup_timeout
        while True:
            try:
                ray.get(self._actors[index].ping.remote(), timeout=self.options.startup_timeout)
                return
            except ray.exceptions.ActorUnavailableError:  # restarting: it comes back
                if time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            except (ray.exceptions.RayActorError, ray.exceptions.GetTimeoutError):
                break
        name = source.path if source is not None else "the file"
        raise WorkerLost(f"the Ray worker for {name} did not come back within "
                         f"{self.options.startup_timeout:.0f} s", index)

    def _stop(self, actor: Any, call_id: str, ref: Any) -> None:
        ray = import_ray()
        try:
            actor.cancel.remote(call_id)
            ray.wait([ref], timeout=STOP_WAIT_S)
        except Exception as e:  # the actor is gone: nothing left to stop
            log.debug("stopping call %s: %s", call_id, e)

    # the end ------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop the actors (a running analysis ends with them; its caller gets
        :class:`WorkerLost`) and hand out no more. Idempotent."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._cond.notify_all()
        ray = import_ray()
        for actor in self._actors:
            try:
                ray.kill(actor, no_restart=True)
            except Exception as e:
                log.debug("killing an actor: %s", e)

    def close(self) -> None:
        """:meth:`stop`, then leave the cluster; a local cluster started for this pool stops
        too. Idempotent."""
        self.stop()
        if self._started_here:
            self._started_here = False
            disconnect(True)

    def __enter__(self) -> "ActorPool":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _source(path: Any) -> MediaSource | None:
    if path is None:
        return None
    try:
        return MediaSource.of(path)
    except FileNotFoundError as e:
        raise MediaError(f"{path}: no such file") from e
    except OSError as e:
        raise MediaError(f"{path}: cannot be read ({e.strerror or e})") from e


def _with_data(ray: Any, source: MediaSource | None) -> MediaSource | None:
    if source is None or source.data is not None:
        return source
    with open(source.path, "rb") as f:
        return dataclasses.replace(source, data=ray.put(f.read()))


class RayPipeline:
    """The pipeline interface (``analyze``, ``describe``, ``config``) with every analysis run
    on a Ray actor: what ``emotrace serve --ray`` gives the REST service in place of a local
    :class:`~emotrace.pipeline.Pipeline`.

    Args:
        config: the pipeline's options.
        options: the cluster and the actors.
    """

    def __init__(self, config: PipelineConfig | None = None, options: RayOptions | None = None):
        self.pool = ActorPool(config, options)
        self.config = self.pool.config

    @property
    def workers(self) -> int:
        """Analyses that can run at once (the actors)."""
        return self.pool.size

    def describe(self) -> dict[str, Any]:
        """The models and versions, as the actors' pipelines describe them."""
        return dict(self.pool.description)

    def analyze(self, path: Any = None, *, audio_path: Any = None, transcript: str | None = None,
                hook: Hook | None = None, speakers: int | None = None) -> AnalysisResult:
        """As :meth:`emotrace.pipeline.Pipeline.analyze`, on a free actor (see
        :meth:`ActorPool.analyze`; raises :class:`WorkerLost` when the actor dies)."""
        return self.pool.analyze(path, audio_path=audio_path, transcript=transcript, hook=hook,
                                 speakers=speakers)

    def close(self) -> None:
        """Stop the actors and leave the cluster."""
        self.pool.close()
