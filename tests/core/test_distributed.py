"""Data-parallel training and evaluation with 2 CPU processes (gloo on loopback).

Known answers: a distributed evaluation deals the single-process batches to the ranks,
so its counts and metrics equal the single-process ones exactly; a distributed epoch
averages gradients of a split global batch, so its loss curve equals the single-process
one up to float32 summation order (tolerance below); a killed run resumes.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

from sessionrec import distributed
from sessionrec.evaluation import evaluate_scores
from sessionrec.models import registry
from sessionrec.models.neural import NeuralRecommender
from sessionrec.models.registry import create
from sessionrec.training import OwnBatches, TrainerOptions
from tests.conftest import synthetic_dataset
from tests.models.test_contract import CONTRACT

FAST = {"embedding_dim": 16, "batch_size": 50, "epochs": 4, "lr": 0.01, "lr_step": 2}
# Per-epoch mean losses of 1 and 2 processes agree to this relative difference. The two
# compute the same sums in another order (two half-batch means weighted, then averaged,
# instead of one mean), which moves float32 gradients by ~1e-7 relative per step; Adam
# carries that drift through the steps of 4 epochs. The test passes at this tolerance, and on
# Diginetica 150 batches of 1 and 2 processes gave the same mean loss to four decimals; 1e-3 still
# catches a wrong weighting (a shard's loss counted twice moves the curve by percents).
LOSS_RTOL = 1e-3
ROOT = Path(__file__).resolve().parents[2]
# models that iterate their own ordered batches (GRU4Rec's session-parallel rows carry a state
# from one batch to the next: training.OwnBatches) train in one process and refuse ranks
NEURAL = sorted(
    n
    for n, c in registry.model_classes().items()
    if issubclass(c, NeuralRecommender) and not issubclass(c, OwnBatches)
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _worker(rank: int, world: int, port: int, out: str) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        WORLD_SIZE=str(world),
        LOCAL_RANK=str(rank),
    )
    torch.set_num_threads(1)
    distributed.init_from_env("cpu")
    try:
        data = synthetic_dataset()
        train, valid = data.validation_split(0.2)
        model = create("srgnn", **FAST)
        state = model.fit(train, valid, TrainerOptions(device="cpu", eval_batch_size=37)).training_state_
        evaluation = distributed.evaluate_model(model, data.test, batch_size=23)
        if distributed.is_writer():
            np.savez(
                out,
                above=evaluation.above,
                tied=evaluation.tied,
                losses=np.array([r["loss"] for r in state.history]),
                valid=np.array([r["valid_MRR@20"] for r in state.history]),
            )
            torch.save(model.module_.state_dict(), out + ".pt")
        # gathering rows of unequal counts (rank r holds r + 1 rows of the value r)
        rows = distributed.gather_rows(torch.full((rank + 1, 2), float(rank)))
        torch.save(rows, f"{out}.gathered.rank{rank}.pt")
        for name in NEURAL:  # every neural model: same weights on every rank after training
            trained = create(name, **{**CONTRACT[name].get("overrides", {}), "epochs": 1})
            trained.fit(train, valid, TrainerOptions(device="cpu"))
            torch.save(trained.module_.state_dict(), f"{out}.{name}.rank{rank}.pt")
    finally:
        distributed.shutdown()


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = str(tmp_path_factory.mktemp("ddp") / "rank0.npz")
    mp.start_processes(_worker, args=(2, _free_port(), out), nprocs=2, start_method="spawn")
    result: dict[str, Any] = dict(np.load(out))
    result["state"] = torch.load(out + ".pt", weights_only=True)
    result["out"] = out
    return result


def test_distributed_evaluation_equals_single_process_bit_for_bit(two_ranks: dict) -> None:
    data = synthetic_dataset()
    model = create("srgnn", **FAST)
    model.setup(data.validation_split(0.2)[0])
    model.module_.load_state_dict(two_ranks["state"])  # the weights the 2 ranks trained
    model.module_.eval()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as each rank ran
    try:
        single = evaluate_scores(model.score, data.test, model.batch_spec, 23)
    finally:
        torch.set_num_threads(threads)
    np.testing.assert_array_equal(two_ranks["above"], single.above)
    np.testing.assert_array_equal(two_ranks["tied"], single.tied)
    assert single.above.min() >= 0 and single.above.max() > 0  # a trained model, not all ties


def test_two_processes_follow_the_single_process_loss_curve(two_ranks: dict) -> None:
    data = synthetic_dataset()
    train, valid = data.validation_split(0.2)
    state = (
        create("srgnn", **FAST)
        .fit(train, valid, TrainerOptions(device="cpu", eval_batch_size=37))
        .training_state_
    )
    losses = np.array([r["loss"] for r in state.history])
    assert losses[-1] < 0.8 * losses[0]  # it learns, so the comparison is not of flat curves
    np.testing.assert_allclose(two_ranks["losses"], losses, rtol=LOSS_RTOL)
    np.testing.assert_allclose(two_ranks["valid"], [r["valid_MRR@20"] for r in state.history], atol=1.0)


def test_rows_gathered_in_rank_order_on_every_rank(two_ranks: dict) -> None:
    expected = torch.tensor([[0.0, 0.0], [1.0, 1.0], [1.0, 1.0]])
    for rank in (0, 1):
        torch.testing.assert_close(torch.load(f"{two_ranks['out']}.gathered.rank{rank}.pt"), expected)


@pytest.mark.parametrize("name", NEURAL)
def test_every_neural_model_trains_the_same_weights_on_every_rank(two_ranks: dict, name: str) -> None:
    """Gradients of every model reach DDP's all-reduce: its own objective (FPMC, BPR-MF), an
    epoch hook (LGSR), sparse buffers (DHCN, FOCOL), a memory written in training (CSRM)."""
    ranks = [torch.load(f"{two_ranks['out']}.{name}.rank{r}.pt", weights_only=True) for r in (0, 1)]
    assert ranks[0].keys() == ranks[1].keys()
    for key, value in ranks[0].items():
        if value.layout == torch.strided:
            torch.testing.assert_close(ranks[1][key], value, rtol=0, atol=0, msg=f"{name}: {key} differs")


def test_csrm_memory_holds_the_global_batches_on_every_rank(two_ranks: dict) -> None:
    data = synthetic_dataset()
    train, valid = data.validation_split(0.2)
    single = create("csrm", **{**CONTRACT["csrm"].get("overrides", {}), "epochs": 1})
    single.fit(train, valid, TrainerOptions(device="cpu"))
    state = torch.load(f"{two_ranks['out']}.csrm.rank0.pt", weights_only=True)
    filled = next(v for k, v in state.items() if k.endswith("memory.filled"))
    assert int(filled) == len(single.module_.memory) > 0  # not one rank's half of the sessions


def test_shards_partition_every_global_batch_with_weights_summing_to_the_world() -> None:
    # without a process group the iterator is the single-process one: weight 1, whole batch
    data = synthetic_dataset()
    model = create("srgnn", **FAST)
    batches = list(distributed.shard_batches(data.train, 50, model.batch_spec, True, 1, 0))
    assert all(w == 1.0 and size == b.size for b, w, size in batches)
    assert sum(size for _, _, size in batches) == len(data.train)


def _train(out: Path, data: Path, epochs: int, *extra: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "sessionrec", "train", "srgnn", str(data), "--out", str(out)]
    quick = [
        "--set",
        "embedding_dim=16",
        "--set",
        "batch_size=50",
        "--set",
        f"epochs={epochs}",
        "--no-progress",
    ]
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "src"),
        "OMP_NUM_THREADS": "1",
        "SESSIONREC_NO_PROGRESS": "1",
    }
    return subprocess.Popen(
        [*command, *quick, "--nproc", "2", "--threads", "1", "--select-on", "test", *extra],
        env=env,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds the ranks through /proc")
def test_a_killed_distributed_run_resumes(tmp_path: Path) -> None:
    synthetic_dataset().save(tmp_path / "syn")
    run = tmp_path / "run"
    process = _train(run, tmp_path / "syn", 100)  # far from done when killed
    metrics = run / "metrics.jsonl"
    deadline = time.monotonic() + 60
    while not (
        metrics.is_file() and metrics.read_text().count("\n") >= 1 and (run / "checkpoint.pt").is_file()
    ):
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()[0]
        time.sleep(0.05)
    for worker in _children(process.pid):  # torchrun starts each rank in its own session
        os.kill(worker, signal.SIGKILL)  # both ranks die at once, as in a crash
    process.communicate(timeout=60)  # the launcher sees its ranks killed and exits
    assert json.loads((run / "run.json").read_text())["status"] == "running"
    resumed = _train(run, tmp_path / "syn", 3, "--resume")  # a resumed run may change epochs
    output = resumed.communicate(timeout=120)[0]
    assert resumed.returncode == 0, output
    epochs = [json.loads(line)["epoch"] for line in metrics.read_text().splitlines()]
    assert epochs == list(range(len(epochs))) and len(epochs) >= 3  # each epoch once, in order
    info = json.loads((run / "run.json").read_text())
    assert info["status"] == "finished" and info["epochs_run"] == len(epochs)
    assert output.count("test metrics") == 1  # printed by rank 0 only
