"""One real training epoch on 1 process and on N (``sessionrec train ... --nproc N``), compared.

    python benchmarks/distributed_epoch.py ../shared/data/diginetica --nproc 2
    python benchmarks/distributed_epoch.py --compare SINGLE_RUN DISTRIBUTED_RUN   # runs made already

Trains SR-GNN for one epoch on every training session with the CLI (``--select-on none``,
``--threads 1`` per process), once in one process and once with ``--nproc N``, and compares
the two run directories: the epoch's mean loss, the test metrics (HR, MRR at 5, 10, 20),
how many test samples changed rank, and the training samples/s each run recorded. The two
runs compute the same global batches; the distributed one averages the ranks' gradients, so
float32 sums run in another order: a few test ranks move, and the metrics may differ in
their last digits. Writes ``benchmarks/results/distributed-epoch-<data>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_throughput import cpu_name

ROOT = Path(__file__).resolve().parents[1]
METRICS = ["HR@5", "MRR@5", "HR@10", "MRR@10", "HR@20", "MRR@20"]


def train_command(data: str, out: Path, nproc: int) -> list[str]:
    command = ["python", "-m", "sessionrec", "train", "srgnn", data, "--out", str(out)]
    command += ["--set", "epochs=1", "--select-on", "none", "--threads", "1", "--no-progress", "--overwrite"]
    return command + (["--nproc", str(nproc)] if nproc > 1 else [])


def train(data: str, out: Path, nproc: int) -> list[str]:
    command = train_command(data, out, nproc)
    subprocess.run([sys.executable, *command[1:]], check=True, cwd=ROOT)
    return command


def summary(run: Path) -> dict[str, Any]:
    info = json.loads((run / "run.json").read_text())
    epoch = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()][-1]
    return {
        "run": str(run),
        "started": info.get("started"),
        "finished": info.get("finished"),
        "test": {k: round(info["test_metrics"][k], 3) for k in METRICS},
        "loss": epoch["loss"],
        "train_samples_per_s": round(epoch["train_samples_per_s"], 1),
        "train_seconds": round(epoch["train_seconds"], 1),
    }


def compare(single: Path, distributed: Path) -> dict[str, Any]:
    one, many = summary(single), summary(distributed)
    a, b = np.load(single / "counts-test.npz"), np.load(distributed / "counts-test.npz")
    return {
        "single": one,
        "distributed": many,
        "test_difference": {k: round(many["test"][k] - one["test"][k], 3) for k in METRICS},
        "loss_relative_difference": abs(many["loss"] - one["loss"]) / one["loss"],
        "test_samples": len(a["above"]),
        "test_samples_rank_changed": int((a["above"] != b["above"]).sum()),
        "speed_ratio": round(many["train_samples_per_s"] / one["train_samples_per_s"], 3),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("data", nargs="?", default=str(ROOT.parent / "shared" / "data" / "diginetica"))
    parser.add_argument("--nproc", type=int, default=2)
    parser.add_argument("--compare", nargs=2, type=Path, metavar=("SINGLE", "DISTRIBUTED"))
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    if args.compare:
        single, distributed = args.compare  # made earlier by these commands
        commands = [train_command(args.data, single, 1), train_command(args.data, distributed, args.nproc)]
    else:
        work = Path(tempfile.mkdtemp(prefix="distributed-epoch-"))
        single, distributed = work / "single", work / f"nproc{args.nproc}"
        commands = [train(args.data, single, 1), train(args.data, distributed, args.nproc)]
    result = {
        "benchmark": "distributed_epoch",
        "cpu": cpu_name(),
        "written": time.strftime("%Y-%m-%d %H:%M"),
        "data": Path(args.data).name,
        "nproc": args.nproc,
        "commands": [" ".join(c) for c in commands],
        "load_average_1min_at_end": round(os.getloadavg()[0], 2),
        **compare(single, distributed),
    }
    out = args.out or ROOT / "benchmarks" / "results" / f"distributed-epoch-{Path(args.data).name}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
