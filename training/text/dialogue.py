"""Train the text model's dialogue head: a small recurrent layer over a conversation's scores.

    python -m training.text.dialogue --model runs/text/model --out runs/text/dialogue
    python -m training.text.dialogue --model runs/text/model --out runs/text/dialogue --export

The utterance encoder scores each utterance alone. In a video the whole transcript is known, so
a second stage reads the encoder's emotion and sentiment log-probabilities of every utterance of
the conversation, in spoken order, with a bidirectional GRU, and adds a correction to each
utterance's logits (``logits = own log-probabilities + correction``; the correction layers start
at zero, so an untrained head is the encoder alone). It sees what was said before *and after*,
costs one tiny ONNX call per file, and leaves the encoder's speed untouched.

The head trains on the shipped ONNX encoder's own outputs over MELD train (scored per dialogue,
exactly as ``evaluate text`` and the pipeline score), so what it learns from is what it will be
given. ``--seeds`` heads are trained and their logits averaged (one ONNX graph). The number of
epochs is chosen on MELD dev by the ensemble's emotion + sentiment weighted F1; because that is a
choice made on dev, the script also prints a *cross-fitted* figure: the epoch chosen on one half
of dev's dialogues and scored on the other, pooled over both halves.

``--join K`` also trains on runs of up to K consecutive dialogues joined into one sequence, as a
long video is one sequence of many scenes. ``--export`` writes ``dialogue.onnx`` into the model
folder and names it in its ``config.json`` (``dialogue_head``), which ``TextScorer`` then applies.

``--speakers`` (experiment) also gives the head, per utterance, MELD's speakers as
:data:`~emotrace.modalities.text.SPEAKER_FEATURES` (speaker known, same speaker as the previous
utterance / the one before that, this speaker spoke before in the sequence); speakers of joined
dialogues stay distinct across the parts. ``--speaker-dropout`` blanks a training sequence's
speakers (all zeros, as a conversation without speakers reads) with that probability.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from emotrace.config import TextOptions
from emotrace.datasets import read_meld_csv
from emotrace.labels import EMOTIONS, SENTIMENTS
from emotrace.metrics import classification_report
from emotrace.modalities.text import MIN_DIALOGUE, SPEAKER_FEATURES, TextScorer, speaker_features

from .recipe import DIALOGUE, dialogue_head_config

log = logging.getLogger("dialogue")
N_IN = len(EMOTIONS) + len(SENTIMENTS)
SETTINGS = tuple(DIALOGUE)
"""The options that make a head (recorded in ``config.json``; their defaults are the recipe's)."""


class DialogueHead(nn.Module):
    """Bidirectional GRU over a conversation's log-probabilities, adding to each utterance's own."""

    def __init__(self, hidden: int = 128, dropout: float = 0.3, n_speaker: int = 0):
        super().__init__()
        self.n_speaker = n_speaker
        self.inp = nn.Sequential(nn.Dropout(dropout), nn.Linear(N_IN + n_speaker, hidden), nn.GELU())
        self.rnn = nn.GRU(hidden, hidden, batch_first=True, bidirectional=True)
        self.drop = nn.Dropout(dropout)
        self.emotion = nn.Linear(3 * hidden, len(EMOTIONS))
        self.sentiment = nn.Linear(3 * hidden, len(SENTIMENTS))
        for layer in (self.emotion, self.sentiment):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, emotion_logp: torch.Tensor, sentiment_logp: torch.Tensor,
                speaker: torch.Tensor | None = None):
        """``(T, 7)`` and ``(T, 3)`` log-probabilities of one conversation (and, for a head with
        ``n_speaker``, its ``(T, n_speaker)`` speaker features) → corrected logits."""
        x = [emotion_logp, sentiment_logp] + ([speaker] if self.n_speaker else [])
        h = self.inp(torch.cat(x, -1))
        c, _ = self.rnn(h.unsqueeze(0))
        z = self.drop(torch.cat([h, c[0]], -1))
        return emotion_logp + self.emotion(z), sentiment_logp + self.sentiment(z)


class Ensemble(nn.Module):
    """The mean of several heads' logits, as probabilities (what the runtime expects)."""

    def __init__(self, heads: list[DialogueHead]):
        super().__init__()
        self.heads = nn.ModuleList(heads)

    def forward(self, emotion_probs: torch.Tensor, sentiment_probs: torch.Tensor,
                speaker_features: torch.Tensor | None = None):
        e_logp, s_logp = emotion_probs.clamp(min=1e-12).log(), sentiment_probs.clamp(min=1e-12).log()
        outs = [h(e_logp, s_logp, speaker_features) for h in self.heads]
        e = torch.stack([o[0] for o in outs]).mean(0)
        s = torch.stack([o[1] for o in outs]).mean(0)
        return e.softmax(-1), s.softmax(-1)


def encoder_outputs(model_dirs: list[str], meld_csv: Path) -> list[tuple[np.ndarray, ...]]:
    """Per dialogue: the encoder's emotion and sentiment probabilities and the two label arrays.

    With several model folders, dialogue ``d`` is scored by ``model_dirs[d % len(model_dirs)]``:
    the encoders trained with ``training.text.train --folds N --fold k`` each score the fold
    they never saw.
    """
    scorers = [TextScorer(TextOptions(model=m, dialogue=False)) for m in model_dirs]
    dialogues = read_meld_csv(meld_csv)
    out, t0 = [], time.time()
    for n, d in enumerate(dialogues):
        emo, sent = scorers[n % len(scorers)].dialogue_probabilities([u.text for u in d])
        out.append((emo.astype(np.float32), sent.astype(np.float32),
                    np.array([EMOTIONS.index(u.emotion) for u in d]),
                    np.array([SENTIMENTS.index(u.sentiment) for u in d])))
        if n % 200 == 0:
            log.info("%s: encoder scores %d/%d dialogues (%.0f s)", meld_csv.name, n, len(dialogues), time.time() - t0)
    return out


def cached_outputs(model_dirs: list[str], meld_csv: Path, out: Path) -> list[tuple[np.ndarray, ...]]:
    """:func:`encoder_outputs`, cached in ``out`` (keyed by the CSV's name and the model folders)."""
    key = hashlib.sha256("\n".join(str(Path(m).resolve()) for m in model_dirs).encode()).hexdigest()[:10]
    cache = out / f"encoder_{meld_csv.stem}_{key}.npz"
    if cache.exists():
        z = np.load(cache)
        return [tuple(z[f"{k}{i}"] for k in ("e", "s", "ye", "ys")) for i in range(int(z["n"]))]
    data = encoder_outputs(model_dirs, meld_csv)
    arrays = {f"{k}{i}": v for i, d in enumerate(data) for k, v in zip(("e", "s", "ye", "ys"), d)}
    np.savez(cache, n=len(data), **arrays)
    return data


def meld_speakers(meld_csv: Path) -> list[list[str]]:
    """Per dialogue of a MELD CSV (in :func:`encoder_outputs`' order): its speakers as emotrace
    names them, ``S1``, ``S2``… by order of first appearance in the dialogue."""
    out = []
    for d in read_meld_csv(meld_csv):
        ids: dict[str, str] = {}
        out.append([ids.setdefault(u.speaker, f"S{len(ids) + 1}") if u.speaker else "" for u in d])
    return out


def as_tensors(data, speakers: list[list[str]] | None = None) -> list[tuple]:
    """Per dialogue: log-probabilities, labels and its speakers (a list; empty names without ``speakers``)."""
    if speakers is not None and [len(s) for s in speakers] != [len(d[2]) for d in data]:
        raise ValueError("speakers do not line up with the cached encoder outputs")
    return [(torch.from_numpy(e).clamp(min=1e-12).log(), torch.from_numpy(s).clamp(min=1e-12).log(),
             torch.from_numpy(ye), torch.from_numpy(ys),
             [(0, w) if w else None for w in speakers[n]] if speakers is not None else [None] * len(ye))
            for n, (e, s, ye, ys) in enumerate(data)]


def joined(data: list, k: int, rng: np.random.Generator) -> list:
    """Runs of 2..k consecutive dialogues (in a shuffled order) joined into single sequences;
    each part's speakers stay its own (``S1`` of one part is not ``S1`` of the next)."""
    order = rng.permutation(len(data))
    out, i = [], 0
    while i < len(order):
        n = int(rng.integers(2, k + 1))
        group = [data[j] for j in order[i:i + n]]
        spk = [(part, w[1]) if w else None for part, g in enumerate(group)
               for w in (g[4] if len(g) > 4 else [None] * len(g[0]))]
        out.append(tuple(torch.cat([g[f] for g in group]) for f in range(4)) + (spk,))
        i += n
    return out


def features(seq, args, rng: np.random.Generator | None = None) -> torch.Tensor | None:
    """The speaker features a head trained with ``args`` reads for ``seq`` (None without
    ``--speakers``); with ``rng`` (training), blanked with probability ``args.speaker_dropout``."""
    if not getattr(args, "speakers", False):
        return None
    if rng is not None and args.speaker_dropout > 0 and rng.random() < args.speaker_dropout:
        return torch.zeros(len(seq[4]), len(SPEAKER_FEATURES))
    return torch.from_numpy(speaker_features(seq[4]))


@torch.no_grad()
def predict(heads: list[DialogueHead], data, args=None) -> tuple[np.ndarray, np.ndarray]:
    """Ensemble argmax predictions over all dialogues, concatenated (as ``TextScorer`` scores them)."""
    pe, ps = [], []
    for h in heads:
        h.eval()
    for seq in data:
        e, s = seq[0], seq[1]
        if len(e) < MIN_DIALOGUE:  # as at run time: a lone utterance keeps the encoder's scores
            pe.append(e.argmax(-1).numpy())
            ps.append(s.argmax(-1).numpy())
            continue
        f = features(seq, args)
        outs = [h(e, s, f) for h in heads]
        pe.append(torch.stack([o[0] for o in outs]).mean(0).argmax(-1).numpy())
        ps.append(torch.stack([o[1] for o in outs]).mean(0).argmax(-1).numpy())
    for h in heads:
        h.train()
    return np.concatenate(pe), np.concatenate(ps)


def wf1(y: np.ndarray, pred: np.ndarray, names) -> float:
    return float(classification_report(list(y), list(pred), names)["weighted_f1"])


def train_heads(train, dev, args) -> tuple[list[dict], list[list[dict]]]:
    """Train ``args.seeds`` heads for ``args.epochs``; per epoch, dev predictions and every head's weights."""
    heads, opts, rngs = [], [], []
    for seed in range(args.seeds):
        torch.manual_seed(seed)
        heads.append(DialogueHead(args.hidden, args.dropout, n_speaker(args)))
        opts.append(torch.optim.AdamW(heads[-1].parameters(), lr=args.lr, weight_decay=0.01))
        rngs.append(np.random.default_rng(seed))
    epochs, states = [], []
    for epoch in range(1, args.epochs + 1):
        t0 = time.time()
        for head, opt, rng in zip(heads, opts, rngs):
            seqs = train + (joined(train, args.join, rng) if args.join > 1 else [])
            for i in rng.permutation(len(seqs)):
                e, s, ye, ys = seqs[i][:4]
                pe, ps = head(e, s, features(seqs[i], args, rng))
                loss = F.cross_entropy(pe, ye) + args.sentiment_loss * F.cross_entropy(ps, ys)
                opt.zero_grad()
                loss.backward()
                opt.step()
        pred_e, pred_s = predict(heads, dev, args)
        epochs.append({"epoch": epoch, "pred_e": pred_e, "pred_s": pred_s})
        states.append([{k: v.clone() for k, v in h.state_dict().items()} for h in heads])
        log.info("epoch %d (%.0f s)", epoch, time.time() - t0)
    return epochs, states


def parser() -> argparse.ArgumentParser:
    """The command line; its defaults are the shipped recipe (:data:`~training.text.recipe.DIALOGUE`)."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    r = DIALOGUE
    p.add_argument("--model", default="runs/text/model", help="text model folder (its encoder is scored)")
    p.add_argument("--out", type=Path, default=Path("runs/text/dialogue"),
                   help="run folder: cached encoder scores, heads, report")
    p.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    p.add_argument("--epochs", type=int, default=r["epochs"])
    p.add_argument("--seeds", type=int, default=r["seeds"], help="heads trained and averaged")
    p.add_argument("--hidden", type=int, default=r["hidden"])
    p.add_argument("--dropout", type=float, default=r["dropout"])
    p.add_argument("--lr", type=float, default=r["lr"])
    p.add_argument("--sentiment-loss", type=float, default=r["sentiment_loss"])
    p.add_argument("--join", type=int, default=r["join"], help="also train on runs of up to K joined dialogues")
    p.add_argument("--train-models", nargs="+", default=r["train_models"], metavar="DIR",
                   help="experiment: score MELD train with these encoders instead of --model, dialogue d by the "
                        "(d %% N)-th: encoders trained with --folds N, each scoring the fold it never saw")
    p.add_argument("--speakers", action="store_true",
                   help="experiment: also give the head each utterance's speaker features (MELD's Speaker column)")
    p.add_argument("--speaker-dropout", type=float, default=0.1,
                   help="with --speakers: probability that a training sequence's speakers are blanked (unknown)")
    p.add_argument("--export", action="store_true",
                   help="write dialogue.onnx into --model and name it in config.json (a run folder that "
                        "already holds heads trained with the same settings is exported without training again)")
    p.add_argument("--version", default=None, help="with --export: the model's new version (part of the result-cache key)")
    return p


def main(argv=None) -> None:
    p = parser()
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    settings = {k: getattr(args, k) for k in SETTINGS}
    if args.speakers:
        settings.update(speakers=list(SPEAKER_FEATURES), speaker_dropout=args.speaker_dropout)
    done = args.out / "report.json"
    if args.export and done.exists() and (args.out / "heads.pt").exists() \
            and json.loads(done.read_text())["settings"] == settings:
        report = json.loads(done.read_text())
        log.info("exporting the heads already trained in %s (epoch %d)", args.out, report["chosen_epoch"])
        heads = [_head(state, args) for state in torch.load(args.out / "heads.pt")]
        export(Ensemble(heads).eval(), Path(args.model), report, args.version)
        return

    meld = args.data_dir / "meld"
    spk = {n: meld_speakers(meld / f"{n}_sent_emo.csv") if args.speakers else None for n in ("train", "dev")}
    train = as_tensors(cached_outputs(args.train_models or [args.model], meld / "train_sent_emo.csv", args.out),
                       spk["train"])
    dev_np = cached_outputs([args.model], meld / "dev_sent_emo.csv", args.out)
    dev = as_tensors(dev_np, spk["dev"])
    ye = np.concatenate([d[2] for d in dev_np])
    ys = np.concatenate([d[3] for d in dev_np])
    fold = np.concatenate([[i % 2] * len(d[2]) for i, d in enumerate(dev_np)])
    base_e = np.concatenate([d[0] for d in dev_np]).argmax(1)
    base_s = np.concatenate([d[1] for d in dev_np]).argmax(1)
    epochs, states = train_heads(train, dev, args)
    rows = []
    for ep in epochs:
        rows.append({"epoch": ep["epoch"], "emotion_wf1": round(wf1(ye, ep["pred_e"], EMOTIONS), 4),
                     "sentiment_wf1": round(wf1(ys, ep["pred_s"], SENTIMENTS), 4)})
        log.info("epoch %d: dev emotion wF1 %.4f sentiment wF1 %.4f", *rows[-1].values())

    def total(ep, mask):
        return wf1(ye[mask], ep["pred_e"][mask], EMOTIONS) + wf1(ys[mask], ep["pred_s"][mask], SENTIMENTS)

    best = max(range(len(epochs)), key=lambda i: rows[i]["emotion_wf1"] + rows[i]["sentiment_wf1"])
    cross_e, cross_s, chosen = np.zeros_like(ye), np.zeros_like(ys), []
    for f in (0, 1):
        i = max(range(len(epochs)), key=lambda j: total(epochs[j], fold != f))
        chosen.append(epochs[i]["epoch"])
        cross_e[fold == f], cross_s[fold == f] = epochs[i]["pred_e"][fold == f], epochs[i]["pred_s"][fold == f]
    report = {
        "model": args.model, "n_dev": int(len(ye)),
        "settings": settings,
        "encoder_alone": {"emotion_wf1": round(wf1(ye, base_e, EMOTIONS), 4),
                          "sentiment_wf1": round(wf1(ys, base_s, SENTIMENTS), 4)},
        "per_epoch": rows, "chosen_epoch": rows[best]["epoch"],
        "chosen": rows[best],
        "cross_fitted": {"epochs_chosen_per_half": chosen,
                         "emotion_wf1": round(wf1(ye, cross_e, EMOTIONS), 4),
                         "sentiment_wf1": round(wf1(ys, cross_s, SENTIMENTS), 4)},
    }
    heads = [_head(state, args) for state in states[best]]
    torch.save([h.state_dict() for h in heads], args.out / "heads.pt")
    (args.out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    if args.export:
        export(Ensemble(heads).eval(), Path(args.model), report, args.version)


def n_speaker(args) -> int:
    return len(SPEAKER_FEATURES) if getattr(args, "speakers", False) else 0


def _head(state: dict, args) -> DialogueHead:
    head = DialogueHead(args.hidden, args.dropout, n_speaker(args))
    head.load_state_dict(state)
    return head.eval()


def export(ensemble: Ensemble, model_dir: Path, report: dict, version: str | None = None) -> None:
    """Write ``dialogue.onnx`` (one conversation in, probabilities out) and name it in config.json."""
    e = torch.full((5, len(EMOTIONS)), 1 / len(EMOTIONS))
    s = torch.full((5, len(SENTIMENTS)), 1 / len(SENTIMENTS))
    n_spk = ensemble.heads[0].n_speaker
    inputs = ["emotion_probs", "sentiment_probs"] + (["speaker_features"] if n_spk else [])
    names = inputs + ["emotion_probs_out", "sentiment_probs_out"]
    example = (e, s) + ((torch.zeros(5, n_spk),) if n_spk else ())
    with warnings.catch_warnings():
        # The tracer warns about GRU batch sizes; the graph fixes its batch at one conversation.
        warnings.simplefilter("ignore")
        torch.onnx.export(ensemble, example, str(model_dir / "dialogue.onnx"), input_names=inputs,
                          output_names=names[len(inputs):], dynamic_axes={n: {0: "utterances"} for n in names},
                          opset_version=17, dynamo=False)
    path = model_dir / "config.json"
    config = json.loads(path.read_text())
    config["dialogue_head"] = dialogue_head_config(report["settings"], report["chosen_epoch"], len(ensemble.heads))
    if version is not None:
        config["version"] = version
    path.write_text(json.dumps(config, indent=2) + "\n")
    log.info("wrote %s and named it in %s", model_dir / "dialogue.onnx", path)


if __name__ == "__main__":
    main()
