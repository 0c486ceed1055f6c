"""FPMC and BPR-MF: contract entries, the BPR loss and each model's training loss by hand."""

from __future__ import annotations

import math

import pytest
import torch

from sessionrec.data.batching import Batch, batch_from_lists
from sessionrec.models import factorization
from sessionrec.models.factorization import BPRMFModule, FPMCModule
from sessionrec.models.registry import create
from sessionrec.nn.bpr import bpr_loss, uniform_negatives

FAST = {"embedding_dim": 16, "batch_size": 32, "epochs": 10, "lr": 0.02, "negatives": 4}
CONTRACT = {
    "fpmc": {"overrides": FAST, "pattern_metric": "HR@5", "pattern_threshold": 80.0},
    # BPR-MF scores by the mean of the prefix's items, without order: it cannot tell k + 1
    # from k - 1 after k, so the k -> k + 1 rule is out of its reach
    "bprmf": {"overrides": FAST, "pattern_metric": None},
}


def softplus(x: float) -> float:
    return math.log1p(math.exp(x))


def test_bpr_loss_on_a_toy_batch_equals_hand_computation() -> None:
    positive = torch.tensor([2.0, 0.0])
    negative = torch.tensor([[1.0, 3.0], [0.0, -1.0]])
    # -log sigmoid(x_i - x_j) = softplus(x_j - x_i): softplus(-1), softplus(1), softplus(0), softplus(-1)
    expected = (softplus(-1) + softplus(1) + softplus(0) + softplus(-1)) / 4  # 0.658233
    assert bpr_loss(positive, negative).item() == pytest.approx(expected, abs=1e-6)
    assert expected == pytest.approx(0.658233, abs=1e-6)


def test_uniform_negatives_never_draw_padding() -> None:
    torch.manual_seed(0)
    draws = uniform_negatives(5, 200, 3, torch.device("cpu"))
    assert draws.shape == (200, 3) and draws.min() == 1 and draws.max() == 5


def toy_batch() -> Batch:
    batch = batch_from_lists([[2, 1]], create("fpmc").batch_spec)
    return Batch(batch.items, batch.lengths, torch.tensor([3]))


def test_fpmc_training_loss_equals_hand_computation(monkeypatch: pytest.MonkeyPatch) -> None:
    module = FPMCModule(3, create("fpmc", embedding_dim=2, negatives=1, l2=0.1).config)  # type: ignore[arg-type]
    with torch.no_grad():
        module.last.weight.copy_(torch.tensor([[0.0, 0.0], [1.0, 2.0], [9.0, 9.0], [0.0, 0.0]]))
        module.target.weight.copy_(torch.tensor([[0.0, 0.0], [0.0, 0.0], [0.0, 1.0], [0.5, 0.0]]))
    monkeypatch.setattr(factorization, "uniform_negatives", lambda *args: torch.tensor([[2]]))
    # prefix (2, 1): last click 1, V^IL_1 = (1, 2); positive 3: V^LI_3 = (0.5, 0), x = 0.5;
    # negative 2: V^LI_2 = (0, 1), x = 2. BPR: softplus(2 - 0.5) = 1.701413;
    # l2 0.1 x (|(1, 2)|^2 + |(0.5, 0)|^2 + |(0, 1)|^2) = 0.1 x 6.25 = 0.625
    loss = module.training_loss(toy_batch())
    assert loss.item() == pytest.approx(softplus(1.5) + 0.625, abs=1e-6)
    module.eval()
    torch.testing.assert_close(module(toy_batch()), torch.tensor([[0.0, 2.0, 0.5]]))


def test_bprmf_session_vector_is_the_mean_of_its_items(monkeypatch: pytest.MonkeyPatch) -> None:
    module = BPRMFModule(3, create("bprmf", embedding_dim=2, l2=0.0).config)  # type: ignore[arg-type]
    with torch.no_grad():
        module.target.weight.copy_(torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 3.0], [2.0, 1.0]]))
    monkeypatch.setattr(factorization, "uniform_negatives", lambda *args: torch.tensor([[1]]))
    # session (2, 1): mean of (0, 3) and (1, 0) = (0.5, 1.5); x_3 = 1 + 1.5 = 2.5, x_1 = 0.5
    loss = module.training_loss(toy_batch())
    assert loss.item() == pytest.approx(softplus(0.5 - 2.5), abs=1e-6)
    module.eval()
    torch.testing.assert_close(module(toy_batch()), torch.tensor([[0.5, 4.5, 2.5]]))
