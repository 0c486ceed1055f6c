"""SKNN: score items by how similar the training sessions that hold them are to the prefix.

Source: session-based kNN (Jannach & Ludewig, RecSys 2017) as implemented in
session-rec ``algorithms/knn/sknn.py`` (implementation notes 5.7):

1. candidates = training sessions sharing at least one item with the prefix;
   if there are more than ``sample_size`` (m), keep the m most recent ones
   (by session timestamp);
2. sim(prefix, s) on item sets: cosine |a & b| / sqrt(|a| |b|), or jaccard
   |a & b| / |a | b|;
3. neighbours = the ``k`` most similar candidates (similarity > 0);
4. score(i) = sum of the similarities of the neighbours that hold i.

:class:`NeighbourRecommender` is the base of the whole family (SKNN, V-SKNN,
STAN, V-STAN): it indexes the training sessions once (``_neighbours.NeighbourIndex``)
and scores a batch with the vectorised steps of ``_neighbours.score_prefixes``; each
model only maps its config to a ``Recipe``. Neighbours come from the training
sessions only, so no test session can leak into another's prediction.

Departures from the reference code:

- cosine is the true |a & b| / sqrt(|a| |b|); the reference computes
  |a & b| / sqrt(|a|) * sqrt(|b|) (an operator precedence slip); the default is
  cosine rather than the reference's jaccard, as the reference settings here ask.
- candidates with the same timestamp, and neighbours with the same similarity,
  are ordered deterministically (the later training session first) where the
  reference depends on set iteration order.
- the optional extras of session-rec (score normalisation, reminders,
  popularity boost) are left out: normalisation does not change the ranking.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np
import scipy.sparse as sp
import torch

from sessionrec.config import Config, check
from sessionrec.data.batching import Batch
from sessionrec.data.sessions import Split
from sessionrec.errors import CheckpointError
from sessionrec.models._neighbours import NeighbourIndex, Prefixes, Recipe, neighbours, score_prefixes
from sessionrec.models.base import Recommender
from sessionrec.models.registry import register
from sessionrec.tuning.space import Choice, IntRange, SearchSpace


@dataclass(frozen=True)
class NeighbourConfig(Config):
    """The keys every session-kNN model has."""

    k: int = 100  # neighbour sessions summed
    sample_size: int = 1000  # m most recent candidate sessions considered (0 = all)

    def validate(self) -> None:
        name = type(self).__name__
        check(self.k >= 1, f"{name}.k must be >= 1, got {self.k}")
        check(self.sample_size >= 0, f"{name}.sample_size must be >= 0, got {self.sample_size}")


# the neighbourhood sizes every model of the family searches (the ranges of session-rec's grids,
# capped so that a full test-set scoring stays within a minute on Diginetica)
NEIGHBOUR_SPACE = {"k": IntRange(20, 500, log=True), "sample_size": IntRange(200, 5000, log=True)}


class NeighbourRecommender(Recommender):
    """Base of the session-kNN family: one index of the training sessions, one scoring path."""

    config: NeighbourConfig
    index_: NeighbourIndex | None = None

    @abstractmethod
    def recipe(self) -> Recipe:
        """The family's steps (``_neighbours``) as this model's config sets them."""

    def _fit(self, train: Split, valid: Split | None) -> None:
        self.index_ = NeighbourIndex.build(train.sessions, train.n_items)

    def _prefixes(self, batch: Batch) -> Prefixes:
        return Prefixes.from_padded(batch.items.cpu().numpy(), batch.lengths.cpu().numpy(), self.n_items)

    def neighbours(self, batch: Batch) -> sp.csr_matrix:
        """[B, S] similarities of each prefix's k neighbour sessions (0 elsewhere)."""
        assert self.index_ is not None, "fit() or load() first"
        return neighbours(self.index_, self.recipe(), self._prefixes(batch))

    def score(self, batch: Batch) -> torch.Tensor:
        assert self.index_ is not None, "fit() or load() first"
        return torch.from_numpy(score_prefixes(self.index_, self.recipe(), self._prefixes(batch)))

    def _state(self) -> dict[str, np.ndarray]:
        assert self.index_ is not None
        index = self.index_
        return {
            "indptr": index.sessions.indptr,
            "indices": index.sessions.indices,
            "positions": index.positions,
            "times": index.times,
        }

    def _set_state(self, state: dict[str, np.ndarray]) -> None:
        try:
            indptr, indices = state["indptr"], state["indices"]
            positions, times = state["positions"], state["times"]
            matrix = sp.csr_matrix(
                (np.ones(len(indices), dtype=np.float32), indices, indptr),
                shape=(len(indptr) - 1, self.n_items),
            )
            matrix.check_format(full_check=True)
            if positions.shape != indices.shape or times.shape != (matrix.shape[0],):
                raise ValueError("positions or times do not match the sessions")
        except (KeyError, ValueError) as exc:
            raise CheckpointError(
                f"{type(self).__name__} state is incomplete or inconsistent ({exc})"
            ) from None
        self.index_ = NeighbourIndex(matrix, positions.astype(np.int32), times.astype(np.float64))


@dataclass(frozen=True)
class SKNNConfig(NeighbourConfig):
    similarity: Literal["cosine", "jaccard"] = "cosine"


@register("sknn")
class SKNN(NeighbourRecommender):
    """Session-based k nearest neighbours over the training sessions."""

    config_class = SKNNConfig
    config: SKNNConfig
    search_space: ClassVar[SearchSpace] = SearchSpace(
        {**NEIGHBOUR_SPACE, "similarity": Choice(("cosine", "jaccard"))}
    )

    def recipe(self) -> Recipe:
        cfg = self.config
        return Recipe(k=cfg.k, sample_size=cfg.sample_size, similarity=cfg.similarity)
