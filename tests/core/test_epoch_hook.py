"""The trainer's epoch hook (LGSR's skip-gram passes) and fractional learning-rate steps."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from sessionrec.models.lgsr import LGSRConfig
from sessionrec.models.neural import NeuralConfig
from sessionrec.models.registry import create
from sessionrec.runs import start_run
from sessionrec.training import Trainer, TrainerOptions, learning_rate
from tests.conftest import synthetic_dataset

TINY = {
    "embedding_dim": 16,
    "batch_size": 64,
    "epochs": 3,
    "lr": 0.01,
    "walks_per_node": 3,
    "walk_length": 8,
    "negatives": 8,
    "skipgram_batch": 256,
    "skipgram_stop_delta": 0.0,
}


def test_a_whole_lr_step_is_constant_within_an_epoch_and_a_fraction_decays_inside_it() -> None:
    start = NeuralConfig(lr_step_at="start")
    for epoch in range(6):
        assert {learning_rate(start, epoch, p) for p in (0.0, 0.3, 0.999)} == {learning_rate(start, epoch)}
    official = LGSRConfig(lr_step=0.1, lr_gamma=0.1, lr_step_at="end")  # x0.1 every tenth of an epoch
    assert learning_rate(official, 0, 0.05) == pytest.approx(1e-3)
    assert learning_rate(official, 0, 0.25) == pytest.approx(1e-5)
    assert learning_rate(official, 1, 0.0) == pytest.approx(1e-13)


def test_the_hook_runs_once_per_epoch_and_its_figures_are_recorded(monkeypatch: pytest.MonkeyPatch) -> None:
    from sessionrec.models.lgsr import LGSRModule

    calls: list[tuple[int, float, int]] = []
    original = LGSRModule.before_epoch

    def spy(self: Any, epoch: int, lr: float, seed: int) -> dict[str, float]:
        calls.append((epoch, lr, seed))
        return original(self, epoch, lr, seed)

    monkeypatch.setattr(LGSRModule, "before_epoch", spy)
    data = synthetic_dataset()
    model = create("lgsr", **TINY)
    state = model.fit(data.train).training_state_
    assert calls == [(0, 0.01, 1111), (1, 0.01, 1111), (2, 0.01, 1111)]
    assert all(r["skipgram_passes"] == 2 and r["skipgram_loss"] > 0 for r in state.history)


def test_resume_restores_the_hooks_optimizer_and_skips_the_hook_of_a_started_epoch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = synthetic_dataset()
    train, valid = data.validation_split(0.2)
    reference = create("lgsr", **TINY)
    expected = reference.fit(train, valid).training_state_.history

    # "killed" in the third batch of epoch 1, after a checkpoint at each batch
    model = create("lgsr", **TINY)
    run = start_run(tmp_path / "run", model, data.manifest)
    original, calls = Trainer.step, [0]

    def step(self: Trainer, *args: Any) -> torch.Tensor:
        calls[0] += 1
        if calls[0] == -(-len(train) // TINY["batch_size"]) + 3:
            raise KeyboardInterrupt
        return original(self, *args)

    monkeypatch.setattr(Trainer, "step", step)
    with pytest.raises(KeyboardInterrupt):
        model.fit(train, valid, TrainerOptions(run=run, checkpoint_minutes=0))
    monkeypatch.setattr(Trainer, "step", original)
    payload = torch.load(run.checkpoint_path, weights_only=True)
    assert payload["partial"]["epoch"] == 1 and payload["epoch_hook"]["optimizer"] is not None

    resumed = create("lgsr", **TINY)
    run = start_run(tmp_path / "run", resumed, data.manifest, resume=True)
    history = resumed.fit(train, valid, TrainerOptions(run=run, resume=True)).training_state_.history
    for key in ("loss", "valid_MRR@20"):
        assert [r[key] for r in history] == pytest.approx([r[key] for r in expected])
    # epoch 1's figures come from the partial checkpoint; epoch 2's hook ran on the restored state
    assert [r["skipgram_loss"] for r in history] == pytest.approx([r["skipgram_loss"] for r in expected])
    assert (resumed.evaluate(valid).ranks == reference.evaluate(valid).ranks).all()
