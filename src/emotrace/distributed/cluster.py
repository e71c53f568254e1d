"""Connecting to a Ray cluster, and the options of the distributed runs.

Ray is imported here (and in the other modules of this package) only when a function that needs
it runs: ``import emotrace`` and the single-machine commands never load it.
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass
from typing import Any

from ..config import check_choice, check_range
from ..errors import ClusterError, ConfigError

log = logging.getLogger(__name__)

TRANSFERS = ("auto", "path", "object-store")
"""How a file reaches a worker: ``path`` (the worker opens the same path: local or a shared
file system), ``object-store`` (its bytes travel through Ray's object store), ``auto`` (the
path when the worker sees the same file there, else the object store)."""

INSTALL_HINT = "install emotrace[ray]: pip install 'emotrace[ray]'"


@dataclass(frozen=True)
class RayOptions:
    """Where and how analyses run on Ray.

    Attributes:
        address: the cluster: ``"auto"`` (the one this machine belongs to, found through
            ``ray start`` or ``RAY_ADDRESS``; a local one is started when none is running),
            ``"local"`` (always start a local one), ``"HOST:PORT"`` (the head's GCS address,
            as ``ray start --head`` prints it) or ``"ray://HOST:10001"`` (Ray Client).
        actors: analysis actors, each holding one copy of the models and analysing one file at
            a time; 0 means as many as the cluster's CPUs allow at ``threads`` CPUs each.
        threads: CPU threads of each actor (its ``num_cpus`` reservation, and the threads that
            speech recognition and ONNX Runtime use in it).
        transfer: one of :data:`TRANSFERS`.
        max_attempts: times a file is started before a worker that keeps dying fails it.
        startup_timeout: seconds to wait for every actor to load its models.
        num_cpus: CPUs of a local cluster started here (None: this machine's).
        object_store_memory: bytes of a local cluster's object store (None: Ray's default).
    """

    address: str = "auto"
    actors: int = 0
    threads: int = 1
    transfer: str = "auto"
    max_attempts: int = 2
    startup_timeout: float = 600.0
    num_cpus: int | None = None
    object_store_memory: int | None = None

    def __post_init__(self) -> None:
        if not str(self.address).strip():
            raise ConfigError("the Ray address must not be empty; use 'auto', 'local', "
                              "HOST:PORT or ray://HOST:PORT")
        check_range("ray actors", self.actors, 0, 10_000)
        check_range("ray threads", self.threads, 1, 256)
        check_choice("ray transfer", self.transfer, TRANSFERS)
        check_range("ray max_attempts", self.max_attempts, 1, 100)
        check_range("ray startup_timeout", self.startup_timeout, 1, 86_400)


def import_ray() -> Any:
    """The ``ray`` module.

    Raises:
        ClusterError: Ray is not installed (the message says how to install it).
    """
    try:
        import ray
    except ImportError as e:
        raise ClusterError(f"Ray is not installed ({e}); {INSTALL_HINT}") from e
    return ray


def connect(options: RayOptions) -> bool:
    """Join the cluster ``options.address`` names (nothing when this process already has).

    Returns:
        True when a local cluster was started here (:func:`disconnect` then stops it).

    Raises:
        ClusterError: Ray is missing or the address cannot be reached.
    """
    ray = import_ray()
    if ray.is_initialized():
        return False
    quiet = dict(include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False)
    local = dict(quiet, num_cpus=options.num_cpus, object_store_memory=options.object_store_memory)
    address = options.address.strip()
    if address == "local":
        ray.init(**local)
        return True
    env = os.environ.get("RAY_ADDRESS", "").strip()
    if address != "auto" or env not in ("", "auto", "local"):
        _check_reachable(address if address != "auto" else env)
    try:
        ray.init(address=address, **quiet)
        log.info("joined the Ray cluster at %s", address)
        return False
    except ConnectionError as e:
        if address == "auto" and not os.environ.get("RAY_ADDRESS"):
            log.info("no running Ray cluster found; starting a local one")
            ray.init(**local)
            return True
        raise ClusterError(f"cannot reach the Ray cluster at {address!r} ({e}); start one with "
                           "'ray start --head' (it prints the address to use), or check the "
                           "address ('ray status' on the head shows it)") from e
    except (ValueError, RuntimeError) as e:  # a malformed address, a version mismatch
        raise ClusterError(f"cannot join the Ray cluster at {address!r}: {e}") from e


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    """Fail fast on an address nothing answers at (Ray itself retries for minutes)."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"{address!r} is not a Ray address; expected 'auto', 'local', "
                          "HOST:PORT (the head's address, as 'ray start --head' prints it) or "
                          "ray://HOST:PORT")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as e:
        raise ClusterError(f"no Ray cluster answers at {address!r} ({e.strerror or e}); start "
                           "one with 'ray start --head' on the head machine (it prints the "
                           "address to use), or check the address ('ray status' on the head "
                           "shows it)") from e


def disconnect(started_here: bool) -> None:
    """Leave the cluster; a local cluster started by :func:`connect` stops with it."""
    ray = import_ray()
    if started_here and ray.is_initialized():
        ray.shutdown()


def cluster_actors(threads: int) -> int:
    """How many actors of ``threads`` CPUs the cluster's CPUs hold now (at least 1)."""
    ray = import_ray()
    cpus = float(ray.cluster_resources().get("CPU", 1))
    return max(1, int(cpus // threads))
