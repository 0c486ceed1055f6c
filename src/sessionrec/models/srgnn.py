"""SR-GNN: Wu et al., "Session-based Recommendation with Graph Neural Networks", AAAI 2019.

Implements, following the official PyTorch code (notes 5.1):

- the session graph (built in the data pipeline, ``data.batching.session_graph``):
  binary edges, A_in = D_in^-1 A^T and A_out = D_out^-1 A row-normalised (Eq. 1);
- the gated graph cell, ``steps`` iterations (Eq. 1-5, ``nn.GGNNCell``);
- the soft-attention readout without softmax (Eq. 6) and the hybrid session vector
  s_h = W3 [s_g ; s_l] (Eq. 7), or s_g alone with ``hybrid=False``;
- scores s_h . e_i over items 1..N (Eq. 8) with softmax cross-entropy (the code's
  loss; the paper prints a binary cross-entropy it does not use).

Departures from the paper, all as in the official PyTorch code:
- edges are binary (the paper counts repeated transitions);
- every parameter, embeddings included, is drawn from U(-1/sqrt(d), 1/sqrt(d));
  the padding row 0 is trained like any other row but never scored;
- the learning rate decays x0.1 every 3 epochs, stepped at the start of each epoch.
Departures from the official code:
- prefixes are padded to the batch's longest one, not to the dataset's (no effect on
  the scores: the padding node is isolated and masked out of the readout);
- model selection on a validation split by default (``--select-on test`` for the
  papers' best-epoch-on-test habit).
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from sessionrec.config import check
from sessionrec.data.batching import Batch, BatchSpec
from sessionrec.models.neural import NeuralConfig, NeuralRecommender, uniform_init_
from sessionrec.models.registry import register, register_preset
from sessionrec.nn.ggnn import GGNNCell
from sessionrec.nn.readout import SoftAttentionReadout
from sessionrec.nn.scoring import CachedItemColumns, lookup_items


@dataclasses.dataclass(frozen=True)
class SRGNNConfig(NeuralConfig):
    steps: int = 1  # GGNN propagation steps
    hybrid: bool = True  # s_h = W3[s_g; s_l]; False: s_g only (--nonhybrid)

    def validate(self) -> None:
        super().validate()
        check(1 <= self.steps <= 10, "steps must be in 1..10")


class SRGNNModule(CachedItemColumns):
    def __init__(self, n_items: int, config: SRGNNConfig) -> None:
        super().__init__()
        dim = config.embedding_dim
        self.bf16 = config.bf16_scoring
        self.hybrid = config.hybrid
        self.embedding = nn.Embedding(n_items + 1, dim)
        self.gnn = GGNNCell(dim, config.steps)
        self.readout = SoftAttentionReadout(dim)
        self.linear_transform = nn.Linear(2 * dim, dim)
        uniform_init_(self, dim)

    def session_states(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-position item states [B, L, d] after the GNN, and the last one [B, d]."""
        graph = batch.graph
        assert graph is not None, "SR-GNN needs batches built with BatchSpec(graph=True)"
        hidden = self.gnn(lookup_items(self.embedding.weight, graph.nodes), graph.adj_in, graph.adj_out)
        states = hidden.gather(1, graph.alias.unsqueeze(2).expand(-1, -1, hidden.shape[2]))
        last = states[torch.arange(batch.size, device=states.device), batch.lengths - 1]
        return states, last

    def session_vector(self, batch: Batch) -> torch.Tensor:
        states, last = self.session_states(batch)
        global_vector = self.readout(states, batch.mask, last)
        if not self.hybrid:
            return global_vector
        return self.linear_transform(torch.cat([global_vector, last], dim=1))

    def forward(self, batch: Batch) -> torch.Tensor:
        return self.score_against_items(self.session_vector(batch), self.embedding.weight, self.bf16)


@register("srgnn")
class SRGNN(NeuralRecommender):
    """SR-GNN with the official PyTorch code's settings (d=100, batch 100, 1 step)."""

    config_class = SRGNNConfig
    config: SRGNNConfig
    item_scoring = "inner_product"  # scores = session_vector(batch) @ embedding[1:]^T (sessionrec.ann)

    @property
    def batch_spec(self) -> BatchSpec:
        return BatchSpec(graph=True)

    def build_module(self, n_items: int) -> nn.Module:
        return SRGNNModule(n_items, self.config)


register_preset("srgnn-nonhybrid", "srgnn", "global session vector only (--nonhybrid)", hybrid=False)
register_preset("srgnn-bf16", "srgnn", "bfloat16 autocast on the item-scoring matmul", bf16_scoring=True)
