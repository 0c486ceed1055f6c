"""CSRM: Wang et al., "A Collaborative Session-based Recommendation Approach with Parallel
Memory Modules", SIGIR 2019 (official code wmeirui/CSRM_SIGIR2019, TF; notes 5.6).

Implements:
- the inner memory encoder: NARM's encoder (``nn.NARMEncoder``) with two GRUs,
  the global one's last state c_g and the local one's attentive c_l =
  sum_j alpha_j h_j, alpha = masked softmax of v^T sigma(A1 h_t + A2 h_j);
- the outer memory of recent sessions (``nn.SessionMemory``): cosine similarity
  of c_l to the stored c_l of the last ``memory_capacity`` = 10,000 sessions, softmax over
  the top ``neighbours`` = 512, m = their weighted sum; the batch's c_l are then written;
- c_l, c_g and m z-normalised over features, the scalar fusion gate
  f = sigma(w_l . c_l + w_m . m + w_g . c_g) and c = f [c_l; c_g] + (1 - f) [m; m],
  dropout 0.5, NARM's bilinear decoder over items 1..N, softmax cross-entropy.
The paper is not among ``papers/``; this follows notes 5.6 (paper and official code).

Departure from the official code, on purpose: the memory is written only while training.
The code keeps writing during validation and test, so a test session is recommended
from the test sessions scored before it (transductive) and its scores depend on the order
and batching of the test set. Here scoring reads a frozen memory of training sessions:
the last ``memory_capacity`` training prefixes of the training run (saved with the weights;
a selected epoch brings back its own). ``transductive=True`` restores the code's writes
while scoring (scores then depend on what was scored before).
Other departures:
- the code empties the memory at each epoch's start; here it is a continuous FIFO (its
  rows are at most ``memory_capacity / batch_size`` = 20 batches old either way), so a
  run resumed within an epoch continues with the memory it checkpointed;
- dimensions: the code's defaults (150/150) are for LastFM; here NARM's d = 50, h = 100
  (notes 5.6), which the CSRM paper's Diginetica/Yoochoose runs follow [inferred];
- sigmoid GRU gates, inverted dropout, model selection on the last 10% of the training
  sessions, padding row 0 never scored (as ``models.narm``).
Also from the code: Adam lr 5e-4 without L2 or decay, batch 512, 50 epochs, patience 10
(on validation), weights N(0, 2/fan_in).
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import torch
from torch import nn
from torch.nn import functional as F

from sessionrec.config import check
from sessionrec.data.batching import Batch, BatchSpec
from sessionrec.models.narm import narm_init_
from sessionrec.models.neural import NeuralConfig, NeuralRecommender
from sessionrec.models.registry import register
from sessionrec.nn.narm_encoder import NARMEncoder
from sessionrec.nn.scoring import CachedItemColumns, lookup_items
from sessionrec.nn.session_memory import SessionMemory


@dataclasses.dataclass(frozen=True)
class CSRMConfig(NeuralConfig):
    embedding_dim: int = 50
    hidden_dim: int = 100
    batch_size: int = 512
    epochs: int = 50
    lr: float = 5e-4
    weight_decay: float = 0.0
    lr_gamma: float = 1.0  # no learning-rate decay
    max_length: int = 19  # as NARM (``keep`` as in models.narm)
    keep: Literal["last", "first"] = "last"
    embedding_dropout: float = 0.25
    output_dropout: float = 0.5
    memory_capacity: int = 10_000  # sessions kept in the outer memory
    neighbours: int = 512  # k most similar memory rows read (the code's memory_size)
    transductive: bool = False  # also write scored (validation / test) sessions

    def validate(self) -> None:
        super().validate()
        check(self.hidden_dim > 0, "hidden_dim must be positive")
        check(self.max_length >= 1, "max_length must be >= 1")
        check(0 <= self.embedding_dropout < 1, "embedding_dropout must be in [0, 1)")
        check(0 <= self.output_dropout < 1, "output_dropout must be in [0, 1)")
        check(self.memory_capacity >= 1, "memory_capacity must be positive")
        check(1 <= self.neighbours <= self.memory_capacity, "neighbours must be in 1..memory_capacity")


def standardise(x: torch.Tensor) -> torch.Tensor:
    """z-normalisation over the features, without gain or bias."""
    return F.layer_norm(x, x.shape[-1:])


class CSRMModule(CachedItemColumns):
    def __init__(self, n_items: int, config: CSRMConfig) -> None:
        super().__init__()
        hidden = config.hidden_dim
        self.bf16, self.transductive = config.bf16_scoring, config.transductive
        self.embedding = nn.Embedding(n_items + 1, config.embedding_dim)
        self.encoder = NARMEncoder(
            config.embedding_dim, hidden, config.embedding_dropout, "sigmoid", True, separate_local=True
        )
        self.memory = SessionMemory(hidden, config.memory_capacity, config.neighbours)
        self.gate_local = nn.Linear(hidden, 1, bias=False)
        self.gate_memory = nn.Linear(hidden, 1, bias=False)
        self.gate_global = nn.Linear(hidden, 1, bias=False)
        self.output_dropout = nn.Dropout(config.output_dropout)
        self.bilinear = nn.Linear(2 * hidden, config.embedding_dim, bias=False)
        narm_init_(self, n_items)

    def session_vector(self, batch: Batch) -> torch.Tensor:
        global_vector, local_vector = self.encoder(lookup_items(self.embedding.weight, batch.items), batch)
        neighbours = self.memory.read(local_vector)
        if self.training or self.transductive:
            self.memory.write(local_vector)
        local_vector, global_vector = standardise(local_vector), standardise(global_vector)
        neighbours = standardise(neighbours)
        gate = torch.sigmoid(
            self.gate_local(local_vector) + self.gate_memory(neighbours) + self.gate_global(global_vector)
        )
        inner = torch.cat([local_vector, global_vector], dim=1)
        outer = torch.cat([neighbours, neighbours], dim=1)
        return self.bilinear(self.output_dropout(gate * inner + (1 - gate) * outer))

    def forward(self, batch: Batch) -> torch.Tensor:
        return self.score_against_items(self.session_vector(batch), self.embedding.weight, self.bf16)


@register("csrm")
class CSRM(NeuralRecommender):
    """CSRM: NARM's encoder plus a memory of recent training sessions."""

    config_class = CSRMConfig
    config: CSRMConfig
    item_scoring = "inner_product"  # scores = session_vector(batch) @ embedding[1:]^T (sessionrec.ann)

    @property
    def batch_spec(self) -> BatchSpec:
        return BatchSpec(max_length=self.config.max_length, keep=self.config.keep)

    def build_module(self, n_items: int) -> nn.Module:
        return CSRMModule(n_items, self.config)
