"""What a subnormal input costs the item-scoring products on this CPU, as is and flushed.

    python benchmarks/subnormal_kernels.py        # -> results/subnormal_kernels.json

The embedding gradient of a training step is ``G^T @ s`` ([N, B] x [B, d]) with ``G`` the
softmax minus the one-hot targets; where the softmax underflows, ``G`` holds subnormal
values. This script times that product (B = 100, d = 100, N = 43,097, Diginetica's shapes)
with a given share of ``G``'s entries subnormal, and an element-wise multiply-add over the
same values, in two fresh processes: one with ``SESSIONREC_KEEP_DENORMALS=1`` (IEEE gradual
underflow, as plain PyTorch) and one with the package's default (flushed). Medians of
``--reps`` calls, ``--threads`` threads.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SHARES = (0.0, 0.01, 0.1, 0.5, 1.0)


def child(threads: int, reps: int) -> dict[str, object]:
    import torch

    import sessionrec  # noqa: F401 - applies the package's floating-point mode
    from sessionrec.runtime.numerics import status

    torch.set_num_threads(threads)
    generator = torch.Generator().manual_seed(0)
    batch, dim, items = 100, 100, 43_097
    session = torch.randn(batch, dim, generator=generator) * 0.1
    timings: dict[str, dict[str, float]] = {}
    for share in SHARES:
        grad = torch.randn(batch, items, generator=generator) * 1e-3
        mask = torch.rand(batch, items, generator=generator) < share
        subnormal = torch.full((1,), 0x00200000, dtype=torch.int32).view(torch.float32)  # ~2.9e-39
        grad = torch.where(mask, subnormal, grad)  # bits set directly: no flushing on the way in
        grad_t = grad.t()

        def product(g: torch.Tensor = grad_t) -> torch.Tensor:
            return g @ session

        def elementwise(g: torch.Tensor = grad) -> torch.Tensor:
            return g * 0.999 + g * g

        timings[f"{share:g}"] = {}
        for name, work in (("grad_items_product_ms", product), ("elementwise_ms", elementwise)):
            work()
            samples = []
            for _ in range(reps):
                started = time.perf_counter()
                work()
                samples.append((time.perf_counter() - started) * 1e3)
            timings[f"{share:g}"][name] = round(statistics.median(samples), 3)
    return {"numerics": status(), "threads": threads, "ms_by_subnormal_share": timings}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--reps", type=int, default=15)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "subnormal_kernels.json")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.threads, args.reps)))
        return
    runs = {}
    for mode, keep in (("as_is", True), ("flushed", False)):
        env = {k: v for k, v in os.environ.items() if k != "SESSIONREC_KEEP_DENORMALS"}
        if keep:
            env["SESSIONREC_KEEP_DENORMALS"] = "1"
        command = [
            sys.executable,
            __file__,
            "--child",
            "--threads",
            str(args.threads),
            "--reps",
            str(args.reps),
        ]
        done = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
        runs[mode] = json.loads(done.stdout)
    from train_throughput import cpu_flags, cpu_name  # imports torch: only once the children are done

    result = {"cpu": cpu_name(), "cpu_flags": cpu_flags(), "shapes": "G [100, 43097], s [100, 100]", **runs}
    result["measured"] = time.strftime("%Y-%m-%d %H:%M")
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    for mode in runs:
        print(mode, json.dumps(runs[mode]["ms_by_subnormal_share"]))


if __name__ == "__main__":
    main()
