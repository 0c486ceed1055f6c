"""In-process latency of ``Recommender.recommend`` for one live session, on a Diginetica-sized model.

Builds SR-GNN over the Diginetica catalogue (43,097 items, from the shared SR-GNN
pickles) with its seeded, untrained weights unless ``--run`` names a trained run
(latency does not depend on the weights' values), then times ``recommend([session],
k=20)`` for test prefixes drawn at random, one at a time, as a server without
batching would. Also times batches of 16 (what the micro-batcher sends under load).
Repeats the whole measurement and reports each repeat and the medians.

    .venv/bin/python benchmarks/serving_latency.py --repeats 5
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sessionrec.data.dataset import Dataset
from sessionrec.data.pickles import import_pickles
from sessionrec.models.base import Recommender
from sessionrec.models.neural import NeuralRecommender
from sessionrec.models.registry import create, load_run_model
from sessionrec.runs import finish_run, start_run

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "diginetica"


def build_model(data: Path, name: str = "srgnn", run: Path | None = None) -> tuple[Recommender, Dataset, str]:
    """The model to time and the dataset it covers; says whether the weights are trained."""
    dataset = import_pickles(data)
    if run is not None:
        return load_run_model(run), dataset, f"trained run {run}"
    model = create(name)
    if isinstance(model, NeuralRecommender):
        # the seeded initialisation, no training: what is timed is the same computation
        model.setup(dataset.train).eval()
        return model, dataset, "untrained (seeded initial weights)"
    return model.fit(dataset.train), dataset, "fitted on the training sessions"


def save_as_run(model: Recommender, dataset: Dataset, directory: Path, note: str) -> Path:
    run = start_run(directory, model, dataset.manifest, overwrite=True, weights=note)
    finish_run(run, model)
    return directory


def test_sessions(dataset: Dataset, n: int, seed: int = 0) -> list[list[int]]:
    """Random test prefixes as external ids (what a client would send)."""
    split = dataset.test
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(split), size=min(n, len(split)), replace=False)
    sessions = split.sessions
    out = []
    for sample in chosen:
        start = sessions.offsets[split.sample_session[sample]]
        prefix = sessions.items[start : start + split.sample_cut[sample]]
        out.append(dataset.vocab.decode(prefix))
    return out


def percentiles(values_ms: list[float]) -> dict[str, float]:
    array = np.asarray(values_ms)
    return {
        "mean_ms": round(float(array.mean()), 3),
        "p50_ms": round(float(np.percentile(array, 50)), 3),
        "p90_ms": round(float(np.percentile(array, 90)), 3),
        "p99_ms": round(float(np.percentile(array, 99)), 3),
        "max_ms": round(float(array.max()), 3),
    }


def time_calls(model: Recommender, sessions: list[list[int]], batch: int, k: int) -> list[float]:
    """Milliseconds per ``recommend`` call over consecutive groups of ``batch`` sessions."""
    timings = []
    for start in range(0, len(sessions) - batch + 1, batch):
        chunk = sessions[start : start + batch]
        begin = time.perf_counter()
        model.recommend(chunk, k=k)
        timings.append((time.perf_counter() - begin) * 1000)
    return timings


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--model", default="srgnn")
    parser.add_argument("--run", type=Path, default=None, help="a trained run to time instead")
    parser.add_argument("--sessions", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads")
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "serving_latency.json")
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    model, dataset, weights = build_model(args.data, args.model, args.run)
    sessions = test_sessions(dataset, args.sessions)
    time_calls(model, sessions[:100], 1, args.k)  # warm-up: allocator, lazy init
    repeats = []
    for _ in range(args.repeats):
        single = percentiles(time_calls(model, sessions, 1, args.k))
        batched = percentiles(time_calls(model, sessions, 16, args.k))
        load = round(os.getloadavg()[0], 2)  # the machine may be shared: keep the context
        repeats.append({"one_session": single, "batch_of_16": batched, "load_average_1min": load})
        print(f"one session: {single}  batch of 16: {batched}", file=sys.stderr)
    medians = {
        kind: {key: round(statistics.median(r[kind][key] for r in repeats), 3) for key in repeats[0][kind]}
        for kind in ("one_session", "batch_of_16")
    }
    result = {
        "benchmark": "in-process Recommender.recommend latency",
        "model": model.name,
        "weights": weights,
        "n_items": model.n_items,
        "k": args.k,
        "sessions_per_repeat": len(sessions),
        "mean_session_length": round(float(np.mean([len(s) for s in sessions])), 2),
        "repeats": repeats,
        "median_of_repeats": medians,
        "environment": environment(args.threads),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(medians, indent=2))
    return result


def environment(threads: int) -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": threads,
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
    }


if __name__ == "__main__":
    main()
