"""The trainer: learning-rate schedule, selection, checkpoints and exact resume after SIGKILL."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from sessionrec.data.dataset import Dataset
from sessionrec.data.sessions import Split
from sessionrec.errors import CheckpointError, ConfigError
from sessionrec.integrity import sha256_file
from sessionrec.models.neural import NeuralConfig, NeuralRecommender
from sessionrec.models.registry import create
from sessionrec.runs import Run, start_run
from sessionrec.training import Trainer, TrainerOptions, TrainingState, learning_rate
from tests.conftest import synthetic_dataset

FAST = {"embedding_dim": 16, "batch_size": 64, "epochs": 4, "lr": 0.01, "lr_step": 2}


def test_learning_rate_schedule_matches_the_papers_code() -> None:
    start = NeuralConfig(lr_step_at="start")  # StepLR.step() before each epoch (SR-GNN, TAGNN)
    assert [learning_rate(start, e) for e in range(6)] == pytest.approx([1e-3, 1e-3, 1e-4, 1e-4, 1e-4, 1e-5])
    end = NeuralConfig(lr_step_at="end")  # stepped after each epoch (SR-IEM, GCE-GNN)
    assert [learning_rate(end, e) for e in range(7)] == pytest.approx([1e-3] * 3 + [1e-4] * 3 + [1e-5])


def test_validation_selection_keeps_the_best_epoch() -> None:
    data = synthetic_dataset()
    train, valid = data.validation_split(0.2)
    model = create("srgnn", **{**FAST, "epochs": 3})
    state = model.fit(train, valid).training_state_
    scores = [record["valid_MRR@20"] for record in state.history]
    assert state.best_epoch == max(range(3), key=scores.__getitem__)
    assert model.evaluate(valid).metrics()["MRR@20"] == pytest.approx(max(scores))


def test_each_epoch_logs_one_line_with_its_figures(caplog: pytest.LogCaptureFixture) -> None:
    data = synthetic_dataset()
    train, valid = data.validation_split(0.2)
    model = create("srgnn", **{**FAST, "epochs": 2, "select_metric": "NDCG@10"})
    with caplog.at_level(logging.INFO, logger="sessionrec.training"):
        state = model.fit(train, valid).training_state_
    lines = [r.getMessage() for r in caplog.records if r.name == "sessionrec.training"]
    assert len(lines) == 2
    last = state.history[-1]
    assert lines[-1].startswith(f"epoch 1: lr {learning_rate(model.config, 1):g}, loss {last['loss']:.4f}, ")
    assert f"valid HR@20 {last['valid_HR@20']:.2f}, MRR@20 {last['valid_MRR@20']:.2f}, " in lines[-1]
    assert lines[-1].endswith(f"NDCG@10 {last['valid_NDCG@10']:.2f} (best epoch {state.best_epoch})")


def test_patience_stops_early() -> None:
    data = synthetic_dataset()
    train, valid = data.validation_split(0.2)
    # lr = 0 after the first epoch: nothing improves, so patience 1 stops at epoch 2
    model = create("srgnn", **{**FAST, "epochs": 10, "patience": 1, "lr_step": 1, "lr_gamma": 1e-30})
    state = model.fit(train, valid).training_state_
    assert len(state.history) <= 3


def test_min_delta_counts_only_gains_above_it() -> None:
    module = torch.nn.Linear(1, 1)
    curve = [10.0, 10.03, 10.2, 10.22, 10.26]  # valid MRR@20 by epoch

    def select(min_delta: float) -> tuple[int, int, float]:
        trainer = Trainer(create("srgnn", **{**FAST, "min_delta": min_delta}))
        state = TrainingState()
        for epoch, score in enumerate(curve):
            with torch.no_grad():
                module.weight.fill_(epoch)  # the weights record which epoch they are from
            trainer._select(state, {"epoch": epoch, "valid_MRR@20": score}, module)
        assert state.best_state is not None
        return state.best_epoch, state.bad_epochs, float(state.best_state["weight"])

    assert select(0.0) == (4, 0, 4.0)  # strict comparison: every gain counts
    # 10.03 and 10.22 gain no more than 0.05 on the best so far; 10.26 beats 10.2 by 0.06
    assert select(0.05) == (4, 0, 4.0)
    assert select(0.1) == (2, 2, 2.0)
    with pytest.raises(ConfigError, match="min_delta"):
        create("srgnn", min_delta=-0.1)


_CHILD = textwrap.dedent(
    """
    import sys, time
    from sessionrec.models.registry import create
    from sessionrec.runs import start_run
    from sessionrec.training import Trainer, TrainerOptions
    from tests.conftest import synthetic_dataset

    original = Trainer._train_epoch
    def slow(self, module, optimizer, train, spec, epoch, *rest):
        if epoch == 2:
            print("epoch2", flush=True)
            time.sleep(120)  # killed here, after two checkpoints
        return original(self, module, optimizer, train, spec, epoch, *rest)
    Trainer._train_epoch = slow

    data = synthetic_dataset()
    train, valid = data.validation_split(0.2)
    model = create("srgnn", **{fast})
    run = start_run(sys.argv[1], model, data.manifest)
    model.fit(train, valid, TrainerOptions(run=run))
    """
)


@dataclass(frozen=True)
class Uninterrupted:
    """SR-GNN (FAST) trained without a break: what every resumed run must reproduce."""

    data: Dataset
    train: Split
    valid: Split
    model: NeuralRecommender
    state: TrainingState


@pytest.fixture(scope="module")
def uninterrupted() -> Uninterrupted:
    data = synthetic_dataset()
    train, valid = data.validation_split(0.2)
    model = create("srgnn", **FAST)
    assert isinstance(model, NeuralRecommender)
    return Uninterrupted(data, train, valid, model, model.fit(train, valid).training_state_)


def _kill_training_child(tmp_path: Path, source: str, marker: bytes) -> Run:
    """Run ``source`` (training FAST into ``tmp_path / "run"``) in a child; SIGKILL it once it
    prints ``marker``."""
    run_dir, script = tmp_path / "run", tmp_path / "child.py"
    script.write_text(source.replace("{fast}", repr(FAST)))
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    child = subprocess.Popen([sys.executable, str(script), str(run_dir)], stdout=subprocess.PIPE, env=env)
    assert child.stdout is not None
    deadline = time.time() + 120
    while time.time() < deadline and child.stdout.readline().strip() != marker:
        assert child.poll() is None, f"the training child died before printing {marker!r}"
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    return Run(run_dir)


def _resume(run: Run, reference: Uninterrupted) -> tuple[NeuralRecommender, TrainingState]:
    """A fresh FAST SR-GNN resumed from ``run`` and trained to the end."""
    model = create("srgnn", **FAST)
    assert isinstance(model, NeuralRecommender)
    run = start_run(run.directory, model, reference.data.manifest, resume=True)
    state = model.fit(reference.train, reference.valid, TrainerOptions(run=run, resume=True)).training_state_
    return model, state


def test_resume_after_sigkill_reaches_the_uninterrupted_result(
    tmp_path: Path, uninterrupted: Uninterrupted
) -> None:
    run = _kill_training_child(tmp_path, _CHILD, b"epoch2")
    assert len(run.read_metrics()) == 2 and not run.finished

    resumed, state = _resume(run, uninterrupted)
    assert [r["valid_MRR@20"] for r in state.history] == pytest.approx(
        [r["valid_MRR@20"] for r in uninterrupted.state.history]
    )
    batch_scores = [m.evaluate(uninterrupted.valid).ranks for m in (uninterrupted.model, resumed)]
    assert (batch_scores[0] == batch_scores[1]).all()
    assert [json.loads(line)["epoch"] for line in run.metrics_path.read_text().splitlines()] == [0, 1, 2, 3]
    # bit for bit, with subnormals flushed in both processes (import sessionrec sets it)
    weights = [m.module_.state_dict() for m in (uninterrupted.model, resumed)]  # type: ignore[union-attr]
    assert weights[0].keys() == weights[1].keys()
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])


_CHILD_MID_EPOCH = textwrap.dedent(
    """
    import sys, time
    from sessionrec.data.batching import n_batches
    from sessionrec.models.registry import create
    from sessionrec.runs import start_run
    from sessionrec.training import Trainer, TrainerOptions
    from tests.conftest import synthetic_dataset

    data = synthetic_dataset()
    train, valid = data.validation_split(0.2)
    per_epoch = n_batches(train, {fast}["batch_size"])
    original, calls = Trainer.step, [0]
    def step(self, *args):
        calls[0] += 1
        if calls[0] == per_epoch + 3:  # third batch of epoch 1: two are checkpointed
            print("stuck", flush=True)
            time.sleep(120)
        return original(self, *args)
    Trainer.step = step

    model = create("srgnn", **{fast})
    run = start_run(sys.argv[1], model, data.manifest)
    model.fit(train, valid, TrainerOptions(run=run, checkpoint_minutes=0))
    """
)


def test_a_run_killed_mid_epoch_resumes_from_the_batch_it_reached(
    tmp_path: Path, uninterrupted: Uninterrupted
) -> None:
    run = _kill_training_child(tmp_path, _CHILD_MID_EPOCH, b"stuck")
    payload = torch.load(run.checkpoint_path, weights_only=True)
    assert payload["epoch"] == 1 and len(run.read_metrics()) == 1
    assert (payload["partial"]["epoch"], payload["partial"]["batches"]) == (1, 2)

    resumed, state = _resume(run, uninterrupted)
    for key in ("loss", "valid_MRR@20", "valid_HR@20"):
        assert [r[key] for r in state.history] == pytest.approx([r[key] for r in uninterrupted.state.history])
    valid = uninterrupted.valid
    assert (resumed.evaluate(valid).ranks == uninterrupted.model.evaluate(valid).ranks).all()
    assert torch.load(run.checkpoint_path, weights_only=True)["partial"] is None


def test_checkpoint_errors(tmp_path: Path) -> None:
    data = synthetic_dataset()
    model = create("srgnn", **{**FAST, "epochs": 1})
    run = start_run(tmp_path / "run", model, data.manifest)
    model.fit(data.train, data.test, TrainerOptions(run=run))
    other = create("srgnn", **{**FAST, "epochs": 1, "embedding_dim": 8})
    with pytest.raises(CheckpointError, match="same model and config"):
        start_run(tmp_path / "run", other, data.manifest, resume=True)
    with pytest.raises(CheckpointError, match="another model or configuration"):
        other.fit(data.train, None, TrainerOptions(run=run, resume=True))
    run.checkpoint_path.write_bytes(run.checkpoint_path.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="truncated"):
        create("srgnn", **{**FAST, "epochs": 1}).fit(data.train, None, TrainerOptions(run=run, resume=True))
    with pytest.raises(CheckpointError, match="not empty"):
        start_run(tmp_path / "run", model, data.manifest)


def test_resume_may_change_only_the_stopping_rule(tmp_path: Path) -> None:
    data = synthetic_dataset()
    train, valid = data.validation_split(0.2)
    model = create("srgnn", **{**FAST, "epochs": 2})
    model.fit(train, valid, TrainerOptions(run=start_run(tmp_path / "run", model, data.manifest)))
    reference = create("srgnn", **{**FAST, "epochs": 3}).fit(train, valid).training_state_

    longer = create("srgnn", **{**FAST, "epochs": 3, "patience": 5})
    run = start_run(tmp_path / "run", longer, data.manifest, resume=True)
    state = longer.fit(train, valid, TrainerOptions(run=run, resume=True)).training_state_
    assert [r["valid_MRR@20"] for r in state.history] == pytest.approx(
        [r["valid_MRR@20"] for r in reference.history]
    )  # the third epoch continues the first two exactly
    info = run.info()
    assert info["config"]["epochs"] == 3
    assert info["resumed_with"] == [{"epochs": [2, 3], "patience": [10, 5]}]

    other_lr = create("srgnn", **{**FAST, "epochs": 4, "lr": 0.02})
    with pytest.raises(CheckpointError, match="only epochs, patience may change"):
        start_run(tmp_path / "run", other_lr, data.manifest, resume=True)
    with pytest.raises(CheckpointError, match="another model or configuration"):
        other_lr.fit(train, valid, TrainerOptions(run=run, resume=True))


def test_a_run_saved_before_a_config_key_existed_resumes_while_it_keeps_its_default(tmp_path: Path) -> None:
    data = synthetic_dataset()
    train, valid = data.validation_split(0.2)
    model = create("srgnn", **{**FAST, "epochs": 1})
    run = start_run(tmp_path / "run", model, data.manifest)
    model.fit(train, valid, TrainerOptions(run=run))
    # rewrite the run as an older version saved it, without min_delta
    info = json.loads(run.info_path.read_text())
    del info["config"]["min_delta"]
    run.info_path.write_text(json.dumps(info))
    payload = torch.load(run.checkpoint_path, weights_only=True)
    del payload["config"]["min_delta"]
    torch.save(payload, run.checkpoint_path)

    stricter = create("srgnn", **{**FAST, "epochs": 2, "min_delta": 0.1})
    with pytest.raises(CheckpointError, match="same model and config"):
        start_run(tmp_path / "run", stricter, data.manifest, resume=True)
    with pytest.raises(CheckpointError, match="another model or configuration"):
        stricter.fit(train, valid, TrainerOptions(run=run, resume=True))
    longer = create("srgnn", **{**FAST, "epochs": 2})
    run = start_run(tmp_path / "run", longer, data.manifest, resume=True)
    state = longer.fit(train, valid, TrainerOptions(run=run, resume=True)).training_state_
    assert [r["epoch"] for r in state.history] == [0, 1]


def rerecord_digests(directory: Path) -> None:
    """Record the files' current SHA-256 in model.json, as if they had been saved so."""
    meta_path = directory / "model.json"
    meta = json.loads(meta_path.read_text())
    meta["files"] = {name: sha256_file(directory / name) for name in meta["files"]}
    meta_path.write_text(json.dumps(meta))


def test_saved_weights_are_checked(tmp_path: Path) -> None:
    data = synthetic_dataset()
    model = create("srgnn", **{**FAST, "epochs": 1}).fit(data.train)
    model.save(tmp_path / "m")
    weights = tmp_path / "m" / "weights.pt"
    state = torch.load(weights, weights_only=True)
    state["embedding.weight"] = state["embedding.weight"][:5]
    torch.save(state, weights)
    with pytest.raises(CheckpointError, match=r"weights\.pt: content does not match the SHA-256"):
        type(model).load(tmp_path / "m")
    rerecord_digests(tmp_path / "m")  # a consistent but foreign file reaches the shape check
    with pytest.raises(CheckpointError, match="do not fit"):
        type(model).load(tmp_path / "m")
    weights.write_bytes(b"\x00" * 10)
    rerecord_digests(tmp_path / "m")
    with pytest.raises(CheckpointError, match="truncated"):
        type(model).load(tmp_path / "m")


def test_bf16_scoring_warns_on_a_cpu_without_native_bfloat16(monkeypatch: pytest.MonkeyPatch) -> None:
    import sessionrec.training as training

    data = synthetic_dataset()
    monkeypatch.setattr(training, "cpu_has_native_bf16", lambda: False)
    model = create("srgnn", **{**FAST, "epochs": 1, "bf16_scoring": True})
    with pytest.warns(RuntimeWarning, match="bfloat16"):
        model.fit(data.train, None, TrainerOptions(device="cpu", max_batches=1))
    monkeypatch.setattr(training, "cpu_has_native_bf16", lambda: True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        create("srgnn", **{**FAST, "epochs": 1, "bf16_scoring": True}).fit(
            data.train,
            None,
            TrainerOptions(device="cpu", max_batches=1),
        )
