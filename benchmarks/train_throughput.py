"""Training and full-ranking throughput of a neural model on a benchmark dataset.

    python benchmarks/train_throughput.py srgnn ../shared/data/diginetica --threads 2
    python benchmarks/train_throughput.py srgnn ../shared/data/diginetica --set bf16_scoring=true
    python benchmarks/train_throughput.py srgnn ../shared/data/diginetica --cpu-scoring openblas

    python benchmarks/train_throughput.py srgnn ../shared/data/diginetica --epoch --eval-fresh

Training: the trainer's own step (forward, loss, backward, the trainer's optimiser: fused
Adam, or a module's own) on shuffled batches built by the real pipeline (or a model's own
batches: GRU4Rec's session-parallel ones, each row one training event counted as a
sample), ``--batches`` batches per segment after ``--warmup`` batches; every segment's
samples/s is recorded and the median of ``--reps`` segments reported. ``--epoch`` trains
through one whole epoch (``--reps`` becomes the number of segments that covers it), so a
slowdown as training goes on shows in the segments: a fresh model's first few hundred
batches are not what a user's run sees.
Ranking: the full test split scored against every item with the trained weights (the
late state), median seconds of ``--eval-reps`` repetitions; ``--eval-fresh`` also times it
once with the fresh model. The JSON records the floating-point mode of the process
(``sessionrec.runtime.numerics``) and, at the end, the share of subnormal values in the
weights, their gradients and Adam's moments, and of one batch's softmax probabilities
below float32's normal range (where subnormals arise: exp of very negative logits, and the
cross-entropy gradient made from them). Writes JSON to
``benchmarks/results/throughput-<model>-<data>.json`` (or ``--out``). The same shares are
recorded after every segment (on its last batch, outside the timed window).
"""

from __future__ import annotations

import argparse
import json
import math
import os
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
from sessionrec.runtime.memory import retain_freed_buffers
from sessionrec.runtime.numerics import cpu_has_native_bf16, status
from sessionrec.runtime.split_blas import CPU_SCORING_BACKENDS, set_cpu_scoring
from sessionrec.training import OwnBatches, Trainer, batches_per_epoch, build_optimizer, training_batches


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def write_result(path: Path, result: dict) -> None:
    """``result`` with the machine it was measured on (torch, CPU, cores, time), as JSON at ``path``."""
    result.update(
        {
            "torch": torch.__version__,
            "cpu": cpu_name(),
            "cores": os.cpu_count(),
            "measured": time.strftime("%Y-%m-%d %H:%M"),
        }
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")


SMALLEST_NORMAL_LOG = -87.336  # log of float32's smallest normal value, 1.1755e-38


def cpu_flags() -> list[str]:
    """The vector and matrix extensions that decide this CPU's GEMM speed."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    flags = next(
        (line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), []
    )
    wanted = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")
    return [flag for flag in wanted if flag in flags]


def subnormal_share(tensors: list[torch.Tensor]) -> float:
    """The fraction of float32 values that are subnormal, read from their bits."""
    total = subnormal = 0
    for tensor in tensors:
        if tensor.is_sparse:  # the rows a sparse gradient holds (GRU4Rec's item table)
            tensor = tensor.coalesce().values()
        bits = tensor.detach().float().contiguous().view(torch.int32)
        exponent_zero = (bits & 0x7F800000) == 0
        subnormal += int((exponent_zero & ((bits & 0x007FFFFF) != 0)).sum())
        total += bits.numel()
    return subnormal / max(total, 1)


def optimizer_moments(optimizer: torch.optim.Optimizer, name: str) -> list[torch.Tensor]:
    return [state[name] for state in optimizer.state.values() if name in state]


def subnormal_shares(
    module: torch.nn.Module, optimizer: torch.optim.Optimizer, batch: Batch
) -> dict[str, float]:
    """Where subnormals arise: softmax probabilities below float32's normal range, and the
    subnormal shares of the weights, their gradients and Adam's moments."""
    params = list(module.parameters())
    with torch.no_grad():
        log_probabilities = torch.log_softmax(module(batch).float(), dim=1)
    return {
        "softmax_below_normal": float((log_probabilities < SMALLEST_NORMAL_LOG).float().mean()),
        # the score gradient is (softmax - onehot) / B: subnormal from B times higher up
        "score_gradient_below_normal": float(
            (log_probabilities < SMALLEST_NORMAL_LOG + math.log(len(log_probabilities))).float().mean()
        ),
        "weights": subnormal_share(params),
        "gradients": subnormal_share([p.grad for p in params if p.grad is not None]),
        "adam_exp_avg": subnormal_share(optimizer_moments(optimizer, "exp_avg")),
        "adam_exp_avg_sq": subnormal_share(optimizer_moments(optimizer, "exp_avg_sq")),
    }


def time_ranking(model: NeuralRecommender, data: Dataset, batch_size: int) -> tuple[float, float]:
    """Seconds of one full test ranking, and its HR@20."""
    started = time.perf_counter()
    evaluation = evaluate_scores(model.score, data.test, model.batch_spec, batch_size)
    return time.perf_counter() - started, evaluation.metrics()["HR@20"]


def own_batches(model: NeuralRecommender, data: Dataset) -> Iterator[Batch]:
    """A model's own training batches (``training.OwnBatches``), epoch after epoch."""
    epoch = 0
    while True:
        for batch, _, _ in training_batches(model, data.train, model.config, epoch):
            yield batch
        epoch += 1


def training_setup(
    model: NeuralRecommender, data: Dataset
) -> tuple[torch.nn.Module, Trainer, torch.optim.Optimizer, Iterator[Batch]]:
    """A fresh module in training mode, its trainer and optimizer (the trainer's), and its batches.

    Batches: shuffled prefix samples, or the model's own (GRU4Rec's session-parallel ones,
    whose rows are training events: each counts as one sample).
    """
    module = model.setup(data.train)
    module.train()
    optimizer = build_optimizer(module, model.config, model.device)
    if isinstance(model, OwnBatches):
        batches = own_batches(model, data)
    else:
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
    fresh_eval: float | None = None
    if args.eval_fresh:
        module.eval()
        fresh_eval, _ = time_ranking(model, data, args.eval_batch_size)
        module.train()
    for _ in range(args.warmup):
        trainer.step(module, optimizer, next(batches))
    epoch_batches = batches_per_epoch(model, data.train, model.config.batch_size)
    reps = max((epoch_batches - args.warmup) // args.batches, 1) if args.epoch else args.reps
    rates: list[float] = []
    segment_subnormals: list[dict[str, float]] = []
    for _ in range(reps):
        samples, started = 0, time.perf_counter()
        for _ in range(args.batches):
            batch = next(batches)
            trainer.step(module, optimizer, batch)
            samples += batch.size
        rates.append(samples / (time.perf_counter() - started))
        segment_subnormals.append(  # outside the timed segment, on its last batch
            {k: round(v, 6) for k, v in subnormal_shares(module, optimizer, batch).items()}
        )
    subnormals = subnormal_shares(module, optimizer, next(batches))
    module.eval()
    eval_seconds, hr20 = [], float("nan")
    for _ in range(args.eval_reps):
        seconds, hr20 = time_ranking(model, data, args.eval_batch_size)
        eval_seconds.append(seconds)
    quarter = max(len(rates) // 4, 1)
    return {
        "model": args.model,
        "config": model.config.to_dict(),
        "data": str(args.data),
        "train_samples": len(data.train),
        "test_samples": len(data.test),
        "items": data.n_items,
        "threads": args.threads,
        "cpu_scoring": args.cpu_scoring,
        "numerics": status(),
        "warmup_batches": args.warmup,
        "batches_per_rep": args.batches,
        "batches_trained": args.warmup + reps * args.batches,
        "train_samples_per_s": [round(r, 1) for r in rates],
        "train_samples_per_s_median": round(statistics.median(rates), 1),
        "first_quarter_median": round(statistics.median(rates[:quarter]), 1),
        "last_quarter_median": round(statistics.median(rates[-quarter:]), 1),
        "subnormal_share_at_end": {k: round(v, 6) for k, v in subnormals.items()},
        "subnormal_share_per_segment": segment_subnormals,
        "eval_seconds_fresh": None if fresh_eval is None else round(fresh_eval, 2),
        "eval_seconds": [round(s, 2) for s in eval_seconds],
        "eval_seconds_median": round(statistics.median(eval_seconds), 2) if eval_seconds else None,
        "eval_samples_per_s_median": (
            round(len(data.test) / statistics.median(eval_seconds), 1) if eval_seconds else None
        ),
        "eval_batch_size": args.eval_batch_size,
        "trained_test_HR@20": round(hr20, 3) if eval_seconds else None,
        "torch": torch.__version__,
        "cpu": cpu_name(),
        "cpu_flags": cpu_flags(),
        "native_bf16": cpu_has_native_bf16(),
        "measured": time.strftime("%Y-%m-%d %H:%M"),
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
    parser.add_argument("--epoch", action="store_true", help="segments over one whole epoch")
    parser.add_argument("--eval-reps", type=int, default=3, help="0: no ranking after training")
    parser.add_argument("--eval-fresh", action="store_true", help="also time a ranking before training")
    parser.add_argument("--eval-batch-size", type=int, default=1000)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if min(args.batches, args.reps, args.threads) < 1 or min(args.warmup, args.eval_reps) < 0:
        parser.error("--batches, --reps and --threads must be positive; --warmup and --eval-reps >= 0")
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
