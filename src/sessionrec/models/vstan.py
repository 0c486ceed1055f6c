"""V-STAN: STAN's three decays with V-SKNN's neighbour match weights and IDF prefix weights.

Source: Ludewig, Latifi, Mauro & Jannach, "Empirical analysis of session-based
recommendation algorithms" (UMUAI 2021), which combines STAN (``models.stan``)
with the ideas of V-SKNN (``models.vsknn``), as session-rec ``algorithms/knn/vstan.py``
does. With the shared steps of ``models._neighbours``:

- prefix weights w_i = exp((p(i) - l) / lambda_position) * (1 + idf_weight * idf_i)
  (STAN factor 1 and V-SKNN's IDF);
- similarity ``cosine`` (sum of shared w / sqrt(|s| |n|), STAN) or ``vec``
  (sum of shared w / |s|, V-SKNN), times exp(-(t_ref - t_n) / lambda_recency)
  (STAN factor 2, same time unit and reference time as STAN);
- score(i) = sum over the k neighbours n holding i of sim(s, n) *
  exp(-(t - 1) / lambda_match) * exp(-|q_n(i) - q_n(a)| / lambda_near): V-SKNN's
  weight of a neighbour by the step t of the most recent prefix item a it shares,
  written as an exponential decay, and STAN factor 3.

Departures from the reference code: the IDF factor is (1 + idf_weight * idf_i)
(0 = off) as in ``models.vsknn``; no reminders or prefix extension; |s| and |n|
count distinct items; lambda_match = 0 turns the match decay off.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from sessionrec.config import check
from sessionrec.models._neighbours import Recipe
from sessionrec.models.registry import register
from sessionrec.models.sknn import NEIGHBOUR_SPACE, NeighbourRecommender
from sessionrec.models.stan import DECAY_SPACE, STANConfig
from sessionrec.tuning.space import Choice, FloatRange, SearchSpace


@dataclass(frozen=True)
class VSTANConfig(STANConfig):
    similarity: Literal["cosine", "vec"] = "cosine"
    lambda_match: float = 1.0  # decay over the step of the most recent shared item (0 = off)
    idf_weight: float = 0.0  # prefix weights times (1 + idf_weight * idf)

    def validate(self) -> None:
        super().validate()
        check(self.lambda_match >= 0, f"VSTANConfig.lambda_match must be >= 0, got {self.lambda_match}")
        check(self.idf_weight >= 0, f"VSTANConfig.idf_weight must be >= 0, got {self.idf_weight}")


@register("vstan")
class VSTAN(NeighbourRecommender):
    """STAN with V-SKNN's match weights and IDF-weighted prefixes."""

    config_class = VSTANConfig
    config: VSTANConfig
    search_space: ClassVar[SearchSpace] = SearchSpace(
        {
            **NEIGHBOUR_SPACE,
            **DECAY_SPACE,
            "similarity": Choice(("cosine", "vec")),
            "lambda_match": FloatRange(0.25, 20.0, log=True),
            "idf_weight": FloatRange(0.0, 10.0),
        }
    )

    def recipe(self) -> Recipe:
        cfg = self.config
        return Recipe(
            k=cfg.k,
            sample_size=cfg.sample_size,
            similarity=cfg.similarity,
            position_weighting="exp",
            position_lambda=cfg.lambda_position,
            idf_weight=cfg.idf_weight,
            recency_lambda=cfg.lambda_recency,
            match_weighting="exp" if cfg.lambda_match else "same",
            match_lambda=cfg.lambda_match or 1.0,
            near_lambda=cfg.lambda_near,
        )
