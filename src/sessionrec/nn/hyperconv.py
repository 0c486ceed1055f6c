"""DHCN's two channels: hypergraph convolution over items, line-graph convolution over a batch's
sessions, and the self-supervised term tying them (Xia et al. 2021, Eq. 3-4, 7-10; notes 5.9)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


class _SparseProduct(torch.autograd.Function):
    """A X with a fixed sparse A, backward A^T G (both CSR: no transpose is built per step)."""

    @staticmethod
    def forward(ctx: Any, operator: torch.Tensor, transposed: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        ctx.transposed = transposed
        return operator @ x

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[None, None, torch.Tensor]:
        return None, None, ctx.transposed @ grad


def sparse_product(operator: torch.Tensor, transposed: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``operator @ x`` [N, N] x [N, d], differentiable in ``x``; ``transposed`` = operator^T."""
    return _SparseProduct.apply(operator, transposed, x)


class HyperConv(nn.Module):
    r"""Hypergraph convolution without weights or nonlinearity, averaged over layers.

    .. math::
        X^{(l+1)} = A X^{(l)},\qquad X_h = \tfrac{1}{L+1} \textstyle\sum_{l=0}^{L} X^{(l)}

    with :math:`A = D^{-1} H B^{-1} H^\top` (``graphs.hypergraph``). ``extra`` (optional),
    for batch hyperedges added on the fly: a callable giving, for :math:`X^{(l)}`, the
    next layer in place of :math:`A X^{(l)}`. Shapes: embedding [N + 1, d] -> [N + 1, d].
    """

    def __init__(self, layers: int) -> None:
        super().__init__()
        self.layers = layers

    def reset_parameters(self) -> None:
        pass

    def forward(self, embedding: torch.Tensor, step: Any) -> torch.Tensor:
        total, x = embedding, embedding
        for _ in range(self.layers):
            x = step(x)
            total = total + x
        return total / (self.layers + 1)


class LineConv(nn.Module):
    r"""Line-graph convolution over the sessions of a batch.

    .. math::
        \Theta^{(0)}_b = \tfrac{1}{l_b} \textstyle\sum_t e_{s_{b,t}},\qquad
        \Theta^{(l+1)} = \hat D^{-1} \hat A\, \Theta^{(l)},\qquad
        \theta_l = \tfrac{1}{L+1} \textstyle\sum_{l=0}^{L} \Theta^{(l)}

    with :math:`\hat A = \mathrm{Jaccard} + I` and :math:`\hat D` its row sums
    (``data.batching.line_graph``). Shapes: start [B, d], line_graph [B, B] -> [B, d].
    """

    def __init__(self, layers: int) -> None:
        super().__init__()
        self.layers = layers

    def reset_parameters(self) -> None:
        pass

    def forward(self, start: torch.Tensor, line_graph: torch.Tensor) -> torch.Tensor:
        total, x = start, start
        for _ in range(self.layers):
            x = line_graph @ x
            total = total + x
        return total / (self.layers + 1)


def ssl_loss(hyper: torch.Tensor, line: torch.Tensor) -> torch.Tensor:
    r"""DHCN's contrastive term, summed over the batch (Eq. 10, as the official code computes it).

    .. math::
        \sum_b -\log(10^{-8} + \sigma(\theta^h_b \cdot \theta^l_b))
               -\log(10^{-8} + 1 - \sigma(\theta^l_b \cdot \tilde\theta^h_b))

    where :math:`\tilde\theta^h` is :math:`\theta^h` with its rows and then its columns
    randomly permuted (the official corruption). Shapes: [B, d], [B, d] -> scalar.
    """
    rows = torch.randperm(hyper.shape[0], device=hyper.device)
    cols = torch.randperm(hyper.shape[1], device=hyper.device)
    corrupted = hyper[rows][:, cols]
    positive = (hyper * line).sum(1)
    negative = (line * corrupted).sum(1)
    eps = 1e-8
    return (-torch.log(eps + torch.sigmoid(positive)) - torch.log(eps + 1 - torch.sigmoid(negative))).sum()
