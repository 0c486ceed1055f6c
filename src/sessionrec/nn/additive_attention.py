r"""NARM's attention over a GRU's outputs (Li et al. 2017, its local encoder; CSRM's inner memory).

.. math::
    q_{tj} = v^\top g(A_1 h_t + A_2 h_j),\qquad
    \alpha_{tj} = \mathrm{softmax}_j(q_{tj})\ \text{(real positions only)},\qquad
    c_t = \textstyle\sum_j \alpha_{tj} h_j

``h_t`` is the last state, ``h_j`` the state at position j; A_1, A_2 in R^{a x h} and v in
R^a have no biases. ``activation``: g = "sigmoid" (the paper's sigma) or "hard_sigmoid"
(Theano's clip(0.2 x + 0.5, 0, 1), the official NARM code). ``softmax=True`` normalises
alpha over the session's real positions (both official codes); ``False`` keeps the raw
q_tj on real positions (the paper as printed). Padded positions get weight 0 either way.
Shapes: states [B, L, h], mask [B, L], last [B, h] -> [B, h].
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from sessionrec.nn.importance import masked_softmax


def theano_hard_sigmoid(x: torch.Tensor) -> torch.Tensor:
    """clip(0.2 x + 0.5, 0, 1), Theano's ``hard_sigmoid`` (torch's has slope 1/6)."""
    return (0.2 * x + 0.5).clamp(0.0, 1.0)


class AdditiveAttention(nn.Module):
    def __init__(
        self,
        dim: int,
        attention_dim: int | None = None,
        activation: Literal["sigmoid", "hard_sigmoid"] = "sigmoid",
        softmax: bool = True,
    ) -> None:
        super().__init__()
        if activation not in ("sigmoid", "hard_sigmoid"):
            raise ValueError(f"activation must be sigmoid or hard_sigmoid, got {activation!r}")
        width = attention_dim or dim
        self.activation, self.softmax = activation, softmax
        self.a1 = nn.Linear(dim, width, bias=False)  # applied to the last state h_t
        self.a2 = nn.Linear(dim, width, bias=False)  # applied to every state h_j
        self.v = nn.Linear(width, 1, bias=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for layer in (self.a1, self.a2, self.v):
            layer.reset_parameters()

    def weights(self, states: torch.Tensor, mask: torch.Tensor, last: torch.Tensor) -> torch.Tensor:
        """alpha [B, L], 0 on padding."""
        hidden = self.a2(states) + self.a1(last).unsqueeze(1)
        gated = theano_hard_sigmoid(hidden) if self.activation == "hard_sigmoid" else torch.sigmoid(hidden)
        logits = self.v(gated).squeeze(2)
        if self.softmax:
            return masked_softmax(logits, mask)
        return logits * mask

    def forward(self, states: torch.Tensor, mask: torch.Tensor, last: torch.Tensor) -> torch.Tensor:
        alpha = self.weights(states, mask, last)
        return torch.bmm(alpha.unsqueeze(1), states).squeeze(1)
