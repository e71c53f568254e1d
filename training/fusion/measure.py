"""Measure the fusion on the data that exists here, for ``training/fusion/README.md``.

    python -m training.fusion.measure --data-dir ../shared/data --out runs/fusion/measure.json

* RAVDESS held-out actors 17-20: the words (the read sentence, through the text model) and the
  voice (the voice model), fused; the words are neutral by design, so the voice must carry the
  emotion. Reported for the default options, each modality alone, and a sweep of the voice
  weight under both methods.
* FER2013 validation: the face alone goes through fusion unchanged (checked image by image).
* MELD dev: text alone goes through fusion unchanged (checked utterance by utterance).
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np

from emotrace.datasets import read_fer_npz, read_meld_csv, read_ravdess_dir
from emotrace.evaluate import score_ravdess
from emotrace.fusion import METHODS, FusionOptions, fuse, fuse_arrays
from emotrace.labels import EMOTIONS, SENTIMENTS
from emotrace.metrics import classification_report
from emotrace.modalities.sentiment import SENTIMENT_GIVEN_EMOTION, scores_from_emotions

log = logging.getLogger("train.fusion.measure")


def ravdess(data_dir: Path, options: FusionOptions, cache: Path | None = None) -> dict:
    """Text + voice on held-out actors 17-20 (voice scores kept in ``cache`` when given)."""
    from emotrace.modalities.audio import AudioScorer
    from emotrace.modalities.text import TextScorer

    clips = read_ravdess_dir(data_dir / "ravdess", set(range(17, 21)))
    if cache is not None and cache.is_file():
        audio = np.load(cache)
    else:
        audio = score_ravdess(clips, AudioScorer())
        if cache is not None:
            cache.parent.mkdir(parents=True, exist_ok=True)
            np.save(cache, audio)
    text_scores = TextScorer().score([c.statement for c in clips])
    text = np.array([s.emotions for s in text_scores])
    truth = np.array([EMOTIONS.index(c.emotion) for c in clips])
    # Sentiment truth by MELD's table; surprise has none (it splits), so it is left out there.
    has_sent = truth != EMOTIONS.index("surprise")
    sent_truth = SENTIMENT_GIVEN_EMOTION[truth].argmax(1)
    audio_sent = audio @ SENTIMENT_GIVEN_EMOTION
    text_sent = np.array([s.sentiments for s in text_scores])
    both = {"text": np.ones(len(clips), bool), "audio": np.ones(len(clips), bool)}

    def rep(emo: np.ndarray, sent: np.ndarray) -> dict:
        e = classification_report(truth, emo.argmax(1), EMOTIONS)
        s = classification_report(sent_truth[has_sent], sent[has_sent].argmax(1), SENTIMENTS)
        return {"emotion_accuracy": round(e["accuracy"], 4), "emotion_weighted_f1": round(e["weighted_f1"], 4),
                "emotion_macro_f1": round(e["macro_f1"], 4), "sentiment_accuracy": round(s["accuracy"], 4)}

    out = {"n": len(clips), "text_alone": rep(text, text_sent), "audio_alone": rep(audio, audio_sent)}
    fused = [fuse({"text": text_scores[i], "audio": scores_from_emotions(audio[i])}, options)[0]
             for i in range(len(clips))]
    out["default"] = {"options": options.to_dict(),
                      **rep(np.array([f.emotions for f in fused]), np.array([f.sentiments for f in fused]))}
    sweep = []
    for method in METHODS:
        for w in (0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0):
            weights = {"text": 1.0, "audio": w}
            emo = fuse_arrays({"text": text, "audio": audio}, both, weights, method)
            sent = fuse_arrays({"text": text_sent, "audio": audio_sent}, both, weights, method)
            sweep.append({"method": method, "audio_weight": w, **rep(emo, sent)})
    out["sweep"] = sweep
    return out


def fer(data_dir: Path, options: FusionOptions) -> dict:
    """Face alone through fusion on FER2013 validation."""
    from emotrace.modalities.face import FaceScorer

    images, labels = read_fer_npz(data_dir / "fer2013" / "validation.npz")
    probs = FaceScorer().predict_crops(images)
    face = [scores_from_emotions(p) for p in probs]
    fused = [fuse({"text": None, "audio": None, "face": s}, options)[0] for s in face]
    unchanged = all(f == s for f, s in zip(fused, face))
    r = classification_report(labels, np.array([f.emotions for f in fused]).argmax(1), EMOTIONS)
    return {"n": int(len(labels)), "unchanged_by_fusion": unchanged, "accuracy": round(r["accuracy"], 4),
            "weighted_f1": round(r["weighted_f1"], 4), "macro_f1": round(r["macro_f1"], 4)}


def meld_text(data_dir: Path, options: FusionOptions) -> dict:
    """Text alone through fusion on MELD dev (each dialogue with its context)."""
    from emotrace.modalities.text import TextScorer

    scorer = TextScorer()
    te, ts, pe, ps, unchanged = [], [], [], [], True
    for dialogue in read_meld_csv(data_dir / "meld" / "dev_sent_emo.csv"):
        for u, s in zip(dialogue, scorer.score_dialogue([u.text for u in dialogue])):
            f, _ = fuse({"text": s, "audio": None, "face": None}, options)
            unchanged &= f == s
            te.append(EMOTIONS.index(u.emotion))
            ts.append(SENTIMENTS.index(u.sentiment))
            pe.append(EMOTIONS.index(f.top_emotion))
            ps.append(SENTIMENTS.index(f.top_sentiment))
    e, s = classification_report(te, pe, EMOTIONS), classification_report(ts, ps, SENTIMENTS)
    return {"n": len(te), "unchanged_by_fusion": bool(unchanged), "emotion_weighted_f1": round(e["weighted_f1"], 4),
            "sentiment_weighted_f1": round(s["weighted_f1"], 4)}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    ap.add_argument("--fusion", type=Path, default=None, help="fusion options JSON (default: the built-in ones)")
    ap.add_argument("--parts", default="ravdess,fer,meld")
    ap.add_argument("--voice-cache", type=Path, default=None,
                    help=".npy keeping the voice scores of RAVDESS actors 17-20 between runs")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    options = FusionOptions.from_json(args.fusion) if args.fusion else FusionOptions()
    parts = {"ravdess": lambda d, o: ravdess(d, o, args.voice_cache), "fer": fer, "meld": meld_text}
    result = {}
    for name in args.parts.split(","):
        result[name] = parts[name](args.data_dir, options)
        log.info("%s: %s", name, json.dumps(result[name]))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
