"""Checking a SQLite write-ahead log before SQLite opens it.

SQLite treats a damaged ``-wal`` file as a crash in the middle of writing it: it silently uses
the frames before the damage, or none at all when the header is damaged, so a server would start
with its recent jobs gone and then overwrite the log. :func:`wal_damage` reads the log the way
SQLite does (https://www.sqlite.org/fileformat2.html#walformat) and says whether it holds frames
that belong to it (same salts) but fail their checksum: damage, not a clean end.
"""

from __future__ import annotations

import struct
from pathlib import Path

_MAGIC = (0x377F0682, 0x377F0683)
_VERSION = 3007000
_HEADER, _FRAME_HEADER = 32, 24


def _checksum(data: bytes, big_endian: bool, s0: int = 0, s1: int = 0) -> tuple[int, int]:
    words = struct.unpack(f"{'>' if big_endian else '<'}{len(data) // 4}I", data)
    mask = 0xFFFFFFFF
    for i in range(0, len(words), 2):
        s0 = (s0 + words[i] + s1) & mask
        s1 = (s1 + words[i + 1] + s0) & mask
    return s0, s1


def wal_damage(path: Path | str) -> str | None:
    """Why the write-ahead log at ``path`` is damaged, or None when it is sound (or absent).

    Frames after the last one that matches are fine when they carry other salts (left over
    from before the log was last restarted) or are cut short (never completely written).
    """
    p = Path(path)
    if not p.is_file() or p.stat().st_size == 0:
        return None
    with open(p, "rb") as f:
        header = f.read(_HEADER)
        if len(header) < _HEADER:
            return f"its header is cut short ({len(header)} bytes)"
        magic, version, page_size, _seq, salt1, salt2, c0, c1 = struct.unpack(">8I", header)
        if magic not in _MAGIC or version != _VERSION:
            return "its header is not a SQLite write-ahead log header"
        big = bool(magic & 1)
        if _checksum(header[:24], big) != (c0, c1):
            return "its header fails its checksum"
        if page_size < 512 or page_size > 65536 or page_size & (page_size - 1):
            return f"its header gives an impossible page size ({page_size})"
        s0, s1 = c0, c1
        n = 0
        while True:
            frame = f.read(_FRAME_HEADER + page_size)
            if len(frame) < _FRAME_HEADER + page_size:
                return None  # the end, or a frame never completely written
            _page, _size, fsalt1, fsalt2, f0, f1 = struct.unpack(">6I", frame[:_FRAME_HEADER])
            if (fsalt1, fsalt2) != (salt1, salt2):
                return None  # left over from an earlier generation of the log
            s0, s1 = _checksum(frame[:8], big, s0, s1)
            s0, s1 = _checksum(frame[_FRAME_HEADER:], big, s0, s1)
            n += 1
            if (s0, s1) != (f0, f1):
                return f"frame {n} fails its checksum"
