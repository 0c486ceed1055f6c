"""FOCOL's positive and negative sessions for a training batch, drawn with torch on the model's device.

From ``graphs.targets.samples_by_target`` (built in ``prepare``): for a batch with next
items y [B], the positive of sample i is a uniformly drawn training prefix whose next item
is y_i (possibly sample i itself, as in the official code). The pool of sampled sessions
is these B positives, plus ``max(0, K - (B - 1))`` uniformly drawn training prefixes when
the batch is too small to offer K other positives. The K negatives of sample i are drawn
without replacement among the pool rows whose next item differs from y_i (uniform random
keys, top K); slots left over when fewer qualify are marked invalid. All of it is
vectorised: no Python loop runs per sample.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn


@dataclass(frozen=True)
class Drawn:
    items: torch.Tensor  # int64 [M, L]: the pool's prefixes, right-padded with 0
    lengths: torch.Tensor  # int64 [M]
    labels: torch.Tensor  # int64 [M]: the pool's next items
    positive: torch.Tensor  # int64 [B]: pool row of each sample's positive
    negatives: torch.Tensor  # int64 [B, K']: pool rows, K' = min(K, M)
    valid: torch.Tensor  # bool [B, K']
    has_positive: torch.Tensor  # bool [B]: False where no training prefix has that next item


class ContrastiveSampler(nn.Module):
    offsets: torch.Tensor
    starts: torch.Tensor
    lengths: torch.Tensor
    items: torch.Tensor
    labels: torch.Tensor

    def __init__(self, prepared: Mapping[str, Any]) -> None:
        super().__init__()
        offsets = np.asarray(prepared["positives_offsets"], dtype=np.int64)
        labels = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))
        arrays = {
            "offsets": offsets,
            "starts": np.asarray(prepared["positives_starts"], dtype=np.int64),
            "lengths": np.asarray(prepared["positives_lengths"], dtype=np.int64),
            "items": np.asarray(prepared["positives_items"], dtype=np.int64),
            "labels": labels.astype(np.int64),
        }
        for name, value in arrays.items():
            self.register_buffer(name, torch.from_numpy(value), persistent=False)

    def prefixes(self, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Items [R, L] (right-padded) and lengths [R] of the sorted training rows ``rows``."""
        starts, lengths = self.starts[rows], self.lengths[rows]
        width = max(int(lengths.max()) if len(rows) else 1, 1)
        columns = torch.arange(width, device=rows.device)
        inside = columns[None, :] < lengths[:, None]
        index = torch.where(inside, starts[:, None] + columns[None, :], 0)
        return torch.where(inside, self.items[index], 0), lengths

    def draw(self, targets: torch.Tensor, negatives: int) -> Drawn:
        batch, device = len(targets), targets.device
        low = self.offsets[targets]
        count = self.offsets[targets + 1] - low
        has_positive = count > 0
        rows = low + (torch.rand(batch, device=device) * count).long().clamp(max=(count - 1).clamp(min=0))
        rows = torch.where(has_positive, rows, 0)
        labels = targets
        extra = max(0, negatives - (batch - 1))
        if extra:
            more = torch.randint(len(self.starts), (extra,), device=device)
            rows, labels = torch.cat([rows, more]), torch.cat([targets, self.labels[more]])
            has_pool = torch.cat([has_positive, torch.ones(extra, dtype=torch.bool, device=device)])
        else:
            has_pool = has_positive
        items, lengths = self.prefixes(rows)
        eligible = (labels[None, :] != targets[:, None]) & has_pool[None, :]
        keys = torch.rand(batch, len(rows), device=device).masked_fill(~eligible, -1.0)
        top = keys.topk(min(negatives, len(rows)), dim=1)
        positive = torch.arange(batch, device=device)
        return Drawn(items, lengths, labels, positive, top.indices, top.values >= 0, has_positive)
