"""DHCN (S^2-DHCN): Xia et al., "Self-Supervised Hypergraph Convolutional Networks for
Session-based Recommendation", AAAI 2021 (official code xiaxin1998/DHCN; notes 5.9).

Implements:
- the hypergraph: every training prefix is a hyperedge over its distinct items, with the
  operator A = D^-1 H B^-1 H^T built once in ``prepare`` (``graphs.hypergraph``, sparse,
  saved with the model);
- the hypergraph channel (Eq. 3-4): ``layers`` = 3 convolutions X <- A X over all items
  each batch, no weights, X_h the mean of layers 0..3 (``nn.hyperconv``);
- the session vector theta_h (Eq. 5-6): reverse position embeddings, soft attention
  without softmax over the prefix's X_h rows (``nn.position_readout``; ``positions=False``
  is the official Tmall variant z = tanh(x));
- scores theta_h . X_h[i] over items 1..N with softmax cross-entropy (Eq. 11-12);
- the line-graph channel (Eq. 7-8): Jaccard overlaps of the batch's sessions + I,
  row-normalised (``BatchSpec(line_graph=True)``, ``nn.line_conv``), 3 layers from the mean of the original
  item embeddings, averaged over layers; and the self-supervised term (Eq. 9-10) with
  the official row-and-column shuffled negatives, times ``beta`` (0.01 Diginetica, 0.02
  Tmall), added to the loss through ``extra_loss`` during training only.

Settings from the official code: d = 100, batch 100, Adam 1e-3 with no weight decay and
no LR decay, 30 epochs, every parameter ~ U(+-1/sqrt(d)); the line channel's start
vectors are detached from the item embeddings (the official code, as read at revision
087afd1, rebuilds them through NumPy), ``line_grad=True`` lets the SSL gradient reach them.

Computation (the maths unchanged): the operator is held as int32 CSR with its transpose
(backward A^T G without a transpose per step), and by default (``locality_order=True``) the
three products run with rows and columns in the reverse Cuthill-McKee order of its
pattern, X_h = P^T conv(P X) with P A P^T, so that nearby rows of A read nearby rows of X;
the results equal item order's up to float summation order (a test checks both against
the dense powers of A, values and gradients).

Scores never depend on the other sessions of a batch: the line graph feeds only the
training loss, and the hypergraph is the training one. DHCN's first release built the
hypergraph of each batch's own sessions, so in unshuffled test batches a prefix reached
its target through the next-longer prefix of the same session (DHCN issue #2, fixed by
the authors). ``batch_hyperedges=True`` reproduces that leak for comparison only: the
batch's prefixes join the training hyperedges before the convolution (a reconstruction
from the issue's description). Its evaluation then depends on batch size and order, so it
is a flag only (``--set batch_hyperedges=true``), never a preset: presets obey the contract.

Departures from the official code: a short last batch instead of the overlapping one
(which counts some test cases twice); revision 087afd1 of the official code sums the layers
where the one the notes follow (b39ec89) averages them (the average is used); model selection
on a validation split by default; ``dhcn-nowplaying``'s beta is not published (0.01 kept).
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

from sessionrec.config import check
from sessionrec.data.batching import Batch, BatchSpec
from sessionrec.data.sessions import Split
from sessionrec.graphs.hypergraph import hypergraph_operator, locality_order, prefix_hyperedges
from sessionrec.models.neural import NeuralConfig, NeuralRecommender, uniform_init_
from sessionrec.models.prepared import Prepared
from sessionrec.models.registry import register, register_preset
from sessionrec.nn.hyperconv import HyperConv, permute_rows, sparse_product
from sessionrec.nn.line_conv import LineConv, ssl_loss
from sessionrec.nn.position_readout import ReversePositionReadout
from sessionrec.nn.scoring import CachedItemColumns, score_items


@dataclasses.dataclass(frozen=True)
class DHCNConfig(NeuralConfig):
    weight_decay: float = 0.0  # the code's l2 is never used
    lr_gamma: float = 1.0  # no LR decay in the code
    layers: int = 3
    beta: float = 0.01  # weight of the self-supervised term (Diginetica; Tmall 0.02)
    positions: bool = True  # reverse position embeddings (False: the Tmall variant)
    min_weight: float = 0.0  # drop operator entries below this (Nowplaying: 0.05)
    line_grad: bool = False  # the code detaches the line channel from the embeddings
    batch_hyperedges: bool = False  # the first release's leak (issue #2): never for results
    locality_order: bool = True  # convolve in reverse Cuthill-McKee item order (same maths, faster)

    def validate(self) -> None:
        super().validate()
        check(0 <= self.layers <= 10, "layers must be in 0..10")
        check(self.beta >= 0, "beta must be >= 0")
        check(0 <= self.min_weight < 1, "min_weight must be in [0, 1)")


def _csr_tensor(matrix: sp.csr_array) -> torch.Tensor:
    """A torch CSR copy; int32 indices where they fit (int64 ones are converted at every product)."""
    matrix = sp.csr_array(matrix, copy=True)
    matrix.sort_indices()  # a reordered operator's columns come unsorted
    index = np.int32 if max(matrix.nnz, *matrix.shape) < np.iinfo(np.int32).max else np.int64
    with warnings.catch_warnings():  # "sparse CSR support is in beta": the product used is stable
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(
            torch.from_numpy(matrix.indptr.astype(index)),
            torch.from_numpy(matrix.indices.astype(index)),
            torch.from_numpy(matrix.data.astype(np.float32)),
            size=matrix.shape,
            check_invariants=False,  # sorted SciPy CSR
        )


class DHCNModule(CachedItemColumns):
    def __init__(self, n_items: int, config: DHCNConfig, operator: sp.csr_array, degrees: np.ndarray) -> None:
        super().__init__()
        dim, self.config = config.embedding_dim, config
        self.embedding = nn.Embedding(n_items + 1, dim)
        self.hyper = HyperConv(config.layers)
        self.line = LineConv(config.layers)
        self.readout = ReversePositionReadout(dim, config.positions)
        # the default convolution runs with items in a cache-friendly order (``locality_order``):
        # X_h = P^T conv(P X) with the operator P A P^T; the leaky variant stays in item order
        order = np.arange(n_items + 1)
        if config.locality_order and not config.batch_hyperedges:
            order = locality_order(operator)
            operator = sp.csr_array(operator[order][:, order])
        self.reordered = not np.array_equal(order, np.arange(n_items + 1))
        self.register_buffer("order", torch.from_numpy(order), persistent=False)
        self.register_buffer("inverse", torch.from_numpy(np.argsort(order)), persistent=False)
        self.register_buffer("operator", _csr_tensor(operator), persistent=False)  # saved as prepared
        self.register_buffer("operator_t", _csr_tensor(sp.csr_array(operator.T)), persistent=False)
        self.register_buffer("degrees", torch.from_numpy(degrees).float(), persistent=False)
        self._ssl: torch.Tensor | None = None
        self._items_h: torch.Tensor | None = None  # X_h kept while evaluating (no gradient)
        uniform_init_(self, dim)

    def drop_item_columns(self) -> None:
        super().drop_item_columns()
        self._items_h = None

    def item_vectors(self, batch: Batch) -> torch.Tensor:
        """X_h [N + 1, d]: the hypergraph channel over every item."""

        def step(x: torch.Tensor) -> torch.Tensor:
            return sparse_product(self.operator, self.operator_t, x)

        if self.config.batch_hyperedges:
            return self.hyper(self.embedding.weight, self._leaky_step(batch))
        if not self.reordered:
            return self.hyper(self.embedding.weight, step)
        ordered = permute_rows(self.embedding.weight, self.order, self.inverse)
        return permute_rows(self.hyper(ordered, step), self.inverse, self.order)

    def _leaky_step(self, batch: Batch):  # type: ignore[no-untyped-def]
        """A' X with the batch's prefixes added as hyperedges: D'^-1 (D A X + H_b B_b^-1 H_b^T X)."""
        graph = batch.graph
        assert graph is not None
        sessions = torch.arange(batch.size, device=graph.nodes.device)[:, None].expand_as(graph.nodes)
        items, owner = graph.nodes[graph.node_mask], sessions[graph.node_mask]
        sizes = graph.node_mask.sum(1).clamp(min=1).to(self.degrees.dtype)
        degrees = self.degrees.clone().index_add_(0, items, torch.ones_like(items, dtype=self.degrees.dtype))
        scale = torch.where(degrees > 0, 1.0 / degrees.clamp(min=1e-12), torch.zeros_like(degrees))

        def step(x: torch.Tensor) -> torch.Tensor:
            base = self.degrees.unsqueeze(1) * sparse_product(self.operator, self.operator_t, x)
            means = x.new_zeros(batch.size, x.shape[1]).index_add(0, owner, x[items]) / sizes.unsqueeze(1)
            return scale.unsqueeze(1) * base.index_add(0, items, means[owner])

        return step

    def forward(self, batch: Batch) -> torch.Tensor:
        frozen = not self.training and not torch.is_grad_enabled() and not self.config.batch_hyperedges
        items_h = self._items_h if frozen else None
        if items_h is None:
            items_h = self.item_vectors(batch)
            self._items_h = items_h if frozen else None
        states = items_h[batch.items] * batch.mask.unsqueeze(2).to(items_h.dtype)
        session = self.readout(states, batch.mask, batch.lengths)
        if self.training and self.config.beta > 0:
            assert batch.line_graph is not None, "DHCN trains on batches with BatchSpec(line_graph=True)"
            weight = self.embedding.weight if self.config.line_grad else self.embedding.weight.detach()
            mask = batch.mask.unsqueeze(2).to(weight.dtype)
            start = (weight[batch.items] * mask).sum(1) / batch.lengths.unsqueeze(1).to(weight.dtype)
            self._ssl = self.config.beta * ssl_loss(session, self.line(start, batch.line_graph))
        return score_items(session, items_h, self.config.bf16_scoring)

    def extra_loss(self) -> torch.Tensor | float:
        """The self-supervised term of the last training forward (0 when beta = 0)."""
        loss, self._ssl = self._ssl, None
        return 0.0 if loss is None else loss


@register("dhcn")
class DHCN(NeuralRecommender):
    """S^2-DHCN with the official code's Diginetica settings (d=100, batch 100, 3 layers, beta 0.01)."""

    config_class = DHCNConfig
    config: DHCNConfig
    prepare_keys = ("min_weight",)

    @property
    def batch_spec(self) -> BatchSpec:
        return BatchSpec(graph=self.config.batch_hyperedges, line_graph=self.config.beta > 0)

    def prepare(self, train: Split) -> Prepared:
        operator, degrees = hypergraph_operator(
            prefix_hyperedges(train), train.n_items, self.config.min_weight
        )
        return {"operator": operator, "item_degrees": degrees}

    def build_module(self, n_items: int) -> nn.Module:
        if "operator" not in self.prepared_:
            raise RuntimeError("DHCN must be prepared on its training sessions first")
        operator = self.prepared_["operator"]
        assert sp.issparse(operator)
        return DHCNModule(
            n_items, self.config, sp.csr_array(operator), np.asarray(self.prepared_["item_degrees"])
        )


register_preset(
    "dhcn-tmall", "dhcn", "the official Tmall settings (beta 0.02, no positions)", beta=0.02, positions=False
)
register_preset(
    "dhcn-nowplaying", "dhcn", "the official Nowplaying operator (entries < 0.05 dropped)", min_weight=0.05
)
