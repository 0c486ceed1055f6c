"""GRU4Rec: session-parallel batches and the carried state, its losses, sampler and optimiser by hand."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from sessionrec.data.batching import batch_from_lists
from sessionrec.data.session_parallel import (
    n_session_parallel_batches,
    session_order,
    session_parallel_batches,
)
from sessionrec.data.sessions import Sessions
from sessionrec.models import gru4rec
from sessionrec.models.gru4rec import GRU4RecModule
from sessionrec.models.registry import create
from sessionrec.nn.adagrad_momentum import AdagradNesterov
from sessionrec.nn.popularity_sampler import draw, sampling_cdf, sampling_probabilities
from sessionrec.nn.sampled_losses import bpr_max_loss, sampled_cross_entropy
from sessionrec.runs import start_run
from sessionrec.training import Trainer, TrainerOptions
from tests.conftest import synthetic_dataset

FAST = {"embedding_dim": 32, "batch_size": 32, "n_sample": 64, "epochs": 10, "lr": 0.1}
CONTRACT = {"gru4rec": {"overrides": FAST, "pattern_metric": "HR@5", "pattern_threshold": 80.0}}

# five sessions in time order; [6] has no event; two rows
TOY = Sessions.from_lists([[1, 2, 3], [4, 5], [6], [7, 8, 9, 10], [11, 12]])


def test_session_parallel_batches_follow_each_session_and_mark_its_start() -> None:
    order = session_order(TOY, shuffle=False, seed=0, epoch=0)
    assert order.tolist() == [0, 1, 3, 4]  # the one-click session has no event
    batches = list(session_parallel_batches(TOY, order, batch_size=2))
    # step 1: rows hold sessions [1 2 3] and [4 5]; [4 5] ends, [7 8 9 10] takes row 1;
    # step 3: [1 2 3] has ended, [11 12] takes row 0; then row 0 ends with no session left
    assert [b.items[:, 0].tolist() for b in batches] == [[1, 4], [2, 7], [11, 8]]
    assert [b.targets.tolist() for b in batches] == [[2, 5], [3, 8], [12, 9]]
    assert [b.extra.starts.tolist() for b in batches] == [[True, True], [False, True], [True, False]]
    assert n_session_parallel_batches(TOY, order, 2) == 3
    resumed = list(session_parallel_batches(TOY, order, batch_size=2, start_batch=2))
    assert [b.items[:, 0].tolist() for b in resumed] == [[11, 8]]


def tiny_module(**overrides: object) -> GRU4RecModule:
    config = create("gru4rec", embedding_dim=3, n_sample=2, **overrides).config
    torch.manual_seed(0)
    probabilities = sampling_probabilities(np.bincount(TOY.items, minlength=13), 0.5)
    return GRU4RecModule(12, config, probabilities)  # type: ignore[arg-type]


def test_carried_state_equals_the_gru_over_the_prefix_and_resets_at_session_starts() -> None:
    module = tiny_module().eval()  # no dropout: the state is a function of the clicks
    order = session_order(TOY, shuffle=False, seed=0, epoch=0)
    prefixes = [[[1], [4]], [[1, 2], [7]], [[11], [7, 8]]]  # what each row has seen at each step
    with torch.no_grad():
        for batch, rows in zip(session_parallel_batches(TOY, order, 2), prefixes, strict=True):
            carried = module.step_state(batch)
            _, expected = module.encoder(
                module.items[batch_from_lists(rows, create("gru4rec").batch_spec).items],
                torch.tensor([len(r) for r in rows]),
            )
            torch.testing.assert_close(carried, expected)
    # row 0 at step 3 started [11 12] from 0, not from the state of [1 2]
    with torch.no_grad():
        _, continued = module.encoder(module.items[torch.tensor([[1, 2, 11]])], torch.tensor([3]))
    assert not torch.allclose(carried[0], continued[0])


def test_eval_scores_run_the_gru_over_the_whole_prefix() -> None:
    module = tiny_module().eval()
    batch = batch_from_lists([[1, 2], [7, 8, 9]], create("gru4rec").batch_spec)
    with torch.no_grad():
        _, state = module.encoder(module.items[batch.items], batch.lengths)
        expected = torch.nn.functional.elu(state @ module.items[1:].T + module.bias[1:, 0])
        torch.testing.assert_close(module(batch), expected)


def test_bpr_max_on_a_toy_batch_equals_hand_computation() -> None:
    scores = torch.tensor([[2.0, 0.0, 1.0], [0.5, 1.0, -1.0]])
    positive = torch.tensor([0, 1])
    sigmoid = lambda x: 1 / (1 + math.exp(-x))  # noqa: E731
    # row 0: target 2, negatives (0, 1): s = softmax(0, 1) = (0.268941, 0.731059)
    s0 = (1 / (1 + math.e), math.e / (1 + math.e))
    row0 = -math.log(s0[0] * sigmoid(2.0) + s0[1] * sigmoid(1.0)) + 0.5 * (s0[0] * 0.0 + s0[1] * 1.0)
    # row 1: target 1, negatives (0.5, -1): s = softmax(0.5, -1) = (0.817574, 0.182426)
    s1 = (1 / (1 + math.exp(-1.5)), math.exp(-1.5) / (1 + math.exp(-1.5)))
    row1 = -math.log(s1[0] * sigmoid(0.5) + s1[1] * sigmoid(2.0)) + 0.5 * (s1[0] * 0.25 + s1[1] * 1.0)
    assert row0 == pytest.approx(0.625169, abs=1e-6) and row1 == pytest.approx(0.594504, abs=1e-6)
    assert bpr_max_loss(scores, positive, bpreg=0.5).item() == pytest.approx((row0 + row1) / 2, abs=1e-6)


def test_sampled_cross_entropy_with_log_q_on_a_toy_batch_equals_hand_computation() -> None:
    # candidates: the batch's two targets, then one shared negative; row b's target is column b
    scores = torch.tensor([[1.0, 0.0, 2.0], [0.0, 3.0, 1.0]])
    log_q = torch.log(torch.tensor([0.5, 0.25, 0.25]))
    plain = [-1.0 + math.log(math.e + 1 + math.e**2), -3.0 + math.log(1 + math.e**3 + math.e)]
    assert sampled_cross_entropy(scores, torch.tensor([0, 1])).item() == pytest.approx(
        sum(plain) / 2, abs=1e-6
    )
    # logq = 1: scores - log q = (1 + log 2, log 4, 2 + log 4) and (log 2, 3 + log 4, 1 + log 4)
    row0 = -(1 + math.log(2)) + math.log(2 * math.e + 4 + 4 * math.e**2)
    row1 = -(3 + math.log(4)) + math.log(2 + 4 * math.e**3 + 4 * math.e)
    got = sampled_cross_entropy(scores, torch.tensor([0, 1]), log_q, logq=1.0).item()
    assert got == pytest.approx((row0 + row1) / 2, abs=1e-6)


def test_training_loss_scores_the_batch_targets_then_the_shared_negatives(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    module = tiny_module(
        loss="cross-entropy", final_activation="linear", embedding_dropout=0.0, hidden_dropout=0.0
    )
    with torch.no_grad():  # a GRU whose output is tanh(b_n) = (0.5, -0.5, 0) whatever its input
        for parameter in module.encoder.parameters():
            parameter.zero_()
        module.encoder.gru.bias_ih_l0[3:6] = -100.0  # z = 0: h' = n
        module.encoder.gru.bias_ih_l0[6:9] = torch.atanh(torch.tensor([0.5, -0.5, 0.0]))
        module.items.zero_()
        module.items[2] = torch.tensor([2.0, 0.0, 0.0])  # score 1
        module.items[5] = torch.tensor([0.0, -2.0, 0.0])  # score 1
        module.items[9] = torch.tensor([2.0, 2.0, 0.0])  # score 0
        module.bias[9] = 3.0  # score 3
    monkeypatch.setattr(gru4rec, "draw", lambda cdf, n: torch.tensor([9, 1]))
    batch = next(iter(session_parallel_batches(TOY, session_order(TOY, False, 0, 0), 2)))  # targets 2, 5
    # candidates (2, 5, 9, 1) score (1, 1, 3, 0) in both rows; row 0's target is column 0, row 1's column 1
    expected = -1.0 + math.log(2 * math.e + math.e**3 + 1)
    assert module.training_loss(batch).item() == pytest.approx(expected, abs=1e-5)


def test_popularity_sampler_probabilities_and_draws() -> None:
    probabilities = sampling_probabilities(np.array([7, 4, 1, 0, 9]), alpha=0.5)  # padding's count ignored
    np.testing.assert_allclose(probabilities, [0.0, 2 / 6, 1 / 6, 0.0, 3 / 6])  # sqrt(4, 1, 0, 9) / 6
    torch.manual_seed(0)
    draws = draw(torch.from_numpy(sampling_cdf(probabilities)), 60000)
    assert set(draws.unique().tolist()) == {1, 2, 4}  # never padding, never an unclicked item
    shares = torch.bincount(draws, minlength=5).double() / len(draws)
    np.testing.assert_allclose(shares.numpy(), probabilities, atol=0.01)


def test_adagrad_nesterov_dense_step_by_hand_and_sparse_rows_alone() -> None:
    dense = torch.nn.Parameter(torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]))
    sparse = torch.nn.Parameter(dense.detach().clone())
    optimizers = [AdagradNesterov([p], lr=0.1, momentum=0.5, eps=1e-12) for p in (dense, sparse)]
    first = torch.tensor([[1.0, 0.0], [1.0, 0.0], [2.0, -1.0]])  # every row
    second = torch.tensor([[3.0, 0.0], [0.0, 0.0], [0.0, 1.0]])  # rows 0 and 2 only
    for grad, rows in ((first, torch.tensor([0, 1, 2])), (second, torch.tensor([0, 2]))):
        dense.grad = grad.clone()
        sparse.grad = torch.sparse_coo_tensor(
            rows.unsqueeze(0), grad[rows], grad.shape, check_invariants=True
        )
        for optimizer in optimizers:
            optimizer.step()
    # entry (0, 0): G = 1, u = 1, v = -0.1, p = 1 + 0.5 v - 0.1 u = 0.85; then G = 10,
    # u = 3 / sqrt(10), v = 0.5 (-0.1) - 0.1 u, p = 0.85 + 0.5 v - 0.1 u
    u = 3 / math.sqrt(10)
    v = -0.05 - 0.1 * u
    assert dense[0, 0].item() == pytest.approx(0.85 + 0.5 * v - 0.1 * u, abs=1e-6)
    torch.testing.assert_close(sparse.data[[0, 2]], dense.data[[0, 2]])
    # row 1 after step 1: 3 - 0.05 - 0.1 = 2.85. Step 2 leaves it alone when sparse; the dense
    # form decays its velocity to -0.05 and moves it by 0.5 x -0.05
    assert sparse[1, 0].item() == pytest.approx(2.85, abs=1e-6)
    assert dense[1, 0].item() == pytest.approx(2.825, abs=1e-6)


def test_training_counts_session_parallel_events() -> None:
    data = synthetic_dataset()
    model = create("gru4rec", **{**FAST, "epochs": 1})
    assert isinstance(model, gru4rec.GRU4Rec)
    model.fit(data.train)
    events = int((data.train.sessions.lengths - 1).clip(min=0).sum())
    batches = model.n_training_batches(data.train)
    assert batches == n_session_parallel_batches(data.train.sessions, model._order(data.train, 0), 32)
    # 32 rows per batch, and fewer events than the log holds (the tail of the last sessions)
    assert events - 32 * 8 < 32 * batches <= events


class Interrupted(Exception):
    pass


def test_a_run_interrupted_mid_epoch_resumes_with_the_carried_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = synthetic_dataset()
    config = {**FAST, "epochs": 2}
    whole = create("gru4rec", **config).fit(data.train)
    per_epoch = n_session_parallel_batches(
        data.train.sessions, session_order(data.train.sessions, False, 0, 0), 32
    )
    original, calls = Trainer.step, [0]

    def step(self: Trainer, *args: object) -> torch.Tensor:
        calls[0] += 1
        if calls[0] == per_epoch + 5:  # the fifth batch of epoch 1: four are checkpointed
            raise Interrupted
        return original(self, *args)  # type: ignore[arg-type]

    def resumed_weights(tag: str) -> dict[str, torch.Tensor]:
        calls[0] = 0
        model = create("gru4rec", **config)
        run = start_run(tmp_path / tag, model, data.manifest)
        monkeypatch.setattr(Trainer, "step", step)
        with pytest.raises(Interrupted):
            model.fit(data.train, None, TrainerOptions(run=run, checkpoint_minutes=0))
        monkeypatch.setattr(Trainer, "step", original)
        payload = torch.load(run.checkpoint_path, weights_only=True)
        assert payload["partial"]["batches"] == 4 and payload["epoch_hook"]["hidden"].shape == (32, 32)
        again = create("gru4rec", **config).fit(data.train, None, TrainerOptions(run=run, resume=True))
        assert again.module_ is not None
        return again.module_.state_dict()

    assert whole.module_ is not None
    expected = whole.module_.state_dict()
    weights = resumed_weights("run")
    assert all(torch.equal(expected[k], weights[k]) for k in expected)  # bit for bit
    # the carried state matters: resuming without it (rows restarted from 0) ends elsewhere
    monkeypatch.setattr(GRU4RecModule, "load_epoch_hook_state", lambda self, state: None)
    weights = resumed_weights("stateless")
    assert not all(torch.equal(expected[k], weights[k]) for k in expected)
