"""Cost of the voice and face modalities on top of the text-only pipeline.

    .venv/bin/python benchmarks/modalities_speed.py [--minutes 3] [--face-clip FILE] [--keep DIR]

Makes the pipeline benchmark's dialogue video (``pipeline_speed.make_dialogue``: two espeak-ng
voices, a synthetic test picture), or with ``--face-clip`` the same dialogue over a looped real
talking-head clip so that the face modality has a face to follow, then analyses it twice with one
loaded pipeline per configuration: text only, and text + audio + face. Prints each stage's
seconds, both real-time factors, and the extra cost per utterance of voice and face, with frame
decoding (timed apart with ``media.sample_frames``) shown separately.

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


def run(video: Path, modalities: tuple[str, ...]) -> dict:
    from emotrace import Pipeline, PipelineConfig

    pipeline = Pipeline(PipelineConfig(modalities=modalities))
    pipeline.analyze(video)  # warm-up: first-call allocations, page cache
    result = pipeline.analyze(video)
    present = {m: sum(m in r.modalities for r in result.utterances) for m in modalities}
    return {"timings": dict(result.metadata["timings"]), "n": len(result.utterances), "present": present}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=3.0)
    p.add_argument("--face-clip", type=Path, default=None, help="a talking-head video to loop as the picture")
    p.add_argument("--keep", type=Path, default=None, help="make (or reuse) the video in this folder")
    args = p.parse_args()
    from emotrace.config import FaceOptions
    from emotrace.media import probe, sample_frames

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
        full = run(video, ("text", "audio", "face"))
        start = time.perf_counter()
        times, _ = sample_frames(video, FaceOptions().fps, 480)
        decode = time.perf_counter() - start

    n = full["n"]
    print(f"media: {duration:.1f} s, {n} utterances; modalities present per utterance: {full['present']}")
    print(f"{'stage':<14}{'text only':>12}{'all three':>12}")
    for stage in full["timings"]:
        print(f"{stage:<14}{base['timings'].get(stage, 0.0):>12.2f}{full['timings'][stage]:>12.2f}")
    print(f"RTF text only {base['timings']['total'] / duration:.3f}, all three {full['timings']['total'] / duration:.3f}")
    audio, face = full["timings"].get("audio", 0.0), full["timings"].get("face", 0.0)
    print(f"frame decoding ({len(times)} frames at {FaceOptions().fps} fps): {decode:.2f} s")
    print(f"per utterance: voice {1000 * audio / n:.1f} ms, face {1000 * max(face - decode, 0.0) / n:.1f} ms "
          f"+ frame decoding {1000 * decode / n:.1f} ms")


if __name__ == "__main__":
    main()
