"""Arrays that grow with a file's length, kept in anonymous temporary files instead of memory.

A long file's decoded audio (:mod:`emotrace.audio_source`) and its Whisper encoder states
(:mod:`emotrace.whisper_states`) grow with its duration; written to a :class:`SpillFile` they cost
disk, not memory, and each read takes only the stretch asked for. The files are created with
:func:`tempfile.TemporaryFile` (in ``$TMPDIR``): they have no name, and the system frees them
as soon as they are closed, even after a crash.
"""

from __future__ import annotations

import os
import tempfile
import weakref

import numpy as np

from .errors import MediaError


class SpillFile:
    """An append-only anonymous temporary file, read at any offset; reads are thread-safe
    (``pread``: no shared file position). Closed when it is garbage collected.

    Args:
        what: what it holds, for error messages (``"long audio"`` …).
    """

    def __init__(self, what: str):
        self.what = what
        try:
            self._file = tempfile.TemporaryFile(prefix="emotrace-")
        except OSError as e:
            raise MediaError(f"cannot create a temporary file for {what}: {e} "
                             "(set TMPDIR to a writable folder)") from e
        self._closer = weakref.finalize(self, self._file.close)
        self._dirty = False
        self.size = 0
        """Bytes written."""

    def write(self, x: np.ndarray) -> None:
        """Append the bytes of the (C-contiguous) array ``x``."""
        data = memoryview(np.ascontiguousarray(x).reshape(-1).view(np.uint8))
        try:
            self._file.write(data)
        except OSError as e:
            self._closer()
            raise MediaError(f"cannot write {self.what} to a temporary file: {e} "
                             "(set TMPDIR to a folder with more room)") from e
        self.size += len(data)
        self._dirty = True

    def read_into(self, out: np.ndarray, offset: int) -> np.ndarray:
        """Fill the (C-contiguous) array ``out`` with the bytes from ``offset`` on; returns ``out``."""
        if self._dirty:
            self._file.flush()
            self._dirty = False
        view = memoryview(out.reshape(-1).view(np.uint8))
        done = 0
        while done < len(view):
            n = os.preadv(self._file.fileno(), [view[done:]], offset + done)
            if n <= 0:
                raise MediaError(f"the temporary file of {self.what} ended early at byte {offset + done}")
            done += n
        return out


class SpilledRows:
    """A 2-D array whose rows are appended to a :class:`SpillFile` and read back by index or
    slice (``rows[k]``, ``rows[a:b]``), as an array's would be.

    Args:
        width: values per row.
        dtype: their type.
        what: what the rows are, for error messages.
    """

    def __init__(self, width: int, dtype, what: str):
        self.dtype = np.dtype(dtype)
        self.width = int(width)
        self._file = SpillFile(what)
        self._rows = 0

    @property
    def shape(self) -> tuple[int, int]:
        """``(rows, width)``."""
        return self._rows, self.width

    def __len__(self) -> int:
        return self._rows

    def append(self, rows: np.ndarray) -> None:
        """Add rows ``(n, width)`` at the end."""
        rows = np.asarray(rows, dtype=self.dtype).reshape(-1, self.width)
        self._file.write(rows)
        self._rows += len(rows)

    def __getitem__(self, index):
        if isinstance(index, slice):
            lo, hi, step = index.indices(self._rows)
            if step != 1:
                raise ValueError("spilled rows are read with step 1")
            out = np.empty((max(0, hi - lo), self.width), self.dtype)
            return self._file.read_into(out, lo * self.width * self.dtype.itemsize)
        k = int(index)
        if k < 0:
            k += self._rows
        if not 0 <= k < self._rows:
            raise IndexError(f"row {index} of {self._rows}")
        return self[k:k + 1][0]
