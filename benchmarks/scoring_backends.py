"""torch against split OpenBLAS for the item-scoring products, measured in one process.

    python benchmarks/scoring_backends.py ../shared/data/diginetica --threads 2
    python benchmarks/scoring_backends.py ../shared/data/diginetica --models srgnn sriem tagnn

Three levels, each with the two backends of ``nn.scoring.set_cpu_scoring`` interleaved
round by round, so a shared machine's noise hits both alike:

- the products alone: ``score_items`` forward, and forward + backward, on random
  session vectors against the dataset's item table, per model's batch size and d;
- the trainer's full step (``Trainer.step``: forward, loss, backward, fused Adam) on
  shuffled batches built by the real pipeline;
- the full test ranking (``evaluate_scores`` over every test prefix).

Each row gives median milliseconds per round and the ratio torch / openblas (above 1:
openblas is faster). Writes ``benchmarks/results/scoring_backends-<data>.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch

from sessionrec.data import open_dataset
from sessionrec.data.dataset import Dataset
from sessionrec.evaluation import evaluate_scores
from sessionrec.models.neural import NeuralRecommender
from sessionrec.models.registry import create
from sessionrec.nn.scoring import score_items
from sessionrec.runtime.memory import retain_freed_buffers
from sessionrec.runtime.split_blas import CPU_SCORING_BACKENDS, set_cpu_scoring
from train_throughput import training_setup


def interleaved(run: Callable[[], None], rounds: int) -> dict[str, list[float]]:
    """Milliseconds of ``run`` per round under each backend, backends alternating."""
    timings: dict[str, list[float]] = {backend: [] for backend in CPU_SCORING_BACKENDS}
    for index in range(rounds):
        order = CPU_SCORING_BACKENDS if index % 2 == 0 else CPU_SCORING_BACKENDS[::-1]
        for backend in order:
            set_cpu_scoring(backend, torch.get_num_threads())
            started = time.perf_counter()
            run()
            timings[backend].append(1000 * (time.perf_counter() - started))
    set_cpu_scoring("torch")
    return timings


def summarise(name: str, timings: dict[str, list[float]], per: str) -> dict[str, object]:
    medians = {backend: statistics.median(t) for backend, t in timings.items()}
    row: dict[str, object] = {"measure": name, "unit": f"ms per {per}"}
    for backend, t in timings.items():
        row[backend] = [round(x, 2) for x in t]
        row[f"{backend}_median"] = round(medians[backend], 2)
    row["torch_over_openblas"] = round(medians["torch"] / medians["openblas"], 3)
    print(
        f"{name:58s} torch {medians['torch']:9.1f}  openblas {medians['openblas']:9.1f}  "
        f"x{row['torch_over_openblas']:.2f}"
    )
    return row


def products(model: NeuralRecommender, n_items: int, rounds: int, calls: int) -> list[dict[str, object]]:
    batch, dim = model.config.batch_size, model.config.embedding_dim
    generator = torch.Generator().manual_seed(0)
    weight = (torch.rand(n_items + 1, dim, generator=generator) - 0.5).requires_grad_()
    session = torch.randn(batch, dim, generator=generator).requires_grad_()
    targets = torch.randint(0, n_items, (batch,), generator=generator)

    def forward() -> None:
        with torch.no_grad():
            for _ in range(calls):
                score_items(session, weight)

    def training() -> None:
        for _ in range(calls):
            weight.grad = session.grad = None
            torch.nn.functional.cross_entropy(score_items(session, weight), targets).backward()

    shape = f"B={batch}, d={dim}, N={n_items}"
    return [
        summarise(f"scores, no grad ({shape})", interleaved(forward, rounds), f"{calls} calls"),
        summarise(f"scores + loss + backward ({shape})", interleaved(training, rounds), f"{calls} calls"),
    ]


def measure_model(name: str, data: Dataset, args: argparse.Namespace) -> list[dict[str, object]]:
    model = create(name)
    assert isinstance(model, NeuralRecommender)
    rows = products(model, data.n_items, args.rounds, args.calls)
    module, trainer, optimizer, batches = training_setup(model, data)
    fixed = [next(batches) for _ in range(args.batches)]
    for batch in fixed[:3]:
        trainer.step(module, optimizer, batch)

    def train_round() -> None:
        for batch in fixed:
            trainer.step(module, optimizer, batch)

    row = summarise(f"{name}: trainer step", interleaved(train_round, args.rounds), f"{args.batches} batches")
    row["samples_per_s"] = {
        b: round(args.batches * model.config.batch_size / (row[f"{b}_median"] / 1000), 1)  # type: ignore[operator]
        for b in CPU_SCORING_BACKENDS
    }
    rows.append(row)
    if args.ranking:
        module.eval()

        def rank() -> None:
            evaluate_scores(model.score, data.test, model.batch_spec, 1000)

        rows.append(
            summarise(f"{name}: full test ranking", interleaved(rank, args.ranking_rounds), "ranking")
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("data", type=Path)
    parser.add_argument("--models", nargs="+", default=["srgnn", "sriem"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--calls", type=int, default=10, help="product calls per round")
    parser.add_argument("--batches", type=int, default=30, help="trainer steps per round")
    parser.add_argument("--ranking", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--ranking-rounds", type=int, default=2)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    retain_freed_buffers()  # as Trainer.fit does
    data = open_dataset(args.data)
    rows = [row for name in args.models for row in measure_model(name, data, args)]
    out = args.out or Path(__file__).parent / "results" / f"scoring_backends-{args.data.name}.json"
    report = {
        "data": str(args.data),
        "items": data.n_items,
        "threads": args.threads,
        "rounds": args.rounds,
        "torch": torch.__version__,
        "measured": time.strftime("%Y-%m-%d %H:%M"),
        "rows": rows,
    }
    out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
