"""Average the weights of text models fine-tuned from the same base ("model soup").

    python -m training.text.experiments.soup --runs runs/text/ctx0_e2 runs/text/s11 --out runs/text/soup

Runs fine-tuned from one pretrained encoder with the same recipe but different seeds usually stay
in one basin, so their weight average is a single model (no extra inference cost) that is often
better than each of them. The soup is measured on MELD dev like a training epoch, and it is kept
only if it beats every ingredient there (a "greedy" soup of two); otherwise the best ingredient
is copied. The output folder has ``best.pt``, ``dev_scores.json`` and a ``train_config.json`` that
``training.text.export`` reads.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
from pathlib import Path

import torch

from ..train import base_model_dir, base_of, evaluate, meld_examples, model_for

log = logging.getLogger("soup")


def average(state_dicts: list[dict]) -> dict:
    """Element-wise mean of floating-point tensors; other tensors are taken from the first."""
    out = {}
    for key, first in state_dicts[0].items():
        if first.is_floating_point():
            out[key] = sum(sd[key] for sd in state_dicts) / len(state_dicts)
        else:
            out[key] = first
    return out


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=Path, nargs="+", required=True,
                   help="training output folders (best.pt, train_config.json), same base and context")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(args.threads)
    from emotrace.modalities.text import load_tokenizer

    configs = [json.loads((r / "train_config.json").read_text()) for r in args.runs]
    if len({(c["context"], c["max_length"], base_of(c), c.get("layers", 0), c.get("pool", "all")) for c in configs}) != 1:
        raise SystemExit("the runs differ in base model, layers, pooling, context or max length; "
                         "their weights cannot be averaged")
    cfg = configs[0]
    enc_dir = base_model_dir(base_of(cfg))
    tokenizer = load_tokenizer(enc_dir / "tokenizer.json")
    dev = meld_examples(args.data_dir / "meld" / "dev_sent_emo.csv", cfg["context"])
    model = model_for(cfg)

    def score(state: dict) -> tuple[float, dict]:
        model.load_state_dict(state)
        report = evaluate(model, dev, tokenizer, cfg["max_length"])
        return report["emotion"]["weighted_f1"] + report["sentiment"]["weighted_f1"], report

    states = [torch.load(r / "best.pt", map_location="cpu") for r in args.runs]
    results = []
    for run, state in zip(args.runs, states):
        total, report = score(state)
        results.append({"run": str(run), "emotion_wf1": report["emotion"]["weighted_f1"],
                        "sentiment_wf1": report["sentiment"]["weighted_f1"]})
        log.info("%s: dev emotion wF1 %.4f sentiment wF1 %.4f", run, results[-1]["emotion_wf1"],
                 results[-1]["sentiment_wf1"])
    soup = average(states)
    soup_total, soup_report = score(soup)
    soup_result = {"emotion_wf1": soup_report["emotion"]["weighted_f1"],
                   "sentiment_wf1": soup_report["sentiment"]["weighted_f1"]}
    log.info("soup: dev emotion wF1 %.4f sentiment wF1 %.4f", soup_result["emotion_wf1"],
             soup_result["sentiment_wf1"])
    best_single = max(range(len(states)), key=lambda i: results[i]["emotion_wf1"] + results[i]["sentiment_wf1"])
    keep_soup = soup_total > results[best_single]["emotion_wf1"] + results[best_single]["sentiment_wf1"]
    args.out.mkdir(parents=True, exist_ok=True)
    if keep_soup:
        torch.save(soup, args.out / "best.pt")
        (args.out / "dev_scores.json").write_text(json.dumps(soup_report, indent=2))
    else:
        log.info("the soup is not better than %s on dev; keeping that run", args.runs[best_single])
        shutil.copy(args.runs[best_single] / "best.pt", args.out / "best.pt")
    base = {**cfg, "out": str(args.out)} if keep_soup else configs[best_single]
    (args.out / "train_config.json").write_text(json.dumps({
        **base, "soup": {"kept": keep_soup, "ingredients": results, "soup_dev": soup_result,
                         "configs": [{k: v for k, v in c.items() if k != "soup"} for c in configs]},
    }, indent=2))


if __name__ == "__main__":
    main()
