r"""I3GN's inter-session graphs of a batch (Sec. 3.3), built at once in NumPy.

For a prefix s and its neighbour sessions N_s, the graph G_inter has one node per distinct
item of s and of the sessions of N_s, and an undirected edge {u, v} wherever v follows u in
s or in any neighbour session (deduplicated, both directions stored; a repeated click makes
no self-loop, the GAT adds every node's own one). The graphs of a batch are stored as one
disjoint union, PyTorch Geometric style: nodes of sample 0 first (sorted by item), then
those of sample 1, ...; ``alias[b, j]`` is the node of position j of prefix b.

``blocks``: the message-flow blocks of an L-layer graph network whose output is read at
the prefixes' nodes only (I3GN's readout). With S_L = the prefix nodes and
S_l = S_{l+1} and its neighbours, layer l computes S_{l+1} from S_l; its block holds the
targets S_{l+1} and every edge into them, self-loops included. A node further than L hops
from every prefix node changes no output, so none is computed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch

from sessionrec.data.sessions import Sessions, _ranges


@dataclass(frozen=True)
class InterSessionGraph:
    """The inter-session graphs of a batch as one disjoint union."""

    nodes: torch.Tensor  # int64 [U], the item of each node
    edge_index: torch.Tensor  # int64 [2, E], (source, target), both directions of each edge
    node_batch: torch.Tensor  # int64 [U], the sample each node belongs to
    alias: torch.Tensor  # int64 [B, L], node of each prefix position (0 on padding)
    # per layer: (edge_index [2, E] = (source node, target position), targets [T] node ids)
    blocks: tuple[tuple[torch.Tensor, torch.Tensor], ...] = ()
    output_alias: torch.Tensor | None = None  # int64 [B, L], position among the last targets

    def to(self, device: torch.device | str) -> InterSessionGraph:
        def move(t: torch.Tensor) -> torch.Tensor:
            return t.to(device, non_blocking=True)

        blocks = tuple((move(e), move(t)) for e, t in self.blocks)
        alias = None if self.output_alias is None else move(self.output_alias)
        return InterSessionGraph(
            move(self.nodes), move(self.edge_index), move(self.node_batch), move(self.alias), blocks, alias
        )


def inter_session_graph(
    items: np.ndarray, lengths: np.ndarray, neighbours: sp.csr_matrix, pool: Sessions, layers: int = 0
) -> InterSessionGraph:
    """Graphs of right-padded prefixes ``items`` [B, L] and their neighbours.

    ``neighbours`` [B, S]: nonzero at the pool sessions retrieved for each prefix (their
    values are not used); ``pool`` holds those sessions' items. ``layers`` > 0 also builds
    the message-flow blocks of that many layers.
    """
    batch, width = items.shape
    valid = np.arange(width)[None, :] < lengths[:, None]
    prefix_items = items[valid].astype(np.int64)  # row-major: prefix 0's clicks, then 1's, ...
    neighbour_rows = np.repeat(np.arange(batch, dtype=np.int64), np.diff(neighbours.indptr))
    chosen = neighbours.indices.astype(np.int64)
    pool_lengths = pool.lengths[chosen]
    neighbour_items = pool.items[_ranges(pool.offsets[chosen], pool_lengths)].astype(np.int64)
    # one "sequence" per prefix, then one per neighbour session; edges never cross sequences
    sequence_lengths = np.concatenate([lengths.astype(np.int64), pool_lengths])
    sequence_sample = np.concatenate([np.arange(batch, dtype=np.int64), neighbour_rows])
    flat_items = np.concatenate([prefix_items, neighbour_items])
    flat_sequence = np.repeat(np.arange(len(sequence_lengths), dtype=np.int64), sequence_lengths)
    stride = int(flat_items.max(initial=0)) + 1
    keys, node_of = np.unique(sequence_sample[flat_sequence] * stride + flat_items, return_inverse=True)
    node_of = node_of.reshape(-1)
    follows = flat_sequence[1:] == flat_sequence[:-1]
    source, target = node_of[:-1][follows], node_of[1:][follows]
    distinct = source != target
    source, target = source[distinct], target[distinct]
    n_nodes = len(keys)
    pairs = np.unique(np.concatenate([source * n_nodes + target, target * n_nodes + source]))
    edge_index = np.stack([pairs // n_nodes, pairs % n_nodes])
    alias = np.zeros((batch, width), dtype=np.int64)
    alias[valid] = node_of[: len(prefix_items)]
    blocks, output_alias = message_flow_blocks(edge_index, n_nodes, alias, valid, layers)
    return InterSessionGraph(
        torch.from_numpy(keys % stride),
        torch.from_numpy(edge_index),
        torch.from_numpy(keys // stride),
        torch.from_numpy(alias),
        blocks,
        output_alias,
    )


def message_flow_blocks(
    edge_index: np.ndarray, n_nodes: int, alias: np.ndarray, valid: np.ndarray, layers: int
) -> tuple[tuple[tuple[torch.Tensor, torch.Tensor], ...], torch.Tensor | None]:
    """Blocks of ``layers`` layers read at the prefix nodes, and the prefixes' output positions."""
    if layers <= 0:
        return (), None
    source, target = edge_index
    needed = np.zeros(n_nodes, dtype=bool)
    needed[alias[valid]] = True
    wanted = [needed]  # S_L, S_{L-1}, ..., S_1: the targets of layer L-1, ..., 0
    for _ in range(layers - 1):
        grown = wanted[-1].copy()
        grown[source[wanted[-1][target]]] = True
        wanted.append(grown)
    blocks = []
    for targets_mask in reversed(wanted):
        targets = np.flatnonzero(targets_mask)
        position = np.cumsum(targets_mask) - 1
        into = targets_mask[target]
        block_source = np.concatenate([source[into], targets])  # edges, then self-loops
        block_target = position[np.concatenate([target[into], targets])]
        block = np.stack([block_source, block_target])
        blocks.append((torch.from_numpy(block), torch.from_numpy(targets)))
    output_alias = np.where(valid, (np.cumsum(needed) - 1)[alias], 0)
    return tuple(blocks), torch.from_numpy(output_alias)
