r"""One causal self-attention block with a position-wise feed-forward network (SASRec style, LGSR).

For inputs X (left-aligned sessions, ``mask`` [B, L] true on real positions):

.. math::
    A = \mathrm{softmax}_{j \le i,\ j\ \mathrm{real}}\big((X W_q)(X W_k)^\top / \sqrt{d}\big),\qquad
    H = \mathrm{LN}(\mathrm{drop}(A)\, X W_v + X)

    F = \mathrm{LN}\big(\mathrm{drop}(\mathrm{ReLU}(H W_1 + b_1) W_2 + b_2) + H\big)

(LGSR Eq. 6-8, in the official code's form: one head, W_q, W_k, W_v without bias, the
causal mask including the diagonal (query i sees keys j <= i; the paper says the first
i - 1), rows of padded queries zeroed, dropout on the attention weights and inside the
FFN, post-LayerNorm with eps 1e-8).

Everything but the attention product is position-wise, so it runs on the real positions
only, *packed*: X is given as ``tokens`` [T, d] = the rows of the padded [B, L, d] where
``mask`` holds (``x[mask]``), and F comes back packed the same way. On training batches
padded to 19 positions with 4-5 real ones on average, this skips three quarters of the
block's products; the padded positions would be discarded anyway. Shapes: tokens
[T, d], mask [B, L] -> F [T, d]; with ``need_weights`` also A [B, L, L] (before dropout).
"""

from __future__ import annotations

import math

import torch
from torch import nn


def causal_mask(mask: torch.Tensor) -> torch.Tensor:
    """[B, L, L]: query i may attend to key j iff j <= i and j is a real position."""
    length = mask.shape[1]
    lower = torch.ones(length, length, dtype=torch.bool, device=mask.device).tril()
    return lower[None] & mask[:, None, :]


def unpack(tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Packed rows [T, d] back to [B, L, d], zeros at padding (differentiable)."""
    padded = tokens.new_zeros(*mask.shape, tokens.shape[1])
    padded[mask] = tokens
    return padded


class CausalSelfAttentionBlock(nn.Module):
    def __init__(self, dim: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.dim = dim
        self.query = nn.Linear(dim, dim, bias=False)
        self.key = nn.Linear(dim, dim, bias=False)
        self.value = nn.Linear(dim, dim, bias=False)
        self.norm_attention = nn.LayerNorm(dim, eps=1e-8)
        self.ffn_in = nn.Linear(dim, dim)
        self.ffn_out = nn.Linear(dim, dim)
        self.norm_ffn = nn.LayerNorm(dim, eps=1e-8)
        self.dropout = nn.Dropout(dropout)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = self.dim**-0.5
        for layer in (self.query, self.key, self.value, self.ffn_in, self.ffn_out):
            for parameter in layer.parameters():
                nn.init.uniform_(parameter, -bound, bound)
        for norm in (self.norm_attention, self.norm_ffn):
            norm.reset_parameters()  # gamma 1, beta 0

    def attention(self, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Weights A [B, L, L]; padded query rows are 0."""
        query, key = unpack(self.query(tokens), mask), unpack(self.key(tokens), mask)
        logits = query @ key.transpose(1, 2) / math.sqrt(self.dim)
        weights = torch.softmax(logits.masked_fill(~causal_mask(mask), float("-inf")), dim=2)
        return weights.nan_to_num(0.0) * mask[:, :, None]

    def forward(
        self, tokens: torch.Tensor, mask: torch.Tensor, need_weights: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        weights = self.attention(tokens, mask)
        attended = (self.dropout(weights) @ unpack(self.value(tokens), mask))[mask]
        hidden = self.norm_attention(attended + tokens)
        feed = self.dropout(self.ffn_out(self.dropout(torch.relu(self.ffn_in(hidden)))))
        return self.norm_ffn(feed + hidden), (weights if need_weights else None)
