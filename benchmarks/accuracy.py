"""Accuracy of every shipped model, and of the fusion, on the validation data in ``../shared/data``.

    .venv/bin/python benchmarks/accuracy.py [--data-dir ../shared/data] [--no-fused] [--only text,audio,face]
                                            [--json OUT]

Runs, each in its own process, exactly what a user would:

* ``emotrace evaluate text --meld-csv DATA/meld/dev_sent_emo.csv`` (MELD dev, each dialogue's
  utterances with their context);
* ``emotrace evaluate face --fer-npz DATA/fer2013/validation.npz`` (FER2013 validation crops).

The shipped voice model was trained on every speech corpus here, so no clip here is new to it:
its held-out figures come from the voice training run (``python -m training.audio.train --out
runs/voice/mlp``: each corpus scored by a model trained on the other two, and RAVDESS actors
17–20 by one trained without them), read from ``--voice-run``'s ``metrics.json``, and the fusion
rows from the same run's held-out scores through ``training/fusion/measure.py`` (the read
sentence through the text model, the voice, fused with the default
:class:`~emotrace.fusion.FusionOptions`). Where only one modality is present (MELD text, FER
faces) fusion returns it unchanged, so its fused figures are its own.

Prints one markdown table: emotion and sentiment weighted F1, macro F1 and accuracy per row
(– where the data has no such label or the command does not report it). A missing data set or
model gives a row that says so; the others still run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data"
HELD_OUT_ACTORS = (17, 18, 19, 20)


def evaluate(args: list[str]) -> dict:
    """Run ``emotrace evaluate ARGS -q`` and return its JSON, or ``{"error": ...}``."""
    cmd = [sys.executable, "-m", "emotrace", "evaluate", *args, "-q"]
    print("$ emotrace evaluate " + " ".join(args), file=sys.stderr, flush=True)
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        return {"error": (lines[-1] if lines else f"exit status {proc.returncode}").replace("|", "/")}
    return json.loads(proc.stdout)


def voice_run(run: Path) -> dict:
    """The voice training run's held-out figures (``metrics.json``), or ``{"error": ...}``."""
    path = run / "metrics.json"
    if not path.is_file():
        return {"error": f"no {path}: run python -m training.audio.train --out {run} (train extra)"}
    return json.loads(path.read_text())


def fused_ravdess(data: Path, run: Path) -> dict:
    """Text + voice fused (default options) on RAVDESS actors 17-20, from the voice run's held-out scores."""
    sys.path.insert(0, str(REPO))
    from emotrace.errors import EmotraceError
    from emotrace.fusion import FusionOptions
    from training.fusion.measure import text_and_voice, voice_sets, words_of

    try:
        s = voice_sets(run)["ravdess_17_20"]
        from emotrace.modalities.text import TextScorer

        scores = TextScorer().score(words_of(s["names"], data))
        text = __import__("numpy").array([x.emotions for x in scores])
        sent = __import__("numpy").array([x.sentiments for x in scores])
        return {"n": len(text), **text_and_voice(s, text, sent, FusionOptions())}
    except (EmotraceError, OSError, KeyError) as e:
        return {"error": str(e)}


def cells(report: dict, task: str | None) -> list[str]:
    """weighted F1, macro F1, accuracy of one task of an evaluate report (task None: flat report)."""
    r = report.get(task, {}) if task else report
    return [f"{r[k]:.3f}" if isinstance(r.get(k), (int, float)) else "–"
            for k in ("weighted_f1", "macro_f1", "accuracy")]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    p.add_argument("--no-fused", action="store_true", help="skip the text+voice fusion measurement")
    p.add_argument("--only", default="text,audio,face", help="which evaluate commands to run (comma-separated)")
    p.add_argument("--json", type=Path, help="also write every raw report to this file")
    p.add_argument("--voice-run", type=Path, default=REPO / "runs" / "voice" / "mlp",
                   help="the voice training run whose held-out figures are reported")
    args = p.parse_args()
    data = args.data_dir
    if not data.is_dir():
        raise SystemExit(f"no data folder at {data} (see the project's data README); --data-dir sets it")
    actors = ",".join(map(str, HELD_OUT_ACTORS))
    commands = {"text": ["text", "--meld-csv", str(data / "meld" / "dev_sent_emo.csv")],
                "face": ["face", "--fer-npz", str(data / "fer2013" / "validation.npz")]}
    only = [m.strip() for m in args.only.split(",") if m.strip()]
    unknown = set(only) - set(commands) - {"audio"}
    if unknown:
        raise SystemExit(f"--only: unknown {sorted(unknown)}; choose from {', '.join(commands)}")
    reports = {name: evaluate(commands[name]) if name != "audio" else voice_run(args.voice_run) for name in only}
    if not args.no_fused:
        print("$ training/fusion/measure.py's ravdess part (text + voice, default fusion)", file=sys.stderr)
        reports["fusion_ravdess"] = fused_ravdess(data, args.voice_run)

    held = f"RAVDESS actors {actors[:2]}–{actors[-2:]} (held out)"
    rows = []

    def add(name: str, source: str, report: dict, emotion: list[str], sentiment: list[str]) -> None:
        if "error" in report:
            rows.append(f"| {name} | {source} | – | not run: {report['error'][:150]} |||||||")
        else:
            rows.append(f"| {name} | {source} | {report.get('n', '–')} | " + " | ".join(emotion + sentiment) + " |")

    if "text" in reports:
        t = reports["text"]
        add("text", "MELD dev", t, cells(t, "emotion"), cells(t, "sentiment"))
    if "audio" in reports:
        v = reports["audio"]
        if "error" in v:
            add("voice", "held out", v, [], [])
        else:
            def rep(r: dict) -> list[str]:
                return cells(r, None)

            add("voice", held, v["ravdess_actors_17_20"]["in_conversation"],
                rep(v["ravdess_actors_17_20"]["in_conversation"]), ["–"] * 3)
            for corpus, r in v["leave_one_corpus_out"]["in_conversation"].items():
                add("voice", f"{corpus} (corpus left out of training)", r, rep(r), ["–"] * 3)
    if "face" in reports:
        add("face", "FER2013 validation", reports["face"], cells(reports["face"], None), ["–"] * 3)
    fr = reports.get("fusion_ravdess")
    if fr is not None:
        def part(key: str) -> tuple[list[str], list[str]]:
            r = fr.get(key, {})
            emo = {k: r.get(f"emotion_{k}") for k in ("weighted_f1", "macro_f1", "accuracy")}
            return cells(emo, None), ["–", "–", cells({"accuracy": r.get("sentiment_accuracy")}, None)[2]]

        if "error" in fr:
            add("text + voice, fused", held, fr, [], [])
        else:
            for key, name in (("text_alone", "text (the read sentence)"), ("voice_alone", "voice"),
                              ("fused", "**text + voice, fused** (defaults)")):
                emo, sent = part(key)
                add(name, held, {"n": fr["n"]}, emo, sent)

    print("\n| modality | data | n | emotion wF1 | emotion macro F1 | emotion acc | "
          "sentiment wF1 | sentiment macro F1 | sentiment acc |")
    print("|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    print("\nwF1: F1 weighted by support. RAVDESS has no sentiment labels: its sentiment accuracy takes "
          "the sentiment MELD's table gives each emotion, leaving out surprise (training/fusion/measure.py). "
          "Text alone on MELD and face alone on FER go through fusion unchanged.")
    if args.json:
        args.json.write_text(json.dumps(reports, indent=1))


if __name__ == "__main__":
    main()
