"""I3GN: Zheng et al., "Balancing Multi-level Interactions for Session-based Recommendation"
(Intra- and Inter-Session Interaction-aware Graph-enhanced Network), 2019. No official code
exists (notes 4.1): the paper decides, and the notes settle what it leaves open.

Implements:
- Session Merging Module (Sec. 3.3): the k = 120 neighbours among the m = 1000 most recent
  training sessions sharing an item with the prefix, binary cosine >= 0.5 (Eq. 1;
  ``graphs.neighbour_sessions``). Training prefixes' neighbours are retrieved once, in ``prepare``
  (cached on disk, saved with the model); any other prefix (validation, test, serving)
  gets its neighbours from the same training pool at collate time, with the same sparse
  products. The inter-session graph (undirected consecutive-item edges of the prefix and
  its neighbours, ``data.inter_graph``) is built in the batch pipeline (``BatchSpec.extend``);
- Intra-session Module = SR-GNN (Eq. 2-6): directed session graph, gated graph cell,
  soft attention without softmax, s_intra = W3 [s_g ; s_l];
- Inter-session Module (Eq. 7-11): ``layers`` GAT layers with ``heads`` heads, LeakyReLU
  0.2, self-loops; the hidden layers concatenate the heads, the output layer averages them,
  each followed by the sigmoid; its own soft-attention readout over the prefix's nodes and
  s_inter = W3' [s_g ; s_l]. The layers are PyTorch Geometric's ``GATConv`` over the
  batch's graphs as one disjoint union (``gat_backend="pyg"``, default). ``"blocks"``
  computes the same function (tested equal) with ``nn.gat.GATLayer`` on the message-flow
  blocks of the prefix nodes' L-hop neighbourhood only (the readout reads nothing else),
  its output layer aggregating the 8d inputs per head before transforming them; on
  Diginetica's small graphs (about 24 nodes) both cost the same, larger k or longer
  sessions favour the blocks;
- fusion gate f = sigmoid(W1 s_inter + W2 s_intra + b), s_h = f s_inter + (1 - f) s_intra
  (Eq. 12); scores s_h . v_i over items 1..N (Eq. 13) with softmax cross-entropy (what
  every code of the family optimises; Eq. 15 prints a binary form);
- two learning-rate schedules (Sec. 4.4): x0.1 every ``inter_lr_step`` = 5 epochs for the
  inter-session module, every ``lr_step`` = 3 for the rest (embeddings and fusion included);
- variants (Sec. 5.2-5.4) as presets: ``i3gn-inter`` (no intra module), ``i3gn-intra`` (no
  inter module: SR-GNN with I3GN's settings), ``i3gn-avg`` (s_inter = mean of the embeddings
  of every node of the inter-session graph, Eq. 17), ``i3gn-alpha`` (fixed mean weights
  1/|N_i| instead of attention, Eq. 18), ``i3gn-beta`` (s_g = mean of the prefix's node
  vectors, Eq. 19), ``i3gn-alpha-beta`` (both). k (0 = the prefix alone), heads and layers
  are config values for the studies of Sec. 5.3 and 5.5.

Settings: d = 50 (Diginetica, the default; ``embedding_dim=100`` on Yoochoose), batch 128,
Adam 1e-3, parameters ~ N(0, 0.1) (Sec. 4.4).

Where the paper is silent or departs from what can be reproduced (notes 4.1):
- the pool is the *training* sessions only, and a training prefix never retrieves its own
  session; with ``train_pool="past"`` (default) only sessions that ended before its own
  are candidates, as a test prefix's pool lies in its past (DGTN's rule, without its leak of
  the label of shorter prefixes); ``"all"``: every other training session;
- |s| in Eq. 1 counts distinct items (the norm of the binary vectors the paper defines);
  equal similarities: the more recent session first;
- the schedule steps at the end of epochs 3, 6, ... (``lr_step_at="end"``: the paper's
  "every three epochs"; SR-GNN's code steps at their start);
- GAT attention dropout is not given: ``gat_dropout=0`` (DGTN's 0.6 is a flag away);
- weight decay is not given: 1e-5 on every parameter, as SR-GNN and DGTN;
- ``init="uniform"`` gives the U(+-1/sqrt(d)) of the family's codes instead of N(0, 0.1);
- model selection on a validation split by default, like every model here.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

# a module import: graphs.neighbour_sessions itself imports models._sparse (cycle-safe this way)
import sessionrec.graphs.neighbour_sessions as retrieval
from sessionrec.config import check
from sessionrec.data.batching import Batch, BatchSource, BatchSpec
from sessionrec.data.inter_graph import InterSessionGraph, inter_session_graph
from sessionrec.data.sessions import Sessions, Split, prefix_samples
from sessionrec.models._sparse import prefix_matrix
from sessionrec.models.neural import NeuralConfig, NeuralRecommender
from sessionrec.models.prepared import Prepared
from sessionrec.models.registry import register, register_preset
from sessionrec.nn.fusion import FusionGate
from sessionrec.nn.gat import GATLayer
from sessionrec.nn.ggnn import GGNNCell
from sessionrec.nn.mean_aggregation import MeanAggregationConv
from sessionrec.nn.readout import SoftAttentionReadout
from sessionrec.nn.scoring import CachedItemColumns, lookup_items
from sessionrec.training import ParameterGroup


@dataclasses.dataclass(frozen=True)
class I3GNConfig(NeuralConfig):
    embedding_dim: int = 50  # Diginetica; 100 on Yoochoose (Sec. 4.4)
    batch_size: int = 128
    lr_step_at: Literal["start", "end"] = "end"
    inter_lr_step: int = 5  # decay period of the inter-session module (lr_step: the rest)
    # neighbour retrieval (Sec. 3.3)
    k: int = 120  # neighbour sessions; 0 = the prefix alone in the inter-session graph
    sample_size: int = 1000  # m most recent candidates (0 = all)
    threshold: float = 0.5  # minimum cosine similarity
    train_pool: Literal["past", "all"] = "past"  # training prefixes: older sessions / any other
    # modules and variants (Sec. 5.2-5.4)
    intra: bool = True
    inter: bool = True
    inter_encoder: Literal["gat", "mean", "avg"] = "gat"  # attention / alpha (Eq. 18) / avg (Eq. 17)
    inter_readout: Literal["attention", "mean"] = "attention"  # mean: beta (Eq. 19)
    heads: int = 8
    layers: int = 2
    gat_dropout: float = 0.0
    gat_backend: Literal["pyg", "blocks"] = "pyg"  # PyG GATConv on the graph / nn.gat.GATLayer on blocks
    steps: int = 1  # GGNN steps of the intra module
    init: Literal["normal", "uniform"] = "normal"  # N(0, 0.1) (paper) / U(+-1/sqrt(d)) (codes)

    def validate(self) -> None:
        super().validate()
        check(self.inter_lr_step > 0, "inter_lr_step must be positive")
        check(0 <= self.k <= 10_000, "k must be in 0..10000")
        check(self.sample_size >= 0, "sample_size must be >= 0")
        check(0.0 <= self.threshold <= 1.0, "threshold must be in [0, 1]")
        check(self.intra or self.inter, "enable the intra or the inter module (or both)")
        check(1 <= self.heads <= 64, "heads must be in 1..64")
        check(1 <= self.layers <= 8, "layers must be in 1..8")
        check(0.0 <= self.gat_dropout < 1.0, "gat_dropout must be in [0, 1)")
        check(1 <= self.steps <= 10, "steps must be in 1..10")

    @property
    def uses_full_graph(self) -> bool:
        """Whether the graph layers run on the whole graph (PyG) rather than on blocks."""
        return self.inter_encoder == "gat" and self.gat_backend == "pyg"


def graph_layers(config: I3GNConfig) -> nn.ModuleList:
    """The inter-session graph layers: hidden ones concatenate the heads, the last averages them."""
    dim, heads = config.embedding_dim, config.heads
    layers: list[nn.Module] = []
    for index in range(config.layers):
        in_dim = dim if index == 0 else heads * dim
        concat = index < config.layers - 1
        if config.inter_encoder == "mean":
            layers.append(MeanAggregationConv(in_dim, dim, heads, concat))
        elif config.gat_backend == "blocks":
            layers.append(GATLayer(in_dim, dim, heads, concat, config.gat_dropout))
        else:
            try:
                from torch_geometric.nn import GATConv
            except ImportError as exc:  # pragma: no cover
                raise ImportError(
                    "gat_backend='pyg' needs PyTorch Geometric: pip install 'sessionrec[graph]'"
                ) from exc
            layers.append(GATConv(in_dim, dim, heads, concat, negative_slope=0.2, dropout=config.gat_dropout))
    return nn.ModuleList(layers)


class InterSessionModule(nn.Module):
    """Graph layers over the inter-session graph, readout of the prefix's nodes, W3' (Eq. 7-11)."""

    def __init__(self, config: I3GNConfig) -> None:
        super().__init__()
        dim = config.embedding_dim
        self.encoder, self.full_graph = config.inter_encoder, config.uses_full_graph
        self.layers = graph_layers(config) if config.inter_encoder != "avg" else nn.ModuleList()
        self.readout = SoftAttentionReadout(dim) if config.inter_readout == "attention" else None
        self.linear_transform = nn.Linear(2 * dim, dim) if config.inter_encoder != "avg" else None

    def node_states(self, nodes: torch.Tensor, graph: InterSessionGraph) -> torch.Tensor:
        """States [B, L, d] of the prefix positions after the graph layers and their sigmoid."""
        if self.full_graph:  # PyG's GATConv over every node of the graph
            for layer in self.layers:
                nodes = torch.sigmoid(layer(nodes, graph.edge_index))
            return nodes[graph.alias]
        assert graph.output_alias is not None and len(graph.blocks) == len(self.layers)
        hidden = nodes
        for index, (layer, (edges, targets)) in enumerate(zip(self.layers, graph.blocks, strict=True)):
            out = torch.sigmoid(layer(hidden, edges, targets))
            if index < len(self.layers) - 1:  # scatter the targets' states back among the nodes
                hidden = out.new_zeros(len(nodes), out.shape[1]).index_copy(0, targets, out)
        return out[graph.output_alias]

    def forward(self, embedding: torch.Tensor, graph: InterSessionGraph, batch: Batch) -> torch.Tensor:
        nodes = lookup_items(embedding, graph.nodes)
        if self.encoder == "avg":  # Eq. 17: the mean of every node vector, no graph layer
            total = nodes.new_zeros(batch.size, nodes.shape[1]).index_add_(0, graph.node_batch, nodes)
            count = torch.bincount(graph.node_batch, minlength=batch.size).clamp(min=1)
            return total / count[:, None].to(nodes.dtype)
        states = self.node_states(nodes, graph)  # [B, L, d]
        mask = batch.mask
        last = states[torch.arange(batch.size, device=states.device), batch.lengths - 1]
        if self.readout is not None:
            global_vector = self.readout(states, mask, last)
        else:  # Eq. 19
            global_vector = (states * mask[:, :, None]).sum(1) / batch.lengths[:, None].to(states.dtype)
        assert self.linear_transform is not None
        return self.linear_transform(torch.cat([global_vector, last], dim=1))


class I3GNModule(CachedItemColumns):
    def __init__(self, n_items: int, config: I3GNConfig) -> None:
        super().__init__()
        dim = config.embedding_dim
        self.bf16 = config.bf16_scoring
        self.inter_lr_step = config.inter_lr_step
        self.embedding = nn.Embedding(n_items + 1, dim)
        self.gnn = GGNNCell(dim, config.steps) if config.intra else None
        self.readout = SoftAttentionReadout(dim) if config.intra else None
        self.linear_transform = nn.Linear(2 * dim, dim) if config.intra else None
        self.inter = InterSessionModule(config) if config.inter else None
        self.fusion = FusionGate(dim) if config.intra and config.inter else None
        init_parameters_(self, config)

    def intra_vector(self, batch: Batch) -> torch.Tensor:
        """s_intra = W3 [s_g ; s_l] over SR-GNN's session graph (Eq. 2-6)."""
        graph = batch.graph
        assert graph is not None and self.gnn is not None and self.readout is not None
        assert self.linear_transform is not None
        hidden = self.gnn(lookup_items(self.embedding.weight, graph.nodes), graph.adj_in, graph.adj_out)
        states = hidden.gather(1, graph.alias.unsqueeze(2).expand(-1, -1, hidden.shape[2]))
        last = states[torch.arange(batch.size, device=states.device), batch.lengths - 1]
        return self.linear_transform(torch.cat([self.readout(states, batch.mask, last), last], dim=1))

    def session_vector(self, batch: Batch) -> torch.Tensor:
        intra = self.intra_vector(batch) if self.gnn is not None else None
        if self.inter is None:
            assert intra is not None
            return intra
        graph = batch.extra
        assert isinstance(graph, InterSessionGraph), "I3GN batches carry their inter-session graphs"
        inter = self.inter(self.embedding.weight, graph, batch)
        if self.fusion is None:
            return inter
        assert intra is not None
        return self.fusion(inter, intra)

    def forward(self, batch: Batch) -> torch.Tensor:
        return self.score_against_items(self.session_vector(batch), self.embedding.weight, self.bf16)

    def parameter_groups(self) -> list[ParameterGroup]:
        """The inter-session module decays every ``inter_lr_step`` epochs, the rest every lr_step."""
        inter = list(self.inter.parameters()) if self.inter is not None else []
        ids = {id(p) for p in inter}
        rest = [p for p in self.parameters() if id(p) not in ids]
        return (
            [ParameterGroup(rest), ParameterGroup(inter, self.inter_lr_step)]
            if inter
            else [ParameterGroup(rest)]
        )


def init_parameters_(module: nn.Module, config: I3GNConfig) -> None:
    """Every parameter from N(0, 0.1) (paper, Sec. 4.4) or U(+-1/sqrt(d)) (the family's codes)."""
    bound = config.embedding_dim**-0.5
    for parameter in module.parameters():
        if config.init == "normal":
            nn.init.normal_(parameter, 0.0, 0.1)
        else:
            nn.init.uniform_(parameter, -bound, bound)


@register("i3gn")
class I3GN(NeuralRecommender):
    """I3GN with the paper's settings for Diginetica (d = 50, k = 120, 2 GAT layers x 8 heads)."""

    config_class = I3GNConfig
    config: I3GNConfig
    item_scoring = "inner_product"  # scores = session_vector(batch) @ embedding[1:]^T (sessionrec.ann)
    prepare_keys = ("k", "sample_size", "threshold", "train_pool", "inter")
    _train_sessions: Sessions | None = None  # the sessions ``prepare`` saw (this process only)
    _pool_cache: tuple[int, retrieval.SessionIndex] | None = None

    @property
    def batch_spec(self) -> BatchSpec:
        return BatchSpec(graph=self.config.intra, extend=self._extend if self.config.inter else None)

    def prepare(self, train: Split) -> Prepared:
        """The training pool in time order, and the neighbours of every training prefix."""
        cfg = self.config
        sessions = train.sessions
        order = retrieval.time_order(sessions)
        column = np.empty(len(order), dtype=np.int64)
        column[order] = np.arange(len(order))
        pool = sessions.subset(order)
        prepared: Prepared = {"pool_offsets": pool.offsets, "pool_items": pool.items}
        if cfg.inter and cfg.k > 0:
            index = retrieval.SessionIndex.build(pool, train.n_items)
            session, cut = prefix_samples(sessions)  # every prefix, whatever samples ``train`` selects
            prepared["train_neighbours"] = retrieval.training_neighbours(
                index, column[session], cut, cfg.k, cfg.sample_size, cfg.threshold, cfg.train_pool == "past"
            )
        return prepared

    def prepare_fit(self, train: Split, valid: Split | None = None, prepared: Prepared | None = None) -> None:
        super().prepare_fit(train, valid, prepared)
        self._train_sessions = train.sessions

    def _pool(self) -> retrieval.SessionIndex:
        """The training pool indexed for retrieval, built once per prepared state."""
        prepared = self.prepared_
        if self._pool_cache is None or self._pool_cache[0] != id(prepared):
            offsets, items = prepared["pool_offsets"], prepared["pool_items"]
            assert isinstance(offsets, np.ndarray) and isinstance(items, np.ndarray)
            pool = Sessions(offsets, items, np.arange(len(offsets) - 1, dtype=np.float64))
            self._pool_cache = (id(prepared), retrieval.SessionIndex.build(pool, self.n_items))
        return self._pool_cache[1]

    def neighbours(self, batch: Batch, source: BatchSource | None) -> sp.csr_matrix:
        """[B, S] neighbours of the batch's prefixes: precomputed for training prefixes."""
        cfg, pool = self.config, self._pool()
        if cfg.k == 0:
            return sp.csr_matrix((batch.size, len(pool)), dtype=np.float32)
        if source is not None and source.split.sessions is self._train_sessions:
            return self.prepared_["train_neighbours"][self._training_rows(source)]
        prefixes = prefix_matrix(batch.items.numpy(), self.n_items)
        return retrieval.retrieve(pool, prefixes, cfg.k, cfg.sample_size, cfg.threshold)

    def _training_rows(self, source: BatchSource) -> np.ndarray:
        """Rows of ``train_neighbours`` (``prefix_samples`` order) of training samples."""
        lengths = source.split.sessions.lengths
        counts = np.maximum(lengths - 1, 0)
        first = np.cumsum(counts) - counts
        session = source.split.sample_session[source.samples]
        return first[session] + counts[session] - source.split.sample_cut[source.samples]

    def _extend(self, batch: Batch, source: BatchSource | None) -> Batch:
        cfg = self.config
        layers = 0 if cfg.inter_encoder == "avg" or cfg.uses_full_graph else cfg.layers
        neighbours = self.neighbours(batch, source)
        pool = self._pool().sessions
        graph = inter_session_graph(batch.items.numpy(), batch.lengths.numpy(), neighbours, pool, layers)
        return dataclasses.replace(batch, extra=graph)

    def build_module(self, n_items: int) -> nn.Module:
        return I3GNModule(n_items, self.config)


register_preset("i3gn-inter", "i3gn", "inter-session module only (Sec. 5.2)", intra=False)
register_preset("i3gn-intra", "i3gn", "intra-session module only: SR-GNN (Sec. 5.2)", inter=False)
register_preset(
    "i3gn-avg", "i3gn", "s_inter = mean of the inter-session graph's nodes (Eq. 17)", inter_encoder="avg"
)
register_preset(
    "i3gn-alpha", "i3gn", "mean aggregation instead of graph attention (Eq. 18)", inter_encoder="mean"
)
register_preset(
    "i3gn-beta", "i3gn", "mean of the prefix's nodes instead of soft attention (Eq. 19)", inter_readout="mean"
)
register_preset(
    "i3gn-alpha-beta",
    "i3gn",
    "no attention in the inter-session module (I3GN-alpha&beta)",
    inter_encoder="mean",
    inter_readout="mean",
)
