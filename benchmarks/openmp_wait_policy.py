"""Training step time with OpenMP's default wait policy against ``OMP_WAIT_POLICY=PASSIVE``.

    python benchmarks/openmp_wait_policy.py ../shared/data/diginetica --pairs 5

OpenMP reads the policy once, when torch loads, so each measurement is its own child
process; the two policies alternate pair by pair (default first, then PASSIVE first)
so that a shared machine's drift hits both alike. Each child times ``--rounds`` rounds
of the trainer's full step (``Trainer.step``) over the same shuffled batches after 3
warm-up steps, and reports its median. Cases: each model with the scoring backend
named after it (``tagnn:openblas:10`` = TAGNN, split OpenBLAS, 10 batches a round).
The ratio is default time / PASSIVE time (above 1: PASSIVE is faster). The question is
whether torch's spinning OpenMP workers slow the split-OpenBLAS threads enough to set
the policy for that backend (which must happen before torch loads). Writes
``benchmarks/results/openmp_wait_policy-<data>.json``.
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

DEFAULT_CASES = ["tagnn:openblas:10", "srgnn:openblas:30", "srgnn:torch:30"]


def child(data_path: str, name: str, backend: str, batches: int, rounds: int, threads: int) -> None:
    """Time the trainer's step in this process; print one JSON line."""
    import torch

    from sessionrec.data import open_dataset
    from sessionrec.models.neural import NeuralRecommender
    from sessionrec.models.registry import create
    from sessionrec.runtime.split_blas import set_cpu_scoring
    from train_throughput import training_setup

    torch.set_num_threads(threads)
    set_cpu_scoring(backend, threads)
    data = open_dataset(data_path)
    model = create(name)
    assert isinstance(model, NeuralRecommender)
    module, trainer, optimizer, stream = training_setup(model, data)
    fixed = [next(stream) for _ in range(batches)]
    for batch in fixed[:3]:
        trainer.step(module, optimizer, batch)
    timings = []
    for _ in range(rounds):
        started = time.perf_counter()
        for batch in fixed:
            trainer.step(module, optimizer, batch)
        timings.append(1000 * (time.perf_counter() - started))
    print(json.dumps({"ms": timings}))


def measure(args: argparse.Namespace, case: str, policy: str) -> float:
    name, backend, batches = case.split(":")
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if policy == "PASSIVE":
        env["OMP_WAIT_POLICY"] = "PASSIVE"
    command = [sys.executable, __file__, str(args.data), "--child", name, backend, batches]
    command += ["--rounds", str(args.rounds), "--threads", str(args.threads)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    return statistics.median(json.loads(done.stdout.strip().splitlines()[-1])["ms"])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("data", type=Path)
    parser.add_argument("--cases", nargs="+", default=DEFAULT_CASES, help="model:backend:batches")
    parser.add_argument("--pairs", type=int, default=5, help="child processes per policy and case")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--child", nargs=3, metavar=("MODEL", "BACKEND", "BATCHES"), help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.child:
        name, backend, batches = args.child
        child(str(args.data), name, backend, int(batches), args.rounds, args.threads)
        return
    rows = []
    for case in args.cases:
        runs: dict[str, list[float]] = {"default": [], "PASSIVE": []}
        for pair in range(args.pairs):
            for policy in ("default", "PASSIVE") if pair % 2 == 0 else ("PASSIVE", "default"):
                runs[policy].append(round(measure(args, case, policy), 1))
        medians = {policy: statistics.median(values) for policy, values in runs.items()}
        ratio = round(medians["default"] / medians["PASSIVE"], 3)
        rows.append({"case": case, "ms_per_round": runs, "median_ms": medians, "default_over_passive": ratio})
        default, passive = medians["default"], medians["PASSIVE"]
        print(f"{case:22s} default {default:8.1f} ms  PASSIVE {passive:8.1f} ms  x{ratio}")
    from train_throughput import cpu_name  # imports torch: only once the children are done

    out = args.out or Path(__file__).parent / "results" / f"openmp_wait_policy-{args.data.name}.json"
    report = {
        "command": " ".join(["python", *sys.argv]),
        "cpu": cpu_name(),
        "threads": args.threads,
        "pairs": args.pairs,
        "rounds": args.rounds,
        "load_average": os.getloadavg(),
        "rows": rows,
    }
    out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
