"""Mini-batches: padding to the batch's longest prefix, and session graphs built per batch.

Everything here is vectorised over the whole batch (NumPy for gathering the
prefixes, torch for the graphs): no Python loop runs per session.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields, replace
from typing import Any, Literal

import numpy as np
import torch

from sessionrec.data.sessions import Split


@dataclass(frozen=True)
class BatchSpec:
    """What a model needs from a batch.

    ``max_length`` truncates prefixes, keeping the ``keep`` end ("last": the most
    recent clicks, as SR-IEM and LGSR do; "first": NARM's ``x[:19]``).
    ``graph`` asks for the SR-GNN session graph; ``relations`` also for GCE-GNN's
    relation codes between its nodes (``SessionGraph.relations``; implies ``graph``).
    ``extend``: a model's own collate step, called on every batch built (training,
    evaluation, serving) with the batch and where its prefixes come from (None for raw
    sessions); it returns the batch with ``extra`` set (e.g. I3GN's neighbour sessions and
    inter-session graphs), vectorised per batch.
    """

    max_length: int | None = None
    keep: Literal["last", "first"] = "last"
    graph: bool = False
    relations: bool = False
    line_graph: bool = False
    extend: Callable[[Batch, BatchSource | None], Batch] | None = None

    @property
    def needs_graph(self) -> bool:
        return self.graph or self.relations


@dataclass(frozen=True)
class BatchSource:
    """The samples of a split that a batch was collated from (for ``BatchSpec.extend``)."""

    split: Split
    samples: np.ndarray  # int64 [B], indices into the split's samples


@dataclass(frozen=True)
class SessionGraph:
    """SR-GNN session graphs of a batch (official PyTorch semantics, notes 5.1).

    ``nodes[b, u]``: the item of node u (0 = padding node); ``alias[b, j]``: the node
    of position j; ``adj_in`` / ``adj_out`` [B, U, U]: binary transitions, row-normalised
    (row i of ``adj_in`` averages over the predecessors of i, of ``adj_out`` over its
    successors; zero-degree rows stay 0).

    ``relations`` [B, U, U] (only with ``BatchSpec(relations=True)``): GCE-GNN's
    session-level edge types (notes 5.5) in time order, 0 = no edge,
    1 = self-loop (every real node), 2 = j -> i only (j clicked right before i),
    3 = i -> j only, 4 = both; repeated clicks of one item add no edge. The official
    code labels the reversed sequence, so its "in" and "out" names are swapped; the
    codes here are its codes.
    """

    nodes: torch.Tensor  # int64 [B, U]
    alias: torch.Tensor  # int64 [B, L]
    adj_in: torch.Tensor  # float32 [B, U, U]
    adj_out: torch.Tensor  # float32 [B, U, U]
    node_mask: torch.Tensor  # bool [B, U]
    relations: torch.Tensor | None = None  # int64 [B, U, U], codes 0..4


@dataclass(frozen=True)
class Batch:
    """Prefixes left-aligned and right-padded with 0 to the batch's longest one."""

    items: torch.Tensor  # int64 [B, L]
    lengths: torch.Tensor  # int64 [B]
    targets: torch.Tensor | None = None  # int64 [B], internal indices 1..N
    graph: SessionGraph | None = None
    line_graph: torch.Tensor | None = None  # float32 [B, B], see ``line_graph``
    extra: Any = None  # set by ``BatchSpec.extend``; moved by ``to`` when it has a ``to`` method

    @property
    def mask(self) -> torch.Tensor:
        return self.items != 0

    @property
    def size(self) -> int:
        return int(self.items.shape[0])

    @property
    def last_items(self) -> torch.Tensor:
        return self.items.gather(1, (self.lengths - 1).clamp(min=0).unsqueeze(1)).squeeze(1)

    def to(self, device: torch.device | str) -> Batch:
        def move(value: object) -> object:
            if isinstance(value, torch.Tensor):
                return value.to(device, non_blocking=True)
            if isinstance(value, SessionGraph):
                return SessionGraph(*(move(getattr(value, f.name)) for f in fields(value)))
            if hasattr(value, "to"):
                return value.to(device)
            return value

        return replace(self, **{f.name: move(getattr(self, f.name)) for f in fields(self)})


def pad_prefixes(
    starts: np.ndarray, lengths: np.ndarray, items: np.ndarray, spec: BatchSpec
) -> tuple[np.ndarray, np.ndarray]:
    """Gather ``items[start:start+length]`` rows into a zero-padded matrix, truncated per spec."""
    lengths = lengths.astype(np.int64)
    if spec.max_length is not None:
        cut = np.minimum(lengths, spec.max_length)
        if spec.keep == "last":
            starts = starts + (lengths - cut)
        lengths = cut
    width = max(int(lengths.max(initial=0)), 1)
    cols = np.arange(width, dtype=np.int64)
    valid = cols[None, :] < lengths[:, None]
    index = np.where(valid, starts[:, None] + cols[None, :], 0)
    padded = np.where(valid, items[index], 0).astype(np.int64)
    return padded, lengths


def session_graph(items: torch.Tensor, lengths: torch.Tensor, relations: bool = False) -> SessionGraph:
    """Build the SR-GNN session graph of every prefix of the batch at once (and GCE-GNN's relations)."""
    batch, width = items.shape
    valid = torch.arange(width, device=items.device)[None, :] < lengths[:, None]
    # sort each row with padding last; a new node starts wherever the value changes
    sentinel = torch.iinfo(torch.int64).max
    keyed = torch.where(valid, items, torch.full_like(items, sentinel))
    sorted_items, order = keyed.sort(dim=1)
    is_new = torch.ones_like(sorted_items, dtype=torch.bool)
    is_new[:, 1:] = sorted_items[:, 1:] != sorted_items[:, :-1]
    node_of_sorted = is_new.long().cumsum(1) - 1
    n_unique = torch.where(valid.any(1), (is_new & (sorted_items != sentinel)).sum(1), 0)
    n_nodes = max(int(n_unique.max()) if batch else 1, 1)
    alias = torch.zeros_like(items)
    alias.scatter_(1, order, node_of_sorted)
    alias = torch.where(valid, alias, torch.zeros_like(alias))
    nodes = torch.zeros(batch, n_nodes, dtype=torch.int64, device=items.device)
    real = sorted_items != sentinel
    rows = torch.arange(batch, device=items.device)[:, None].expand_as(sorted_items)
    nodes[rows[real], node_of_sorted[real]] = sorted_items[real]
    node_mask = torch.arange(n_nodes, device=items.device)[None, :] < n_unique[:, None]
    # binary edges between consecutive clicks
    adjacency = torch.zeros(batch, n_nodes, n_nodes, device=items.device)
    has_edge = valid[:, 1:]
    if width > 1:
        b = rows[:, 1:][has_edge]
        adjacency[b, alias[:, :-1][has_edge], alias[:, 1:][has_edge]] = 1.0
    out_degree = adjacency.sum(2, keepdim=True)
    adj_out = adjacency / out_degree.clamp(min=1.0)
    incoming = adjacency.transpose(1, 2)
    adj_in = incoming / incoming.sum(2, keepdim=True).clamp(min=1.0)
    codes = relation_codes(adjacency, node_mask) if relations else None
    return SessionGraph(nodes, alias, adj_in, adj_out, node_mask, codes)


def relation_codes(adjacency: torch.Tensor, node_mask: torch.Tensor) -> torch.Tensor:
    """GCE-GNN's edge types from binary transitions ``adjacency[b, i, j]`` (i -> j), see SessionGraph."""
    forward = adjacency.bool()
    forward = forward & ~torch.eye(forward.shape[1], dtype=torch.bool, device=forward.device)
    backward = forward.transpose(1, 2)
    codes = torch.zeros(forward.shape, dtype=torch.int64, device=forward.device)
    codes[backward & ~forward] = 2
    codes[forward & ~backward] = 3
    codes[forward & backward] = 4
    codes.diagonal(dim1=1, dim2=2).copy_(node_mask.long())
    return codes


def line_graph(items: torch.Tensor) -> torch.Tensor:
    r"""DHCN's line graph of a batch: :math:`\hat D^{-1}(J + I)` over its sessions [B, B].

    :math:`J_{ab} = |S_a \cap S_b| / |S_a \cup S_b|` for a != b over the sets of items
    of the padded prefixes ``items`` [B, L] (0 = padding), the diagonal 1, each row then
    divided by its sum (the official ``get_overlap``).
    """
    batch, width = items.shape
    rows = torch.arange(batch, device=items.device)[:, None].expand(batch, width)
    real = items != 0
    stride = 2**40  # above any item index
    pairs = torch.unique(rows[real] * stride + items[real])  # distinct (session, item)
    session, item = pairs // stride, pairs % stride
    _, column = torch.unique(item, return_inverse=True)
    incidence = torch.zeros(batch, int(column.max()) + 1 if len(column) else 1, device=items.device)
    incidence[session, column] = 1.0
    common = incidence @ incidence.T
    sizes = common.diagonal()
    union = (sizes[:, None] + sizes[None, :] - common).clamp(min=1.0)
    overlap = common / union
    overlap.fill_diagonal_(1.0)
    return overlap / overlap.sum(1, keepdim=True)


def make_batch(split: Split, samples: np.ndarray, spec: BatchSpec, with_targets: bool = True) -> Batch:
    """Collate the given sample indices of ``split``."""
    sessions = split.sessions
    starts = sessions.offsets[split.sample_session[samples]]
    cuts = split.sample_cut[samples]
    padded, lengths = pad_prefixes(starts, cuts, sessions.items, spec)
    items = torch.from_numpy(padded)
    length_tensor = torch.from_numpy(lengths)
    targets = torch.from_numpy(sessions.items[starts + cuts].astype(np.int64)) if with_targets else None
    graph = session_graph(items, length_tensor, spec.relations) if spec.needs_graph else None
    lines = line_graph(items) if spec.line_graph else None
    batch = Batch(items, length_tensor, targets, graph, lines)
    return spec.extend(batch, BatchSource(split, samples)) if spec.extend is not None else batch


def batch_from_lists(prefixes: list[list[int]], spec: BatchSpec) -> Batch:
    """Collate raw internal-index sessions (serving): no targets."""
    lengths = np.fromiter((len(p) for p in prefixes), dtype=np.int64, count=len(prefixes))
    flat = np.fromiter((i for p in prefixes for i in p), dtype=np.int64, count=int(lengths.sum()))
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    padded, cut = pad_prefixes(starts, lengths, flat if len(flat) else np.zeros(1, np.int64), spec)
    items = torch.from_numpy(padded)
    length_tensor = torch.from_numpy(cut)
    graph = session_graph(items, length_tensor, spec.relations) if spec.needs_graph else None
    lines = line_graph(items) if spec.line_graph else None
    batch = Batch(items, length_tensor, None, graph, lines)
    return spec.extend(batch, None) if spec.extend is not None else batch


def iterate_batches(
    split: Split,
    batch_size: int,
    spec: BatchSpec,
    shuffle: bool = False,
    seed: int = 0,
    epoch: int = 0,
    start_batch: int = 0,
) -> Iterator[Batch]:
    """Batches over the split's samples; with ``shuffle``, a seeded permutation per epoch."""
    order = np.arange(len(split))
    if shuffle:
        order = np.random.default_rng([seed, epoch]).permutation(len(split))
    for start in range(start_batch * batch_size, len(order), batch_size):
        yield make_batch(split, order[start : start + batch_size], spec)


def n_batches(split: Split, batch_size: int) -> int:
    return -(-len(split) // batch_size)
