"""Cost of the voice and face modalities on top of the text-only pipeline.

    .venv/bin/python benchmarks/modalities_speed.py [--minutes 3] [--face-clip FILE] [--keep DIR]
        [--face-frames N]

Makes the pipeline benchmark's dialogue video (``pipeline_speed.make_dialogue``: two espeak-ng
voices, a synthetic test picture), or with ``--face-clip`` the same dialogue over a looped real
talking-head clip so that the face modality has a face to follow, then analyses it twice with one
loaded pipeline per configuration: text only, and text + audio + face. Prints each stage's
seconds, both real-time factors, and the extra cost per utterance of voice and face, with frame
decoding shown separately: it is timed apart as one pass of ``media.iter_frames`` over the whole
video at the face modality's fps and size, every sampled frame converted to grey, and as the
seconds the face stage itself spent inside the frame reader (decoding, and converting the frames
it looks at; the reader stops after the last utterance). The face figure per utterance is the
face stage minus the latter. ``--face-frames`` sets ``FaceOptions.max_frames_per_utterance``.
The peak resident memory of the process (all analyses) is printed last.

Issue 4's targets: RTF <= 0.15 with all three modalities on the 3-minute video; voice + face
under 20 ms per utterance plus frame decoding.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pipeline_speed import make_dialogue  # noqa: E402


def with_face(video: Path, clip: Path, out: Path) -> Path:
    """The dialogue's sound over ``clip``'s picture, looped to the same length."""
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-stream_loop", "-1", "-i", str(clip), "-i", str(video),
                    "-map", "0:v", "-map", "1:a", "-shortest", "-vf", "scale=640:-2", "-c:v", "libx264",
                    "-preset", "ultrafast", "-crf", "30", "-pix_fmt", "yuv420p", "-c:a", "copy", str(out)], check=True)
    return out


def timed_frames() -> list[float]:
    """Make the pipeline's frame reader count the seconds spent inside it (decoding and
    conversion); returns the one-element list it adds them to."""
    import emotrace.pipeline as pl

    spent = [0.0]
    real = pl.iter_frames

    def iter_frames(*args, **kwargs):
        frames = real(*args, **kwargs)
        while True:
            start = time.perf_counter()
            try:
                item = next(frames)
            except StopIteration:
                return
            finally:
                spent[0] += time.perf_counter() - start
            yield item

    pl.iter_frames = iter_frames
    return spent


def run(video: Path, modalities: tuple[str, ...], face_frames: int | None = None) -> dict:
    from emotrace import Pipeline, PipelineConfig
    from emotrace.config import FaceOptions

    face = FaceOptions(max_frames_per_utterance=face_frames) if face_frames else FaceOptions()
    pipeline = Pipeline(PipelineConfig(modalities=modalities, face=face))
    spent = timed_frames()
    pipeline.analyze(video)  # warm-up: first-call allocations, page cache
    spent[0] = 0.0
    result = pipeline.analyze(video)
    present = {m: sum(m in r.modalities for r in result.utterances) for m in modalities}
    return {"timings": dict(result.metadata["timings"]), "n": len(result.utterances), "present": present,
            "frames_s": spent[0]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=3.0)
    p.add_argument("--face-clip", type=Path, default=None, help="a talking-head video to loop as the picture")
    p.add_argument("--keep", type=Path, default=None, help="make (or reuse) the video in this folder")
    p.add_argument("--face-frames", type=int, default=None, help="FaceOptions.max_frames_per_utterance")
    args = p.parse_args()
    import resource

    from emotrace.config import FaceOptions
    from emotrace.media import iter_frames, probe
    from emotrace.modalities.face import FRAME_SIDE

    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        video = folder / "dialogue.mp4"
        if not video.exists():
            video, _ = make_dialogue(folder, args.minutes)
        if args.face_clip:
            face_video = folder / "dialogue_face.mp4"
            video = face_video if face_video.exists() else with_face(video, args.face_clip, face_video)
        duration = probe(video).duration
        base = run(video, ("text",))
        full = run(video, ("text", "audio", "face"), args.face_frames)
        start = time.perf_counter()
        frames = sum(1 for _ in iter_frames(video, FaceOptions().fps, FRAME_SIDE, grey=True))
        decode = time.perf_counter() - start

    n, inside = full["n"], full["frames_s"]
    print(f"media: {duration:.1f} s, {n} utterances; modalities present per utterance: {full['present']}")
    print(f"{'stage':<14}{'text only':>12}{'all three':>12}")
    for stage in full["timings"]:
        print(f"{stage:<14}{base['timings'].get(stage, 0.0):>12.2f}{full['timings'][stage]:>12.2f}")
    print(f"RTF text only {base['timings']['total'] / duration:.3f}, all three {full['timings']['total'] / duration:.3f}")
    audio, face = full["timings"].get("audio", 0.0), full["timings"].get("face", 0.0)
    print(f"frame decoding: {inside:.2f} s inside the face stage; a whole pass ({frames} frames at "
          f"{FaceOptions().fps} fps, all converted) {decode:.2f} s")
    print(f"per utterance: voice {1000 * audio / n:.1f} ms, face {1000 * max(face - inside, 0.0) / n:.1f} ms "
          f"+ frame decoding {1000 * inside / n:.1f} ms "
          f"(face frames per utterance at most {args.face_frames or FaceOptions().max_frames_per_utterance})")
    print(f"peak RSS of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
