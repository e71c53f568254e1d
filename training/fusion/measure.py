"""Measure the fusion on every held-out set there is here, for ``training/fusion/README.md``.

    python -m training.fusion.measure --voice-run runs/voice/mlp --out runs/fusion/measure.json

The voice's scores come from the voice training run (``training.audio.train``'s
``held_out.npz``): predictions of models that never heard those speakers or corpora, for each
clip heard alone (as ``emotrace evaluate audio`` scores it).

* ``ravdess_17_20``: RAVDESS actors 17–20 (voice model trained on actors 1–16 + EmoDB + EMOVO),
  with the words (the read sentence, through the text model). The words are neutral by design,
  so the voice must carry the emotion.
* ``ravdess_loco``: all RAVDESS actors, voice model trained on EmoDB + EMOVO only (another
  language, other studios), with the words. Actors 1–16 of it are where the fusion's settings
  were chosen (``--sweep``).
* ``emodb_loco``, ``emovo_loco``: the voice model trained on the other two corpora. The words
  are German or Italian, which the English text model cannot read, so only the voice judges.
* ``meld_dev``: the text alone through fusion (unchanged, checked utterance by utterance).
* ``fer_validation``: the face alone through fusion (unchanged, checked image by image).
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
from pathlib import Path

import numpy as np

from emotrace.datasets import read_fer_npz, read_meld_csv, read_ravdess_dir
from emotrace.fusion import FusionOptions, fuse, fuse_arrays
from emotrace.labels import EMOTIONS, SENTIMENTS
from emotrace.metrics import classification_report
from emotrace.modalities.audio import domain_quality
from emotrace.modalities.sentiment import SENTIMENT_GIVEN_EMOTION, scores_from_emotions
from emotrace.types import Scores

log = logging.getLogger("train.fusion.measure")


def softmax(z: np.ndarray, t: float) -> np.ndarray:
    e = np.exp(z / t - (z / t).max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def voice_sets(run: Path) -> dict[str, dict]:
    """Held-out voice probabilities, truth and file names per set, from a voice training run."""
    d = np.load(run / "held_out.npz")
    view = "alone" if "logits_alone" in d else "in_conversation"  # clips alone, if the run has them
    probs = softmax(d[f"logits_{view}"], float(d["temperature"]))

    def quality(distance: np.ndarray) -> np.ndarray:  # as AudioScorer gives it (every clip is over 1 s)
        return domain_quality(distance, float(d["domain_typical"]), float(d["domain_far"]))

    sets = {}
    for corpus in ("ravdess", "emodb", "emovo"):
        m = d["corpora"] == corpus
        sets[f"{corpus}_loco"] = {"audio": probs[m], "truth": d["labels"][m], "names": d["names"][m],
                                  "speakers": d["speakers"][m], "quality": quality(d[f"distance_{view}"][m])}
    held = np.isin(d["names"], d["held_out_names"])
    sets["ravdess_17_20"] = {"audio": d[f"held_out_{view}"], "truth": d["labels"][held], "names": d["names"][held],
                             "speakers": d["speakers"][held],
                             "quality": quality(d[f"held_out_distance_{view}"])}
    return sets


def words_of(names: np.ndarray, data_dir: Path) -> list[str]:
    """RAVDESS's read sentence for each file name."""
    statements = {c.path.name: c.statement for c in read_ravdess_dir(data_dir / "ravdess")}
    return [statements[Path(str(n)).name] for n in names]


def report(truth: np.ndarray, emo: np.ndarray, sent: np.ndarray) -> dict:
    """Emotion accuracy / weighted F1 / macro F1, and sentiment accuracy (MELD's table, surprise left out)."""
    e = classification_report(truth, emo.argmax(1), EMOTIONS)
    has = truth != EMOTIONS.index("surprise")
    s = classification_report(SENTIMENT_GIVEN_EMOTION[truth[has]].argmax(1), sent[has].argmax(1), SENTIMENTS)
    return {"n": int(len(truth)), "emotion_accuracy": round(e["accuracy"], 4),
            "emotion_weighted_f1": round(e["weighted_f1"], 4), "emotion_macro_f1": round(e["macro_f1"], 4),
            "sentiment_accuracy": round(s["accuracy"], 4)}


def fused_arrays(text: np.ndarray | None, text_sent: np.ndarray | None, audio: np.ndarray,
                 options: FusionOptions, quality: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Emotions and sentiments fused as :func:`emotrace.fusion.fuse` does, for many utterances
    (``quality``: the voice's, per utterance)."""
    n = len(audio)
    audio_sent = audio @ SENTIMENT_GIVEN_EMOTION
    if text is None:
        return audio, audio_sent
    both = {"text": np.ones(n, bool), "audio": np.ones(n, bool)}
    q = None if quality is None else {"audio": quality}
    emo = fuse_arrays({"text": text, "audio": audio}, both, options.weights, options=options, quality=q)
    sent = fuse_arrays({"text": text_sent, "audio": audio_sent}, both, options.sentiment_weights, options=options,
                       quality=q, confidence_of={"text": text, "audio": audio})
    return emo, sent


def text_and_voice(s: dict, text: np.ndarray | None, text_sent: np.ndarray | None, options: FusionOptions) -> dict:
    audio = s["audio"]
    out = {"voice_alone": report(s["truth"], audio, audio @ SENTIMENT_GIVEN_EMOTION)}
    if text is not None:
        out["text_alone"] = report(s["truth"], text, text_sent)
        fixed = FusionOptions(adaptive=False, neutral_trust={})
        out["fused_fixed_equal_weights"] = report(s["truth"], *fused_arrays(text, text_sent, audio, fixed))
        # the per-utterance path gives the same numbers (checked on the first 50)
        q = s["quality"]
        for i in range(min(50, len(audio))):
            f, _ = fuse({"text": Scores.from_arrays(text[i], text_sent[i]),
                         "audio": scores_from_emotions(audio[i], float(q[i]))}, options)
            ref = fused_arrays(text[i:i + 1], text_sent[i:i + 1], audio[i:i + 1], options, q[i:i + 1])[0][0]
            assert np.allclose(f.emotions, ref, atol=1e-6), "vectorised fusion differs from fuse()"
        out["voice_quality_mean"] = round(float(np.mean(q)), 4)
    out["fused"] = report(s["truth"], *fused_arrays(text, text_sent, audio, options, s.get("quality")))
    best = max(v["emotion_accuracy"] for k, v in out.items() if k.endswith("_alone"))
    out["fused_minus_best_single"] = round(out["fused"]["emotion_accuracy"] - best, 4)
    return out


def sweep(s: dict, text: np.ndarray, text_sent: np.ndarray) -> list[dict]:
    """Emotion accuracy over a grid of settings (on the tuning set)."""
    rows = []
    for w, trust, floor in itertools.product((0.25, 0.5, 0.75, 1.0, 1.5, 2.0), (0.0, 0.1, 0.25, 0.5, 1.0), (1.0, 0.2)):
        o = FusionOptions(weights={"text": 1.0, "audio": w, "face": 1.0},
                          sentiment_weights={"text": 1.0, "audio": w, "face": 1.0},
                          confidence_floor=floor, neutral_trust={"text": trust})
        rows.append({"audio_weight": w, "text_neutral_trust": trust, "confidence_floor": floor,
                     **report(s["truth"], *fused_arrays(text, text_sent, s["audio"], o, s["quality"]))})
    return rows


def meld_text(data_dir: Path, options: FusionOptions) -> dict:
    """Text alone through fusion on MELD dev (each dialogue as one conversation)."""
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
    return {"n": len(te), "unchanged_by_fusion": bool(unchanged), "emotion_accuracy": round(e["accuracy"], 4),
            "emotion_weighted_f1": round(e["weighted_f1"], 4), "sentiment_weighted_f1": round(s["weighted_f1"], 4)}


def fer(data_dir: Path, options: FusionOptions) -> dict:
    """Face alone through fusion on FER2013 validation."""
    from emotrace.modalities.face import FaceScorer

    images, labels = read_fer_npz(data_dir / "fer2013" / "validation.npz")
    face = [scores_from_emotions(p) for p in FaceScorer().predict_crops(images)]
    fused = [fuse({"text": None, "audio": None, "face": s}, options)[0] for s in face]
    r = classification_report(labels, np.array([f.emotions for f in fused]).argmax(1), EMOTIONS)
    return {"n": int(len(labels)), "unchanged_by_fusion": all(f == s for f, s in zip(fused, face)),
            "emotion_accuracy": round(r["accuracy"], 4), "emotion_weighted_f1": round(r["weighted_f1"], 4),
            "emotion_macro_f1": round(r["macro_f1"], 4)}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    ap.add_argument("--voice-run", type=Path, default=Path("runs/voice/mlp"),
                    help="a training.audio.train output folder (its held_out.npz)")
    ap.add_argument("--fusion", type=Path, default=None, help="fusion options JSON (default: the built-in ones)")
    ap.add_argument("--parts", default="voice,meld,fer")
    ap.add_argument("--sweep", action="store_true", help="also sweep settings on RAVDESS actors 1-16 (voice LOCO)")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    options = FusionOptions.from_json(args.fusion) if args.fusion else FusionOptions()
    result: dict = {"options": options.to_dict()}
    parts = args.parts.split(",")
    if "voice" in parts:
        from emotrace.modalities.text import TextScorer

        scorer = TextScorer()
        for name, s in voice_sets(args.voice_run).items():
            text = text_sent = None
            if name.startswith("ravdess"):
                scores = scorer.score(words_of(s["names"], args.data_dir))
                text = np.array([x.emotions for x in scores])
                text_sent = np.array([x.sentiments for x in scores])
            result[name] = text_and_voice(s, text, text_sent, options)
            log.info("%s: %s", name, json.dumps({k: v for k, v in result[name].items()}))
            if args.sweep and name == "ravdess_loco":
                tune = np.array([int(str(x).split(":")[1]) <= 16 for x in s["speakers"]])
                sub = {k: v[tune] for k, v in s.items()}
                result["sweep_ravdess_loco_1_16"] = sweep(sub, text[tune], text_sent[tune])
                result["sweep_voice_alone_1_16"] = report(sub["truth"], sub["audio"],
                                                          sub["audio"] @ SENTIMENT_GIVEN_EMOTION)
    if "meld" in parts:
        result["meld_dev"] = meld_text(args.data_dir, options)
        log.info("meld_dev: %s", result["meld_dev"])
    if "fer" in parts:
        result["fer_validation"] = fer(args.data_dir, options)
        log.info("fer_validation: %s", result["fer_validation"])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
