"""Recommendation latency for one session over a large catalogue (exact full scoring).

    python benchmarks/large_catalogue.py --items 1000000 --reps 200 --threads 2

Builds SR-GNN (paper settings, d = 100) over ``--items`` items from a small synthetic
training split with an identity vocabulary (the weights are the seeded initial ones:
latency does not depend on their values), then times ``model.recommend([session],
k=20)`` in process for one 5-click session, ``--reps`` times after a warm-up: the
whole path a server takes (encode ids, batch, the session graph, the GGNN, the
[1, d] x [d, N] scoring product over every item, top-k, decode). Reports the median,
p90 and p99 milliseconds. Writes ``benchmarks/results/large-catalogue.json`` (or ``--out``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sessionrec.data.sessions import Sessions, Split
from sessionrec.data.vocab import ItemVocab
from sessionrec.models.registry import create
from train_throughput import cpu_name


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--reps", type=int, default=200)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "large-catalogue.json"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    sessions = [list(rng.integers(1, args.items + 1, 5)) for _ in range(100)]
    vocab = ItemVocab.identity(args.items)
    train = Split.augmented(Sessions.from_lists(sessions), vocab)
    model = create("srgnn")
    model.setup(train).eval()
    session = [vocab.decode(np.asarray(sessions[0]))]
    for _ in range(10):
        model.recommend(session, k=args.k)
    times = []
    for _ in range(args.reps):
        started = time.perf_counter()
        model.recommend(session, k=args.k)
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    result = {
        "model": "srgnn",
        "items": args.items,
        "embedding_dim": model.config.embedding_dim,
        "k": args.k,
        "threads": args.threads,
        "reps": args.reps,
        "exact_ms_median": round(statistics.median(times), 2),
        "exact_ms_p90": round(times[int(0.9 * len(times)) - 1], 2),
        "exact_ms_p99": round(times[int(0.99 * len(times)) - 1], 2),
        "torch": torch.__version__,
        "cpu": cpu_name(),
        "cores": os.cpu_count(),
        "measured": time.strftime("%Y-%m-%d %H:%M"),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
