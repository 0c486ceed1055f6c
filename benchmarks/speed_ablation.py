"""What each training-speed change buys, SR-GNN on Diginetica, measured in one process.

    python benchmarks/speed_ablation.py ../shared/data/diginetica --threads 2

Each variant changes one thing against ``ours`` (the trainer's path): the scoring
product, the optimiser, the padding width, how the session graphs are built, the
embedding lookup's gradient (dense, as ``nn.Embedding`` gives it, against sparse), or
the allocator (glibc's default thresholds, which unmap and page-fault the step's 17 MB
buffers each step, against ``runtime.memory.retain_freed_buffers``), or the lookups' sparse
gradient added into the scoring's dense one out of place (a copy of the table, as before
``nn.scoring`` deferred the scoring gradient). ``--only`` picks variants by name.
Variants run interleaved, ``--batches`` batches per round, ``--rounds`` rounds;
the report gives median ms per batch and the ratio to ``ours`` measured in the
same rounds, so a shared machine's noise hits every variant alike.
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

import sessionrec.models.srgnn as srgnn_module
from sessionrec.data import open_dataset
from sessionrec.data.batching import Batch, BatchSpec, SessionGraph, make_batch
from sessionrec.models.registry import create
from sessionrec.nn import scoring
from sessionrec.nn.scoring import lookup_items, score_items
from sessionrec.runtime.memory import _M_MMAP_THRESHOLD, _M_TRIM_THRESHOLD, retain_freed_buffers
from sessionrec.runtime.numerics import cpu_has_native_bf16
from train_throughput import cpu_name

GLIBC_DEFAULT_THRESHOLD = 128 * 1024


def glibc_thresholds(mmap: int, trim: int) -> None:
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    libc.mallopt(_M_MMAP_THRESHOLD, mmap)
    libc.mallopt(_M_TRIM_THRESHOLD, trim)


def without_deferred_scoring_gradient(run: Callable[[], None]) -> None:
    """Before ``nn.scoring`` deferred the scoring gradient: autograd then adds the lookup's
    sparse gradient into the scoring's dense one out of place (a copy of the table)."""
    defer, table = scoring._defer_scoring_gradient, scoring._scored_table
    scoring._defer_scoring_gradient, scoring._scored_table = lambda _e: None, lambda e: e
    try:
        run()
    finally:
        scoring._defer_scoring_gradient, scoring._scored_table = defer, table


def dense_lookup(weight: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
    return F.embedding(indices, weight)


def python_graphs(batch: Batch) -> Batch:
    """The official code's way: a NumPy loop per session, padded to the batch's node count."""
    items = batch.items.numpy()
    lengths = batch.lengths.numpy()
    nodes_list = [np.unique(row[:n]) for row, n in zip(items, lengths, strict=True)]
    width = max(len(n) for n in nodes_list)
    nodes = np.zeros((len(items), width), dtype=np.int64)
    adj_in = np.zeros((len(items), width, width), dtype=np.float32)
    adj_out = np.zeros_like(adj_in)
    alias = np.zeros_like(items)
    for b, (row, n, node) in enumerate(zip(items, lengths, nodes_list, strict=True)):
        nodes[b, : len(node)] = node
        adjacency = np.zeros((width, width), dtype=np.float32)
        for i in range(n - 1):
            u, v = np.where(node == row[i])[0][0], np.where(node == row[i + 1])[0][0]
            adjacency[u][v] = 1
        deg_in = adjacency.sum(0)
        deg_in[deg_in == 0] = 1
        deg_out = adjacency.sum(1)
        deg_out[deg_out == 0] = 1
        adj_in[b] = (adjacency / deg_in).T
        adj_out[b] = (adjacency.T / deg_out).T
        alias[b, :n] = [np.where(node == i)[0][0] for i in row[:n]]
    graph = SessionGraph(
        torch.from_numpy(nodes),
        torch.from_numpy(alias),
        torch.from_numpy(adj_in),
        torch.from_numpy(adj_out),
        torch.from_numpy(nodes > 0),
    )
    return Batch(batch.items, batch.lengths, batch.targets, graph)


def pad_to(batch: Batch, width: int) -> Batch:
    """Pad the prefixes (and the alias table) to ``width`` columns, as the official code does."""
    extra = width - batch.items.shape[1]
    graph = batch.graph
    assert graph is not None
    return Batch(
        F.pad(batch.items, (0, extra)),
        batch.lengths,
        batch.targets,
        SessionGraph(
            graph.nodes, F.pad(graph.alias, (0, extra)), graph.adj_in, graph.adj_out, graph.node_mask
        ),
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("data", type=Path)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--bf16", action="store_true", help="time bf16 scoring even where it is emulated")
    parser.add_argument("--only", nargs="+", help="only the variants whose names contain one of these")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "speed_ablation.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    retain_freed_buffers()  # as the trainer does
    data = open_dataset(args.data)
    max_length = int(data.train.sample_cut.max())
    model = create("srgnn")
    module = model.setup(data.train)
    module.train()
    rng = np.random.default_rng(0)
    spec = BatchSpec(graph=True)
    sample_sets = [rng.choice(len(data.train), 100, replace=False) for _ in range(args.batches)]

    def make_optimizer(fused: bool) -> torch.optim.Optimizer:
        if fused:
            return torch.optim.Adam(module.parameters(), lr=1e-3, weight_decay=1e-5, fused=True)
        return torch.optim.Adam(module.parameters(), lr=1e-3, weight_decay=1e-5, foreach=False)

    fused, unfused = make_optimizer(True), make_optimizer(False)

    def step(batch: Batch, scoring: str, optimizer: torch.optim.Optimizer) -> None:
        session = module.session_vector(batch)
        weight = module.embedding.weight
        if scoring == "matmul":
            scores = session @ weight[1:].t()
        elif scoring == "linear":
            scores = F.linear(session, weight[1:])
        else:
            scores = score_items(session, weight, bf16=scoring == "bf16")
        loss = F.cross_entropy(scores, batch.targets - 1)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    def build(samples: np.ndarray) -> Batch:
        return make_batch(data.train, samples, spec)

    def with_lookup(lookup: Callable[..., torch.Tensor], run: Callable[[], None]) -> None:
        srgnn_module.lookup_items = lookup
        try:
            run()
        finally:
            srgnn_module.lookup_items = lookup_items

    def with_default_allocator(run: Callable[[], None]) -> None:
        glibc_thresholds(GLIBC_DEFAULT_THRESHOLD, GLIBC_DEFAULT_THRESHOLD)
        try:
            run()
        finally:
            glibc_thresholds(32 * 1024 * 1024, 512 * 1024 * 1024)

    variants: dict[str, Callable[[np.ndarray], None]] = {
        "ours": lambda s: step(build(s), "fused", fused),
        "scores as s @ E[1:].T (official)": lambda s: step(build(s), "matmul", fused),
        "scores as F.linear, autograd backward": lambda s: step(build(s), "linear", fused),
        "unfused Adam (official)": lambda s: step(build(s), "fused", unfused),
        f"padding to the dataset maximum ({max_length}, official)": lambda s: step(
            pad_to(build(s), max_length), "fused", fused
        ),
        "graphs built per session in Python (official)": lambda s: step(
            python_graphs(make_batch(data.train, s, BatchSpec())), "fused", fused
        ),
        "dense gradient for the embedding lookup (nn.Embedding)": lambda s: with_lookup(
            dense_lookup, lambda: step(build(s), "fused", fused)
        ),
        "glibc default allocator thresholds": lambda s: with_default_allocator(
            lambda: step(build(s), "fused", fused)
        ),
        "lookup gradient added out of place (a table copy)": lambda s: without_deferred_scoring_gradient(
            lambda: step(build(s), "fused", fused)
        ),
    }
    if cpu_has_native_bf16() or args.bf16:  # emulated bf16 is ten times slower: skipped by default
        variants["ours + bf16 scoring"] = lambda s: step(build(s), "bf16", fused)
    if args.only:
        variants = {k: v for k, v in variants.items() if k == "ours" or any(o in k for o in args.only)}
    timings: dict[str, list[float]] = {name: [] for name in variants}
    for run in variants.values():  # warm-up
        for samples in sample_sets[:3]:
            run(samples)
    for _ in range(args.rounds):
        for name, run in variants.items():
            started = time.perf_counter()
            for samples in sample_sets:
                run(samples)
            timings[name].append(1000 * (time.perf_counter() - started) / len(sample_sets))
    ours = statistics.median(timings["ours"])
    rows = [
        {
            "variant": name,
            "ms_per_batch": round(statistics.median(t), 2),
            "ratio_to_ours": round(statistics.median(t) / ours, 3),
            "samples_per_s": round(100_000 / statistics.median(t), 1),
        }
        for name, t in timings.items()
    ]
    args.out.write_text(
        json.dumps(
            {
                "data": str(args.data),
                "threads": args.threads,
                "batch_size": 100,
                "batches_per_round": args.batches,
                "rounds": args.rounds,
                "rows": rows,
                "torch": torch.__version__,
                "cpu": cpu_name(),
                "measured": time.strftime("%Y-%m-%d %H:%M"),
            },
            indent=2,
        )
        + "\n"
    )
    for row in rows:
        print(f"{row['variant']:55s} {row['ms_per_batch']:8.2f} ms  x{row['ratio_to_ours']:.2f}")


if __name__ == "__main__":
    main()
