"""Softmax cross-entropy over every item, with a backward that works in place.

``F.cross_entropy`` on [B, N] scores (N = 43,097 on Diginetica) runs, in its backward,
a zero-filled [B, N] gradient for the NLL step and a separate log-softmax backward
that reads two [B, N] tensors and writes a third. Here the forward keeps the
log-probabilities it computes anyway, and the backward turns them into the gradient
``(softmax - onehot) / B`` in place: two passes over one buffer instead of four
buffers. Same value and gradient as ``F.cross_entropy(scores, targets)`` (mean
reduction); the graph can be backpropagated once (no ``retain_graph``).
"""

from __future__ import annotations

from typing import Any

import torch


class _SoftmaxCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, scores: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        log_probs = torch.log_softmax(scores, dim=1)
        ctx.save_for_backward(log_probs, targets)
        return -log_probs.gather(1, targets.unsqueeze(1)).mean()

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        log_probs, targets = ctx.saved_tensors
        gradient = log_probs.exp_()  # softmax, in the buffer the forward made
        rows = torch.arange(len(targets), device=targets.device)
        gradient[rows, targets] -= 1.0
        return gradient.mul_(grad / len(targets)), None


def softmax_cross_entropy(scores: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of ``scores`` [B, N] against class indices ``targets`` [B] (0-based)."""
    return _SoftmaxCrossEntropy.apply(scores, targets)
