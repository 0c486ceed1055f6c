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
    The official code pads to the dataset's longest prefix: pass ``pad_count`` [B] and
    the padding node's state ``pad_state`` [d] to count that many phantom positions in
    the softmax denominator without materialising them (they add nothing to the sum).
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

    def attention(
        self,
        states: torch.Tensor,
        mask: torch.Tensor,
        last: torch.Tensor,
        pad_count: torch.Tensor | None = None,
        pad_state: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Weights [B, L] (zero on padding)."""
        query = self.linear_one(last)[:, None, :]
        logits = self.linear_three(torch.sigmoid(query + self.linear_two(states))).squeeze(2)
        if self.softmax == "padded" and pad_count is not None and pad_state is not None:
            pad_logit = self.linear_three(torch.sigmoid(query[:, 0] + self.linear_two(pad_state))).squeeze(1)
            return phantom_softmax(logits, mask, pad_count, pad_logit)
        if self.softmax == "padded":
            logits = torch.softmax(logits, dim=1)
        elif self.softmax == "masked":
            logits = torch.softmax(logits.masked_fill(~mask, float("-inf")), dim=1)
        return logits * mask

    def forward(
        self,
        states: torch.Tensor,
        mask: torch.Tensor,
        last: torch.Tensor,
        pad_count: torch.Tensor | None = None,
        pad_state: torch.Tensor | None = None,
    ) -> torch.Tensor:
        weights = self.attention(states, mask, last, pad_count, pad_state)
        return torch.bmm(weights.unsqueeze(1), states).squeeze(1)


def phantom_softmax(
    logits: torch.Tensor, mask: torch.Tensor, pad_count: torch.Tensor, pad_logit: torch.Tensor
) -> torch.Tensor:
    """Softmax over the real positions plus ``pad_count`` phantom positions of logit ``pad_logit``.

    Returns the weights of the real positions [B, L] (zero where ``mask`` is false);
    they sum to less than 1 when phantoms take part. Shapes: logits/mask [B, L],
    pad_count/pad_logit [B].
    """
    real = logits.masked_fill(~mask, float("-inf"))
    real_top = real.amax(1)
    top = torch.where(pad_count > 0, torch.maximum(real_top, pad_logit), real_top)
    weights = torch.exp(real - top[:, None])
    # the clamp only acts where pad_count = 0 (elsewhere top >= pad_logit): no 0 * inf
    total = weights.sum(1) + pad_count * torch.exp((pad_logit - top).clamp(max=0.0))
    return weights / total[:, None]
