"""Train a neural model into a run directory and evaluate it on the test split.

One function serves the CLI (``sessionrec train``), the demo and the experiment
runners, so every reported number goes through the same protocol:

- ``select_on="valid"`` (default): the last ``valid_fraction`` of the training
  samples (whole sessions, by time) is held out; epochs are selected on it; the
  test split is scored once, at the end, with the selected weights.
- ``select_on="test"``: the papers' habit. Each epoch is scored on the test split and
  the run records, besides the selected epoch's metrics, the best value of each metric
  over epochs (what those papers report). Such a run says so in ``run.json``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from sessionrec.data.dataset import Dataset
from sessionrec.errors import ConfigError
from sessionrec.evaluation import Evaluation
from sessionrec.models.neural import NeuralRecommender
from sessionrec.runs import Run, finish_run, start_run
from sessionrec.training import Trainer, TrainerOptions

TEST_SELECTION_NOTE = (
    "epochs selected on the TEST split (the papers' protocol): optimistic; "
    "best_per_metric takes each metric's best epoch separately, as those papers report"
)


@dataclass(frozen=True)
class TrainingResult:
    run: Run
    evaluation: Evaluation
    info: dict[str, Any]


def best_per_metric(history: list[dict[str, Any]], prefix: str) -> dict[str, dict[str, float]]:
    """For each metric, its best value over epochs and the epoch it came from."""
    best: dict[str, dict[str, float]] = {}
    for record in history:
        for key, value in record.items():
            if key.startswith(f"{prefix}_") and "@" in key:
                name = key.removeprefix(f"{prefix}_")
                if name not in best or value > best[name]["value"]:
                    best[name] = {"value": value, "epoch": record["epoch"]}
    return best


def train_and_evaluate(
    model: NeuralRecommender,
    dataset: Dataset,
    out: str | Path,
    select_on: Literal["valid", "test"] = "valid",
    valid_fraction: float = 0.1,
    valid_mode: Literal["last", "random"] = "last",
    resume: bool = False,
    overwrite: bool = False,
    options: TrainerOptions | None = None,
    data_path: str | None = None,
) -> TrainingResult:
    if not isinstance(model, NeuralRecommender):
        raise ConfigError(f"{model.name} is not a neural model: use `sessionrec fit`")
    if select_on not in ("valid", "test"):
        raise ConfigError(f"select_on must be 'valid' or 'test', got {select_on!r}")
    protocol = {"select_on": select_on, "valid_fraction": valid_fraction, "valid_mode": valid_mode}
    run = start_run(
        out,
        model,
        dataset.manifest,
        overwrite=overwrite,
        resume=resume,
        data_path=data_path,
        protocol=protocol,
    )
    if select_on == "valid":
        train, valid = dataset.validation_split(valid_fraction, valid_mode, model.config.seed)
    else:
        train, valid = dataset.train, dataset.test
    opts = options or TrainerOptions()
    opts.run, opts.resume, opts.select_on = run, resume, select_on
    started = time.perf_counter()
    state = Trainer(model, opts).fit(train, valid)
    train_seconds = time.perf_counter() - started
    evaluation = model.evaluate(dataset.test)
    np.save(run.directory / "ranks-test.npy", evaluation.ranks)
    info: dict[str, Any] = {
        "test_metrics": evaluation.metrics(),
        "test_by_length": evaluation.by_length(),
        "best_epoch": state.best_epoch,
        "epochs_run": len(state.history),
        "train_seconds": round(train_seconds, 1),
        "train_samples": len(train),
        "valid_samples": len(valid),
    }
    if select_on == "test":
        info["note"] = TEST_SELECTION_NOTE
        info["best_per_metric"] = best_per_metric(state.history, "test")
    finish_run(run, model, **info)
    return TrainingResult(run, evaluation, info)
