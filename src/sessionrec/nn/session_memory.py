r"""CSRM's outer memory of recent sessions (Wang et al. 2019; the code's ``ome.py``).

A FIFO of the last ``capacity`` session vectors (stored without gradient). Reading with
query vectors q [B, d]:

.. math::
    s_{bm} = \cos(q_b, M_m),\qquad K_b = \text{top-}k_m\, s_{bm},\qquad
    w_{bm} = \mathrm{softmax}_{m \in K_b}(s_{bm}),\qquad
    r_b = \textstyle\sum_{m \in K_b} w_{bm} M_m

over the rows written so far (k is capped at their number); an empty memory returns the
query itself, as the code does at the start of training. Gradients flow to q through the
similarities and weights, never into the memory rows. ``write`` appends vectors, the
oldest rows dropping once the memory is full (a ring buffer: the read does not depend
on the order of the rows). In a distributed run each write gathers the rows of every
rank's share of the global batch, so every rank holds the single-process memory. Rows,
count and cursor are buffers, so they are saved and restored with the weights (a selected
epoch brings back the memory it ended with).
Shapes: query [B, d] -> [B, d]; write [B, d].
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from sessionrec import distributed


class SessionMemory(nn.Module):
    rows: torch.Tensor
    filled: torch.Tensor
    cursor: torch.Tensor

    def __init__(self, dim: int, capacity: int, k: int) -> None:
        super().__init__()
        if capacity < 1 or k < 1:
            raise ValueError("capacity and k must be positive")
        self.capacity, self.k = capacity, k
        self.register_buffer("rows", torch.zeros(capacity, dim))
        self.register_buffer("filled", torch.zeros((), dtype=torch.int64))
        self.register_buffer("cursor", torch.zeros((), dtype=torch.int64))

    def reset_parameters(self) -> None:
        """Empty the memory (it has no learned parameters)."""
        self.rows.zero_()
        self.filled.zero_()
        self.cursor.zero_()

    def __len__(self) -> int:
        return int(self.filled)

    def read(self, query: torch.Tensor) -> torch.Tensor:
        filled = len(self)
        if filled == 0:
            return query
        memory = self.rows[:filled]
        similarity = F.normalize(query, dim=1, eps=1e-12) @ F.normalize(memory, dim=1, eps=1e-12).t()
        top = similarity.topk(min(self.k, filled), dim=1)
        # the top-k weights scattered into a [B, M] matrix: one product, no [B, k, d] gather
        weights = torch.zeros_like(similarity).scatter_(1, top.indices, torch.softmax(top.values, dim=1))
        return weights @ memory

    def write(self, vectors: torch.Tensor) -> None:
        # in a distributed run every rank writes the whole global batch, so memories agree
        vectors = distributed.gather_rows(vectors.detach())[-self.capacity :]
        count = vectors.shape[0]
        slots = (self.cursor + torch.arange(count, device=vectors.device)) % self.capacity
        # out of place: an earlier read in this step may still need the old rows for backward
        self.rows = self.rows.index_copy(0, slots, vectors.to(self.rows.dtype))
        self.cursor.copy_((self.cursor + count) % self.capacity)
        self.filled.clamp_(max=self.capacity - count).add_(count)

    def forward(self, query: torch.Tensor) -> torch.Tensor:
        return self.read(query)
