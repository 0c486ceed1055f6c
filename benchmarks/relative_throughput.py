"""Training samples/s of models as a ratio of SR-GNN's, measured in one invocation.

    python benchmarks/relative_throughput.py narm stamp ../shared/data/diginetica
    python benchmarks/relative_throughput.py lgsr ../shared/data/diginetica --set lgsr:batch_size=512

Samples are training samples as the trainer counts them: prefix samples, or for a model
with session-parallel batches (GRU4Rec, KNN-RNN) training events (one click and its next
click), which are the same (prefix, next item) pairs: an epoch of either covers every
click that has a next one once.

Absolute rates differ from machine to machine; a ratio measured in one run on one machine
does not. For ``--rounds`` rounds, SR-GNN and each model run ``train_throughput.py`` in turn
(fresh processes, same threads and segment length), so the rounds share the machine's
state; the ratio is median(model) / median(SR-GNN) over rounds. ``--set MODEL:key=value``
passes a config override to one model. Writes
``results/relative-throughput-<models>-<data>.json`` (or ``--out``) and prints the ratios.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REFERENCE = "srgnn"


def one_rate(model: str, data: Path, sets: list[str], args: argparse.Namespace) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        command = [
            sys.executable,
            str(HERE / "train_throughput.py"),
            model,
            str(data),
            "--threads",
            str(args.threads),
            "--batches",
            str(args.batches),
            "--reps",
            str(args.reps),
            "--eval-reps",
            "0",
            "--out",
            str(out),
        ]
        for value in sets:
            command += ["--set", value]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        return json.loads(out.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("models", nargs="+", help="model names, then the dataset directory")
    parser.add_argument("--set", action="append", default=[], help="MODEL:key=value")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batches", type=int, default=50, help="batches per segment")
    parser.add_argument("--reps", type=int, default=3, help="segments per round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    *models, data_arg = args.models
    data = Path(data_arg)
    if not models:
        parser.error("name at least one model before the dataset")
    sets: dict[str, list[str]] = {}
    for item in args.set:
        model, sep, value = item.partition(":")
        if not sep or "=" not in value:
            parser.error(f"--set expects MODEL:key=value, got {item!r}")
        sets.setdefault(model, []).append(value)
    names = [REFERENCE, *[m for m in models if m != REFERENCE]]
    runs: dict[str, list[dict[str, object]]] = {name: [] for name in names}
    for _ in range(args.rounds):
        for name in names:
            runs[name].append(one_rate(name, data, sets.get(name, []), args))
    medians = {
        name: statistics.median(float(r["train_samples_per_s_median"]) for r in records)  # type: ignore[arg-type]
        for name, records in runs.items()
    }
    first = runs[REFERENCE][0]
    result = {
        "data": data.name,
        "cpu": first["cpu"],
        "cpu_flags": first["cpu_flags"],
        "threads": args.threads,
        "rounds": args.rounds,
        "batches_per_segment": args.batches,
        "segments_per_round": args.reps,
        "samples_per_s_median": {k: round(v, 1) for k, v in medians.items()},
        "ratio_to_srgnn": {k: round(v / medians[REFERENCE], 3) for k, v in medians.items()},
        "configs": {name: records[0]["config"] for name, records in runs.items()},
        "per_round_samples_per_s": {
            name: [r["train_samples_per_s_median"] for r in records] for name, records in runs.items()
        },
        "measured": time.strftime("%Y-%m-%d %H:%M"),
    }
    tag = "-".join(names[1:]) or REFERENCE
    out = args.out or HERE / "results" / f"relative-throughput-{tag}-{data.name}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({"samples_per_s": result["samples_per_s_median"], "ratio": result["ratio_to_srgnn"]}))


if __name__ == "__main__":
    main()
