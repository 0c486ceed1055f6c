"""Time of the global structures GCE-GNN and DHCN build in ``prepare`` on a benchmark's training split.

    python benchmarks/global_graph_build.py ../shared/data/diginetica

GCE-GNN: the co-occurrence counts within distance 3 over the training sessions and the
fixed top-12 neighbour table; DHCN: the hyperedges (every training prefix) and the
operator A = D^-1 H B^-1 H^T, and the time of one product A X with X [N + 1, 100]
(six per DHCN training step: three layers, forward and backward). Each is built
``--reps`` times (median seconds reported), with the sizes of what was built.
Writes ``results/global-graph-build-<data>.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from sessionrec.data import open_dataset
from sessionrec.graphs.cooccurrence import cooccurrence_by_distance
from sessionrec.graphs.hypergraph import hypergraph_operator, prefix_hyperedges
from sessionrec.graphs.neighbours import top_neighbours
from train_throughput import cpu_name


def timed(function, reps: int):  # type: ignore[no-untyped-def]
    times, result = [], None
    for _ in range(reps):
        started = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - started)
    return result, times


def distinct_rows(table: np.ndarray) -> int:
    ordered = np.sort(table, 1)
    return int((ordered[:, 1:] != ordered[:, :-1]).all(1).sum())


def operator_product_ms(train, n_items: int, reps: int = 10) -> float:  # type: ignore[no-untyped-def]
    """Median ms of one A @ X, X [N + 1, 100], as DHCN's convolution runs it (torch CSR)."""
    from sessionrec.models.dhcn import _csr_tensor

    operator, _ = hypergraph_operator(prefix_hyperedges(train), n_items)
    matrix, x = _csr_tensor(operator), torch.randn(n_items + 1, 100)
    _ = matrix @ x
    times = []
    for _ in range(reps):
        started = time.perf_counter()
        _ = matrix @ x
        times.append(time.perf_counter() - started)
    return round(statistics.median(times) * 1000, 1)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("data", type=Path)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = open_dataset(args.data)
    train = data.train

    def gce() -> tuple[int, np.ndarray]:
        counts = cooccurrence_by_distance(train.sessions, data.n_items, 3).within()
        neighbours, _ = top_neighbours(counts, 12, seed=2020)
        return counts.nnz, neighbours

    def dhcn() -> int:
        operator, _ = hypergraph_operator(prefix_hyperedges(train), data.n_items)
        return operator.nnz

    (gce_nnz, table), gce_times = timed(gce, args.reps)
    dhcn_nnz, dhcn_times = timed(dhcn, args.reps)
    product_ms = operator_product_ms(train, data.n_items)
    result = {
        "data": args.data.name,
        "cpu": cpu_name(),
        "threads": args.threads,
        "train_sessions": len(train.sessions),
        "train_prefixes": len(train),
        "items": data.n_items,
        "gcegnn_global_graph_seconds_median": round(statistics.median(gce_times), 2),
        "gcegnn_global_graph_seconds": [round(t, 2) for t in gce_times],
        "gcegnn_cooccurrence_nnz": int(gce_nnz),
        "gcegnn_items_with_12_distinct_neighbours": distinct_rows(table),
        "dhcn_hypergraph_seconds_median": round(statistics.median(dhcn_times), 2),
        "dhcn_hypergraph_seconds": [round(t, 2) for t in dhcn_times],
        "dhcn_operator_nnz": int(dhcn_nnz),
        "dhcn_operator_times_items_d100_ms_median": product_ms,
        "measured": time.strftime("%Y-%m-%d %H:%M"),
    }
    out = args.out or Path(__file__).parent / "results" / f"global-graph-build-{args.data.name}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
