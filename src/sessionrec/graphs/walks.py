"""Weighted random walks on a directed item graph, by alias sampling (LGSR, DeepWalk, node2vec).

For a row-normalised graph P (``transitions.row_normalise``), a walk from node v_0 draws
v_{t+1} ~ P[v_t, :] until it has ``length`` nodes or reaches a node without out-edges
(it then stops early; the rest of its row is 0, the padding index). This is node2vec with
p = q = 1, a first-order walk.

Alias tables (Walker 1977; Vose 1991): a row with k out-edges of probabilities p_1..p_k
has k buckets; bucket j keeps its own edge with probability ``prob[j]`` and otherwise
its ``alias[j]``, so that

    p_x = (prob[x] + sum_{j : alias[j] = x} (1 - prob[j])) / k.

A draw is one uniform bucket and one coin: O(1) per step whatever the degree. The tables
are built for every row at once (``alias_tables``): each round, every unfinished row
either pours one light bucket (k p < 1) into its current heavy edge or, when that heavy
edge has fallen below 1, retires it into the next heavy one (the sweeping form of Vose's
method); the rounds number at most twice the largest degree. The walks step all walkers
together, one NumPy step per walk position.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp


@dataclass(frozen=True)
class AliasTable:
    """Per-edge alias tables aligned with a CSR graph's ``data``: ``prob`` [nnz] in [0, 1],
    ``alias`` [nnz] the CSR position (in the same row) a bucket falls back to."""

    prob: np.ndarray
    alias: np.ndarray


def alias_tables(graph: sp.csr_array) -> AliasTable:
    """The alias table of every row of a row-normalised CSR graph (rows summing to 1 or empty)."""
    graph = sp.csr_array(graph)
    graph.sort_indices()
    indptr = graph.indptr.astype(np.int64)
    degree = np.diff(indptr)
    n_rows, nnz = len(degree), int(indptr[-1])
    rows = np.repeat(np.arange(n_rows), degree)
    sums = np.bincount(rows, weights=graph.data, minlength=n_rows)
    scaled = graph.data / np.where(sums > 0, sums, 1.0)[rows] * degree[rows]  # k p, mean 1 per row
    heavy = scaled >= 1.0
    order = np.lexsort((heavy, rows))  # per row: light positions first, then heavy, stable
    n_light = np.bincount(rows, weights=~heavy, minlength=n_rows).astype(np.int64)
    light, light_end = indptr[:-1].copy(), indptr[:-1] + n_light
    current, row_end = light_end.copy(), indptr[1:]  # current heavy edge, as a position in order
    prob, alias = np.ones(nnz), np.arange(nnz, dtype=np.int64)
    residual = scaled.copy()
    active = np.flatnonzero((n_light > 0) & (n_light < degree))  # all-heavy rows are uniform: done
    while active.size:
        heavy_pos = order[current[active]]
        left = residual[heavy_pos]
        retire = (left < 1.0) & (current[active] < row_end[active] - 1)
        fill = ~retire & (light[active] < light_end[active])
        r_rows, r_pos = active[retire], heavy_pos[retire]
        nxt = order[current[r_rows] + 1]
        prob[r_pos], alias[r_pos] = left[retire], nxt
        residual[nxt] -= 1.0 - left[retire]
        current[r_rows] += 1
        f_rows, f_heavy = active[fill], heavy_pos[fill]
        f_light = order[light[f_rows]]
        prob[f_light], alias[f_light] = scaled[f_light], f_heavy
        residual[f_heavy] -= 1.0 - scaled[f_light]  # one heavy edge per row: no repeats
        light[f_rows] += 1
        still = light[active] < light_end[active]
        still |= (residual[order[current[active]]] < 1.0) & (current[active] < row_end[active] - 1)
        active = active[still]
    return AliasTable(np.clip(prob, 0.0, 1.0), alias)


def random_walks(
    graph: sp.csr_array, table: AliasTable, starts: np.ndarray, length: int, rng: np.random.Generator
) -> np.ndarray:
    """Walks [len(starts), length] from ``starts``; 0 after a walk reaches a node without out-edges."""
    if length < 1:
        raise ValueError(f"length must be at least 1, got {length}")
    graph = sp.csr_array(graph)
    graph.sort_indices()
    indptr, indices = graph.indptr.astype(np.int64), graph.indices.astype(np.int64)
    degree = np.diff(indptr)
    walks = np.zeros((len(starts), length), dtype=np.int64)
    walks[:, 0] = starts
    walkers, node = np.arange(len(starts)), np.asarray(starts, dtype=np.int64)
    for step in range(1, length):
        moving = degree[node] > 0
        walkers, node = walkers[moving], node[moving]
        if not len(node):
            break
        bucket = np.minimum((rng.random(len(node)) * degree[node]).astype(np.int64), degree[node] - 1)
        position = indptr[node] + bucket
        position = np.where(rng.random(len(node)) < table.prob[position], position, table.alias[position])
        node = indices[position]
        walks[walkers, step] = node
    return walks


def node_walks(graph: sp.csr_array, walks_per_node: int, length: int, rng: np.random.Generator) -> np.ndarray:
    """``walks_per_node`` rounds of one walk from every node with an edge (in or out), the
    nodes in a fresh random order each round (DeepWalk / node2vec's ``simulate_walks``)."""
    graph = sp.csr_array(graph)
    degree = np.diff(graph.indptr) + np.bincount(graph.indices, minlength=graph.shape[0])[: graph.shape[0]]
    nodes = np.flatnonzero(degree > 0)
    table = alias_tables(graph)
    starts = np.concatenate([rng.permutation(nodes) for _ in range(walks_per_node)]) if len(nodes) else nodes
    return random_walks(graph, table, starts, length, rng)


def degree_ranks(graph: sp.csr_array) -> np.ndarray:
    """Rank of each node by descending total degree (distinct in- plus out-neighbours),
    ties by node id; -1 for nodes without edges. [n_nodes] int64, ranks 0..R-1."""
    graph = sp.csr_array(graph)
    n = graph.shape[0]
    degree = np.diff(graph.indptr) + np.bincount(graph.indices, minlength=n)[:n]
    nodes = np.flatnonzero(degree > 0)
    ranked = nodes[np.argsort(-degree[nodes], kind="stable")]
    rank = np.full(n, -1, dtype=np.int64)
    rank[ranked] = np.arange(len(ranked))
    return rank


def compact_walks(walks: np.ndarray, n_items: int) -> np.ndarray:
    """Walks in the smallest unsigned type that holds item ids 0..n_items (halves them on
    catalogues below 65,536 items; they are saved with the model)."""
    dtype = np.uint16 if n_items < 2**16 else np.int32
    return walks.astype(dtype)
