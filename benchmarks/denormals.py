"""Training and ranking speed with subnormal floats flushed (the default) and kept (IEEE).

    python benchmarks/denormals.py                      # the committed set (about 25 min)
    python benchmarks/denormals.py --jobs srgnn:diginetica:epoch tagnn:yoochoose1_64:600

Each job is ``MODEL:DATASET:LENGTH`` with LENGTH ``epoch`` (one whole epoch) or a number of
batches. For each job, ``train_throughput.py`` runs twice in fresh processes, once with
``SESSIONREC_KEEP_DENORMALS=1`` (gradual underflow, as plain PyTorch) and once with the
package's default (flushed), one after the other on the same machine, so the ratios share
its state. Each run records its per-segment training rates, the ranking time with the
trained weights, and the share of subnormal values in the weights, gradients and Adam's
moments at the end. Writes ``results/denormals.json`` and prints a Markdown table.

``--side-by-side`` runs the two processes of a job at the same time instead, one thread
each, pinned to two different cores (``taskset``; the cores swap from job to job): on a
shared machine both then meet the same background load, so their ratio survives it.
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

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "shared" / "data"
DEFAULT_JOBS = [
    "srgnn:diginetica:epoch",
    "srgnn:yoochoose1_64:1500",
    "sriem:diginetica:600",
    "sriem:yoochoose1_64:600",
    "tagnn:diginetica:240",
    "tagnn:yoochoose1_64:240",
]
SEGMENT = {"srgnn": 300, "sriem": 100, "tagnn": 40}  # batches per recorded segment


def command_for(model: str, data: Path, length: str, threads: int, out: Path) -> list[str]:
    segment = SEGMENT.get(model, 100)
    args = ["--batches", str(segment), "--threads", str(threads), "--eval-reps", "1", "--eval-fresh"]
    if length == "epoch":
        args.append("--epoch")
    else:
        args += ["--reps", str(max(int(length) // segment, 1))]
    return [sys.executable, str(HERE / "train_throughput.py"), model, str(data), *args, "--out", str(out)]


def environment(keep: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "SESSIONREC_KEEP_DENORMALS"}
    if keep:
        env["SESSIONREC_KEEP_DENORMALS"] = "1"
    return env


def run_one(model: str, data: Path, length: str, keep: bool, threads: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        command = command_for(model, data, length, threads, out)
        subprocess.run(command, check=True, env=environment(keep), stdout=subprocess.DEVNULL)
        return json.loads(out.read_text())


def run_pair_side_by_side(model: str, data: Path, length: str, swap: bool) -> list[dict[str, object]]:
    """Both modes at once, one thread each on its own core; [kept, flushed]."""
    with tempfile.TemporaryDirectory() as tmp:
        outs = [Path(tmp) / "kept.json", Path(tmp) / "flushed.json"]
        cores = ["1", "0"] if swap else ["0", "1"]
        children = [
            subprocess.Popen(
                ["taskset", "-c", core, *command_for(model, data, length, 1, out)],
                env=environment(keep),
                stdout=subprocess.DEVNULL,
            )
            for keep, out, core in zip((True, False), outs, cores, strict=True)
        ]
        for child in children:
            if child.wait() != 0:
                raise RuntimeError(f"{model} on {data.name} failed")
        results = [json.loads(out.read_text()) for out in outs]
        for result, core in zip(results, cores, strict=True):
            result["pinned_core"] = int(core)
        return results


def table(rows: list[dict[str, object]]) -> str:
    lines = [
        "| model | data | batches | mode | first quarter /s | last quarter /s | ranking fresh s | "
        "ranking trained s | softmax probabilities below normal |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        mode = "flushed" if row["numerics"]["denormals_flushed"] else "as is"  # type: ignore[index]
        share = row["subnormal_share_at_end"].get("softmax_below_normal", float("nan"))  # type: ignore[union-attr]
        lines.append(
            f"| {row['model']} | {Path(str(row['data'])).name} | {row['batches_trained']} | {mode} | "
            f"{row['first_quarter_median']:,.0f} | {row['last_quarter_median']:,.0f} | "
            f"{row['eval_seconds_fresh']} | {row['eval_seconds_median']} | {share:.2%} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", nargs="+", default=DEFAULT_JOBS)
    parser.add_argument("--data-root", type=Path, default=DATA)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--side-by-side", action="store_true", help="both modes at once, a core each")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    name = "denormals-side-by-side.json" if args.side_by_side else "denormals.json"
    out = args.out or HERE / "results" / name
    rows: list[dict[str, object]] = []
    started = time.strftime("%Y-%m-%d %H:%M")
    for index, job in enumerate(args.jobs):
        model, dataset, length = job.split(":")
        data = args.data_root / dataset
        if args.side_by_side:
            new = run_pair_side_by_side(model, data, length, swap=index % 2 == 1)
        else:
            new = [run_one(model, data, length, keep, args.threads) for keep in (True, False)]
        rows += new
        print("\n".join(table(new).splitlines()[2:]), flush=True)
        mode = (
            "side by side, 1 thread each, pinned"
            if args.side_by_side
            else f"one after the other, {args.threads} threads"
        )
        out.write_text(json.dumps({"started": started, "mode": mode, "runs": rows}, indent=2) + "\n")
    print(table(rows))


if __name__ == "__main__":
    main()
