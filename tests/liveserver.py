"""A REST server for live tests: the real app, job store and uvicorn (signals, connections,
restarts), around a stand-in pipeline whose analyses wait for a *gate* file to exist.

Run as ``python -m tests.liveserver --data-dir D --fd N [--gate FILE] [--done-log FILE]`` from the
repository root, with the listening socket inherited as file descriptor ``N``. Each finished
analysis appends its upload path to ``--done-log``, so a test can count how often each ran.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from .apihelpers import FakePipeline, FakeTextScorer


class GatedPipeline(FakePipeline):
    """Waits, reporting progress, until ``gate`` exists; then answers as FakePipeline."""

    def __init__(self, gate: Path | None, done_log: Path | None):
        super().__init__()
        self.gate_file, self.done_log = gate, done_log

    def analyze(self, path, *, audio_path=None, transcript=None, hook=None):
        while self.gate_file is not None and not self.gate_file.exists():
            if hook:
                hook("asr", 0, 1)  # a stopping server ends the analysis here, as a real one's would
            time.sleep(0.05)
        result = super().analyze(path, audio_path=audio_path, transcript=transcript, hook=hook)
        if self.done_log is not None:
            with open(self.done_log, "a") as f:
                f.write(f"{path}\n")
        return result


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--data-dir", required=True)
    p.add_argument("--fd", type=int, required=True)
    p.add_argument("--gate")
    p.add_argument("--done-log")
    p.add_argument("--workers", type=int, default=1)
    args = p.parse_args()
    import uvicorn

    from emotrace.api import Settings, create_app

    pipeline = GatedPipeline(Path(args.gate) if args.gate else None,
                             Path(args.done_log) if args.done_log else None)
    app = create_app(Settings(data_dir=args.data_dir, workers=args.workers), pipeline,
                     text_scorer=FakeTextScorer())
    uvicorn.run(app, fd=args.fd, log_level="warning")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
