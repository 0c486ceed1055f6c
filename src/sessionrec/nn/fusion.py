"""Fusion gate of two session representations (I3GN Eq. 12, after CSRM)."""

from __future__ import annotations

import torch
from torch import nn


class FusionGate(nn.Module):
    r"""Element-wise gate between two session vectors.

    .. math::
        f = \sigma(W_1 a + W_2 b + c), \qquad s = f \odot a + (1 - f) \odot b

    I3GN uses a = s_inter, b = s_intra. Shapes: a, b [B, d] -> [B, d].
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.linear_a = nn.Linear(dim, dim, bias=False)
        self.linear_b = nn.Linear(dim, dim)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.linear_a.reset_parameters()
        self.linear_b.reset_parameters()

    def gate(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.linear_a(a) + self.linear_b(b))

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        f = self.gate(a, b)
        return b + f * (a - b)
