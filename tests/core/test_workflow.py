"""The train-select-evaluate protocol: validation selection, refit on all sessions, fixed epochs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from sessionrec.errors import ConfigError
from sessionrec.models.registry import create, load_run_model
from sessionrec.workflow import REFIT_DIR, recorded_seconds, train_and_evaluate
from tests.conftest import synthetic_dataset

FAST = {"embedding_dim": 16, "batch_size": 64, "epochs": 3, "lr": 0.01, "lr_step": 2}


def _weights(model: object) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.module_.state_dict().items()}  # type: ignore[attr-defined]


def test_refit_equals_a_fixed_run_for_the_selected_epoch_count(tmp_path: Path) -> None:
    data = synthetic_dataset()
    refit = train_and_evaluate(create("srgnn", **FAST), data, tmp_path / "refit", refit=True)
    epochs = refit.info["best_epoch"] + 1
    assert refit.info["refit_epochs"] == epochs
    assert len(refit.info["refit_history"]) == epochs
    # the refit phase trains on every training sample, the selection phase on 90% of them
    assert refit.info["refit_history"][0]["train_samples_per_s"] > 0
    assert (tmp_path / "refit" / REFIT_DIR / "checkpoint.pt").is_file()

    fixed = train_and_evaluate(
        create("srgnn", **{**FAST, "epochs": epochs}), data, tmp_path / "fixed", select_on="none"
    )
    assert fixed.info["valid_samples"] == 0 and fixed.info["train_samples"] == len(data.train)
    np.testing.assert_array_equal(refit.evaluation.ranks, fixed.evaluation.ranks)
    saved = json.loads((tmp_path / "refit" / "run.json").read_text())
    assert saved["protocol"]["refit"] is True and saved["refit_epochs"] == epochs


def test_refit_model_is_the_one_saved_and_evaluated(tmp_path: Path) -> None:
    data = synthetic_dataset()
    result = train_and_evaluate(create("srgnn", **FAST), data, tmp_path / "run", refit=True)

    loaded = load_run_model(tmp_path / "run")
    assert loaded.config.epochs == result.info["refit_epochs"]
    np.testing.assert_array_equal(loaded.evaluate(data.test).ranks, result.evaluation.ranks)


def test_refit_resumes_without_retraining(tmp_path: Path) -> None:
    data = synthetic_dataset()
    first = train_and_evaluate(create("srgnn", **FAST), data, tmp_path / "run", refit=True)
    # the run is finished; resuming reads both checkpoints and trains nothing more
    again = train_and_evaluate(create("srgnn", **FAST), data, tmp_path / "run", refit=True, resume=True)
    np.testing.assert_array_equal(first.evaluation.ranks, again.evaluation.ranks)
    assert len(again.info["refit_history"]) == first.info["refit_epochs"]
    # the run's cost is the recorded epochs' time, not the resuming process's wall clock
    assert again.info["train_seconds"] == first.info["train_seconds"] > 0
    assert again.info["eval_seconds"] == first.info["eval_seconds"]
    assert again.info["wall_seconds"] < first.info["wall_seconds"]


def test_recorded_seconds_sum_every_epoch_of_every_phase() -> None:
    selection = [{"train_seconds": 10.0, "eval_seconds": 2.0}, {"train_seconds": 12.5, "eval_seconds": 2.5}]
    refit = [{"train_seconds": 11.0}, {"train_seconds": 13.04}]
    assert recorded_seconds(selection, refit) == {"train_seconds": 46.5, "eval_seconds": 4.5}
    assert recorded_seconds([]) == {"train_seconds": 0.0, "eval_seconds": 0.0}


def test_refit_needs_validation_selection(tmp_path: Path) -> None:
    data = synthetic_dataset()
    for select_on in ("test", "none"):
        with pytest.raises(ConfigError, match="refit"):
            train_and_evaluate(create("srgnn", **FAST), data, tmp_path / select_on, select_on, refit=True)
    with pytest.raises(ConfigError, match="select_on"):
        train_and_evaluate(create("srgnn", **FAST), data, tmp_path / "bad", "train")  # type: ignore[arg-type]
