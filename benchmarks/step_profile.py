"""Where an SR-GNN training step's time goes outside its three item-scoring products.

    python benchmarks/step_profile.py ../shared/data/diginetica --threads 1 2
    python benchmarks/step_profile.py ../shared/data/diginetica --threads 2 --set bf16_scoring=true

The trainer's own step (``Trainer.step``: forward, cross-entropy over all items, backward,
fused Adam) on batches from the real pipeline, after ``--warmup`` steps. For each thread
count: the median wall time of a step and of building its batch (``--steps`` steps,
unprofiled), then ``--profiled`` steps under ``torch.profiler``, whose per-op self times
are split into the three scoring products (the matrix products with an N-item side:
scores, item gradient, session gradient) and everything else, listed by op. The ratio
``step / products`` is the issue's measure (goal: at most 1.3). Writes JSON (``--out``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections import defaultdict
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile, record_function

from sessionrec.data import open_dataset
from sessionrec.models.neural import NeuralRecommender
from sessionrec.models.registry import create_from_overrides
from sessionrec.nn import scoring
from sessionrec.runtime.memory import retain_freed_buffers
from train_throughput import cpu_flags, cpu_name, training_setup

PRODUCT_OPS = {"aten::mm", "aten::addmm", "aten::bmm", "aten::_mkldnn_mm"}
last_profile: list[profile] = []  # the latest profile, for --trace
TRAINER_REGIONS = ("batching", "forward", "loss", "backward", "optimizer")


def is_product(name: str, shapes: list[list[int]], n_items: int) -> bool:
    return name in PRODUCT_OPS and any(n_items in shape for shape in shapes)


def profiled_step(trainer, module, optimizer, batches) -> None:  # type: ignore[no-untyped-def]
    """``Trainer.step`` with each stage in its own profiler region."""
    with record_function("batching"):
        batch = next(batches)
    with record_function("forward"):
        scores = module(batch)
    with record_function("loss"):
        loss = trainer.loss(module, batch, scores)
    optimizer.zero_grad(set_to_none=True)
    with record_function("backward"):
        loss.backward()
    with record_function("optimizer"):
        optimizer.step()


def measure(model: NeuralRecommender, data, threads: int, args: argparse.Namespace) -> dict[str, object]:  # type: ignore[no-untyped-def]
    torch.set_num_threads(threads)
    module, trainer, optimizer, batches = training_setup(model, data)
    for _ in range(args.warmup):
        trainer.step(module, optimizer, next(batches))
    step_ms, batch_ms = [], []
    for _ in range(args.steps):
        started = time.perf_counter()
        batch = next(batches)
        built = time.perf_counter()
        trainer.step(module, optimizer, batch)
        done = time.perf_counter()
        batch_ms.append((built - started) * 1e3)
        step_ms.append((done - built) * 1e3)
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        for _ in range(args.profiled):
            profiled_step(trainer, module, optimizer, batches)
    last_profile[:] = [prof]
    n_items = data.n_items
    by_op: dict[str, float] = defaultdict(float)
    products: dict[str, float] = defaultdict(float)
    regions: dict[str, float] = {}
    for event in prof.key_averages(group_by_input_shape=True):
        self_ms = event.self_cpu_time_total / 1e3 / args.profiled
        if event.key in TRAINER_REGIONS:
            regions[event.key] = round(event.cpu_time_total / 1e3 / args.profiled, 2)
            continue
        shapes = [list(s) for s in event.input_shapes if isinstance(s, list | tuple)]
        if is_product(event.key, shapes, n_items):
            products[f"{event.key} {shapes}"] += self_ms
        else:
            by_op[event.key] += self_ms
    product_ms = sum(products.values())
    profiled_total = product_ms + sum(by_op.values())
    top = sorted(by_op.items(), key=lambda kv: -kv[1])[: args.top]
    step = statistics.median(step_ms)
    batching = statistics.median(batch_ms)
    return {
        "threads": threads,
        "step_ms_median": round(step, 2),
        "batch_build_ms_median": round(batching, 2),
        "step_ms_all": [round(s, 2) for s in step_ms],
        "profiled_regions_ms": regions,
        "profiled_total_ms": round(profiled_total, 2),
        "products_ms": {k: round(v, 2) for k, v in products.items()},
        "products_total_ms": round(product_ms, 2),
        "step_over_products": round(step / product_ms, 2) if product_ms else None,
        "step_and_batch_over_products": round((step + batching) / product_ms, 2) if product_ms else None,
        "outside_products_top_ms": {k: round(v, 2) for k, v in top},
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("data", type=Path)
    parser.add_argument("--model", default="srgnn")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--profiled", type=int, default=20)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--trace", type=Path, help="also write a Chrome trace of the last thread count")
    parser.add_argument(
        "--lookup-out-of-place",
        action="store_true",
        help="as before nn.scoring deferred the scoring gradient",
    )
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    retain_freed_buffers()  # as Trainer.fit does
    if args.lookup_out_of_place:
        scoring._defer_scoring_gradient, scoring._scored_table = lambda _e: None, lambda e: e
    data = open_dataset(args.data)
    model = create_from_overrides(args.model, args.set)
    assert isinstance(model, NeuralRecommender)
    runs = [measure(model, data, threads, args) for threads in args.threads]
    result = {
        "model": args.model,
        "overrides": args.set,
        "lookup_out_of_place": args.lookup_out_of_place,
        "data": str(args.data),
        "batch_size": model.config.batch_size,
        "items": data.n_items,
        "runs": runs,
        "torch": torch.__version__,
        "cpu": cpu_name(),
        "cpu_flags": cpu_flags(),
        "measured": time.strftime("%Y-%m-%d %H:%M"),
    }
    text = json.dumps(result, indent=2) + "\n"
    if args.out:
        args.out.write_text(text)
    if args.trace:
        last_profile[0].export_chrome_trace(str(args.trace))
    print(text)


if __name__ == "__main__":
    main()
