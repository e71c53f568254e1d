"""emotrace on a Ray cluster (needs the ``ray`` extra: ``pip install 'emotrace[ray]'``).

* :func:`analyze_many`: many files over a pool of actors, results as files finish
  (``emotrace analyze FILES… --ray``).
* :class:`RayPipeline`: the pipeline interface with every analysis on an actor, what the
  REST service runs on with ``emotrace serve --ray``.
* :class:`ActorPool`, :class:`RayOptions`: the actors and where they run.

Importing this package does not import Ray; the first pool does (and says how to install it
when it is missing).
"""

from .batch import FileOutcome, analyze_many
from .cluster import RayOptions
from .pool import ActorPool, RayPipeline, WorkerLost

__all__ = ["ActorPool", "FileOutcome", "RayOptions", "RayPipeline", "WorkerLost", "analyze_many"]
