"""Training and ranking speed of this tree against another checkout, in one run (a regression check).

    git worktree add /tmp/before 3ae0b94
    python benchmarks/before_after.py /tmp/before srgnn tagnn --data ../shared/data/diginetica

For ``--rounds`` rounds and each model, the other checkout's ``benchmarks/train_throughput.py``
(its own ``src`` on ``PYTHONPATH``) and this tree's run in turn, in fresh processes with the same
arguments, so both share the machine's state. This tree runs with ``SESSIONREC_KEEP_DENORMALS=1``
when ``--keep-denormals`` is given, to compare code paths alone against a checkout that predates
the flush. Writes ``results/before-after-<models>-<data>.json`` (or ``--out``).
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

HERE = Path(__file__).resolve().parent


def run_tree(tree: Path, model: str, data: Path, args: argparse.Namespace, keep: bool) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": str(tree / "src")}
    env.pop("SESSIONREC_KEEP_DENORMALS", None)
    if keep:
        env["SESSIONREC_KEEP_DENORMALS"] = "1"
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        command = [
            sys.executable,
            str(tree / "benchmarks" / "train_throughput.py"),
            model,
            str(data.resolve()),  # the command runs in the other checkout
            "--threads",
            str(args.threads),
            "--batches",
            str(args.batches.get(model, 100)),
            "--reps",
            str(args.reps),
            "--eval-reps",
            "1",
            "--out",
            str(out),
        ]
        subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL, cwd=tree)
        return json.loads(out.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("before", type=Path, help="the other checkout")
    parser.add_argument("models", nargs="+")
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--batches", type=json.loads, default={"srgnn": 150, "tagnn": 30, "sriem": 60})
    parser.add_argument("--keep-denormals", action="store_true")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    after = HERE.parent
    results: dict[str, dict[str, list[dict[str, object]]]] = {}
    for _ in range(args.rounds):
        for model in args.models:
            entry = results.setdefault(model, {"before": [], "after": []})
            entry["before"].append(run_tree(args.before.resolve(), model, args.data, args, keep=False))
            entry["after"].append(run_tree(after, model, args.data, args, keep=args.keep_denormals))
    summary = {}
    for model, entry in results.items():
        rate = {
            side: statistics.median(float(r["train_samples_per_s_median"]) for r in runs)
            for side, runs in entry.items()
        }  # type: ignore[arg-type]
        rank = {
            side: statistics.median(float(r["eval_seconds_median"]) for r in runs)
            for side, runs in entry.items()
        }  # type: ignore[arg-type]
        summary[model] = {
            "train_samples_per_s": {k: round(v, 1) for k, v in rate.items()},
            "train_ratio_after_to_before": round(rate["after"] / rate["before"], 3),
            "ranking_seconds": {k: round(v, 2) for k, v in rank.items()},
            "per_round_train_samples_per_s": {
                side: [r["train_samples_per_s_median"] for r in runs] for side, runs in entry.items()
            },
        }
    first = next(iter(results.values()))["after"][0]
    report = {
        "before": str(args.before),
        "before_commit": subprocess.run(
            ["git", "-C", str(args.before), "rev-parse", "HEAD"], capture_output=True, text=True
        ).stdout.strip(),
        "after_commit": subprocess.run(
            ["git", "-C", str(after), "rev-parse", "HEAD"], capture_output=True, text=True
        ).stdout.strip(),
        "after_keeps_denormals": args.keep_denormals,
        "data": args.data.name,
        "cpu": first["cpu"],
        "threads": args.threads,
        "rounds": args.rounds,
        "models": summary,
        "measured": time.strftime("%Y-%m-%d %H:%M"),
    }
    out = args.out or HERE / "results" / f"before-after-{'-'.join(args.models)}-{args.data.name}.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({m: s["train_ratio_after_to_before"] for m, s in summary.items()}))


if __name__ == "__main__":
    main()
