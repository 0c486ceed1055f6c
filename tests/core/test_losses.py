"""The in-place softmax cross-entropy equals torch's, in value and gradient."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from sessionrec.nn.losses import softmax_cross_entropy


def test_value_and_gradient_equal_torch_cross_entropy() -> None:
    torch.manual_seed(0)
    scores = (torch.randn(6, 40, dtype=torch.float64) * 5).requires_grad_()
    targets = torch.tensor([0, 39, 5, 5, 17, 2])
    ours = softmax_cross_entropy(scores * 2, targets)  # through another op, as in a model
    (ours * 3).backward()
    mine = scores.grad.clone()
    scores.grad = None
    reference = F.cross_entropy(scores * 2, targets)
    (reference * 3).backward()
    torch.testing.assert_close(ours, reference)
    torch.testing.assert_close(mine, scores.grad)


def test_large_logits_stay_finite() -> None:
    big = torch.tensor([[1e4, -1e4, 0.0]], requires_grad=True)
    loss = softmax_cross_entropy(big, torch.tensor([1]))
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(big.grad).all()
    torch.testing.assert_close(loss, torch.tensor(2e4))
    torch.testing.assert_close(big.grad, torch.tensor([[1.0, -1.0, 0.0]]))


def test_a_second_backward_through_the_same_graph_is_refused() -> None:
    scores = torch.randn(2, 5, requires_grad=True)
    loss = softmax_cross_entropy(scores * 1.0, torch.tensor([0, 4]))
    loss.backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        loss.backward()
