"""S-POP: the items of the current session, most clicked first; popularity breaks ties.

Source: the S-POP baseline of the GRU4Rec paper (Hidasi et al., ICLR 2016), as
re-run on the SR-GNN protocol by TAGNN, LGSR and SR-IEM (Diginetica HR@20 21.06,
MRR@20 13.68; implementation notes 5.10)::

    score(i) = count of i in the prefix + supp_i / (supp_i + 1)   (i among the top_n)
    score(i) = count of i in the prefix                           (other items)

where supp_i is the number of training clicks on i.

Departures from the reference code:

- the tie-breaker is the dense rank of supp_i among the top_n items scaled into
  [0, 1), not supp_i / (supp_i + 1) itself. Both order items identically, but
  in float32 the sum rounds popular items with close counts onto the same value
  (1 + 5000/5001 and 1 + 5001/5002 collide), which would create spurious ties.
- ``top_n = 0`` extends the tie-breaker to every item (not in the reference).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from sessionrec.config import Config, check
from sessionrec.data.batching import Batch
from sessionrec.data.sessions import Split
from sessionrec.errors import CheckpointError
from sessionrec.models.base import Recommender
from sessionrec.models.registry import register


@dataclass(frozen=True)
class SPopConfig(Config):
    top_n: int = 100  # items given the popularity tie-breaker (0 = all)

    def validate(self) -> None:
        check(self.top_n >= 0, f"SPopConfig.top_n must be >= 0, got {self.top_n}")


@register("spop")
class SPop(Recommender):
    """Session popularity: repeat the session's own items, most clicked first."""

    config_class = SPopConfig
    config: SPopConfig
    tiebreak_: np.ndarray | None = None  # float32 [N], in [0, 1); set by fit/load

    def _fit(self, train: Split, valid: Split | None) -> None:
        assert self.popularity_ is not None
        self.tiebreak_ = popularity_tiebreak(self.popularity_[1:], self.config.top_n)

    def score(self, batch: Batch) -> torch.Tensor:
        assert self.tiebreak_ is not None, "fit() or load() first"
        n_items = len(self.tiebreak_)
        items = batch.items.cpu().numpy()
        rows, positions = np.nonzero(items > 0)
        flat = rows * n_items + items[rows, positions] - 1
        counts = np.bincount(flat, minlength=batch.size * n_items).reshape(batch.size, n_items)
        return torch.from_numpy(counts.astype(np.float32) + self.tiebreak_[None, :])

    def _state(self) -> dict[str, np.ndarray]:
        assert self.tiebreak_ is not None
        return {"tiebreak": self.tiebreak_}

    def _set_state(self, state: dict[str, np.ndarray]) -> None:
        tiebreak = state.get("tiebreak")
        if tiebreak is None or tiebreak.shape != (self.n_items,):
            raise CheckpointError("S-POP state: 'tiebreak' missing or of the wrong length")
        self.tiebreak_ = tiebreak.astype(np.float32)


def popularity_tiebreak(counts: np.ndarray, top_n: int) -> np.ndarray:
    """Values in [0, 1) ordered like counts / (counts + 1) over the ``top_n`` most clicked items.

    Equal counts get equal values (a tie stays a tie); items outside the top_n and
    items never clicked get 0, as in the reference code.
    """
    counts = np.asarray(counts, dtype=np.int64)
    chosen = np.flatnonzero(counts > 0)
    if top_n and len(chosen) > top_n:
        # stable: among equal counts at the boundary, the lower index wins
        order = np.argsort(-counts[chosen], kind="stable")
        chosen = chosen[order[:top_n]]
    levels, dense_rank = np.unique(counts[chosen], return_inverse=True)
    out = np.zeros(len(counts), dtype=np.float32)
    out[chosen] = (dense_rank + 1) / (len(levels) + 1)
    return out
