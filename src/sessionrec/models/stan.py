"""STAN: session kNN with three exponential decays (sequence and time aware neighbourhood).

Source: Garg, Gupta, Chawla, Mitra, Shroff, "Sequence and Time Aware Neighborhood
for Session-based Recommendations: STAN", SIGIR 2019. With the shared steps of
``models._neighbours`` (s the prefix of l clicks, n a training session):

- factor 1, position in the current session: the prefix vector holds
  w1(i) = exp((p(i) - l) / lambda_position) for the items of s (p(i) = position of
  the last click on i); sim1(s, n) = (s . n) / sqrt(|s| |n|) with n binary;
- factor 2, recency of the neighbour: sim2(s, n) = sim1(s, n) *
  exp(-(t(s) - t(n)) / lambda_recency) (t = session time); the k neighbours
  are the candidates of largest sim2;
- factor 3, position in the neighbour: score(i) = sum over the neighbours n
  holding i of sim2(s, n) * exp(-|q_n(i) - q_n(a)| / lambda_near), where a is
  the most recent item of s that n holds and q_n the position in n.

t(s) is replaced by the latest training time: the two differ by a factor
exp(-(t(s) - t_ref) / lambda_recency) common to every neighbour of s, so the
neighbours and the ranking are the same, and a prefix needs no timestamp.
``lambda_recency`` is in the data's time unit: seconds for logs with clocks,
session ranks for SR-GNN pickles (which hold no timestamps); 0 turns it off.

Departures from the paper:

- |s| and |n| count distinct items (the paper writes the session lengths l(s), l(n));
  an item clicked twice in n takes the position of its last click.
- candidates are first cut to the ``sample_size`` most recent sessions sharing an
  item, as in SKNN and session-rec's STAN (the paper scores all of them; 0 does).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from sessionrec.config import check
from sessionrec.models._neighbours import Recipe
from sessionrec.models.registry import register
from sessionrec.models.sknn import NEIGHBOUR_SPACE, NeighbourConfig, NeighbourRecommender
from sessionrec.tuning.space import FloatRange, SearchSpace

FIVE_DAYS = 5 * 24 * 3600.0


def check_lambdas(config: object, *names: str) -> None:
    for name in names:
        value = getattr(config, name)
        check(value > 0, f"{type(config).__name__}.{name} must be > 0, got {value}")


@dataclass(frozen=True)
class STANConfig(NeighbourConfig):
    lambda_position: float = 1.0  # factor 1: decay over the prefix's positions
    lambda_recency: float = FIVE_DAYS  # factor 2: decay over neighbour age, data time unit (0 = off)
    lambda_near: float = 1.0  # factor 3: decay over distance from the shared item in the neighbour

    def validate(self) -> None:
        super().validate()
        check_lambdas(self, "lambda_position", "lambda_near")
        check(self.lambda_recency >= 0, f"STANConfig.lambda_recency must be >= 0, got {self.lambda_recency}")


# decays from nearly flat to sharp; recency spans session ranks (pickles) and seconds (clocks)
DECAY_SPACE = {
    "lambda_position": FloatRange(0.25, 20.0, log=True),
    "lambda_recency": FloatRange(1e3, 1e8, log=True),
    "lambda_near": FloatRange(0.25, 20.0, log=True),
}


@register("stan")
class STAN(NeighbourRecommender):
    """Session kNN with STAN's decays over prefix position, neighbour age and neighbour position."""

    config_class = STANConfig
    config: STANConfig
    search_space: ClassVar[SearchSpace] = SearchSpace({**NEIGHBOUR_SPACE, **DECAY_SPACE})

    def recipe(self) -> Recipe:
        cfg = self.config
        return Recipe(
            k=cfg.k,
            sample_size=cfg.sample_size,
            similarity="cosine",
            position_weighting="exp",
            position_lambda=cfg.lambda_position,
            recency_lambda=cfg.lambda_recency,
            near_lambda=cfg.lambda_near,
        )
