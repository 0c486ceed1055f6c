"""Soft-attention readout with reverse position embeddings (GCE-GNN Eq. 11-13; DHCN Eq. 5-6)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

MAX_POSITIONS = 200  # the official codes' position table


class ReversePositionReadout(nn.Module):
    r"""Session vector from the item states of a session, its last click at position 1.

    For a session of length :math:`l` with states :math:`h_1..h_l` and reverse positions
    :math:`p_i = P[l - i]` (the last click has row 0):

    .. math::
        z_i = \tanh(W_1 [p_i ; h_i]),\qquad \bar h = \tfrac1l \textstyle\sum_i h_i,\qquad
        \beta_i = w_2^\top \sigma(W_{g1} z_i + b_g + W_{g2} \bar h),\qquad
        S = \textstyle\sum_i \beta_i h_i

    with no softmax over :math:`\beta` and no bias in :math:`W_1`, as in both official
    codes. ``positions=False`` drops the position term, :math:`z_i = \tanh(h_i)` (DHCN's
    Tmall variant). Positions beyond the table's 200 share its last row (the official
    codes fail there). Shapes: states [B, L, d], mask [B, L], lengths [B] -> [B, d].
    """

    def __init__(self, dim: int, positions: bool = True) -> None:
        super().__init__()
        self.position = nn.Embedding(MAX_POSITIONS, dim) if positions else None
        self.w_1 = nn.Parameter(torch.empty(2 * dim, dim)) if positions else None
        self.w_2 = nn.Parameter(torch.empty(dim, 1))
        self.glu1 = nn.Linear(dim, dim)
        self.glu2 = nn.Linear(dim, dim, bias=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = self.w_2.shape[0] ** -0.5
        for parameter in self.parameters():
            nn.init.uniform_(parameter, -bound, bound)

    def forward(self, states: torch.Tensor, mask: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        weight = mask.to(states.dtype).unsqueeze(2)
        mean = (states * weight).sum(1) / lengths.clamp(min=1).to(states.dtype).unsqueeze(1)
        if self.position is not None and self.w_1 is not None:
            cols = torch.arange(states.shape[1], device=states.device)
            reverse = (lengths.unsqueeze(1) - 1 - cols).clamp(0, MAX_POSITIONS - 1)
            dim = states.shape[2]
            # W_1 [p; h] = W_1[:d] p + W_1[d:] h; the position part is one small table product
            positions = (self.position.weight @ self.w_1[:dim])[reverse]
            z = torch.tanh(positions + states @ self.w_1[dim:])
        else:
            z = torch.tanh(states)
        gate = torch.sigmoid(self.glu1(z) + self.glu2(mean).unsqueeze(1))
        # F.linear, not ``@ w_2``: its weight gradient avoids a slow transposed matrix-vector product
        beta = F.linear(gate, self.w_2.t()) * weight
        return (beta * states).sum(1)
