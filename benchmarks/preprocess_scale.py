"""Preprocessing at full size: wall time and peak memory of ``sessionrec preprocess``.

    python benchmarks/preprocess_scale.py                      # the real Yoochoose size
    python benchmarks/preprocess_scale.py --clicks 2000000 --sessions 560000   # a quick look

Writes, into a temporary directory (never committed), a seeded Yoochoose-shaped
``yoochoose-clicks.dat`` (33,003,944 clicks, 9,249,729 sessions by default) and a
Diginetica-shaped ``train-item-views.csv`` of the same size
(``sessionrec.data.synthetic_raw``); then runs ``sessionrec preprocess yoochoose`` with
``fraction=64`` and ``fraction=4`` and ``sessionrec preprocess diginetica``, each in its
own process, recording wall seconds and peak RSS (``wait4``'s ``ru_maxrss``). It then
opens the Yoochoose 1/4 and 1/64 datasets written on disk (seconds to load) and times
SR-GNN's training step on each (samples/s, one thread, the same batches, warm-up
excluded): batching costs per batch, not per dataset. Writes
``benchmarks/results/preprocess-scale.json`` (or ``--out``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sessionrec.data import open_dataset
from sessionrec.data.synthetic_raw import YOOCHOOSE, write_diginetica_views, write_yoochoose_clicks
from sessionrec.models.registry import create
from train_throughput import training_setup, write_result


def run_measured(command: list[str]) -> dict[str, float]:
    """Wall seconds and peak RSS (GiB) of one child process."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    error = process.stderr.read().decode() if process.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{command} failed: {error[-2000:]}")
    return {"wall_seconds": round(wall, 1), "peak_rss_gib": round(usage.ru_maxrss / 2**20, 2)}


def train_rate(path: Path, batches: int, reps: int) -> dict[str, object]:
    started = time.perf_counter()
    data = open_dataset(path)
    load = time.perf_counter() - started
    model = create("srgnn")
    module, trainer, optimizer, iterator = training_setup(model, data)
    for _ in range(10):
        trainer.step(module, optimizer, next(iterator))
    rates = []
    for _ in range(reps):
        samples, began = 0, time.perf_counter()
        for _ in range(batches):
            batch = next(iterator)
            trainer.step(module, optimizer, batch)
            samples += batch.size
        rates.append(samples / (time.perf_counter() - began))
    return {
        "load_seconds": round(load, 2),
        "train_samples": len(data.train),
        "items": data.n_items,
        "srgnn_samples_per_s": [round(r, 1) for r in rates],
        "srgnn_samples_per_s_median": round(statistics.median(rates), 1),
    }


def raw_log_parser(description: str | None) -> argparse.ArgumentParser:
    """A parser with the size of the generated raw log (Yoochoose's full size by default)."""
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clicks", type=int, default=YOOCHOOSE["n_clicks"])
    parser.add_argument("--sessions", type=int, default=YOOCHOOSE["n_sessions"])
    parser.add_argument("--items", type=int, default=YOOCHOOSE["n_items"])
    return parser


def main() -> None:
    parser = raw_log_parser(__doc__)
    parser.add_argument("--batches", type=int, default=50)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--skip-diginetica", action="store_true")
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "preprocess-scale.json"
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    size = {"n_clicks": args.clicks, "n_sessions": args.sessions, "n_items": args.items}
    cli = [sys.executable, "-m", "sessionrec", "preprocess"]
    result: dict[str, object] = {"size": size}
    with tempfile.TemporaryDirectory(prefix="sessionrec-scale-") as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        clicks = write_yoochoose_clicks(root / "yoochoose-clicks.dat", **size)
        result["generate_yoochoose_seconds"] = round(time.perf_counter() - started, 1)
        result["yoochoose_file_gib"] = round(clicks.stat().st_size / 2**30, 2)
        for fraction in (64, 4):
            out = root / f"yc{fraction}"
            result[f"preprocess_yoochoose_1_{fraction}"] = run_measured(
                [*cli, "yoochoose", str(clicks), str(out), "-o", f"fraction={fraction}"]
            )
            print(fraction, result[f"preprocess_yoochoose_1_{fraction}"], flush=True)
        for fraction in (64, 4):
            result[f"train_yoochoose_1_{fraction}"] = train_rate(
                root / f"yc{fraction}", args.batches, args.reps
            )
            print(fraction, result[f"train_yoochoose_1_{fraction}"], flush=True)
        clicks.unlink()
        if not args.skip_diginetica:
            started = time.perf_counter()
            views = write_diginetica_views(root / "train-item-views.csv", **size)
            result["generate_diginetica_seconds"] = round(time.perf_counter() - started, 1)
            result["preprocess_diginetica"] = run_measured([*cli, "diginetica", str(views), str(root / "dn")])
            print(result["preprocess_diginetica"], flush=True)
    write_result(args.out, result)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
