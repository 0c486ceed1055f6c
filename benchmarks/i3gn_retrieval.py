"""Seconds to retrieve I3GN's neighbour sessions for every training and test sample of a dataset.

    python benchmarks/i3gn_retrieval.py ../shared/data/diginetica --threads 2

Training samples: what ``I3GN.prepare`` computes once per training split (own session and
later sessions excluded, m = 1000 most recent candidates, cosine >= 0.5, top k = 120).
Test samples: what collating the test split does, the pool being the training sessions, in
batches of ``--batch-size``. Also records the neighbour counts and the size of the
inter-session graphs (nodes, edges per sample) they give. Median of ``--reps`` repetitions.
Writes ``results/i3gn-retrieval-<data>.json`` (or ``--out``), and leaves the training neighbours
in the prepared-structure cache, where the next fit on this data finds them.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch

from sessionrec.data import open_dataset
from sessionrec.data.batching import BatchSpec, make_batch
from sessionrec.data.sessions import Split
from sessionrec.models.i3gn import I3GN
from sessionrec.models.prepared import Prepared, cache_path, save_prepared
from sessionrec.models.registry import create_from_overrides
from train_throughput import cpu_name


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("data", type=Path)
    parser.add_argument("--set", action="append", default=[], help="i3gn config override key=value")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--reps", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = create_from_overrides("i3gn", args.set)
    assert isinstance(model, I3GN)
    cfg = model.config
    data = open_dataset(args.data)
    train, test = data.train, data.test
    train_times, test_times = [], []
    for _ in range(args.reps):
        started = time.perf_counter()
        prepared = model.prepare(train)  # the pool and every training prefix's neighbours
        train_times.append(time.perf_counter() - started)
        model.prepare_fit(train, prepared=prepared)
        started = time.perf_counter()
        parts = []
        for start in range(0, len(test), args.batch_size):
            batch = make_batch(test, np.arange(start, min(start + args.batch_size, len(test))), BatchSpec())
            parts.append(model.neighbours(batch, None))  # from the training pool, as collating does
        test_times.append(time.perf_counter() - started)
    _fill_cache(model, train, model.prepared_)
    stored = model.prepared_["train_neighbours"]
    assert isinstance(stored, sp.csr_array | sp.csr_matrix)
    test_counts = np.concatenate([np.diff(p.indptr) for p in parts])
    chosen = np.random.default_rng(0).choice(len(train), size=min(len(train), 128 * 100), replace=False)
    nodes, edges = [], []
    for start in range(0, len(chosen), 128):
        graph = make_batch(train, chosen[start : start + 128], model.batch_spec).extra
        nodes.append(len(graph.nodes) / 128)
        edges.append(graph.edge_index.shape[1] / 128)
    total = [a + b for a, b in zip(train_times, test_times, strict=True)]
    result = {
        "data": args.data.name,
        "cpu": cpu_name(),
        "threads": args.threads,
        "settings": {k: getattr(cfg, k) for k in I3GN.prepare_keys},
        "train_samples": len(train),
        "test_samples": len(test),
        "train_seconds_median": round(statistics.median(train_times), 1),
        "test_seconds_median": round(statistics.median(test_times), 1),
        "total_seconds_median": round(statistics.median(total), 1),
        "reps": args.reps,
        "neighbours_per_train_sample": _stats(np.diff(stored.indptr), cfg.k),
        "neighbours_per_test_sample": _stats(test_counts, cfg.k),
        "inter_graph_nodes_per_train_sample": round(float(np.mean(nodes)), 1),
        "inter_graph_directed_edges_per_train_sample": round(float(np.mean(edges)), 1),
        "train_neighbours_stored_mb": round((stored.data.nbytes + stored.indices.nbytes) / 2**20, 1),
        "measured": time.strftime("%Y-%m-%d %H:%M"),
    }
    out = args.out or Path(__file__).parent / "results" / f"i3gn-retrieval-{args.data.name}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(
        json.dumps(
            {k: result[k] for k in ("train_seconds_median", "test_seconds_median", "total_seconds_median")}
        )
    )


def _fill_cache(model: I3GN, train: Split, prepared: Prepared) -> None:
    """Store what was prepared where ``prepare_fit`` looks first (later runs on this data reuse it)."""
    assert model.train_fingerprint_ is not None
    settings = {key: getattr(model.config, key) for key in I3GN.prepare_keys}
    path = cache_path(model.name, settings, model.train_fingerprint_)
    if path is not None:
        save_prepared(path, prepared, train.n_items, model.train_fingerprint_)


def _stats(counts: np.ndarray, k: int) -> dict[str, float]:
    return {
        "mean": round(float(counts.mean()), 1),
        "median": float(np.median(counts)),
        "zero_share": round(float((counts == 0).mean()), 3),
        "at_k_share": round(float((counts == k).mean()), 3),
    }


if __name__ == "__main__":
    main()
