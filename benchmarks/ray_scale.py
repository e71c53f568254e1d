"""Ray scale-out: files per minute with 1, 2 … actors, each actor's memory, and what Ray adds
to one file.

    .venv/bin/python benchmarks/ray_scale.py [--files 12] [--actors 1,2] [--repeat 2] [--media FILE_OR_DIR ...]

On a local Ray cluster of this machine's CPUs, for each actor count: starts the actors (one
CPU and one copy of the models each), lets each analyse one file (warm-up), then times a batch
of ``--files`` short videos (the talking-head clips of ../shared/data/media, else the test
fixture dialogue.mp4, repeated under different names) and prints files per minute, seconds of
media per second, the CPUs the actors kept busy, their CPU seconds per file, the start-up time
and each actor's resident memory (the fastest of ``--repeat`` interleaved runs per count). Then, for one file: the
analysis in this process with a loaded pipeline against the same on a warm actor (Ray's cost
per file), and a cold ``emotrace analyze FILE`` against ``emotrace analyze FILE --ray=local``
(what a one-off command pays for starting a cluster and its actors). Needs emotrace[ray].
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine import describe

REPO = Path(__file__).resolve().parents[1]
TALKING_HEADS = REPO.parent / "shared" / "data" / "media" / "talking-head"
FALLBACK = REPO / "tests" / "fixtures" / "dialogue.mp4"


def media_files(given: list[str]) -> list[Path]:
    from emotrace.targets import expand_inputs

    if given:
        return [Path(i.path) for i in expand_inputs(given)]
    heads = sorted(TALKING_HEADS.glob("*.mp4")) if TALKING_HEADS.is_dir() else []
    return heads or [FALLBACK]


def batch(sources: list[Path], n: int, folder: Path) -> tuple[list[str], float]:
    """``n`` files (copies of ``sources`` in turn) and their total duration in seconds."""
    from emotrace.media import probe

    files, seconds = [], 0.0
    for i in range(n):
        src = sources[i % len(sources)]
        dst = folder / f"{i:03d}-{src.name}"
        shutil.copyfile(src, dst)
        files.append(str(dst))
        seconds += probe(dst).duration
    return files, seconds


def timed_batch(config, actors: int, files: list[str], media_s: float) -> dict:
    from emotrace.distributed import ActorPool, RayOptions, analyze_many

    t0 = time.perf_counter()
    pool = ActorPool(config, RayOptions(actors=actors, threads=1))
    start_s = time.perf_counter() - t0
    try:
        list(analyze_many(files[:actors], pool=pool, options=pool.options))  # warm-up: one each
        cpu0 = sum(m["cpu_s"] for m in pool.memory())
        t0 = time.perf_counter()
        outcomes = list(analyze_many(files, pool=pool, options=pool.options))
        wall = time.perf_counter() - t0
        after = pool.memory()
        failed = [o for o in outcomes if not o.ok]
        if failed:
            raise SystemExit(f"{len(failed)} file(s) failed, first: {failed[0].error}")
    finally:
        pool.close()
    cpu = sum(m["cpu_s"] for m in after) - cpu0
    return {"actors": actors, "start_s": start_s, "wall_s": wall, "files_per_min": len(files) / wall * 60,
            "rtf_x": media_s / wall, "rss_mb": [m["rss"] / 1024**2 for m in after],
            "cpu_per_file": cpu / len(files), "cpus_busy": cpu / wall}


def one_file_overhead(config, path: str, repeats: int = 5) -> dict:
    """One file on a warm actor: the driver's wall time per call minus the analysis's own
    time inside the actor (what Ray adds), by path and through the object store; and the
    same file in this process with a loaded pipeline, for scale."""
    from emotrace.distributed import ActorPool, RayOptions
    from emotrace.pipeline import Pipeline

    pipeline = Pipeline(config)
    pipeline.analyze(path)
    local = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        pipeline.analyze(path)
        local.append(time.perf_counter() - t0)
    del pipeline
    out = {"local_s": statistics.median(local)}
    for transfer in ("path", "object-store"):
        walls, added = [], []
        options = RayOptions(actors=1, threads=config.asr.threads or 1, transfer=transfer)
        with ActorPool(config, options) as pool:
            pool.analyze(path)
            for _ in range(repeats):
                t0 = time.perf_counter()
                result = pool.analyze(path)
                walls.append(time.perf_counter() - t0)
                added.append(walls[-1] - result.metadata["timings"]["total"])
        out[transfer] = (statistics.median(walls), statistics.median(added))
    return out


def cli_wall(args: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "emotrace", "analyze", "-q", "--no-cache", *args],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser(prog=".venv/bin/python benchmarks/ray_scale.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--files", type=int, default=12, help="files in the timed batch (default: 12)")
    p.add_argument("--actors", default="1,2", help="actor counts to compare (default: 1,2)")
    p.add_argument("--media", nargs="*", default=[], help="files or folders to use instead of the talking heads")
    p.add_argument("--repeat", type=int, default=2,
                   help="batches per actor count, interleaved; the fastest is shown (default: 2)")
    p.add_argument("--skip-cli", action="store_true", help="leave out the cold command-line comparison")
    args = p.parse_args()

    import ray

    from emotrace.config import PipelineConfig
    from emotrace.distributed.pool import with_threads

    cpus = os.cpu_count() or 1
    print(describe())
    sources = media_files(args.media)
    with tempfile.TemporaryDirectory(prefix="emotrace-ray-bench-") as tmp:
        files, media_s = batch(sources, args.files, Path(tmp))
        print(f"batch: {len(files)} files ({', '.join(s.name for s in sources)} in turn), "
              f"{media_s:.0f} s of media; local Ray cluster of {cpus} CPU(s), 1 CPU per actor\n")
        ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False)
        try:
            counts = [int(a) for a in args.actors.split(",")]
            runs: dict[int, list[dict]] = {a: [] for a in counts}
            for _ in range(args.repeat):  # interleaved, so a busy spell hits every count alike
                for a in counts:
                    runs[a].append(timed_batch(with_threads(PipelineConfig(), 1), a, files, media_s))
            rows = [max(runs[a], key=lambda r: r["files_per_min"]) for a in counts]
            base = rows[0]["files_per_min"]
            print("| actors | files/min | speed-up | media s per s | CPUs busy | CPU s per file "
                  "| actors start (s) | memory per actor (MB) |")
            print("|---:|---:|---:|---:|---:|---:|---:|---|")
            for r in rows:
                print(f"| {r['actors']} | {r['files_per_min']:.1f} | {r['files_per_min'] / base:.2f}x | "
                      f"{r['rtf_x']:.1f} | {r['cpus_busy']:.2f} | {r['cpu_per_file']:.2f} | "
                      f"{r['start_s']:.1f} | {', '.join(f'{m:.0f}' for m in r['rss_mb'])} |")
            config = with_threads(PipelineConfig(), cpus)
            one = one_file_overhead(config, files[0])
        finally:
            ray.shutdown()
        print(f"\none file ({Path(files[0]).name}, {cpus} thread(s), models loaded), median of 5: "
              f"in this process {one['local_s']:.2f} s; on a warm actor {one['path'][0]:.2f} s by "
              f"path, {one['object-store'][0]:.2f} s through the object store. Ray's own share "
              f"(driver wall minus the analysis's time in the actor): {one['path'][1] * 1000:.0f} ms "
              f"by path, {one['object-store'][1] * 1000:.0f} ms through the object store")
        if not args.skip_cli:
            plain = cli_wall([files[0]])
            on_ray = cli_wall([files[0], "--ray=local", "--ray-actors", "1", "--ray-threads", str(cpus)])
            print(f"cold command, one file: emotrace analyze {plain:.1f} s; with --ray=local "
                  f"{on_ray:.1f} s (+{on_ray - plain:.1f} s: starting a local cluster and its actor)")


if __name__ == "__main__":
    main()
