"""POP: recommend the items clicked most often in training, whatever the session.

Source: the POP baseline of the GRU4Rec paper (Hidasi et al., ICLR 2016) as
re-run on the SR-GNN protocol by TAGNN and LGSR (Diginetica HR@20 0.89,
MRR@20 0.20; implementation notes 5.10).

Departures from the reference code:

- every item keeps its click count as its score, instead of only the 100 most
  popular items (the others scoring 0): the top 100 positions are identical,
  and items further down are still ordered rather than all tied.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from sessionrec.config import Config
from sessionrec.data.batching import Batch
from sessionrec.data.sessions import Split
from sessionrec.models.base import Recommender
from sessionrec.models.registry import register


@dataclass(frozen=True)
class PopConfig(Config):
    """POP has no hyperparameter: the config exists so that the contract holds."""


@register("pop")
class Pop(Recommender):
    """Global popularity: score(i) = number of training clicks on i."""

    config_class = PopConfig

    def _fit(self, train: Split, valid: Split | None) -> None:
        # the base class has already counted the training clicks (popularity_)
        return None

    def score(self, batch: Batch) -> torch.Tensor:
        assert self.popularity_ is not None, "fit() or load() first"
        counts = torch.from_numpy(self.popularity_[1:].astype(np.float32))
        # a real copy per row: callers may write into the scores (exclude_seen)
        return counts.unsqueeze(0).repeat(batch.size, 1)

    def _state(self) -> dict[str, np.ndarray]:
        return {}

    def _set_state(self, state: dict[str, np.ndarray]) -> None:
        return None
