"""A cached factory for ONNX Runtime sessions, so each model file is loaded once per process."""

from __future__ import annotations

import functools
import logging
from pathlib import Path

from .errors import ModelError

log = logging.getLogger(__name__)


@functools.lru_cache(maxsize=16)
def _session(path: str, threads: int):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        opts.intra_op_num_threads = threads
    # One inter-op thread: our graphs are sequential, and the server parallelises across requests.
    opts.inter_op_num_threads = 1
    try:
        return ort.InferenceSession(path, sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own untyped errors
        raise ModelError(f"cannot load ONNX model {path}: {e}") from e


def onnx_session(path: Path, threads: int = 0):
    """Return a (cached, thread-safe) ``onnxruntime.InferenceSession`` for ``path`` on the CPU.

    Args:
        path: the ``.onnx`` file.
        threads: intra-op threads; 0 lets ONNX Runtime choose.

    Raises:
        ModelError: the file is missing or not a valid model.
    """
    path = Path(path).resolve()
    if not path.is_file():
        raise ModelError(f"model file not found: {path}")
    log.debug("loading ONNX model %s", path)
    return _session(str(path), int(threads))
