"""Peak memory against media duration: ``emotrace analyze`` on silent FLAC files of growing length.

A long silence is the cheapest upload that makes the server decode and scan a long file, so it
shows how memory grows with duration. Each run is its own process; its peak RSS is read from
``getrusage``. Files are generated in a temporary folder (a few MB each: silence compresses).
Audio longer than 10 minutes is decoded to a temporary file and recognised a 10-minute window
at a time (``emotrace.windows``), so the target is a flat column: 2 hours within 20 % of 10 minutes.

    .venv/bin/python benchmarks/long_memory.py [--minutes 10,120] [--modalities text,audio,face]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def silent_flac(path: Path, seconds: float, rate: int = 16_000) -> Path:
    """A mono FLAC of ``seconds`` of (very quiet) noise, written a minute at a time."""
    import av

    rng = np.random.default_rng(0)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("flac", rate=rate, layout="mono")
        left = int(seconds * rate)
        while left > 0:
            n = min(left, rate * 60)
            samples = (rng.standard_normal(n) * 2).astype(np.int16).reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
            frame.sample_rate = rate
            for packet in stream.encode(frame):
                out.mux(packet)
            left -= n
        for packet in stream.encode(None):
            out.mux(packet)
    return path


def peak_rss_mb(cmd: list[str]) -> tuple[float, float, int]:
    """Run ``cmd``; its peak RSS in MB, wall seconds and exit status."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return usage.ru_maxrss / 1024, time.perf_counter() - start, proc.returncode


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", default="10,120", help="durations to try (default: %(default)s)")
    p.add_argument("--modalities", default="text,audio,face")
    args = p.parse_args()
    minutes = [float(m) for m in args.minutes.split(",")]
    print(f"| minutes | file MB | peak RSS MB | vs first | seconds |  (modalities {args.modalities})")
    print("|---:|---:|---:|---:|---:|")
    first = None
    with tempfile.TemporaryDirectory() as tmp:
        for m in minutes:
            f = silent_flac(Path(tmp) / f"silence-{m:g}min.flac", m * 60)
            cmd = [sys.executable, "-m", "emotrace", "analyze", str(f), "--no-cache", "-q",
                   "--modalities", args.modalities]
            rss, wall, code = peak_rss_mb(cmd)
            note = "" if code == 0 else f" (exit {code})"
            first = first or rss
            print(f"| {m:g} | {f.stat().st_size / 1e6:.1f} | {rss:.0f}{note} | {rss / first:.2f}x | {wall:.0f} |",
                  flush=True)
            f.unlink()


if __name__ == "__main__":
    main()
