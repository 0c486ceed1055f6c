"""Training samples/s of the same SR-GNN run on 1 and on N processes (torch.distributed, gloo).

    python benchmarks/distributed_throughput.py ../shared/data/diginetica --nproc 1 2 --batches 300

Each setting trains the model's own ``Trainer.fit`` (``--select-on none``: no
evaluation) for ``--batches`` global batches of the config's size, every process with
one thread, launched through ``torch.distributed.run``; the samples/s the trainer
records (global batch samples over the epoch's seconds) is taken from rank 0. On a
machine with as many cores as processes this measures the overhead of the gradient
all-reduce and of the sharded batches, not a speed-up: 2 processes on 2 cores that
other work shares cannot beat 1 by much. Writes ``benchmarks/results/distributed-
throughput.json`` (or ``--out``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_throughput import write_result


def worker(data: str, batches: int, out: str, overrides: list[str]) -> None:
    from sessionrec import distributed
    from sessionrec.data import open_dataset
    from sessionrec.models.registry import create_from_overrides
    from sessionrec.training import TrainerOptions

    torch.set_num_threads(1)
    distributed.init_from_env("cpu")
    dataset = open_dataset(data)
    model = create_from_overrides("srgnn", ["epochs=1", *overrides])
    options = TrainerOptions(device="cpu", threads=1, max_batches=batches, checkpoint_minutes=None)
    state = model.fit(dataset.train, None, options).training_state_
    if distributed.is_writer():
        Path(out).write_text(json.dumps(state.history[-1]))
    distributed.shutdown()


def launch(data: str, nproc: int, batches: int, overrides: list[str]) -> dict[str, object]:
    from torch.distributed import run as torchrun

    with tempfile.TemporaryDirectory() as tmp:
        out = str(Path(tmp) / "record.json")
        args = [__file__, "--worker", data, "--batches", str(batches), "--record", out]
        args += [a for o in overrides for a in ("--set", o)]
        os.environ["OMP_NUM_THREADS"] = "1"
        started = time.perf_counter()
        torchrun.main(["--standalone", f"--nproc-per-node={nproc}", *args])
        wall = time.perf_counter() - started
        record = json.loads(Path(out).read_text())
    return {
        "nproc": nproc,
        "train_samples_per_s": round(record["train_samples_per_s"], 1),
        "train_seconds": round(record["train_seconds"], 1),
        "loss": round(record["loss"], 4),
        "wall_seconds_with_startup": round(wall, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("data")
    parser.add_argument("--nproc", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--batches", type=int, default=300)
    parser.add_argument("--set", action="append", default=[])
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "distributed-throughput.json"
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--record", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.data, args.batches, args.record, args.set)
        return
    rows = [launch(args.data, n, args.batches, args.set) for n in args.nproc]
    result = {
        "model": "srgnn",
        "data": args.data,
        "batches": args.batches,
        "threads_per_process": 1,
        "overrides": args.set,
        "runs": rows,
        "note": "N processes on N cores measure the distributed overhead, not a speed-up",
    }
    write_result(args.out, result)
    print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
