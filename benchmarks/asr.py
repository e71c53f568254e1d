"""Speech recognisers compared: word error rate, real-time factor, peak memory, and what the
choice costs the rest of the pipeline.

    .venv/bin/python benchmarks/asr.py                       # tiny.en (default) and base
    .venv/bin/python benchmarks/asr.py --models default base --threads 2

For each model, in a fresh process (so that peak memory is the model's own):

* **WER** on real speech with reference transcripts: the five LibriVox sentences and JFK's
  inaugural line in ``../shared/data/media/``, one acted clip per RAVDESS actor (real emotional
  speech of two known sentences; all skipped with a note when absent), and on a
  synthetic five-voice espeak-ng dialogue with known turns (``benchmarks/dialogue.py``).
  Audio decoded by ``emotrace.media`` (as the pipeline does); the WER of the same files decoded
  by faster-whisper's own decoder is printed beside it (the two decodes differ by ~1e-8).
* **RTF**: seconds of recognition per second of audio (model loaded, one warm-up run first).
* **Peak RSS** of the process after recognising everything, and after the voice modality too.
* **Voice cost**: the pipeline with the voice modality on the dialogue: seconds in ``asr`` and
  in ``audio``. With tiny.en the voice reuses the recogniser's encoder states; with another
  recogniser it runs tiny.en's encoder itself.
* **Turns matched**: share of the dialogue's reference turns that an utterance of the pipeline
  overlaps with IoU >= 0.5.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
MEDIA = REPO.parent / "shared" / "data" / "media"
sys.path.insert(0, str(HERE))

SHARED = REPO.parent / "shared" / "data"
JFK = ("And so my fellow Americans, ask not what your country can do for you, "
       "ask what you can do for your country.")
RAVDESS_STATEMENTS = {"01": "Kids are talking by the door", "02": "Dogs are sitting by the door"}


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def real_speech() -> list[tuple[str, Path, str]]:
    """(set, file, reference) of the shared real speech that is present."""
    items = []
    librivox = MEDIA / "librivox"
    if (librivox / "transcription").is_file():
        for line in (librivox / "transcription").read_text().splitlines():
            m = re.fullmatch(r"<s>(.*)</s>\s*\((.+)\)", line.strip())
            if m and (librivox / f"{m.group(2)}.wav").is_file():
                items.append(("librivox", librivox / f"{m.group(2)}.wav", m.group(1).strip()))
    if (MEDIA / "jfk.flac").is_file():
        items.append(("jfk", MEDIA / "jfk.flac", JFK))
    # RAVDESS: actors reading two fixed sentences with acted emotion; one clip per actor present
    # (20 of 24 here), emotions and sentences spread over them (emotional speech is what
    # emotrace hears).
    for actor in range(1, 25):
        emotion, statement = (actor - 1) % 8 + 1, "01" if actor % 2 else "02"
        clip = SHARED / "ravdess" / f"Actor_{actor:02d}" / f"03-01-{emotion:02d}-{1 if emotion == 1 else 2:02d}-{statement}-01-{actor:02d}.flac"
        if clip.is_file():
            items.append(("ravdess", clip, RAVDESS_STATEMENTS[statement]))
    return items


def foreign_speech(per_corpus: int = 20) -> list[tuple[str, Path, str]]:
    """(corpus, file, language) of real German (EmoDB) and Italian (EMOVO) clips, spread over
    the speakers and emotions, when present."""
    import csv

    items = []
    for corpus, language in (("emodb", "de"), ("emovo", "it")):
        labels = SHARED / "speech-emotion" / corpus / "labels.csv"
        if labels.is_file():
            rows = list(csv.DictReader(labels.open()))
            step = max(1, len(rows) // per_corpus)
            items += [(corpus, labels.parent / r["path"], language) for r in rows[::step][:per_corpus]]
    return items


def worker(model: str, threads: int, dialogue_wav: Path, turns_json: Path, compute_type: str = "auto") -> dict:
    """Everything measured for one model, in this process."""
    from faster_whisper import decode_audio as fw_decode

    from dialogue import Turn, turns_matched
    from emotrace import Pipeline, PipelineConfig
    from emotrace.asr import Transcriber
    from emotrace.metrics import word_error_rate
    from emotrace.config import AsrOptions
    from emotrace.media import decode_audio
    from emotrace.modalities.base import SAMPLE_RATE

    out: dict = {"model": model, "rss_start_mb": round(_rss_mb())}
    t0 = time.perf_counter()
    asr = Transcriber(AsrOptions(model=model, threads=threads, compute_type=compute_type))
    out["load_s"] = round(time.perf_counter() - t0, 2)
    out["name"] = asr.model_name
    if compute_type != "auto":
        out["model"] = f"{model} {asr.compute_type}"
    turns = [Turn(**t) for t in json.loads(turns_json.read_text())]
    items = real_speech() + [("dialogue", dialogue_wav, " ".join(t.text for t in turns))]
    asr.transcribe(decode_audio(items[0][1])[: 3 * SAMPLE_RATE])  # warm-up
    sets: dict[str, dict] = {}
    for name, path, ref in items:
        audio = decode_audio(path)
        t0 = time.perf_counter()
        heard = asr.transcribe(audio)
        seconds = time.perf_counter() - t0
        other = asr.transcribe(fw_decode(str(path), sampling_rate=SAMPLE_RATE))
        s = sets.setdefault(name, {"ref": [], "hyp": [], "hyp_fw": [], "audio_s": 0.0, "asr_s": 0.0,
                                   "languages": []})
        s["ref"].append(ref)
        s["hyp"].append(heard.text)
        s["hyp_fw"].append(other.text)
        s["audio_s"] += len(audio) / SAMPLE_RATE
        s["asr_s"] += seconds
        s["languages"].append(f"{heard.language} {heard.language_probability:.2f}")
    out["sets"] = {name: {"wer": round(word_error_rate(" ".join(s["ref"]), " ".join(s["hyp"])), 4),
                          "wer_fw_decode": round(word_error_rate(" ".join(s["ref"]), " ".join(s["hyp_fw"])), 4),
                          "rtf": round(s["asr_s"] / s["audio_s"], 3), "audio_s": round(s["audio_s"], 1),
                          "languages": sorted(set(s["languages"])), "hypothesis": s["hyp"]}
                   for name, s in sets.items()}
    # Real speech in other languages: how often is the language detected (and so the English
    # text model kept away from words it cannot read)?
    found: dict[str, list[str]] = {}
    for corpus, path, language in foreign_speech():
        heard = asr.transcribe(decode_audio(path))
        found.setdefault(f"{corpus} ({language})", []).append(heard.language == language)
    out["languages"] = {k: round(sum(v) / len(v), 3) for k, v in found.items()}
    out["rss_asr_mb"] = round(_rss_mb())

    pipeline = Pipeline(PipelineConfig(modalities=("audio",), asr=asr.options),
                        transcriber=asr)
    pipeline.analyze(dialogue_wav)  # loads the voice model (and, for another recogniser, tiny.en)
    result = pipeline.analyze(dialogue_wav)
    timings = result.metadata["timings"]
    spans = [(r.utterance.start, r.utterance.end) for r in result.utterances]
    out["pipeline"] = {"asr_s": timings["asr"], "audio_s": timings["audio"], "total_s": timings["total"],
                       "utterances": len(spans), "turns": len(turns),
                       "turns_matched_iou50": round(turns_matched(turns, spans), 3),
                       "wer": round(word_error_rate(" ".join(t.text for t in turns),
                                                    " ".join(r.utterance.text for r in result.utterances)), 4)}
    out["rss_pipeline_mb"] = round(_rss_mb())
    return out


def _table(results: list[dict]) -> str:
    sets = list(dict.fromkeys(name for r in results for name in r["sets"]))
    lines = ["| model | " + " | ".join(f"WER {s}" for s in sets) + " | RTF " + " / ".join(sets)
             + " | load s | peak RSS ASR MB | peak RSS + voice MB |",
             "|---|" + "---|" * (len(sets) + 4)]
    for r in results:
        wers = [f"{r['sets'][s]['wer']:.3f} ({r['sets'][s]['wer_fw_decode']:.3f})" if s in r["sets"] else "–"
                for s in sets]
        rtfs = " / ".join(f"{r['sets'][s]['rtf']:.2f}" for s in sets if s in r["sets"])
        lines.append(f"| {r['model']} | " + " | ".join(wers) + f" | {rtfs} | {r['load_s']:.1f} | "
                     f"{r['rss_asr_mb']} | {r['rss_pipeline_mb']} |")
    corpora = list(dict.fromkeys(k for r in results for k in r.get("languages", {})))
    if corpora:
        lines += ["", "| model | " + " | ".join(f"language found: {c}" for c in corpora) + " |",
                  "|---|" + "---|" * len(corpora)]
        lines += [f"| {r['model']} | " + " | ".join(f"{r['languages'].get(c, 0):.0%}" for c in corpora) + " |"
                  for r in results]
    lines += ["", "| model | dialogue: pipeline asr s | voice s | total s | utterances / turns | "
                  "turns matched IoU≥0.5 | pipeline WER |", "|---|---|---|---|---|---|---|"]
    for r in results:
        p = r["pipeline"]
        lines.append(f"| {r['model']} | {p['asr_s']:.1f} | {p['audio_s']:.1f} | {p['total_s']:.1f} | "
                     f"{p['utterances']} / {p['turns']} | {p['turns_matched_iou50']:.2f} | {p['wer']:.3f} |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", default=["default", "base"])
    p.add_argument("--threads", type=int, default=0, help="CTranslate2 threads (0: all cores, at most 8)")
    p.add_argument("--compute-type", default="auto", help="CTranslate2 compute type of every model (auto: int8 on CPU)")
    p.add_argument("--json", metavar="FILE", help="also write every figure (and the transcripts) here")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--dialogue", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.threads, Path(args.dialogue),
                                Path(args.dialogue).with_suffix(".json"), args.compute_type)))
        return

    from dialogue import make_dialogue
    from machine import describe

    print(describe())
    if not real_speech():
        print(f"note: {MEDIA} is absent: only the synthetic dialogue is measured")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "dialogue.wav"
        turns = make_dialogue(wav)
        wav.with_suffix(".json").write_text(json.dumps([t.__dict__ for t in turns]))
        for model in args.models:
            proc = subprocess.run([sys.executable, __file__, "--worker", model, "--threads", str(args.threads),
                                   "--compute-type", args.compute_type, "--dialogue", str(wav)], capture_output=True, text=True,
                                  env={**os.environ, "PYTHONPATH": str(HERE)})
            if proc.returncode:
                print(f"{model}: failed\n{proc.stderr[-2000:]}")
                continue
            results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
            print(f"{model}: done", file=sys.stderr)
    print("WER by emotrace.media's decode (faster-whisper's own decode in brackets)\n")
    print(_table(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
