"""A toy neural model with a prepared global structure, to test the fit path end to end.

``toy-transitions`` scores items as ``w * P[last item] + s . e_i``: a learned weight on
the row-normalised transition graph that ``prepare`` builds from the training sessions
(``graphs.transitions``), plus the mean of the session's item embeddings against every
item. The graph is a non-persistent buffer: the weights file does not hold it, so a
loaded model scores correctly only if the prepared structure came back with it.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from sessionrec.data.batching import Batch
from sessionrec.data.sessions import Split
from sessionrec.graphs.transitions import row_normalise, transition_counts
from sessionrec.models.neural import NeuralConfig, NeuralRecommender
from sessionrec.models.prepared import Prepared
from sessionrec.models.registry import register
from sessionrec.nn.scoring import score_items


@dataclasses.dataclass(frozen=True)
class ToyConfig(NeuralConfig):
    self_loops: bool = False


class ToyModule(nn.Module):
    transitions: torch.Tensor

    def __init__(self, n_items: int, dim: int, transitions: torch.Tensor) -> None:
        super().__init__()
        self.embedding = nn.Embedding(n_items + 1, dim)
        self.weight = nn.Parameter(torch.tensor(1.0))
        self.register_buffer("transitions", transitions, persistent=False)

    def forward(self, batch: Batch) -> torch.Tensor:
        mask = batch.mask.unsqueeze(2).to(self.embedding.weight.dtype)
        session = (self.embedding(batch.items) * mask).sum(1) / mask.sum(1)
        return (
            score_items(session, self.embedding.weight) + self.weight * self.transitions[batch.last_items, 1:]
        )


@register("toy-transitions")
class ToyTransitions(NeuralRecommender):
    config_class = ToyConfig
    config: ToyConfig
    prepare_keys = ("self_loops",)  # cached on disk, as a costly structure would be

    def prepare(self, train: Split) -> Prepared:
        counts = transition_counts(train.sessions, train.n_items, self_loops=self.config.self_loops)
        return {"transitions": row_normalise(counts)}

    def build_module(self, n_items: int) -> nn.Module:
        dense = torch.from_numpy(self.prepared_["transitions"].toarray())
        return ToyModule(n_items, self.config.embedding_dim, dense)


FAST = {"embedding_dim": 16, "batch_size": 32, "epochs": 3, "lr": 0.02, "lr_step": 100}
CONTRACT = {"toy-transitions": {"overrides": FAST, "pattern_metric": "HR@5", "pattern_threshold": 80.0}}
