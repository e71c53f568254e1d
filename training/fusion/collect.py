"""Score MELD's raw clips with every modality and save the per-modality distributions.

For users who own MELD's raw clips (``MELD.Raw``: ``dia{Dialogue_ID}_utt{Utterance_ID}.mp4`` per
utterance, not part of ``../shared/data``). Run from the repository root::

    python -m training.fusion.collect --meld-csv train_sent_emo.csv --clips-dir train_splits \\
        --out runs/fusion/train.npz
    python -m training.fusion.collect --meld-csv dev_sent_emo.csv --clips-dir dev_splits_complete \\
        --out runs/fusion/dev.npz

Clips may also be other media files named ``dia{D}_utt{U}.*``. Each clip is one utterance
spanning the whole clip; its words are the CSV's transcript (scored
with the previous utterances of its dialogue as context, as the pipeline does); its voice and
face are scored by the shipped (or given) models exactly as :class:`emotrace.pipeline.Pipeline`
would. Clips that are missing are skipped and counted. Then ``training.fusion.fit`` learns the
weights.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np

from emotrace.datasets import read_meld_csv
from emotrace.labels import EMOTIONS, SENTIMENTS
from emotrace.modalities.base import MediaContext
from emotrace.types import Utterance

log = logging.getLogger("train.fusion.collect")

MODALITIES = ("text", "audio", "face")


def build_scorers(names: list[str]) -> dict:
    """The shipped scorer of each named modality."""
    scorers = {}
    for name in names:
        if name == "text":
            from emotrace.modalities.text import TextScorer
            scorers[name] = TextScorer()
        elif name == "audio":
            from emotrace.modalities.audio import AudioScorer
            scorers[name] = AudioScorer()
        elif name == "face":
            from emotrace.modalities.face import FaceScorer
            scorers[name] = FaceScorer()
        else:
            raise SystemExit(f"unknown modality {name!r}; expected some of {', '.join(MODALITIES)}")
    return scorers


def clip_context(path: Path, fps: float) -> MediaContext:
    """Decode one clip into the context the modalities read (its audio and a stream of its
    frames sampled at ``fps``, as the pipeline gives them)."""
    from emotrace.media import decode_audio_source, probe

    info = probe(path)
    audio = decode_audio_source(path) if info.has_audio else None
    duration = info.duration if info.duration else (audio.duration if audio is not None else 0.0)
    return MediaContext.of_file(path, audio, info=info, duration=duration, frame_fps=fps,
                                frame_max_side=480)


def find_clip(clips_dir: Path, stem: str) -> Path | None:
    """``<stem>.mp4`` (MELD.Raw's format) or, failing that, any file ``<stem>.*``."""
    mp4 = clips_dir / f"{stem}.mp4"
    if mp4.is_file():
        return mp4
    return next((p for p in sorted(clips_dir.glob(f"{stem}.*")) if p.is_file()), None)


def collect(meld_csv: Path, clips_dir: Path, scorers: dict, fps: float = 2.0) -> dict[str, np.ndarray]:
    """Per-modality emotion/sentiment distributions, presence masks and labels for every clip found."""
    rows: list[dict] = []
    missing = 0
    for dialogue in read_meld_csv(meld_csv):
        found = [(u, find_clip(clips_dir, f"dia{u.dialogue_id}_utt{u.utterance_id}")) for u in dialogue]
        text_scores = scorers["text"].score_dialogue([u.text for u in dialogue]) if "text" in scorers else None
        for pos, (u, path) in enumerate(found):
            if path is None:
                missing += 1
                continue
            media = clip_context(path, fps)
            utt = Utterance(0.0, max(media.duration, 0.02), u.text)
            row = {"emotion": EMOTIONS.index(u.emotion), "sentiment": SENTIMENTS.index(u.sentiment),
                   "id": f"dia{u.dialogue_id}_utt{u.utterance_id}"}
            for name, scorer in scorers.items():
                s = text_scores[pos] if name == "text" else scorer.score_utterances(media, [utt])[0]
                row[name] = s
            rows.append(row)
        log.info("dialogue %s: %d clips so far, %d missing", dialogue[0].dialogue_id, len(rows), missing)
    if not rows:
        raise SystemExit(f"no clips found in {clips_dir} for {meld_csv}")
    out: dict[str, np.ndarray] = {"emotion": np.array([r["emotion"] for r in rows]),
                                  "sentiment": np.array([r["sentiment"] for r in rows]),
                                  "ids": np.array([r["id"] for r in rows])}
    for name in scorers:
        present = np.array([r[name] is not None for r in rows])
        out[f"{name}_present"] = present
        out[f"{name}_emotions"] = np.array([r[name].emotions if r[name] else (1 / 7,) * 7 for r in rows])
        out[f"{name}_sentiments"] = np.array([r[name].sentiments if r[name] else (1 / 3,) * 3 for r in rows])
    log.info("%d clips scored, %d listed in the CSV but missing", len(rows), missing)
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--meld-csv", type=Path, required=True)
    ap.add_argument("--clips-dir", type=Path, required=True)
    ap.add_argument("--modalities", default="text,audio,face")
    ap.add_argument("--fps", type=float, default=2.0)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    data = collect(args.meld_csv, args.clips_dir, build_scorers(args.modalities.split(",")), args.fps)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(args.out, **data)


if __name__ == "__main__":
    main()
