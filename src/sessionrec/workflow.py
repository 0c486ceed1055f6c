"""Train a neural model into a run directory and evaluate it on the test split.

One function serves the CLI (``sessionrec train``), the demo and the experiment
runners, so every reported number goes through the same protocol:

- ``select_on="valid"`` (default): the last ``valid_fraction`` of the training
  samples (whole sessions, by time) is held out; epochs are selected on it; the
  test split is scored once, at the end, with the selected weights.
- ``refit=True`` (with ``select_on="valid"``): once the epoch is selected, a fresh
  model with the same seed is trained on *all* training sessions for that many epochs
  (in ``RUN_DIR/refit/``) and the test split is scored with it. The selection stays on
  validation, and the final model also learns from the most recent sessions, the
  ones closest to the test period, which the held-out split would otherwise withhold.
- ``select_on="none"``: no selection; ``epochs`` epochs on all training sessions and
  the last one is kept (the refit phase on its own, for an epoch count chosen before).
- ``select_on="test"``: the papers' habit. Each epoch is scored on the test split and
  the run records, besides the selected epoch's metrics, the best value of each metric
  over epochs (what those papers report). Such a run says so in ``run.json``.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from sessionrec import distributed
from sessionrec.data.dataset import Dataset
from sessionrec.errors import ConfigError
from sessionrec.evaluation import Evaluation
from sessionrec.models.neural import NeuralRecommender
from sessionrec.runs import Run, finish_run, start_run
from sessionrec.runtime import numerics
from sessionrec.training import TrainerOptions

REFIT_DIR = "refit"
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


def recorded_seconds(*histories: list[dict[str, Any]]) -> dict[str, float]:
    """Training and validation seconds summed over every recorded epoch.

    A run killed and resumed spans several processes; each epoch's record (and a
    checkpoint's partial epoch) carries its own time, so the sum is the whole run's cost,
    where a process's wall clock (``wall_seconds``) covers only its own part.
    """
    records = [record for history in histories for record in history]
    return {
        "train_seconds": round(sum(r.get("train_seconds", 0.0) for r in records), 1),
        "eval_seconds": round(sum(r.get("eval_seconds", 0.0) for r in records), 1),
    }


def train_and_evaluate(
    model: NeuralRecommender,
    dataset: Dataset,
    out: str | Path,
    select_on: Literal["valid", "test", "none"] = "valid",
    valid_fraction: float = 0.1,
    valid_mode: Literal["last", "random"] = "last",
    resume: bool = False,
    overwrite: bool = False,
    options: TrainerOptions | None = None,
    data_path: str | None = None,
    refit: bool = False,
) -> TrainingResult:
    if not isinstance(model, NeuralRecommender):
        raise ConfigError(f"{model.name} is not a neural model: use `sessionrec fit`")
    if select_on not in ("valid", "test", "none"):
        raise ConfigError(f"select_on must be 'valid', 'test' or 'none', got {select_on!r}")
    if refit and select_on != "valid":
        raise ConfigError("refit retrains on all training sessions after selection on validation")
    protocol = {
        "select_on": select_on,
        "valid_fraction": valid_fraction,
        "valid_mode": valid_mode,
        "refit": refit,
    }
    run = distributed.open_run(  # rank 0 writes; other ranks (distributed runs) read
        lambda: start_run(
            out,
            model,
            dataset.manifest,
            overwrite=overwrite,
            resume=resume,
            data_path=data_path,
            protocol=protocol,
            numerics=numerics.status(),
        )
    )
    train, valid = dataset.train, None
    if select_on == "valid":
        train, valid = dataset.validation_split(valid_fraction, valid_mode, model.config.seed)
    elif select_on == "test":
        valid = dataset.test
    opts = options or TrainerOptions()
    opts.run, opts.resume, opts.select_on = run, resume, select_on if select_on != "none" else "valid"
    started = time.perf_counter()
    state = model.fit(train, valid, opts).training_state_
    refit_info: dict[str, Any] = {}
    if refit:
        model, refit_info = _refit(model, dataset, run, state.best_epoch + 1, opts)
    wall_seconds = time.perf_counter() - started
    clock = time.perf_counter()
    evaluation = distributed.evaluate_model(model, dataset.test)
    test_seconds = time.perf_counter() - clock
    info: dict[str, Any] = {
        "test_metrics": evaluation.metrics(),
        "ties": evaluation.ties,
        "test_by_length": evaluation.by_length(),
        "best_epoch": state.best_epoch,
        "epochs_run": len(state.history),
        **recorded_seconds(state.history, refit_info.get("refit_history", [])),
        "wall_seconds": round(wall_seconds, 1),
        "test_seconds": round(test_seconds, 2),  # scoring and ranking the whole test split once
        "train_samples": len(train),
        "valid_samples": len(valid) if valid is not None else 0,
        **refit_info,
    }
    if select_on == "test":
        info["note"] = TEST_SELECTION_NOTE
        info["best_per_metric"] = best_per_metric(state.history, "test")
    if distributed.is_writer():
        np.save(run.directory / "ranks-test.npy", evaluation.ranks)
        evaluation.save_counts(run.directory / "counts-test.npz")  # exact under every tie mode
        finish_run(run, model, **info)
    distributed.barrier()
    return TrainingResult(run, evaluation, info)


def _refit(
    selected: NeuralRecommender, dataset: Dataset, run: Run, epochs: int, options: TrainerOptions
) -> tuple[NeuralRecommender, dict[str, Any]]:
    """A fresh model, same config and seed, trained ``epochs`` epochs on every training session.

    Settings a model chose on validation besides the epoch count (KNN-RNN's mixing weight)
    come from its ``selected_settings()``, when it has one.
    """
    chosen = getattr(selected, "selected_settings", None)
    settings = chosen() if callable(chosen) else {}
    model = type(selected)(selected.config.replace(**settings, epochs=epochs))
    model.preset = selected.preset
    model.to(selected.device)
    refit_run = type(run)(run.directory / REFIT_DIR)  # a ReaderRun on ranks other than 0
    if distributed.is_writer():
        refit_run.directory.mkdir(exist_ok=True)
    if not options.resume and distributed.is_writer():  # a fresh run must not resume a stale refit checkpoint
        refit_run.checkpoint_path.unlink(missing_ok=True)
        refit_run.metrics_path.unlink(missing_ok=True)
    refit_options = dataclasses.replace(options, run=refit_run, select_on="valid")
    model.fit(dataset.train, None, refit_options)  # prepared anew, on every training session
    info = {"refit_epochs": epochs, "refit_history": refit_run.read_metrics()}
    return model, info
