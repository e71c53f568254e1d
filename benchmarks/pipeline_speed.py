"""Pipeline speed and memory: real-time factor and peak RSS on a synthetic spoken dialogue video.

    .venv/bin/python benchmarks/pipeline_speed.py [--minutes 3] [--asr-variants] [--keep DIR]

Makes a dialogue video of about ``--minutes`` minutes (two espeak-ng voices taking turns, with
pauses; 640x360 25 fps H.264 + AAC by ffmpeg) in a temporary folder, loads the default pipeline,
analyses the video once, and prints the seconds per stage, the real-time factor (analysis
seconds / media seconds; model loading shown apart) and the process's peak resident memory.
``--asr-variants`` also times the speech recogniser alone with batched/sequential decoding and
beam sizes 1 and 5, to choose the defaults. Needs Debian's ``espeak-ng`` and ``ffmpeg``.

Issue 3's targets: RTF <= 0.10 for 3 minutes on a 2-core CPU; peak memory <= 1.5 GB for 10 minutes.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

LINES = [
    "Hey, did you hear the news about the office moving downtown?",
    "No, when did they decide that? Nobody tells me anything.",
    "Last week. I think it is a great idea, the new building is beautiful.",
    "Great for you maybe. My commute is going to double.",
    "Oh come on, you can take the train, it is really fast.",
    "The train is always late and always full. I hate it.",
    "Well, at least there will be a gym and a nice cafeteria.",
    "I suppose that is something. Do we know the exact date?",
    "They said the first of March, but it might change.",
    "That is only three weeks away! How are we supposed to pack everything?",
    "Relax, the company hired movers. We just label our boxes.",
    "Okay, that makes me feel a little better, thank you.",
    "By the way, are you coming to the party on Friday?",
    "I wish I could, but my sister is visiting from Chicago.",
    "Bring her along! Everyone would love to meet her.",
    "Really? That is so kind of you. She would be thrilled.",
    "I was so scared when the fire alarm went off yesterday.",
    "Me too, I thought something terrible had happened.",
    "It turned out someone burned popcorn in the kitchen again.",
    "Unbelievable. That is the third time this month.",
]
VOICES = ("en-us", "en-us+f3")


def make_dialogue(folder: Path, minutes: float) -> tuple[Path, float]:
    """Write ``dialogue.mp4`` of about ``minutes`` minutes; returns its path and duration."""
    for tool in ("espeak-ng", "ffmpeg"):
        if shutil.which(tool) is None:
            raise SystemExit(f"needs {tool}: apt-get install -y espeak-ng ffmpeg")
    parts, total, i = [], 0.0, 0
    concat = folder / "parts.txt"
    while total < minutes * 60:
        wav = folder / f"line{i:04d}.wav"
        subprocess.run(["espeak-ng", "-v", VOICES[i % 2], "-s", "160", "-w", str(wav), LINES[i % len(LINES)]],
                       check=True)
        padded = folder / f"pad{i:04d}.wav"
        # Speech, then a pause of 0.5-1.3 s: turns of a conversation.
        pause = 0.5 + (i % 5) * 0.2
        subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(wav), "-af",
                        f"apad=pad_dur={pause}", "-ar", "16000", "-ac", "1", str(padded)], check=True)
        out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of",
                              "default=nw=1:nk=1", str(padded)], check=True, capture_output=True, text=True)
        total += float(out.stdout)
        parts.append(padded)
        i += 1
    concat.write_text("".join(f"file '{p.name}'\n" for p in parts))
    (folder / "script.txt").write_text("\n".join(LINES[k % len(LINES)] for k in range(i)) + "\n")
    audio = folder / "dialogue.wav"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-f", "concat", "-safe", "0", "-i", str(concat),
                    "-c", "copy", str(audio)], check=True)
    video = folder / "dialogue.mp4"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25",
                    "-i", str(audio), "-t", f"{total:.3f}", "-map", "0:v", "-map", "1:a",
                    "-c:v", "libx264", "-preset", "ultrafast", "-crf", "30", "-pix_fmt", "yuv420p",
                    "-c:a", "aac", "-b:a", "64k", str(video)], check=True)
    for p in folder.glob("*.wav"):
        if p != audio:
            p.unlink()
    return video, total


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024 if platform.system() == "Darwin" else 1024)


def cpu_seconds() -> float:
    """User + system CPU seconds of this process and its threads so far."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def asr_variants(audio_path: Path) -> None:
    from emotrace.asr import Transcriber
    from emotrace.metrics import word_error_rate
    from emotrace.config import AsrOptions
    from emotrace.media import decode_audio

    audio = decode_audio(audio_path)
    duration = len(audio) / 16000
    base = Transcriber(AsrOptions())
    print("\nspeech recogniser alone (words with times, VAD on):")
    print(f"{'decoder':<12}{'beam':>5}{'seconds':>10}{'RTF':>8}{'words':>7}{'WER':>7}")
    script = audio_path.parent / "script.txt"
    reference = script.read_text() if script.exists() else ""
    for batch, beam in ((8, 5), (8, 1), (16, 5), (0, 5), (0, 1)):
        t = Transcriber.__new__(Transcriber)
        t.__dict__.update(base.__dict__)  # same loaded model, other decoding options
        t.options = AsrOptions(batch_size=batch, beam_size=beam)
        start = time.perf_counter()
        result = t.transcribe(audio)
        secs = time.perf_counter() - start
        wer = f"{word_error_rate(reference, result.text):.3f}" if reference else "?"
        name = f"batched {batch}" if batch else "sequential"
        print(f"{name:<12}{beam:>5}{secs:>10.2f}{secs / duration:>8.3f}{len(result.words):>7}{wer:>7}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=3.0, help="length of the dialogue video")
    p.add_argument("--asr-variants", action="store_true", help="also time ASR decoding variants")
    p.add_argument("--keep", type=Path, help="make (or reuse) the video in this folder and keep it")
    args = p.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        video = folder / "dialogue.mp4"
        start = time.perf_counter()
        if args.keep and video.exists():
            from emotrace.media import probe

            duration, origin = probe(video).duration, f"reused from {folder}"
        else:
            video, duration = make_dialogue(folder, args.minutes)
            origin = f"made in {time.perf_counter() - start:.0f} s"

        from emotrace import Pipeline

        start = time.perf_counter()
        pipeline = Pipeline()
        load = time.perf_counter() - start
        rss_loaded = peak_rss_mb()
        load_before = os.getloadavg()[0]
        cpu_before = cpu_seconds()
        result = pipeline.analyze(video)
        cpu = cpu_seconds() - cpu_before
        timings = result.metadata["timings"]
        total = timings["total"]

        print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs visible; "
              f"asr on {result.metadata['asr_device']}")
        print(f"media: {duration:.1f} s ({duration / 60:.1f} min) spoken dialogue video, 640x360 25 fps "
              f"({origin}); {len(result.utterances)} utterances")
        print(f"models: {result.metadata['models']}")
        print(f"\n{'stage':<14}{'seconds':>10}{'share':>8}")
        for stage, secs in timings.items():
            if stage != "total":
                print(f"{stage:<14}{secs:>10.2f}{secs / total:>8.1%}")
        print(f"{'total':<14}{total:>10.2f}")
        print(f"{'(model load)':<14}{load:>10.2f}")
        print(f"\nRTF (analysis / media seconds): {total / duration:.3f}   "
              f"with model loading: {(total + load) / duration:.3f}   target <= 0.10")
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        print(f"CPU time: {cpu:.1f} s = {cpu / duration:.3f} core-seconds per media second; on {cores} idle "
              f"cores that is an RTF of about {cpu / duration / cores:.3f} (load average before the run: "
              f"{load_before:.1f}; other processes on the machine slow the wall-clock figure)")
        print(f"peak RSS: {peak_rss_mb():.0f} MB (after loading models: {rss_loaded:.0f} MB)   "
              f"target <= 1536 MB for 10 minutes")
        if args.asr_variants:
            asr_variants(video)


if __name__ == "__main__":
    main()
