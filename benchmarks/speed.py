"""Speed and memory of ``emotrace analyze`` per modality set, on ~3- and ~10-minute dialogue videos.

    .venv/bin/python benchmarks/speed.py [--minutes 3 10] [--runs 3 1] [--keep DIR] [--quick]

Makes each video once (two espeak-ng voices taking turns with pauses, as
``benchmarks/pipeline_speed.py`` does; the picture is the talking head of
``../shared/data/media/talking-head/face_1.mp4`` looped when that file exists, else ffmpeg's
test pattern; 640x360 25 fps H.264 + AAC), then runs ``emotrace analyze --no-cache`` in a fresh
process for every modality set (text; text,audio; text,audio,face) ``--runs`` times, and prints a
markdown table of medians: seconds per stage (from the result's ``metadata.timings``), analysis
total, real-time factor (total / media seconds), start-up (process wall time minus analysis:
imports and model loading), the process's CPU seconds (user + system, from ``wait4``: on a
shared machine they vary less than wall time), its peak RSS (``wait4``'s ``ru_maxrss`` of that
child alone) and the utterances found.

Cold start is measured apart: process start → first result written, for the committed 23 s
fixture ``tests/fixtures/dialogue.mp4``, per modality set (median of ``--runs``'s first value).

``--quick``: one 1-minute video, one run each. Needs Debian's ``espeak-ng`` and ``ffmpeg``
(``apt-get install -y espeak-ng ffmpeg``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe  # noqa: E402  (same folder, not a package)
from pipeline_speed import make_dialogue  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
FACE_CLIP = REPO.parent / "shared" / "data" / "media" / "talking-head" / "face_1.mp4"
FIXTURE = REPO / "tests" / "fixtures" / "dialogue.mp4"
MODALITY_SETS = ("text", "text,audio", "text,audio,face")
STAGES = ("media", "asr", "speakers", "segmentation", "text", "audio", "face", "fusion")


def make_video(folder: Path, minutes: float) -> tuple[Path, float]:
    """A dialogue video of about ``minutes`` minutes in ``folder`` (reused if already there)."""
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / "dialogue_face.mp4"
    if final.exists():
        from emotrace.media import probe

        return final, probe(final).duration
    video, duration = make_dialogue(folder, minutes)
    if not FACE_CLIP.exists():
        video.rename(final)
        return final, duration
    partial = folder / "partial.mp4"  # renamed when complete: an interrupted run is not reused
    # Same sound track, a real face speaking to the camera as the picture (looped).
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-stream_loop", "-1", "-i", str(FACE_CLIP),
                    "-i", str(folder / "dialogue.wav"), "-t", f"{duration:.3f}", "-map", "0:v", "-map", "1:a",
                    "-vf", "scale=640:360,fps=25", "-c:v", "libx264", "-preset", "ultrafast", "-crf", "30",
                    "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "64k", str(partial)], check=True)
    partial.rename(final)
    video.unlink()
    return final, duration


def run_once(video: Path, modalities: str, out: Path) -> dict:
    """One ``emotrace analyze`` in a fresh process: wall seconds, peak RSS (MB) and the result."""
    cmd = [sys.executable, "-m", "emotrace", "analyze", str(video), "--modalities", modalities,
           "--no-cache", "-q", "--format", "json", "-o", str(out)]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    stderr = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        lines = [line.strip() for line in stderr.decode(errors="replace").splitlines() if line.strip()]
        print(f"{' '.join(cmd)} failed ({proc.returncode})", file=sys.stderr)
        raise RuntimeError(lines[-1] if lines else f"exit status {proc.returncode}")
    result = json.loads(out.read_text())
    rss_mb = usage.ru_maxrss / (1024 * 1024 if platform.system() == "Darwin" else 1024)
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "rss_mb": rss_mb, "timings": result["metadata"]["timings"],
            "duration": result["metadata"]["duration"], "utterances": len(result["analysis"]["utterances"])}


def last_line(error: Exception) -> str:
    """A failed run's message, fit for a table cell."""
    return str(error).replace("|", "/")[:160]


def commit() -> str | None:
    """The checked-out commit (``+`` when the tree has changes), or None outside git."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()
    try:
        return git("rev-parse", "--short", "HEAD") + ("+" if git("status", "--porcelain", "--untracked-files=no") else "")
    except (OSError, subprocess.CalledProcessError):
        return None


def med(values: list[float]) -> float:
    return statistics.median(values)


def fmt(x: float | None, digits: int = 1) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def case_summary(modalities: str, runs: list[dict]) -> dict:
    """The medians of one case's runs (what the table row and ``--json`` hold)."""
    duration = runs[0]["duration"]
    total = med([r["timings"]["total"] for r in runs])
    cpu = med([r["cpu"] for r in runs])
    return {"minutes": round(duration / 60, 2), "modalities": modalities, "runs": len(runs),
            "stages": {s: med([r["timings"][s] for r in runs]) for s in STAGES if s in runs[0]["timings"]},
            "total_s": total, "rtf": total / duration, "startup_s": med([r["wall"] - r["timings"]["total"] for r in runs]),
            "cpu_s": cpu, "cpu_per_media_s": cpu / duration, "peak_rss_mb": med([r["rss_mb"] for r in runs]),
            "utterances": runs[0]["utterances"]}


def case_row(label: str, case: dict) -> str:
    stage = case["stages"]
    cells = [label, case["modalities"], str(case["runs"]),
             *(fmt(stage.get(s), 2 if s in ("segmentation", "fusion") else 1) for s in STAGES),
             f"**{case['total_s']:.1f}**", f"{case['rtf']:.3f}", fmt(case["startup_s"]),
             f"{case['cpu_s']:.0f}", f"{case['cpu_per_media_s']:.3f}", f"{case['peak_rss_mb']:.0f}",
             str(case["utterances"])]
    return "| " + " | ".join(cells) + " |"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, nargs="+", default=[3.0, 10.0], help="video lengths")
    p.add_argument("--runs", type=int, nargs="+", default=[3],
                   help="runs per case, one value per video (the last repeats); median reported")
    p.add_argument("--modalities", nargs="+", default=list(MODALITY_SETS), help="modality sets to run")
    p.add_argument("--keep", type=Path, help="make (or reuse) the videos under this folder and keep them")
    p.add_argument("--no-cold", action="store_true", help="skip the cold-start measurement")
    p.add_argument("--quick", action="store_true", help="one 1-minute video, one run each")
    p.add_argument("--json", type=Path, help="also write the medians here (benchmarks/report.py reads them)")
    args = p.parse_args()
    if args.quick:
        args.minutes, args.runs = [1.0], [1]
    runs_for = [args.runs[min(i, len(args.runs) - 1)] for i in range(len(args.minutes))]
    machine = describe()
    print(f"{machine} at start; python {platform.python_version()}")

    rows, cold, cases = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        base = args.keep or Path(tmp)
        out = Path(tmp) / "result.json"
        for minutes, n in zip(args.minutes, runs_for):
            t0 = time.perf_counter()
            video, duration = make_video(base / f"{minutes:g}min", minutes)
            print(f"video: {duration:.1f} s ({duration / 60:.1f} min), made or found in "
                  f"{time.perf_counter() - t0:.0f} s: {video}", file=sys.stderr)
            for mods in args.modalities:
                results = []
                try:
                    for i in range(n):
                        results.append(run_once(video, mods, out))
                        r = results[-1]
                        print(f"  {minutes:g} min {mods} run {i + 1}/{n}: analysis {r['timings']['total']:.1f} s, "
                              f"wall {r['wall']:.1f} s, {r['rss_mb']:.0f} MB", file=sys.stderr)
                except RuntimeError as e:  # a model not installed: say so in the table, go on
                    print(e, file=sys.stderr)
                    rows.append(f"| {duration / 60:.1f} min | {mods} | failed: {last_line(e)} |")
                    continue
                cases.append(case_summary(mods, results))
                rows.append(case_row(f"{duration / 60:.1f} min", cases[-1]))
        if not args.no_cold:
            for mods in args.modalities:
                try:
                    results = [run_once(FIXTURE, mods, out) for _ in range(runs_for[0])]
                except RuntimeError as e:
                    cold.append((mods, 0, None, None, last_line(e)))
                    continue
                cold.append((mods, len(results), med([r["wall"] for r in results]),
                             med([r["wall"] - r["timings"]["total"] for r in results]),
                             (med([r["cpu"] for r in results]), med([r["rss_mb"] for r in results]))))

    print("\nMedians; seconds per stage from the result's metadata; RTF = analysis total / media seconds; "
          "start-up = process wall time − analysis (imports, model loading); CPU = user + system seconds of the "
          "whole process (start-up included), less sensitive to other load than wall time; peak RSS of the "
          "analysing process.\n")
    print("| video | modalities | runs | " + " | ".join(STAGES) +
          " | total (s) | RTF | start-up (s) | CPU (s) | CPU s per media s | peak RSS (MB) | "
          "utterances |")
    print("|" + "---|" * (len(STAGES) + 10))
    print("\n".join(rows))
    if cold:
        print(f"\nCold start: a fresh `emotrace analyze` process on the {FIXTURE.name} fixture (23 s), "
              "process start → result written.\n")
        print("| modalities | runs | process start → result (s) | of which start-up (s) | CPU (s) | peak RSS (MB) |")
        print("|---|---|---|---|---|---|")
        for mods, n, wall, startup, rss in cold:
            if wall is None:
                print(f"| {mods} | 0 | failed: {rss} | | | |")
            else:
                print(f"| {mods} | {n} | **{wall:.1f}** | {startup:.1f} | {rss[0]:.1f} | {rss[1]:.0f} |")
    print(f"\nat the end: {describe()}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({
            "script": "benchmarks/speed.py", "argv": sys.argv[1:], "date": time.strftime("%Y-%m-%d", time.gmtime()),
            "commit": commit(),
            "machine": machine, "machine_at_end": describe(), "python": platform.python_version(),
            "cases": cases,
            "cold_start": [{"modalities": m, "runs": n, "wall_s": w, "startup_s": st, "cpu_s": r[0], "peak_rss_mb": r[1]}
                           for m, n, w, st, r in cold if w is not None]}, indent=1) + "\n")


if __name__ == "__main__":
    main()
