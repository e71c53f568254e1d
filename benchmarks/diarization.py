"""Diarization benchmark: error rate on dialogues with known turns, speakers found on
monologues, and cost.

* generated dialogues: ``training.speakers.dialogues.espeak_dialogue`` seeds 0-9 (2-4 espeak-ng
  voices, back-channels under a second, 30 % of turns back to back); the clustering was tuned
  on other seeds (100 and up) and on dialogues of RAVDESS/EmoDB/EMOVO speakers;
* pyannote.audio's two-speaker sample (``sample.wav`` / ``sample.rttm``, MIT), read from the
  ``pyannote.audio`` wheel, which is downloaded with pip (no dependencies) unless given;
* monologues from ``../shared/data/media`` (LibriVox, JFK, the talking heads): one speaker each;
* utterances against turns: the whole pipeline (words only) on the first generated dialogues,
  with and without speakers: the share of reference turns that an utterance matches with
  IoU >= 0.5 (a turn is one utterance when speakers are known; without them the segmenter
  splits at pauses and sentence ends).

DER with the usual 0.25 s collar and without. Cost: after a warm-up, ``--rounds`` rounds each
diarize every file once, so that a slow spell of a shared machine falls on every file alike; a
file's time is its median over the rounds, and a set's real-time factor is the sum of its files'
times over the sum of their lengths (conversations: the generated dialogues and pyannote's
sample; monologues apart), with the range of the per-round figures. Writes JSON with ``--json``::

    python benchmarks/diarization.py --json benchmarks/results/diarization.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from emotrace.config import DiarizationOptions  # noqa: E402
from emotrace.diarization import Diarizer  # noqa: E402
from emotrace.media import decode_audio  # noqa: E402
from emotrace.metrics import diarization_error_rate  # noqa: E402

PYANNOTE = "pyannote.audio==4.0.7"


def pyannote_sample(wheel: Path | None) -> tuple[np.ndarray, list[tuple[float, float, str]]]:
    """The sample's audio and reference turns, from the wheel (downloaded when not given)."""
    with tempfile.TemporaryDirectory() as tmp:
        if wheel is None:
            subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", PYANNOTE, "-d", tmp],
                           check=True)
            wheel = next(Path(tmp).glob("pyannote_audio-*.whl"))
        with zipfile.ZipFile(wheel) as z:
            wav = Path(tmp) / "sample.wav"
            wav.write_bytes(z.read("pyannote/audio/sample/sample.wav"))
            rttm = z.read("pyannote/audio/sample/sample.rttm").decode()
        audio = decode_audio(wav)
    turns = []
    for line in rttm.splitlines():
        f = line.split()
        if f and f[0] == "SPEAKER":
            start, length = float(f[3]), float(f[4])
            turns.append((start, start + length, f[7]))
    return audio, turns


def timed(diarizer: Diarizer, audio: np.ndarray):
    started = time.perf_counter()
    found = diarizer.diarize(audio)
    return found, time.perf_counter() - started


def score(name: str, found, ref, audio: np.ndarray) -> dict:
    hyp = [(t.start, t.end, t.speaker) for t in found.turns]
    return {"name": name, "seconds": round(len(audio) / 16000, 1),
            "speakers": len({s for *_, s in ref}), "found": len(found.speakers),
            "der": round(diarization_error_rate(ref, hyp, collar=0.25)["der"], 4),
            "der_no_collar": round(diarization_error_rate(ref, hyp, collar=0.0)["der"], 4)}


def cost(diarizer: Diarizer, files: dict[str, np.ndarray], rounds: int) -> tuple[dict[str, float], list[dict[str, float]]]:
    """Each file's median seconds over ``rounds`` rounds (every file once a round), and each
    round's seconds per file."""
    per_round = []
    for _ in range(max(1, rounds)):
        per_round.append({name: timed(diarizer, audio)[1] for name, audio in files.items()})
    return {name: float(np.median([r[name] for r in per_round])) for name in files}, per_round


def set_rtf(seconds: dict[str, float], files: dict[str, np.ndarray], names: list[str]) -> float | None:
    """Total diarization time over total audio length of the files ``names``."""
    total = sum(len(files[n]) for n in names) / 16000
    return round(sum(seconds[n] for n in names) / total, 4) if total else None


def utterances_vs_turns(dialogues: int) -> list[dict]:
    """Turns matched (IoU >= 0.5) by the pipeline's utterances, with and without speakers."""
    import wave

    from dialogue import iou
    from emotrace import Pipeline, PipelineConfig
    from training.speakers.dialogues import espeak_dialogue

    with_speakers = Pipeline(PipelineConfig(modalities=("text",)))
    without = Pipeline(PipelineConfig(modalities=("text",), diarization=DiarizationOptions(enabled=False)),
                       transcriber=with_speakers.transcriber)
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(dialogues):
            audio, ref = espeak_dialogue(seed)
            path = Path(tmp) / f"dialogue-{seed}.wav"
            with wave.open(str(path), "wb") as w:
                w.setnchannels(1)
                w.setsampwidth(2)
                w.setframerate(16000)
                w.writeframes((audio.clip(-1, 1) * 32767).astype("<i2").tobytes())
            row = {"name": f"espeak-{seed}", "turns": len(ref)}
            for key, pipeline in (("with_speakers", with_speakers), ("without", without)):
                spans = [(r.utterance.start, r.utterance.end) for r in pipeline.analyze(path).utterances]
                row[key] = round(sum(any(iou((a, b), s) >= 0.5 for s in spans) for a, b, _ in ref) / len(ref), 3)
                row[f"utterances_{key}"] = len(spans)
            out.append(row)
            print(row, flush=True)
    return out


def monologues(data: Path) -> list[Path]:
    media = data / "media"
    return sorted((media / "librivox").glob("*.wav")) + [media / "jfk.flac"] + \
        sorted((media / "talking-head").glob("*.mp4"))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    p.add_argument("--dialogues", type=int, default=10, help="generated dialogues (seeds 0..N-1)")
    p.add_argument("--pyannote-wheel", type=Path, help="a downloaded pyannote.audio wheel")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--model", default="default", help="speaker model folder (default: the shipped one)")
    p.add_argument("--rounds", type=int, default=5, help="timing rounds (each file once a round)")
    p.add_argument("--turn-dialogues", type=int, default=5,
                   help="generated dialogues run through the whole pipeline for utterances vs turns")
    p.add_argument("--json", type=Path, help="write the results here")
    a = p.parse_args(argv)
    from training.speakers.dialogues import espeak_dialogue

    diarizer = Diarizer(DiarizationOptions(model=a.model, threads=a.threads))
    diarizer.diarize(np.random.default_rng(0).standard_normal(16000 * 3).astype(np.float32) * 0.1)  # warm-up
    files: dict[str, np.ndarray] = {}
    rows = []
    for seed in range(a.dialogues):
        audio, ref = espeak_dialogue(seed)
        files[f"espeak-{seed}"] = audio
        rows.append(score(f"espeak-{seed}", diarizer.diarize(audio), ref, audio))
        print(rows[-1], flush=True)
    try:
        audio, ref = pyannote_sample(a.pyannote_wheel)
        files["pyannote-sample"] = audio
        rows.append(score("pyannote-sample", diarizer.diarize(audio), ref, audio))
        print(rows[-1], flush=True)
    except (subprocess.CalledProcessError, StopIteration, OSError) as e:
        print(f"pyannote sample skipped: {e}", file=sys.stderr)
    mono = []
    for path in monologues(a.data):
        if path.is_file():
            audio = files[path.name] = decode_audio(path)
            mono.append({"name": path.name, "seconds": round(len(audio) / 16000, 1),
                         "found": len(diarizer.diarize(audio).speakers)})
            print(mono[-1], flush=True)
    seconds, per_round = cost(diarizer, files, a.rounds)
    for r in rows + mono:
        r["rtf"] = round(seconds[r["name"]] / (len(files[r["name"]]) / 16000), 4)
    sets = {"conversations": [r["name"] for r in rows],
            "generated": [r["name"] for r in rows if r["name"].startswith("espeak")],
            "pyannote_sample": [r["name"] for r in rows if r["name"] == "pyannote-sample"],
            "monologues": [m["name"] for m in mono]}
    rtf = {f"rtf_{k}": set_rtf(seconds, files, names) for k, names in sets.items()}
    spread = {f"rtf_{k}_rounds": [set_rtf(r, files, names) for r in per_round]
              for k, names in sets.items() if k in ("conversations", "monologues")}
    turn_rows = utterances_vs_turns(a.turn_dialogues)
    generated = [r for r in rows if r["name"].startswith("espeak")]
    summary = {
        "generated_der": round(float(np.mean([r["der"] for r in generated])), 4),
        "generated_der_no_collar": round(float(np.mean([r["der_no_collar"] for r in generated])), 4),
        "generated_count_right": round(float(np.mean([r["found"] == r["speakers"] for r in generated])), 2),
        "monologues_one_speaker": f"{sum(m['found'] == 1 for m in mono)}/{len(mono)}",
        **rtf, **spread,
        **({"turns_matched_iou50": round(float(np.mean([r["with_speakers"] for r in turn_rows])), 3),
            "turns_matched_iou50_no_speakers": round(float(np.mean([r["without"] for r in turn_rows])), 3)}
           if turn_rows else {}),
        "model": diarizer.model_name, "threshold": diarizer.threshold,
    }
    out = {"summary": summary, "dialogues": rows, "monologues": mono, "turns": turn_rows}
    print(json.dumps(summary, indent=1))
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
