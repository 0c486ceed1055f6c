r"""LGSR's session aggregation layer (Eq. 9): attention over the self-attention outputs.

.. math::
    a_i = \mathrm{softmax}_{i\ \mathrm{real}}\big(v^\top g(W_1 f_t + W_2 f_i)\big),\qquad
    s_l = \textstyle\sum_i a_i f_i

with f_t the output at the session's last real position. The official code has no biases
and g = Keras' ``hard_sigmoid``, clip(0.2 x + 0.5, 0, 1) (``activation="hard_sigmoid"``,
the default); the paper writes the logistic sigmoid (``"sigmoid"``). Shapes: states
[B, L, d], mask [B, L], last [B, d] -> s_l [B, d], the states packed to the real positions as [T, d] rows
(``states[mask]``, ``nn.causal_attention``); ``weights`` gives a [B, L] (0 on padding).
"""

from __future__ import annotations

import torch
from torch import nn


def hard_sigmoid(x: torch.Tensor) -> torch.Tensor:
    """Keras' piecewise-linear sigmoid: clip(0.2 x + 0.5, 0, 1)."""
    return (0.2 * x + 0.5).clamp(0.0, 1.0)


class HardAttentionReadout(nn.Module):
    def __init__(self, dim: int, activation: str = "hard_sigmoid") -> None:
        super().__init__()
        if activation not in ("hard_sigmoid", "sigmoid"):
            raise ValueError(f"activation must be hard_sigmoid or sigmoid, got {activation!r}")
        self.activation = hard_sigmoid if activation == "hard_sigmoid" else torch.sigmoid
        self.w_last = nn.Linear(dim, dim, bias=False)
        self.w_item = nn.Linear(dim, dim, bias=False)
        self.v = nn.Linear(dim, 1, bias=False)

    def weights(self, tokens: torch.Tensor, mask: torch.Tensor, last: torch.Tensor) -> torch.Tensor:
        """a [B, L] from the packed states ``tokens`` [T, d] (``states[mask]``), 0 on padding."""
        session = mask.nonzero()[:, 0]  # the session of each packed row
        logits = self.v(self.activation(self.w_last(last)[session] + self.w_item(tokens))).squeeze(1)
        padded = logits.new_full(mask.shape, float("-inf"))
        padded[mask] = logits
        return torch.softmax(padded, dim=1)

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor, last: torch.Tensor) -> torch.Tensor:
        """s_l [B, d] from the packed states [T, d]."""
        alpha = self.weights(tokens, mask, last)[mask]
        pooled = tokens.new_zeros(mask.shape[0], tokens.shape[1])
        return pooled.index_add_(0, mask.nonzero()[:, 0], alpha[:, None] * tokens)
