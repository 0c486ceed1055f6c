"""Results recorded by the benchmark scripts, standing in for rows not yet run by a spec.

``benchmarks/results/accuracy-<model>-<dataset>[-refit|-fixed].json`` (from
``benchmarks/neural_accuracy.py``) and ``classic_baselines_<dataset>.json`` (from
``benchmarks/classic_baselines.py``) hold finished full-data runs without their run
directories. A spec row takes such a result when no cached run of its own exists and the
result's model and training config are its own (the stopping rule, ``epochs``,
``patience`` and ``min_delta``, may differ: the row then states the protocol that
produced the figures). Quick checks (``--max-batches``), interim figures and test-split
selection are never used. Recorded results carry no per-sample ranks, so their rows get
no significance test.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sessionrec.errors import ConfigError, UnknownModelError
from sessionrec.experiments.cache import CLASSIC_TIES, RunResult, describe_neural
from sessionrec.models.base import Recommender
from sessionrec.models.registry import create

STOPPING = frozenset({"epochs", "patience", "min_delta"})


@dataclass(frozen=True)
class Recorded:
    model: str  # the registered base name
    dataset: str
    config: dict[str, Any]  # resolved
    select_on: str
    refit: bool
    result: RunResult


def load_recorded(directory: Path | None) -> list[Recorded]:
    if directory is None or not directory.is_dir():
        return []
    out: list[Recorded] = []
    for path in sorted(directory.glob("accuracy-*.json")):
        entry = _accuracy(path)
        if entry is not None:
            out.append(entry)
    for path in sorted(directory.glob("classic_baselines_*.json")):
        out.extend(_classic(path))
    return out


def match(
    recorded: list[Recorded], model: Recommender, dataset: str, select_on: str, refit: bool
) -> RunResult | None:
    """The recorded result for ``model`` on ``dataset``, preferring the spec's own protocol."""
    mine = _training(model.config.to_dict())
    candidates = [
        r for r in recorded if r.model == model.name and r.dataset == dataset and _training(r.config) == mine
    ]
    if not candidates:
        return None

    def preference(r: Recorded) -> tuple[int, int, int]:
        return (r.select_on != select_on or r.refit != refit, not r.refit, r.select_on != "valid")

    return min(candidates, key=preference).result


def _training(config: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in config.items() if k not in STOPPING}


def _resolve(name: str, config: dict[str, Any]) -> Recommender | None:
    try:
        return create(name, **config)
    except (ConfigError, UnknownModelError):
        return None  # a key the model has since lost, or a model no longer registered


def _accuracy(path: Path) -> Recorded | None:
    try:
        report = json.loads(path.read_text())
    except json.JSONDecodeError:
        return None
    if report.get("max_batches_per_epoch") or "status" in report or report.get("select_on") == "test":
        return None  # a quick check, an interim figure, or test-split selection
    model = _resolve(report["model"], report.get("config", {}))
    if model is None or "test_metrics" not in report:
        return None
    history = [*report.get("history", []), *report.get("refit_history", [])]
    speeds = [r["train_samples_per_s"] for r in history if r.get("train_samples_per_s")]
    valid_scoring = [
        r["eval_seconds"] / report["valid_samples"]
        for r in report.get("history", [])
        if r.get("eval_seconds") and report.get("valid_samples")
    ]
    select_on, refit = report.get("select_on", "valid"), bool(report.get("refit_epochs"))
    protocol = describe_neural(
        select_on,
        refit,
        report.get("best_epoch", -1),
        report.get("epochs_run"),
        report.get("refit_epochs"),
        report.get("config", {}),
    )
    if "note" in report:
        protocol += f"; note in {path.name}"
    epochs = report.get("refit_epochs") or (report.get("best_epoch", -1) + 1) or report.get("epochs_run")
    result = RunResult(
        "done",
        report["test_metrics"],
        report.get("test_by_length", {}),
        protocol=protocol,
        source=f"recorded {path.name}",
        epochs=epochs,
        train_sps=float(np.median(speeds)) if speeds else None,
        # validation scoring per sample (the test split's own time is not recorded)
        score_ms=1000.0 * float(np.median(valid_scoring)) if valid_scoring else None,
    )
    return Recorded(model.name, report["data"], model.config.to_dict(), select_on, refit, result)


def _classic(path: Path) -> list[Recorded]:
    try:
        report = json.loads(path.read_text())
    except json.JSONDecodeError:
        return []
    dataset = report.get("dataset", path.stem.removeprefix("classic_baselines_"))
    n_test = report.get("stats", {}).get("test_samples")
    out = []
    for entry in report.get("results", []):
        model = _resolve(entry["model"].split(":")[0], entry.get("config", {}))
        metrics = entry.get("metrics", {}).get(CLASSIC_TIES)
        if model is None or metrics is None:
            continue
        score = entry.get("evaluate_seconds")
        result = RunResult(
            "done",
            metrics,
            protocol=f"fitted on all training sessions; {CLASSIC_TIES} ties",
            source=f"recorded {path.name}",
            score_ms=1000.0 * score / n_test if score and n_test else None,
        )
        out.append(Recorded(model.name, dataset, model.config.to_dict(), "fit", False, result))
    return out
