"""FOCOL's session augmentations at the embedding level (section 3.3.2), vectorised over a batch.

Each operation applies to the rows flagged in ``rows`` [B] (bool) and leaves the others as
they are; none touches the item a session predicts (the label lives outside the sequence):

- ``insert_mask``: a mask token (item id 0, whose embedding is the learnable mask vector)
  at a uniformly drawn slot j in 0..t of the raw sequence (paper: positions 1..t + 1); the
  batch grows by one column and the flagged lengths by one.
- ``corrupt``: add N(0, sigma^2) noise to the embeddings.
- ``drop``: inverted dropout (rate r, survivors scaled by 1 / (1 - r)).
Corrupt and drop act on whatever embeddings they are given (the code: the items', before
the position embedding; the paper: X^(0), after it).
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

MASK_ID = 0


def insert_mask(
    items: torch.Tensor, lengths: torch.Tensor, rows: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Items [B, L] -> [B, L + 1] with the mask id inserted in flagged rows; new lengths [B]."""
    batch, width = items.shape
    slot = (torch.rand(batch, device=items.device) * (lengths + 1)).long().clamp(max=lengths)
    slot = torch.where(rows, slot, torch.full_like(slot, width + 1))  # unflagged: nothing inserted
    columns = torch.arange(width + 1, device=items.device)[None, :]
    source = columns - (columns > slot[:, None]).long()
    padded = torch.cat([items, items.new_zeros(batch, 1)], dim=1)
    out = padded.gather(1, source.clamp(max=width))
    out = torch.where(columns == slot[:, None], torch.full_like(out, MASK_ID), out)
    return out, lengths + rows.long()


def corrupt(embeddings: torch.Tensor, rows: torch.Tensor, sigma: float) -> torch.Tensor:
    noise = torch.randn_like(embeddings) * sigma
    return embeddings + noise * rows[:, None, None].to(embeddings.dtype)


def drop(embeddings: torch.Tensor, rows: torch.Tensor, rate: float) -> torch.Tensor:
    return torch.where(rows[:, None, None], F.dropout(embeddings, rate, training=True), embeddings)
