"""Training and full-ranking throughput of a neural model on a benchmark dataset.

    python benchmarks/train_throughput.py srgnn ../shared/data/diginetica --threads 2
    python benchmarks/train_throughput.py srgnn ../shared/data/diginetica --set bf16_scoring=true
    python benchmarks/train_throughput.py srgnn ../shared/data/diginetica --cpu-scoring openblas

Training: the trainer's own step (forward, cross-entropy, backward, fused Adam) on
shuffled batches built by the real pipeline, ``--batches`` batches per repetition after
``--warmup`` batches, median samples/s of ``--reps`` repetitions. Ranking: the full test
split scored against every item, median seconds of ``--eval-reps`` repetitions.
Writes JSON to ``benchmarks/results/throughput-<model>-<data>.json`` (or ``--out``).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Iterator
from pathlib import Path

import torch

from sessionrec.data import open_dataset
from sessionrec.data.batching import Batch, iterate_batches
from sessionrec.data.dataset import Dataset
from sessionrec.evaluation import evaluate_scores
from sessionrec.models.neural import NeuralRecommender
from sessionrec.models.registry import create_from_overrides
from sessionrec.nn.memory import retain_freed_buffers
from sessionrec.nn.split_blas import CPU_SCORING_BACKENDS, set_cpu_scoring
from sessionrec.training import Trainer, make_optimizer


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def training_setup(
    model: NeuralRecommender, data: Dataset
) -> tuple[torch.nn.Module, Trainer, torch.optim.Optimizer, Iterator[Batch]]:
    """A fresh module in training mode, its trainer and optimizer, and shuffled batches."""
    model.vocab_, model.popularity_ = data.vocab, data.train.item_counts()
    module = model.init_module(data.n_items)
    module.train()
    optimizer = make_optimizer(module.parameters(), model.config.lr, model.config.weight_decay, model.device)
    batches = iterate_batches(data.train, model.config.batch_size, model.batch_spec, shuffle=True, seed=0)
    return module, Trainer(model), optimizer, batches


def measure(args: argparse.Namespace) -> dict[str, object]:
    torch.set_num_threads(args.threads)
    set_cpu_scoring(args.cpu_scoring, args.threads)
    retain_freed_buffers()  # as Trainer.fit does
    data = open_dataset(args.data)
    model = create_from_overrides(args.model, args.set)
    assert isinstance(model, NeuralRecommender)
    module, trainer, optimizer, batches = training_setup(model, data)
    for _ in range(args.warmup):
        trainer.step(module, optimizer, next(batches))
    rates = []
    for _ in range(args.reps):
        samples, started = 0, time.perf_counter()
        for _ in range(args.batches):
            batch = next(batches)
            trainer.step(module, optimizer, batch)
            samples += batch.size
        rates.append(samples / (time.perf_counter() - started))
    module.eval()
    ranking = measure_ranking(model, data, args.eval_reps, args.eval_batch_size)
    return {
        "model": args.model,
        "config": model.config.to_dict(),
        "data": str(args.data),
        "train_samples": len(data.train),
        "test_samples": len(data.test),
        "items": data.n_items,
        "threads": args.threads,
        "cpu_scoring": args.cpu_scoring,
        "batches_per_rep": args.batches,
        "train_samples_per_s": [round(r, 1) for r in rates],
        "train_samples_per_s_median": round(statistics.median(rates), 1),
        **ranking,
        "torch": torch.__version__,
        "cpu": cpu_name(),
        "measured": time.strftime("%Y-%m-%d %H:%M"),
    }


def measure_ranking(model: NeuralRecommender, data: Dataset, reps: int, batch_size: int) -> dict[str, object]:
    """Full-ranking time of the test split, ``reps`` times; ``reps=0`` skips it (the fields are None)."""
    seconds: list[float] = []
    hr20 = None
    for _ in range(reps):
        started = time.perf_counter()
        evaluation = evaluate_scores(model.score, data.test, model.batch_spec, batch_size)
        seconds.append(time.perf_counter() - started)
        hr20 = round(evaluation.metrics()["HR@20"], 3)
    median = statistics.median(seconds) if seconds else None
    return {
        "eval_seconds": [round(s, 2) for s in seconds],
        "eval_seconds_median": None if median is None else round(median, 2),
        "eval_samples_per_s_median": None if median is None else round(len(data.test) / median, 1),
        "eval_batch_size": batch_size,
        "untrained_test_HR@20": hr20,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("model")
    parser.add_argument("data", type=Path)
    parser.add_argument("--set", action="append", default=[], help="config override key=value")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--cpu-scoring", choices=CPU_SCORING_BACKENDS, default="torch")
    parser.add_argument("--batches", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--eval-reps", type=int, default=3, help="0 skips the ranking measurement")
    parser.add_argument("--eval-batch-size", type=int, default=1000)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.reps < 1 or args.batches < 1 or args.warmup < 0 or args.eval_reps < 0:
        parser.error("--reps and --batches must be >= 1; --warmup and --eval-reps >= 0 (0 skips)")
    result = measure(args)
    tags = [s.replace("=", "_") for s in args.set]
    tags += [] if args.cpu_scoring == "torch" else [args.cpu_scoring]
    suffix = "-".join(tags)
    name = f"throughput-{args.model}-{args.data.name}{'-' + suffix if suffix else ''}.json"
    out = args.out or Path(__file__).parent / "results" / name
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(
        json.dumps(
            {
                k: result[k]
                for k in ("model", "train_samples_per_s", "train_samples_per_s_median", "eval_seconds_median")
            }
        )
    )


if __name__ == "__main__":
    main()
