"""V-SKNN: SKNN with the prefix's recent items, and neighbours matching them late, weighted more.

Source: "vector multiplication" session-based kNN (Ludewig & Jannach, "Evaluation
of session-based recommendation algorithms", UMUAI 2018), as in session-rec
``algorithms/knn/vsknn.py`` (implementation notes 5.7). With the shared steps of
``models._neighbours``:

- prefix weights w_i by the position of i's last click (``weighting``, default
  ``div``: w_i = p(i) / l), times (1 + ``idf_weight`` * idf_i) (0 = off);
- similarity ``vec``: sum_{i in s & n} w_i / |s| (default), or cosine
  sum_{i in s & n} w_i / sqrt(|s| |n|);
- score(i) = sum over the k neighbours n holding i of sim(s, n) * match(t), with
  t the step (1 = the last click) of the most recent prefix item n shares and
  match = ``weighting_score`` (default ``div``: 1 / t).

Departures from the reference code:

- the reference multiplies a prefix item's weight by idf_i when IDF weighting is
  on; here the factor is (1 + idf_weight * idf_i), so the setting is a tunable
  strength (0 = off; large values approach the plain idf_i ranking).
- only ``recent`` sampling; reminders, time decay by days, extension of the
  prefix and score normalisation are left out (normalisation keeps the ranking).
- |s| counts distinct prefix items, like the item sets of SKNN.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from sessionrec.config import check
from sessionrec.models._neighbours import Recipe, Weighting
from sessionrec.models.registry import register
from sessionrec.models.sknn import NEIGHBOUR_SPACE, NeighbourConfig, NeighbourRecommender
from sessionrec.tuning.space import Choice, FloatRange, SearchSpace

WEIGHTINGS = ("same", "div", "linear", "quadratic")


@dataclass(frozen=True)
class VSKNNConfig(NeighbourConfig):
    similarity: Literal["vec", "cosine"] = "vec"
    weighting: Literal["same", "div", "linear", "quadratic"] = "div"  # prefix position weights
    weighting_score: Literal["same", "div", "linear", "quadratic"] = "div"  # neighbour match weights
    idf_weight: float = 0.0  # prefix weights times (1 + idf_weight * idf)

    def validate(self) -> None:
        super().validate()
        check(self.idf_weight >= 0, f"VSKNNConfig.idf_weight must be >= 0, got {self.idf_weight}")


@register("vsknn")
class VSKNN(NeighbourRecommender):
    """SKNN with position-weighted prefixes and late-match-weighted neighbours."""

    config_class = VSKNNConfig
    config: VSKNNConfig
    search_space: ClassVar[SearchSpace] = SearchSpace(
        {
            **NEIGHBOUR_SPACE,
            "similarity": Choice(("vec", "cosine")),
            "weighting": Choice(WEIGHTINGS),
            "weighting_score": Choice(WEIGHTINGS),
            "idf_weight": FloatRange(0.0, 10.0),
        }
    )

    def recipe(self) -> Recipe:
        cfg = self.config
        weighting: Weighting = cfg.weighting
        return Recipe(
            k=cfg.k,
            sample_size=cfg.sample_size,
            similarity=cfg.similarity,
            position_weighting=weighting,
            idf_weight=cfg.idf_weight,
            match_weighting=cfg.weighting_score,
        )
