"""What the benchmarks print about the machine they ran on (imported by the scripts beside it)."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def cpu_name() -> str:
    """The CPU's model name (from ``/proc/cpuinfo`` on Linux)."""
    info = Path("/proc/cpuinfo")
    if info.exists():
        for line in info.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def describe() -> str:
    """``CPU: NAME, N logical cores; load average A / B / C`` (the load where the OS reports one)."""
    text = f"CPU: {cpu_name()}, {os.cpu_count()} logical cores"
    if hasattr(os, "getloadavg"):
        load = os.getloadavg()
        text += f"; load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}"
    return text
