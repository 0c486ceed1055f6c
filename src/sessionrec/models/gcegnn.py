"""GCE-GNN: Wang et al., "Global Context Enhanced Graph Neural Networks for Session-based
Recommendation", SIGIR 2020 (official code CCIIPLab/GCE-GNN; notes 5.5).

Implements:
- the global graph (section 4.1): items co-occurring within distance epsilon = 3 in a
  training session (both directions, weight = count, self-pairs kept), built in
  ``prepare`` from the training sessions only (``graphs.cooccurrence``), reduced to a
  fixed table of each item's top ``sample_num`` = 12 neighbours (``graphs.neighbours``:
  rows with fewer are filled by a seeded draw with replacement, once, as ``handle_adj``
  does); the table is saved with the model;
- the session-level item representation (Eq. 1-3): attention over the session graph's
  four edge types, no weight matrix (``nn.relation_attention``; the relation codes come
  from the data pipeline, ``BatchSpec(relations=True)``);
- the global-level representation (Eq. 4-7): session-aware attention over the fixed
  neighbours with the raw count as a feature, ``n_iter`` hops, ReLU(W3 [h; h_N])
  (``nn.global_aggregation``);
- h = dropout(h_local, dropout_local) + dropout(h_global, dropout_global) (Eq. 9 of the
  code: a sum), mapped back to positions;
- the readout with reverse position embeddings and no softmax (Eq. 11-13,
  ``nn.position_readout``) and scores S . e_i over items 1..N with softmax cross-entropy.

From the official code, where the paper is vaguer: every parameter ~ U(+-1/sqrt(d)); Adam
with weight decay 1e-5; LR x0.1 every 3 epochs stepped after each epoch; 20 epochs,
patience 3; the dataset settings as presets (``gcegnn`` = Diginetica: 2 hops, dropout_gcn
0.2, dropout_local 0; ``gcegnn-tmall``: 1 hop, 0.6, 0.5; ``gcegnn-nowplaying``: 1 hop, 0, 0;
dropout_global 0.5 everywhere).

Computation: the item table is looked up once per batch, for the innermost pairs R_0 of
the global hops, which hold every node's item; the nodes' vectors and the session means
are read from those rows (a test checks scores and gradients against the direct
three-lookup formulation).

Departures from the official code (none changes a score at evaluation):
- the global hops are computed once per distinct (session, item) pair of the batch, not
  on the official [B, U, 12^H, d] expansion, so a dropout mask is shared by the copies of a
  pair (``nn.global_aggregation``);
- neighbours tied in weight at the top-12 cut are taken by smaller item index (the
  official code keeps its dict's insertion order); rows with 12 or more neighbours keep
  their top 12 unpermuted (the official random permutation changes nothing: the
  aggregation is a weighted sum);
- prefixes are padded to the batch's longest one, not to the dataset's, and padding
  nodes are left out of every attention;
- model selection on a validation split by default (``--select-on test`` for the paper's
  best-epoch-on-test reporting).
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import torch
from torch import nn
from torch.nn import functional as F

from sessionrec.config import check
from sessionrec.data.batching import Batch, BatchSpec
from sessionrec.data.sessions import Split
from sessionrec.graphs.cooccurrence import cooccurrence_by_distance
from sessionrec.graphs.neighbours import top_neighbours
from sessionrec.models.neural import NeuralConfig, NeuralRecommender, uniform_init_
from sessionrec.models.prepared import Prepared
from sessionrec.models.registry import register, register_preset
from sessionrec.nn.global_aggregation import GlobalAggregation, neighbourhood_levels
from sessionrec.nn.position_readout import ReversePositionReadout
from sessionrec.nn.relation_attention import RelationAttention
from sessionrec.nn.scoring import CachedItemColumns, lookup_items


@dataclasses.dataclass(frozen=True)
class GCEGNNConfig(NeuralConfig):
    epochs: int = 20
    patience: int = 3
    lr_step_at: Literal["start", "end"] = "end"
    n_iter: int = 2  # global hops (Diginetica 2; Tmall, Nowplaying 1)
    distance: int = 3  # epsilon: co-occurrence window of the global graph
    sample_num: int = 12  # neighbours per item in the fixed table
    dropout_gcn: float = 0.2  # inside each global hop
    dropout_local: float = 0.0  # on the session-level representation
    dropout_global: float = 0.5  # on the global-level representation

    def validate(self) -> None:
        super().validate()
        check(1 <= self.n_iter <= 4, "n_iter must be in 1..4")
        check(self.distance >= 1, "distance must be >= 1")
        check(self.sample_num >= 1, "sample_num must be >= 1")
        for name in ("dropout_gcn", "dropout_local", "dropout_global"):
            check(0 <= getattr(self, name) < 1, f"{name} must be in [0, 1)")


class GCEGNNModule(CachedItemColumns):
    neighbours: torch.Tensor
    neighbour_weights: torch.Tensor

    def __init__(
        self, n_items: int, config: GCEGNNConfig, neighbours: torch.Tensor, weights: torch.Tensor
    ) -> None:
        super().__init__()
        dim, self.config = config.embedding_dim, config
        self.embedding = nn.Embedding(n_items + 1, dim)
        self.local = RelationAttention(dim)
        self.global_ = GlobalAggregation(dim, config.n_iter, config.dropout_gcn)
        self.readout = ReversePositionReadout(dim)
        self.register_buffer("neighbours", neighbours, persistent=False)  # saved as prepared
        self.register_buffer("neighbour_weights", weights, persistent=False)
        uniform_init_(self, dim)

    def forward(self, batch: Batch) -> torch.Tensor:
        config, graph = self.config, batch.graph
        assert graph is not None and graph.relations is not None, "GCE-GNN needs BatchSpec(relations=True)"
        weight = self.embedding.weight
        hood = neighbourhood_levels(
            graph.nodes, graph.node_mask, self.neighbours, self.neighbour_weights, config.n_iter
        )
        # the one lookup of the table: R_0 holds every node's item (one sparse gradient, not three)
        innermost = lookup_items(weight, hood.items)
        hidden = innermost.new_zeros((*graph.nodes.shape, innermost.shape[1]))  # padding nodes: 0
        hidden[graph.node_mask] = F.embedding(hood.innermost_rows, innermost)
        local = self.local(hidden, graph.relations)
        clicks = hidden.gather(1, graph.alias.unsqueeze(2).expand(-1, -1, hidden.shape[2]))  # E[s_t]
        mask = batch.mask.to(hidden.dtype).unsqueeze(2)
        session_mean = (clicks * mask).sum(1) / batch.lengths.unsqueeze(1).to(hidden.dtype)
        global_ = self.global_(innermost, session_mean, hood, graph.node_mask)
        nodes = F.dropout(local, config.dropout_local, self.training) + F.dropout(
            global_, config.dropout_global, self.training
        )
        states = nodes.gather(1, graph.alias.unsqueeze(2).expand(-1, -1, nodes.shape[2]))
        session = self.readout(states, batch.mask, batch.lengths)
        return self.score_against_items(session, weight, config.bf16_scoring)


@register("gcegnn")
class GCEGNN(NeuralRecommender):
    """GCE-GNN with the official code's Diginetica settings (d=100, batch 100, 2 hops, 12 neighbours)."""

    config_class = GCEGNNConfig
    config: GCEGNNConfig
    prepare_keys = ("distance", "sample_num", "seed")

    @property
    def batch_spec(self) -> BatchSpec:
        return BatchSpec(relations=True)

    def prepare(self, train: Split) -> Prepared:
        config = self.config
        counts = cooccurrence_by_distance(train.sessions, train.n_items, config.distance).within()
        neighbours, weights = top_neighbours(counts, config.sample_num, config.seed)
        return {"neighbours": neighbours, "neighbour_weights": weights}

    def build_module(self, n_items: int) -> nn.Module:
        if "neighbours" not in self.prepared_:
            raise RuntimeError("GCE-GNN must be prepared on its training sessions first")
        neighbours = torch.from_numpy(self.prepared_["neighbours"]).long()
        weights = torch.from_numpy(self.prepared_["neighbour_weights"]).float()
        return GCEGNNModule(n_items, self.config, neighbours, weights)


register_preset(
    "gcegnn-tmall", "gcegnn", "the official Tmall settings", n_iter=1, dropout_gcn=0.6, dropout_local=0.5
)
register_preset(
    "gcegnn-nowplaying",
    "gcegnn",
    "the official Nowplaying settings",
    n_iter=1,
    dropout_gcn=0.0,
    dropout_local=0.0,
)
