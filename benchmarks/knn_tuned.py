"""The session-kNN family (SKNN, V-SKNN, STAN, V-STAN), tuned on validation, scored once on test.

Usage::

    .venv/bin/python benchmarks/knn_tuned.py ../shared/data/diginetica \\
        [--models sknn vsknn stan vstan] [--trials 25] [--minutes 8] [--valid-samples 20000]

For each model: ``sessionrec.tuning.study.tune`` searches the model's declared
space with Optuna on ``Dataset.validation_split`` (the most recent 10% of the
training samples held out, never the test split; trials ranked by validation
MRR@20 with conservative ties, the worst place among tied items, so a tie never
helps a heuristic), for at most ``--trials`` trials or ``--minutes`` each; the
study stays in ``--studies`` (SQLite) so a rerun resumes it. Then the best config is
fitted on all training sessions and the full test set is scored exactly once, ranked
in every tie mode (conservative, optimistic, expected under random tie-breaking), with the
scoring time measured. Best configs go to ``benchmarks/results/knn_tuned/MODEL.json``
(``sessionrec fit MODEL DATA --config FILE`` reproduces them), the report to
``benchmarks/results/knn_tuned_<dataset>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import scipy
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from classic_baselines import benchmark
from sessionrec.data.pickles import import_pickles
from sessionrec.models.registry import create
from sessionrec.tuning.study import TuneOptions, tune, tuning_splits
from train_throughput import cpu_name

RESULTS = Path(__file__).resolve().parent / "results"
MODELS = ["sknn", "vsknn", "stan", "vstan"]
METRICS = ("HR@5", "MRR@5", "HR@10", "MRR@10", "HR@20", "MRR@20")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path)
    parser.add_argument("--models", nargs="+", default=MODELS)
    parser.add_argument("--trials", type=int, default=25)
    parser.add_argument("--minutes", type=float, default=8.0)
    parser.add_argument("--valid-samples", type=int, default=20000)
    parser.add_argument("--studies", type=Path, default=Path("/tmp/knn-studies"))
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    name = args.data.resolve().name
    dataset = import_pickles(args.data)
    options = TuneOptions(trials=args.trials, minutes=args.minutes, valid_samples=args.valid_samples)
    args.studies.mkdir(parents=True, exist_ok=True)
    out = args.out or RESULTS / f"knn_tuned_{name}.json"
    previous = json.loads(out.read_text()) if out.is_file() else {}
    rows = {row["model"]: row for row in previous.get("results", [])}
    for model_name in args.models:
        started = time.perf_counter()
        result = tune(model_name, dataset, args.studies / f"{model_name}-{name}.sqlite", options)
        tune_seconds = time.perf_counter() - started
        config_file = result.write(RESULTS / "knn_tuned" / f"{model_name}.json")
        test = benchmark(create(model_name, **result.config), dataset, args.batch_size)
        rows[model_name] = {
            "model": model_name,
            "best_config": result.config,
            "best_params": result.params,
            "config_file": str(config_file.relative_to(RESULTS.parent.parent)),
            "tune_seconds_this_run": round(tune_seconds, 1),
            "finished_trials": result.finished_trials,
            "valid_conservative": {k: result.metrics[k] for k in METRICS},
            "test": {mode: {k: m[k] for k in METRICS} for mode, m in test["metrics"].items()},
            "fit_seconds": test["fit_seconds"],
            "score_seconds": test["score_seconds"],
            "evaluate_seconds": test["evaluate_seconds"],
        }
        t, v = rows[model_name]["test"], rows[model_name]["valid_conservative"]
        print(
            f"{model_name:6s} {result.finished_trials} trials, valid MRR@20 {v['MRR@20']:.2f} | test HR@20 "
            f"cons/opt {t['conservative']['HR@20']:.2f}/{t['optimistic']['HR@20']:.2f} MRR@20 "
            f"{t['conservative']['MRR@20']:.2f}/{t['optimistic']['MRR@20']:.2f} "
            f"| score {test['score_seconds']}s "
            f"{result.params}",
            flush=True,
        )
    train, valid = tuning_splits(dataset, options)
    report = {
        "dataset": name,
        "cpu": cpu_name(),
        "machine": {
            "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "platform": platform.platform(),
            "python": sys.version.split()[0],
            "numpy": np.__version__,
            "scipy": scipy.__version__,
        },
        "budget": {
            "per_model": f"at most {args.trials} finished trials or {args.minutes} minutes of tuning",
            "trials": args.trials,
            "minutes": args.minutes,
            "sampler": "Optuna TPE, seed 0; trial 0 = the model's defaults",
            "objective": "validation MRR@20, conservative ties",
            "validation": f"most recent 10% of training samples; {len(valid)} of them scored per trial "
            f"(seeded subset), models fitted on the other {len(train)}",
        },
        "test_ties": "conservative = worst place among tied items (main figure); optimistic = best place; "
        "expected = expectation under uniform random tie-breaking",
        "batch_size": args.batch_size,
        "results": [rows[m] for m in MODELS if m in rows] + [r for m, r in rows.items() if m not in MODELS],
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
