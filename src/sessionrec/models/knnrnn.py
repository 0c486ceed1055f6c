"""KNN-RNN: Jannach & Ludewig, "When Recurrent Neural Networks meet the Neighborhood for
Session-Based Recommendation", RecSys 2017 (session-rec ``algorithms/hybrid/weighted.py``;
notes 5.10): a weighted hybrid of SKNN and GRU4Rec.

    score(j) = w * knn(j) + (1 - w) * gru(j)

with both components normalised per prefix before mixing, so that w means the same on
every prefix whatever the scale of each model's scores:

- knn(j) = SKNN's score divided by the prefix's largest one (in [0, 1]; all 0 when the
  prefix has no neighbour session), the max-normalisation of the reference;
- gru(j) = exp(r_j - max_k r_k), GRU4Rec's softmax probability divided by the largest one
  (in (0, 1], the top item 1). GRU4Rec's raw scores can be negative (ELU, linear), so they
  are first made probabilities: max-dividing raw scores would flip the sign of a row.

The two parts are trained independently, as in the paper: the GRU4Rec part is trained
(``models.gru4rec``, every GRU4Rec key; its epochs selected on validation by itself, w = 0
while it trains) and the SKNN part (``k``, ``sample_size``, ``similarity``; the index of the
training sessions built in ``prepare`` and saved with the model) needs no training. Then w
is chosen on the validation split: ``weight_grid`` evenly spaced values from 0 to 1, the
best ``select_metric`` wins (the smaller w on a tie); the chosen w is saved with the weights
and carried into a refit (``selected_settings``). Without a validation split (a plain fit,
``--select-on none``, a refit) w = ``weight``.

Departures: the paper tuned w per dataset by hand on validation (no grid is published;
the notes mark its weights unverified); GRU4Rec's scores are softmax-normalised as above
instead of used raw.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from sessionrec.config import check
from sessionrec.data.batching import Batch, make_batch
from sessionrec.data.sessions import Split
from sessionrec.evaluation import DEFAULT_TIES, Evaluation, count_above_and_tied
from sessionrec.models.gru4rec import GRU4Rec, GRU4RecConfig, GRU4RecModule
from sessionrec.models.prepared import Prepared
from sessionrec.models.registry import register
from sessionrec.models.sknn import SKNN, SKNNConfig
from sessionrec.training import TrainerOptions

SKNN_PREFIX = "sknn_"


@dataclasses.dataclass(frozen=True)
class KNNRNNConfig(GRU4RecConfig):
    k: int = 100  # SKNN's neighbour sessions
    sample_size: int = 1000  # SKNN's most recent candidate sessions (0 = all)
    similarity: Literal["cosine", "jaccard"] = "cosine"
    weight: float = 0.5  # w of SKNN, used when there is no validation split
    select_weight: bool = True  # choose w on the validation split
    weight_grid: int = 11  # w in 0, 1/(n-1), ..., 1

    def validate(self) -> None:
        super().validate()
        check(self.k >= 1, "k must be >= 1")
        check(self.sample_size >= 0, "sample_size must be >= 0")
        check(0 <= self.weight <= 1, "weight must be in [0, 1]")
        check(self.weight_grid >= 2, "weight_grid must be >= 2")


def normalised_knn(scores: torch.Tensor) -> torch.Tensor:
    """SKNN scores divided by each row's largest (rows without neighbours stay 0)."""
    top = scores.max(dim=1, keepdim=True).values
    return scores / torch.where(top > 0, top, torch.ones_like(top))


def normalised_gru(scores: torch.Tensor) -> torch.Tensor:
    """exp(r - max r): each row's softmax divided by its largest probability."""
    return torch.exp(scores - scores.max(dim=1, keepdim=True).values)


def mix(knn: torch.Tensor, gru: torch.Tensor, weight: float) -> torch.Tensor:
    return weight * normalised_knn(knn) + (1.0 - weight) * normalised_gru(gru)


def best_weight(metrics: dict[float, dict[str, float]], metric: str) -> float:
    """The weight with the highest ``metric``; the smallest such weight on a tie."""
    return max(sorted(metrics), key=lambda w: (metrics[w][metric], -w))


class KNNRNNModule(GRU4RecModule):
    """GRU4Rec's network plus the hybrid's weight w (a buffer: saved with the weights)."""

    def __init__(self, n_items: int, config: GRU4RecConfig, probabilities: np.ndarray) -> None:
        super().__init__(n_items, config, probabilities)
        self.register_buffer("sknn_weight", torch.zeros(()))


@register("knnrnn")
class KNNRNN(GRU4Rec):
    """w * SKNN + (1 - w) * GRU4Rec, normalised scores, w chosen on validation."""

    config_class = KNNRNNConfig
    config: KNNRNNConfig
    _sknn: SKNN | None = None

    def prepare(self, train: Split) -> Prepared:
        sknn = self._sknn_model()
        sknn.vocab_ = train.vocab
        sknn._fit(train, None)
        knn = {SKNN_PREFIX + name: value for name, value in sknn._state().items()}
        return {**super().prepare(train), **knn}

    def build_module(self, n_items: int) -> nn.Module:
        self._sknn = None  # built again from the prepared index
        return KNNRNNModule(n_items, self.config, self.prepared_["sample_probability"])

    def _sknn_model(self) -> SKNN:
        cfg = self.config
        return SKNN(SKNNConfig(k=cfg.k, sample_size=cfg.sample_size, similarity=cfg.similarity))

    @property
    def sknn(self) -> SKNN:
        """The SKNN part, over the training sessions' index that ``prepare`` built."""
        if self._sknn is None:
            sknn = self._sknn_model()
            sknn.vocab_ = self._require_fitted()
            state = {
                k.removeprefix(SKNN_PREFIX): v for k, v in self.prepared_.items() if k.startswith(SKNN_PREFIX)
            }
            sknn._set_state(state)
            self._sknn = sknn
        return self._sknn

    @property
    def weight(self) -> float:
        assert self.module_ is not None
        return round(float(self.module_.sknn_weight), 6)  # as chosen from the grid (a float32 buffer)

    def parts(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """(SKNN, GRU4Rec) raw scores [B, N] of the batch's prefixes."""
        gru = super().score(batch)
        knn = self.sknn.score(batch).to(gru.device, gru.dtype)
        return knn, gru

    def score(self, batch: Batch) -> torch.Tensor:
        weight = self.weight
        if weight == 0.0:  # GRU4Rec alone (also while it trains): its own scores, same ranking
            return super().score(batch)
        return mix(*self.parts(batch), weight)

    def fit(self, train: Split, valid: Split | None = None, options: TrainerOptions | None = None) -> KNNRNN:
        super().fit(train, valid, options)
        weight = self.config.weight
        if valid is not None and self.config.select_weight:
            self.weight_selection_ = self.weight_metrics(valid)
            weight = best_weight(self.weight_selection_, self.config.select_metric)
        assert self.module_ is not None
        with torch.no_grad():
            self.module_.sknn_weight.fill_(weight)
        return self

    def weight_metrics(self, valid: Split, batch_size: int = 500) -> dict[float, dict[str, float]]:
        """Metrics on ``valid`` of every weight of the grid, both parts scored once per batch."""
        assert self.module_ is not None
        weights = [round(w, 6) for w in np.linspace(0.0, 1.0, self.config.weight_grid).tolist()]
        above = np.empty((len(weights), len(valid)), dtype=np.int64)
        tied = np.empty_like(above)
        order = np.argsort(valid.prefix_lengths, kind="stable")
        self.module_.eval()
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                samples = order[start : start + batch_size]
                batch = make_batch(valid, samples, self.batch_spec).to(self.device)
                assert batch.targets is not None
                knn, gru = self.parts(batch)
                for row, weight in enumerate(weights):
                    above[row, samples], tied[row, samples] = count_above_and_tied(
                        mix(knn, gru, weight).float(), batch.targets
                    )
        lengths = valid.prefix_lengths.astype(np.int64)
        return {
            w: Evaluation(above[row], tied[row], lengths, DEFAULT_TIES).metrics()
            for row, w in enumerate(weights)
        }

    def selected_settings(self) -> dict[str, Any]:
        """What validation chose, for a refit on every training session (``workflow``)."""
        return {"weight": self.weight, "select_weight": False}
