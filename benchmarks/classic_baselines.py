"""Accuracy and speed of the classic baselines (POP, S-POP, Item-KNN, SKNN) on SR-GNN pickles.

Usage::

    .venv/bin/python benchmarks/classic_baselines.py ../shared/data/diginetica \\
        [--models pop spop itemknn itemknn:cooccurrence=events sknn] [--batch-size 500]

Each model is fitted on the training sessions and scored once over the full test
set (full ranking over every item); per target, the items scored above it and tied
with it are counted (``sessionrec.evaluation``), which gives the three tie modes:
``expected`` under uniformly random tie-breaking (the library's default),
``optimistic`` (best place among tied items, the papers' convention) and
``conservative`` (worst place). Heuristics tie many items, so the three can differ
a lot. The JSON goes to ``benchmarks/results/classic_baselines_<dataset>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import scipy
import torch

from sessionrec.data.batching import iterate_batches
from sessionrec.data.pickles import import_pickles
from sessionrec.evaluation import DEFAULT_TIES, TIE_MODES, Evaluation, count_above_and_tied
from sessionrec.models.base import Recommender
from sessionrec.models.registry import create, resolve

RESULTS = Path(__file__).resolve().parent / "results"
DEFAULT_MODELS = ["pop", "spop", "itemknn", "itemknn:cooccurrence=events", "sknn", "sknn:similarity=jaccard"]
# HR@20 / MRR@20 (and @10 where reported) in %, from the papers' tables (TAGNN, LGSR, SR-IEM, FOCOL)
PUBLISHED = {
    "diginetica": {
        "pop": {"HR@20": 0.89, "MRR@20": 0.20},
        "spop": {"HR@20": 21.06, "MRR@20": 13.68},
        "itemknn": {"HR@10": 25.07, "MRR@10": 10.77, "HR@20": 35.75, "MRR@20": 11.57},
    },
    "yoochoose1_64": {
        "pop": {"HR@20": 6.71, "MRR@20": 1.65},
        "spop": {"HR@20": 30.44, "MRR@20": 18.35},
        "itemknn": {"HR@20": 51.60, "MRR@20": 21.81},
    },
}


def benchmark(model: Recommender, dataset: Any, batch_size: int) -> dict[str, Any]:
    """Fit, then score the test set once, counting the items above and tied with each target."""
    started = time.perf_counter()
    model.fit(dataset.train)
    fit_seconds = time.perf_counter() - started
    test = dataset.test
    above = np.empty(len(test), dtype=np.int64)
    tied = np.empty(len(test), dtype=np.int64)
    score_seconds, position = 0.0, 0
    started = time.perf_counter()
    with torch.inference_mode():
        for batch in iterate_batches(test, batch_size, model.batch_spec):
            tick = time.perf_counter()
            scores = model.score(batch)
            score_seconds += time.perf_counter() - tick
            assert batch.targets is not None
            end = position + batch.size
            above[position:end], tied[position:end] = count_above_and_tied(scores, batch.targets)
            position = end
    evaluation = Evaluation(above, tied, test.prefix_lengths.astype(np.int64))
    return {
        "fit_seconds": round(fit_seconds, 2),
        "score_seconds": round(score_seconds, 2),
        "evaluate_seconds": round(time.perf_counter() - started, 2),
        "metrics": {mode: evaluation.with_ties(mode).metrics() for mode in TIE_MODES},
    }


def parse_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """``name`` or ``name:key=value,key=value`` -> (name, typed overrides)."""
    name, _, settings = spec.partition(":")
    items = [s for s in settings.split(",") if s]
    cls, preset = resolve(name)
    config = cls.config_class.from_overrides(items, base=preset)  # typed, unknown keys rejected
    return name, {key: getattr(config, key) for key in (s.partition("=")[0] for s in items)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="folder with all_train_seq.txt and test.txt")
    parser.add_argument("--models", nargs="+", default=DEFAULT_MODELS, help="name or name:key=value,...")
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    name = args.data.resolve().name
    started = time.perf_counter()
    dataset = import_pickles(args.data)
    import_seconds = time.perf_counter() - started
    print(f"{name}: {dataset.manifest['stats']} (imported in {import_seconds:.1f}s)", flush=True)
    results = []
    for spec in args.models:
        model_name, overrides = parse_spec(spec)
        model = create(model_name, **overrides)
        row = {"model": spec, "config": model.config.to_dict(), **benchmark(model, dataset, args.batch_size)}
        row["published"] = PUBLISHED.get(name, {}).get(model_name, {})
        results.append(row)
        m = row["metrics"]
        print(
            f"{spec:32s} fit {row['fit_seconds']:7.2f}s score {row['score_seconds']:7.2f}s "
            f"HR@20 exp/opt/cons {m['expected']['HR@20']:.2f}/{m['optimistic']['HR@20']:.2f}/"
            f"{m['conservative']['HR@20']:.2f} MRR@20 {m['expected']['MRR@20']:.2f}/"
            f"{m['optimistic']['MRR@20']:.2f}/{m['conservative']['MRR@20']:.2f}",
            flush=True,
        )
    report = {
        "dataset": name,
        "default_ties": DEFAULT_TIES,
        "stats": dataset.manifest["stats"],
        "batch_size": args.batch_size,
        "machine": {
            "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "platform": platform.platform(),
            "python": sys.version.split()[0],
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "torch": torch.__version__,
        },
        "import_seconds": round(import_seconds, 2),
        "results": results,
    }
    out = args.out or RESULTS / f"classic_baselines_{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
