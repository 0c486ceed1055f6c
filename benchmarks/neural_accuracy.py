"""Train a neural model on a benchmark with validation selection and record test accuracy.

    python benchmarks/neural_accuracy.py srgnn ../shared/data/diginetica --set patience=3
    python benchmarks/neural_accuracy.py srgnn ../shared/data/diginetica --resume   # after a kill

The run lives in ``runs/accuracy/<model>-<data>`` (checkpointed every epoch, so a killed
run resumes); the result, with the exact command, the per-epoch metrics, the test
metrics of the selected epoch and the published row, goes to
``benchmarks/results/accuracy-<model>-<data>.json``.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

import torch

from sessionrec.data import open_dataset
from sessionrec.models.neural import NeuralRecommender
from sessionrec.models.registry import create
from sessionrec.training import TrainerOptions
from sessionrec.workflow import train_and_evaluate

# HR@20 / MRR@20 (%) from ../shared/data/reference-results.md
PUBLISHED = {
    ("srgnn", "diginetica"): (50.73, 17.59),
    ("srgnn", "yoochoose1_64"): (70.57, 30.94),
    ("tagnn", "diginetica"): (51.31, 18.03),
    ("tagnn", "yoochoose1_64"): (71.02, 31.12),
    ("sriem", "diginetica"): (52.35, 17.64),
    ("sriem", "yoochoose1_64"): (71.15, 31.71),
}


def parse_value(raw: str) -> object:
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("model")
    parser.add_argument("data", type=Path)
    parser.add_argument("--set", action="append", default=[], help="config override key=value")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--select-on", choices=("valid", "test"), default="valid")
    parser.add_argument("--runs", type=Path, default=Path("runs/accuracy"))
    parser.add_argument("--progress", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = open_dataset(args.data)
    overrides = {k: parse_value(v) for k, v in (item.split("=", 1) for item in args.set)}
    model = create(args.model, **overrides)
    assert isinstance(model, NeuralRecommender)
    name = f"{args.model}-{args.data.name}{'-test' if args.select_on == 'test' else ''}"
    result = train_and_evaluate(
        model,
        data,
        args.runs / name,
        select_on=args.select_on,
        resume=args.resume,
        overwrite=not args.resume,
        options=TrainerOptions(threads=args.threads, progress=args.progress),
        data_path=str(args.data),
    )
    metrics = result.info["test_metrics"]
    published = PUBLISHED.get((model.name, args.data.name))
    report = {
        "command": "python " + " ".join(shlex.quote(a) for a in sys.argv),
        "model": args.model,
        "data": args.data.name,
        "select_on": args.select_on,
        "config": model.config.to_dict(),
        "test_HR@20": round(metrics["HR@20"], 2),
        "test_MRR@20": round(metrics["MRR@20"], 2),
        "published_HR@20_MRR@20": published,
        "test_metrics": metrics,
        **{k: v for k, v in result.info.items() if k not in ("test_metrics", "test_by_length")},
        "test_by_length": result.info["test_by_length"],
        "history": result.run.read_metrics(),
    }
    out = Path(__file__).parent / "results" / f"accuracy-{name}.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(
        json.dumps(
            {k: report[k] for k in ("model", "data", "test_HR@20", "test_MRR@20", "published_HR@20_MRR@20")}
        )
    )


if __name__ == "__main__":
    main()
