"""Accuracy of every shipped model, and of the fusion, on the validation data in ``../shared/data``.

    .venv/bin/python benchmarks/accuracy.py [--data-dir ../shared/data] [--no-fused] [--only text,audio,face]
                                            [--json OUT]

Runs, each in its own process, exactly what a user would:

* ``emotrace evaluate text --meld-csv DATA/meld/dev_sent_emo.csv`` (MELD dev, each dialogue's
  utterances with their context);
* ``emotrace evaluate audio --ravdess-dir DATA/ravdess --actors 17,18,19,20`` (RAVDESS actors
  17–20, held out from the voice model's training: see its model card);
* ``emotrace evaluate face --fer-npz DATA/fer2013/validation.npz`` (FER2013 validation crops);

and the fusion measurement the fusion defaults were chosen on
(``training/fusion/measure.py``'s RAVDESS part): the read sentence through the text model, the
voice through the voice model, fused with the default :class:`~emotrace.fusion.FusionOptions`,
on the same held-out actors. Where only one modality is present (MELD text, FER faces) fusion
returns it unchanged, so its fused figures are its own.

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


def fused_ravdess(data: Path) -> dict:
    """Text + voice fused (default options) on the held-out RAVDESS actors, via training/fusion."""
    sys.path.insert(0, str(REPO))
    from emotrace.errors import EmotraceError
    from emotrace.fusion import FusionOptions
    from training.fusion.measure import ravdess

    try:
        return ravdess(data, FusionOptions())
    except (EmotraceError, OSError) as e:
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
    args = p.parse_args()
    data = args.data_dir
    if not data.is_dir():
        raise SystemExit(f"no data folder at {data} (see the project's data README); --data-dir sets it")
    actors = ",".join(map(str, HELD_OUT_ACTORS))
    commands = {"text": ["text", "--meld-csv", str(data / "meld" / "dev_sent_emo.csv")],
                "audio": ["audio", "--ravdess-dir", str(data / "ravdess"), "--actors", actors],
                "face": ["face", "--fer-npz", str(data / "fer2013" / "validation.npz")]}
    only = [m.strip() for m in args.only.split(",") if m.strip()]
    unknown = set(only) - set(commands)
    if unknown:
        raise SystemExit(f"--only: unknown {sorted(unknown)}; choose from {', '.join(commands)}")
    reports = {name: evaluate(commands[name]) for name in only}
    if not args.no_fused:
        print("$ training/fusion/measure.py's ravdess part (text + voice, default fusion)", file=sys.stderr)
        reports["fusion_ravdess"] = fused_ravdess(data)

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
        add("voice", held, reports["audio"], cells(reports["audio"], None), ["–"] * 3)
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
            for key, name in (("text_alone", "text (the read sentence)"), ("audio_alone", "voice"),
                              ("default", f"**text + voice, fused** ({fr['default']['options']['method']})")):
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
