"""Text model throughput: utterances per second at a given batch size on this CPU.

    .venv/bin/python benchmarks/text_speed.py [--batch-size 32] [--repeats 5] [--threads 0] [--context N]

Uses MELD dev utterances (with the model's context, or ``--context N`` preceding turns: what a
model trained with that context would cost) when ../shared/data is present, otherwise a fixed
set of sentences. Prints a small table of the median over several runs.

The utterances are scored as the pipeline scores one file: the encoder in batches, then (when
the model has one) the dialogue head once over the whole sequence; the head's share is printed.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

from emotrace.config import TextOptions
from emotrace.datasets import read_meld_csv
from emotrace.modalities.text import TextScorer, contexts_for

MELD_DEV = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "meld" / "dev_sent_emo.csv"
FALLBACK = ["Oh my god, I can't believe it!", "Okay.", "Why would you do that to me?",
            "I got the job! We're going to Paris!", "Could you pass the salt, please?",
            "This is the worst day of my life.", "Wait, what? You're kidding."] * 160


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--context", type=int, default=None,
                   help="preceding turns fed with each utterance (default: the model's own)")
    args = p.parse_args()
    scorer = TextScorer(TextOptions(batch_size=args.batch_size, threads=args.threads,
                                    context_turns=args.context))
    if MELD_DEV.exists():
        texts, contexts = [], []
        for d in read_meld_csv(MELD_DEV):
            t = [u.text for u in d]
            texts += t
            contexts += contexts_for(t, scorer.context_turns) or [""] * len(t)
        source = f"MELD dev ({len(texts)} utterances, context {scorer.context_turns})"
    else:
        texts, contexts, source = FALLBACK, None, f"{len(FALLBACK)} built-in sentences"
    scorer.score(texts[:64], contexts[:64] if contexts else None)  # warm-up
    rates, head_seconds = [], []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        emo, sent = scorer.probabilities(texts, contexts if contexts else None)
        t1 = time.perf_counter()
        if scorer.dialogue is not None:
            scorer.read_dialogue(emo, sent)
        t2 = time.perf_counter()
        rates.append(len(texts) / (t2 - t0))
        head_seconds.append(t2 - t1)
    print(f"text model {scorer.model_name} on {source}")
    if scorer.dialogue is not None:
        print(f"dialogue head: median {statistics.median(head_seconds) * 1000:.1f} ms per pass over all {len(texts)}")
    print(f"CPU: {platform.processor() or platform.machine()}, {os.cpu_count()} logical cores")
    print("| batch | median utt/s | min | max |")
    print("|---|---|---|---|")
    print(f"| {args.batch_size} | {statistics.median(rates):.0f} | {min(rates):.0f} | {max(rates):.0f} |")


if __name__ == "__main__":
    main()
