"""DHCN's hypergraph channel: convolution over every item (Xia et al. 2021, Eq. 3-4; notes 5.9)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn


def _product(operator: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``operator @ x`` written straight into a fresh buffer (``beta=0``: never read).

    ``operator @ x`` allocates a zero-filled result and copies it before the sparse
    kernel adds into it: two passes over [N, d] that this form skips (same values).
    """
    out = torch.empty((operator.shape[0], x.shape[1]), dtype=x.dtype, device=x.device)
    return torch.addmm(out, operator, x, beta=0.0, out=out)


class _SparseProduct(torch.autograd.Function):
    """A X with a fixed sparse A, backward A^T G (both CSR: no transpose is built per step)."""

    @staticmethod
    def forward(ctx: Any, operator: torch.Tensor, transposed: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        ctx.transposed = transposed
        return _product(operator, x.contiguous())

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[None, None, torch.Tensor]:
        return None, None, _product(ctx.transposed, grad.contiguous())


class _Rows(torch.autograd.Function):
    """x[order] for a permutation ``order`` with inverse ``inverse``; backward grad[inverse]."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, order: torch.Tensor, inverse: torch.Tensor) -> torch.Tensor:
        ctx.inverse = inverse
        return x.index_select(0, order)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        return grad.index_select(0, ctx.inverse), None, None  # a gather, not index_select's scatter


def permute_rows(x: torch.Tensor, order: torch.Tensor, inverse: torch.Tensor) -> torch.Tensor:
    """``x[order]`` for a permutation (``inverse[order] = arange``), differentiable in ``x``."""
    return _Rows.apply(x, order, inverse)


def sparse_product(operator: torch.Tensor, transposed: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``operator @ x`` [N, N] x [N, d], differentiable in ``x``; ``transposed`` = operator^T."""
    return _SparseProduct.apply(operator, transposed, x)


class HyperConv(nn.Module):
    r"""Hypergraph convolution without weights or nonlinearity, averaged over layers.

    .. math::
        X^{(l+1)} = A X^{(l)},\qquad X_h = \tfrac{1}{L+1} \textstyle\sum_{l=0}^{L} X^{(l)}

    with :math:`A = D^{-1} H B^{-1} H^\top` (``graphs.hypergraph``). The operator is passed
    as ``step``, a callable X -> A X (``sparse_product`` with the fixed operator, or one that
    adds a batch's hyperedges on the fly). Shapes: embedding [N + 1, d] -> [N + 1, d].
    """

    def __init__(self, layers: int) -> None:
        super().__init__()
        self.layers = layers

    def reset_parameters(self) -> None:
        pass

    def forward(self, embedding: torch.Tensor, step: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        total, x = embedding, embedding
        for _ in range(self.layers):
            x = step(x)
            total = total + x
        return total / (self.layers + 1)
