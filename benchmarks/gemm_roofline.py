"""What this CPU's matrix products deliver at the shapes that dominate training and ranking.

    python benchmarks/gemm_roofline.py --threads 2

The item-scoring layer is three products per training step (scores, and the two
gradients) and one per ranking batch, all with one dimension equal to the catalogue
(43,097 items on Diginetica) and one equal to d = 100. This measures each in float32
through torch (its BLAS: MKL in the x86 wheels) and through NumPy (OpenBLAS), and in
bfloat16 through torch (not for the square product), next to a square 2048 product that shows each library's
practical peak. It bounds what any trainer can reach here: at 2,500 samples/s the
three scoring products alone need 65 GFLOP/s sustained. Medians of ``--reps`` calls.
Writes ``benchmarks/results/gemm_roofline.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from train_throughput import cpu_name


def median_ms(call: Callable[[], object], reps: int) -> float:
    for _ in range(3):
        call()
    times = []
    for _ in range(reps):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return 1000 * statistics.median(times)


def cases(batch: int, dim: int, items: int) -> dict[str, tuple[float, dict[str, Callable[[], object]]]]:
    """name -> (GFLOP, {backend: call})."""
    rng = np.random.default_rng(0)
    s = rng.standard_normal((batch, dim), dtype=np.float32)
    e = rng.standard_normal((items, dim), dtype=np.float32)
    g = rng.standard_normal((batch, items), dtype=np.float32)
    ts, te, tg = torch.from_numpy(s), torch.from_numpy(e), torch.from_numpy(g)
    bs, be, bg = ts.bfloat16(), te.bfloat16(), tg.bfloat16()
    c = np.ascontiguousarray(e.T)  # the [d, N] layout scoring uses without gradients
    tc = torch.from_numpy(c)
    gflop = 2 * batch * dim * items / 1e9
    square = rng.standard_normal((2048, 2048), dtype=np.float32)
    tsq = torch.from_numpy(square)
    return {
        f"scores [{batch},{dim}] x [{dim},{items}]": (
            gflop,
            {
                "torch fp32": lambda: F.linear(ts, te),
                "numpy fp32": lambda: s @ e.T,
                "torch bf16": lambda: F.linear(bs, be),
            },
        ),
        f"scores against [{dim},{items}] columns": (
            gflop,
            {
                "torch fp32": lambda: ts @ tc,
                "numpy fp32": lambda: s @ c,
            },
        ),
        f"scores as [{items},{dim}] x [{dim},{batch}]": (
            gflop,
            {
                "torch fp32": lambda: te @ ts.t(),
                "numpy fp32": lambda: e @ s.T,
            },
        ),
        f"grad session [{batch},{items}] x [{items},{dim}]": (
            gflop,
            {
                "torch fp32": lambda: tg @ te,
                "numpy fp32": lambda: g @ e,
                "torch bf16": lambda: bg @ be,
            },
        ),
        f"grad items [{items},{batch}] x [{batch},{dim}]": (
            gflop,
            {
                "torch fp32": lambda: tg.t() @ ts,
                "numpy fp32": lambda: g.T @ s,
                "torch bf16": lambda: bg.t() @ bs,
            },
        ),
        "square [2048,2048] x [2048,2048]": (
            2 * 2048**3 / 1e9,
            {
                "torch fp32": lambda: tsq @ tsq,
                "numpy fp32": lambda: square @ square,
            },
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--eval-batch", type=int, default=1000)
    parser.add_argument("--dim", type=int, default=100)
    parser.add_argument("--items", type=int, default=43097)
    parser.add_argument("--reps", type=int, default=15)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "gemm_roofline.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    shapes = cases(args.batch, args.dim, args.items)
    for name, entry in cases(args.eval_batch, args.dim, args.items).items():
        if name.startswith("scores"):  # ranking batches: only the forward product
            shapes[f"ranking: {name}"] = entry
    for name, (gflop, backends) in shapes.items():
        for backend, call in backends.items():
            ms = median_ms(call, args.reps if "bf16" not in backend else max(3, args.reps // 5))
            rows.append(
                {
                    "product": name,
                    "backend": backend,
                    "ms": round(ms, 2),
                    "GFLOP_s": round(gflop / ms * 1e3, 1),
                }
            )
            print(f"{name:45s} {backend:11s} {ms:9.2f} ms {gflop / ms * 1e3:8.1f} GFLOP/s", flush=True)
    result = {
        "threads": args.threads,
        "cpu": cpu_name(),
        "torch": torch.__version__,
        "torch_blas": "MKL" if torch.backends.mkl.is_available() else "other",
        "numpy": np.__version__,
        "measured": time.strftime("%Y-%m-%d %H:%M"),
        "rows": rows,
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
