"""Why bfloat16 scoring trains slower than float32 on a CPU with AMX: products against casts.

    python benchmarks/bf16_breakdown.py --threads 2    # -> results/bf16_breakdown.json

Times, at a training step's shapes (B = 100 sessions, d = 100, N = 43,097 items), each of the
three item-scoring products in float32 and in bfloat16 (oneDNN's AMX kernels where the CPU
has them), and the dtype conversions the bfloat16 path adds per step: the item table to
bfloat16, the [B, N] score gradient to bfloat16, and the [B, N] scores back to float32
(torch's CPU matmul returns bfloat16 for bfloat16 inputs; no float32-output variant exists
on the CPU). Medians of ``--reps`` calls.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch.nn import functional as F

from sessionrec.runtime.numerics import cpu_has_native_bf16
from train_throughput import cpu_flags, cpu_name


def median_ms(work: Callable[[], object], reps: int) -> float:
    work()
    samples = []
    for _ in range(reps):
        started = time.perf_counter()
        work()
        samples.append((time.perf_counter() - started) * 1e3)
    return round(statistics.median(samples), 2)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "bf16_breakdown.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    generator = torch.Generator().manual_seed(0)
    s, e = torch.randn(100, 100, generator=generator), torch.randn(43_097, 100, generator=generator)
    g = torch.randn(100, 43_097, generator=generator)
    sb, eb, gb = s.bfloat16(), e.bfloat16(), g.bfloat16()
    products = {
        "scores s @ E^T": (lambda: F.linear(s, e), lambda: F.linear(sb, eb)),
        "item gradient G^T @ s": (lambda: g.t() @ s, lambda: gb.t() @ sb),
        "session gradient G @ E": (lambda: g @ e, lambda: gb @ eb),
    }
    timed = {
        name: {"fp32_ms": median_ms(a, args.reps), "bf16_ms": median_ms(b, args.reps)}
        for name, (a, b) in products.items()
    }
    casts = {
        "item table to bf16": median_ms(lambda: e.bfloat16(), args.reps),
        "score gradient to bf16": median_ms(lambda: g.bfloat16(), args.reps),
        "scores back to fp32": median_ms(lambda: gb.float(), args.reps),
        "item gradient back to fp32": median_ms(lambda: eb.float(), args.reps),
    }
    saved = sum(v["fp32_ms"] - v["bf16_ms"] for v in timed.values())
    result = {
        "cpu": cpu_name(),
        "cpu_flags": cpu_flags(),
        "native_bf16": cpu_has_native_bf16(),
        "threads": args.threads,
        "products": timed,
        "casts_ms": casts,
        "products_saved_ms": round(saved, 2),
        "casts_added_ms": round(sum(casts.values()), 2),
        "measured": time.strftime("%Y-%m-%d %H:%M"),
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("products", "casts_ms", "products_saved_ms", "casts_added_ms")}))


if __name__ == "__main__":
    main()
