"""Does a transcript depend on differences in the audio far below anything audible?

    .venv/bin/python benchmarks/asr_stability.py                          # tiny.en, int8
    .venv/bin/python benchmarks/asr_stability.py --model base --compute-type float32

Two decoders of the same file can give samples that differ by ~1e-8 (issue 20). This adds
Gaussian noise of that size (three seeds) to each file's audio and counts the files whose
transcript or VAD speech changes, on the real speech of ``benchmarks/asr.py`` (LibriVox, JFK,
RAVDESS), the talking-head videos and the sample dialogue. Prints the changed files and the
seconds spent recognising (all runs).
"""

from __future__ import annotations

import argparse
import glob
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="default")
    p.add_argument("--compute-type", default="auto")
    p.add_argument("--noise", type=float, default=1e-8, help="standard deviation of the added noise")
    p.add_argument("--seeds", type=int, default=3)
    args = p.parse_args()

    from asr import MEDIA, REPO, real_speech
    from emotrace.asr import Transcriber
    from emotrace.config import AsrOptions
    from emotrace.media import decode_audio
    from machine import describe

    print(describe())
    asr = Transcriber(AsrOptions(model=args.model, compute_type=args.compute_type))
    print(f"{asr.model_name}, {asr.device}/{asr.compute_type}, noise {args.noise:g} x {args.seeds} seeds")
    files = ([path for _, path, _ in real_speech()] + sorted(glob.glob(str(MEDIA / "talking-head" / "*.mp4")))
             + [REPO / "tests" / "fixtures" / "dialogue.wav"])
    changed, seconds = 0, 0.0
    for f in files:
        audio = decode_audio(f)
        t0 = time.perf_counter()
        plain = asr.transcribe(audio)
        noisy = [asr.transcribe(audio + np.random.default_rng(seed).normal(0, args.noise, len(audio))
                                .astype(np.float32)) for seed in range(args.seeds)]
        seconds += time.perf_counter() - t0
        texts = {n.text for n in noisy if n.text != plain.text}
        vad = {n.speech_duration for n in noisy if abs(n.speech_duration - plain.speech_duration) > 1e-6}
        if texts or vad:
            changed += 1
            print(f"{Path(f).name}: {plain.text!r} -> {sorted(texts)}" + (f" (VAD {sorted(vad)})" if vad else ""))
    print(f"{changed} of {len(files)} files changed; {seconds:.1f} s recognising")


if __name__ == "__main__":
    main()
