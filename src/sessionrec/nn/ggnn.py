"""Gated graph neural network cell over session graphs (SR-GNN, Wu et al. 2019, Eq. 1-5)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class GGNNCell(nn.Module):
    r"""SR-GNN's gated graph cell, repeated ``steps`` times.

    For node states :math:`H \in \mathbb{R}^{B \times U \times d}` and row-normalised
    adjacencies :math:`A^{in}, A^{out} \in \mathbb{R}^{B \times U \times U}`:

    .. math::
        a = [A^{in}(H W_{in} + b_{in}) + b_{iah} \,;\, A^{out}(H W_{out} + b_{out}) + b_{oah}]

        r = \sigma(W_r a + U_r h),\quad z = \sigma(W_z a + U_z h),\quad
        n = \tanh(W_n a + r \odot U_n h),\quad h' = n + z \odot (h - n)

    which is Eq. 1-5 of the paper with the update gate's convention flipped, as in the
    official PyTorch code (equivalent). Shapes: hidden [B, U, d] -> [B, U, d].
    """

    def __init__(self, dim: int, steps: int = 1) -> None:
        super().__init__()
        self.dim, self.steps = dim, steps
        self.linear_in = nn.Linear(dim, dim)
        self.linear_out = nn.Linear(dim, dim)
        self.bias_iah = nn.Parameter(torch.empty(dim))
        self.bias_oah = nn.Parameter(torch.empty(dim))
        self.w_ih = nn.Parameter(torch.empty(3 * dim, 2 * dim))
        self.w_hh = nn.Parameter(torch.empty(3 * dim, dim))
        self.b_ih = nn.Parameter(torch.empty(3 * dim))
        self.b_hh = nn.Parameter(torch.empty(3 * dim))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = self.dim**-0.5
        for parameter in self.parameters():
            nn.init.uniform_(parameter, -bound, bound)

    def step(self, hidden: torch.Tensor, adj_in: torch.Tensor, adj_out: torch.Tensor) -> torch.Tensor:
        a_in = torch.bmm(adj_in, self.linear_in(hidden)) + self.bias_iah
        a_out = torch.bmm(adj_out, self.linear_out(hidden)) + self.bias_oah
        gate_input = F.linear(torch.cat([a_in, a_out], dim=2), self.w_ih, self.b_ih)
        gate_hidden = F.linear(hidden, self.w_hh, self.b_hh)
        i_r, i_z, i_n = gate_input.chunk(3, dim=2)
        h_r, h_z, h_n = gate_hidden.chunk(3, dim=2)
        reset = torch.sigmoid(i_r + h_r)
        update = torch.sigmoid(i_z + h_z)
        new = torch.tanh(i_n + reset * h_n)
        return new + update * (hidden - new)

    def forward(self, hidden: torch.Tensor, adj_in: torch.Tensor, adj_out: torch.Tensor) -> torch.Tensor:
        for _ in range(self.steps):
            hidden = self.step(hidden, adj_in, adj_out)
        return hidden
