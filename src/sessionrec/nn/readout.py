"""Attentive readout of a session's item states (SR-GNN Eq. 6-7; TAGNN Eq. 8)."""

from __future__ import annotations

import torch
from torch import nn


class SoftAttentionReadout(nn.Module):
    r"""Global session vector from the states of the session's positions.

    .. math::
        \alpha_i = q^\top \sigma(W_1 h_{last} + W_2 h_i + c),\qquad
        s_g = \textstyle\sum_i \alpha_i h_i \quad (\text{real positions only})

    SR-GNN applies no softmax to :math:`\alpha`. The official TAGNN code applies a
    softmax over the padded sequence dimension, letting padded positions take part
    (``softmax="padded"``); ``softmax="masked"`` excludes them (the paper's reading).
    Shapes: states [B, L, d], mask [B, L], last [B, d] -> [B, d].
    """

    def __init__(self, dim: int, softmax: str = "none") -> None:
        super().__init__()
        if softmax not in ("none", "padded", "masked"):
            raise ValueError(f"softmax must be none, padded or masked, got {softmax!r}")
        self.softmax = softmax
        self.linear_one = nn.Linear(dim, dim)
        self.linear_two = nn.Linear(dim, dim)
        self.linear_three = nn.Linear(dim, 1, bias=False)

    def attention(self, states: torch.Tensor, mask: torch.Tensor, last: torch.Tensor) -> torch.Tensor:
        """Weights [B, L] (zero on padding)."""
        logits = self.linear_three(torch.sigmoid(self.linear_one(last)[:, None, :] + self.linear_two(states)))
        logits = logits.squeeze(2)
        if self.softmax == "padded":
            logits = torch.softmax(logits, dim=1)
        elif self.softmax == "masked":
            logits = torch.softmax(logits.masked_fill(~mask, float("-inf")), dim=1)
        return logits * mask

    def forward(self, states: torch.Tensor, mask: torch.Tensor, last: torch.Tensor) -> torch.Tensor:
        weights = self.attention(states, mask, last)
        return torch.bmm(weights.unsqueeze(1), states).squeeze(1)
