"""CSRM: the contract entry, the outer memory's read against a hand computation, and the
memory holding training sessions only while scoring (unless ``transductive``)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from sessionrec.data.batching import make_batch
from sessionrec.models.registry import create
from sessionrec.nn.session_memory import SessionMemory
from tests.conftest import synthetic_dataset

FAST = {
    "embedding_dim": 16,
    "hidden_dim": 16,
    "batch_size": 32,
    "epochs": 3,
    "lr": 0.01,
    "memory_capacity": 100,
    "neighbours": 10,
}
CONTRACT = {"csrm": {"overrides": FAST, "pattern_metric": "HR@5", "pattern_threshold": 80.0}}


def test_memory_read_is_a_softmax_over_the_top_k_cosine_neighbours() -> None:
    memory = SessionMemory(2, capacity=4, k=2)
    query = torch.tensor([[2.0, 0.0]])
    assert torch.equal(memory.read(query), query)  # empty: the query itself
    memory.write(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))
    # cosines 1, 0, 0.707107; top 2 = rows 0 and 2; softmax(1, 0.707107) = (0.572704, 0.427296);
    # read = 0.572704 (1, 0) + 0.427296 (1, 1) = (1, 0.427296)
    torch.testing.assert_close(memory.read(query), torch.tensor([[1.0, 0.427296]]), atol=1e-6, rtol=0)


def test_memory_is_a_fifo_of_its_capacity() -> None:
    memory = SessionMemory(1, capacity=3, k=3)
    memory.write(torch.tensor([[1.0], [2.0]]))
    memory.write(torch.tensor([[3.0], [4.0]]))  # 1 is the oldest and drops
    assert len(memory) == 3 and sorted(memory.rows.flatten().tolist()) == [2.0, 3.0, 4.0]
    memory.write(torch.arange(10.0, 15.0).unsqueeze(1))  # more than the capacity: the last 3
    assert sorted(memory.rows.flatten().tolist()) == [12.0, 13.0, 14.0]


def test_no_gradient_reaches_the_memory_rows_but_the_query_gets_one() -> None:
    memory = SessionMemory(2, capacity=4, k=2)
    memory.write(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))
    query = torch.tensor([[2.0, 1.0]], requires_grad=True)
    out = memory.read(query)
    memory.write(torch.tensor([[5.0, 5.0]]))  # a write after the read does not break backward
    out.sum().backward()
    assert query.grad is not None and query.grad.abs().sum() > 0
    assert not memory.rows.requires_grad


def _record_writes(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    writes: list[dict[str, Any]] = []
    original = SessionMemory.write

    def write(self: SessionMemory, vectors: torch.Tensor) -> None:
        writes.append({"rows": vectors.shape[0], "inference": torch.is_inference_mode_enabled()})
        original(self, vectors)

    monkeypatch.setattr(SessionMemory, "write", write)
    return writes


def test_memory_holds_only_training_sessions_while_scoring(monkeypatch: pytest.MonkeyPatch) -> None:
    data = synthetic_dataset()
    train, valid = data.validation_split()
    writes = _record_writes(monkeypatch)
    model = create("csrm", **FAST).fit(train, valid)  # validated after every epoch
    # every write came from a training step: one row per training sample and epoch, none
    # while the validation split was scored
    assert sum(w["rows"] for w in writes) == FAST["epochs"] * len(train)
    assert not any(w["inference"] for w in writes)
    module: Any = model.module_
    before = {k: v.clone() for k, v in module.memory.state_dict().items()}
    assert int(before["filled"]) == FAST["memory_capacity"]
    model.evaluate(data.test)
    model.recommend([data.vocab.decode(data.test.prefix(0))], k=5)
    for key, value in module.memory.state_dict().items():
        assert torch.equal(value, before[key]), key
    assert sum(w["rows"] for w in writes) == FAST["epochs"] * len(train)


def test_transductive_flag_writes_scored_sessions() -> None:
    data = synthetic_dataset()
    model = create("csrm", **{**FAST, "transductive": True}).fit(data.train)
    module: Any = model.module_
    before = module.memory.rows.clone()
    batch = make_batch(data.test, np.arange(20), model.batch_spec)
    with torch.inference_mode():
        first = model.score(batch)
        second = model.score(batch)  # the memory now also holds these 20 test prefixes
    assert not torch.equal(module.memory.rows, before)
    assert not torch.equal(first, second)
