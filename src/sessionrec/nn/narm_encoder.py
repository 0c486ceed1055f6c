r"""NARM's encoder (Li et al. 2017): item embeddings -> GRU -> global and local vectors.

.. math::
    c_g = h_t,\qquad c_l = \textstyle\sum_j \alpha_{tj} h_j
    \quad (\alpha \text{ from } \texttt{AdditiveAttention}(h_t, h_j))

with dropout on the embeddings (``nn.GRUEncoder``, ``nn.AdditiveAttention``). NARM runs
one GRU for both; ``separate_local=True`` gives the local encoder a GRU of its own, whose
last state is then the attention's query (CSRM's inner memory encoder).
Shapes: embeddings [B, L, d], batch mask [B, L] and lengths [B] -> c_g, c_l [B, h].
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from sessionrec.data.batching import Batch
from sessionrec.nn.additive_attention import AdditiveAttention
from sessionrec.nn.gru import GRUEncoder


class NARMEncoder(nn.Module):
    """Embeddings [B, L, d] -> (c_g, c_l) [B, h] each, for a batch's mask and lengths."""

    def __init__(
        self,
        dim: int,
        hidden: int,
        embedding_dropout: float,
        activation: Literal["sigmoid", "hard_sigmoid"],
        softmax: bool,
        separate_local: bool = False,
    ) -> None:
        super().__init__()
        self.dropout = nn.Dropout(embedding_dropout)
        self.gru = GRUEncoder(dim, hidden)
        self.local_gru = GRUEncoder(dim, hidden) if separate_local else None
        self.attention = AdditiveAttention(hidden, hidden, activation, softmax)

    def reset_parameters(self) -> None:
        for layer in (self.gru, self.local_gru, self.attention):
            if layer is not None:
                layer.reset_parameters()

    def forward(self, embeddings: torch.Tensor, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        embeddings = self.dropout(embeddings)
        states, global_vector = self.gru(embeddings, batch.lengths)
        if self.local_gru is not None:
            states, last = self.local_gru(embeddings, batch.lengths)
        else:
            last = global_vector
        return global_vector, self.attention(states, batch.mask, last)
