r"""A Transformer session encoder with reverse position embeddings (FOCOL Eq. 5-7).

.. math::
    X^{(0)}_{s,j} = E_{s,j} + P_{t-j}\quad(j = 1..t;\ P_0 \text{ is the last item's}),\qquad
    h_s = \mathrm{Tr}(X^{(0)}_s)_t

``Tr`` is ``nn.TransformerEncoder`` as FOCOL's code builds it: post-LN layers, one head,
feed-forward width 2d, dropout 0.1, ReLU, padded positions masked out of the keys. The
official code reverses each sequence so that the last item sits at index 0; self-attention
is permutation-equivariant, so only the position embeddings carry order and keeping the
batch's left-aligned layout (reading the output at index t - 1) computes the same thing.
Reverse positions past the table (sessions longer than any seen in training) share its
last row. Shapes: item embeddings [B, L, d], lengths [B] -> [B, d].
"""

from __future__ import annotations

import torch
from torch import nn


class ReversePositionTransformer(nn.Module):
    def __init__(
        self, dim: int, layers: int, max_positions: int, heads: int = 1, dropout: float = 0.1
    ) -> None:
        super().__init__()
        self.positions = nn.Embedding(max_positions, dim)
        layer = nn.TransformerEncoderLayer(
            dim, heads, dim_feedforward=2 * dim, dropout=dropout, batch_first=True, norm_first=False
        )
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)

    def reset_parameters(self) -> None:
        self.positions.reset_parameters()
        for module in self.encoder.modules():
            if module is not self.encoder and hasattr(module, "reset_parameters"):
                module.reset_parameters()  # type: ignore[operator]

    def inputs(self, embeddings: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """X^(0) = E + P_(t - j) [B, L, d] (rows past a session's length are left as they come)."""
        width = embeddings.shape[1]
        columns = torch.arange(width, device=embeddings.device)
        reverse = (lengths[:, None] - 1 - columns[None, :]).clamp(0, self.positions.num_embeddings - 1)
        return embeddings + self.positions(reverse)

    def encode(self, inputs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """h_s [B, d]: the Transformer's output at each session's last item."""
        columns = torch.arange(inputs.shape[1], device=inputs.device)
        padding = columns[None, :] >= lengths[:, None]
        out = self.encoder(inputs, src_key_padding_mask=padding)
        return out[torch.arange(len(lengths), device=out.device), lengths - 1]

    def forward(self, embeddings: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.encode(self.inputs(embeddings, lengths), lengths)
