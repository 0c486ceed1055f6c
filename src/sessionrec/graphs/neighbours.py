"""A fixed table of each item's strongest neighbours in a weighted item graph.

For a weighted graph W [N + 1, N + 1] (row i: the neighbours j of item i with weight
W[i, j] > 0), ``top_neighbours`` keeps each row's ``k`` largest weights (ties broken by
the smaller item index) and returns them as dense tables

    neighbours[i, :], weights[i, :]    (shape [N + 1, k] each)

A row with at least ``k`` neighbours holds exactly its top ``k``. A row with
0 < n < k neighbours is filled by drawing k of its n neighbours uniformly with
replacement, once, from a seeded generator (GCE-GNN's ``handle_adj``: the table is
sampled when built and then fixed). A row without neighbours (and row 0, padding) holds
item 0 with weight 0. The order within a row carries no meaning.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def top_neighbours(graph: sp.csr_array, k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(neighbours int64 [R, k], weights float32 [R, k]) of a CSR graph with R rows."""
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    graph = sp.csr_array(graph)
    graph.eliminate_zeros()
    rows = graph.shape[0]
    counts = np.diff(graph.indptr)
    row_of = np.repeat(np.arange(rows), counts)
    # within each row: heaviest first, then the smaller item index
    order = np.lexsort((graph.indices, -graph.data, row_of))
    rank = np.arange(len(order)) - np.repeat(graph.indptr[:-1], counts)
    keep = order[rank < k]  # rank is the position within the row's sorted run
    kept = np.minimum(counts, k)
    starts = np.concatenate([[0], np.cumsum(kept)[:-1]])
    # slot s of row r takes entry (s mod n_r) for full rows, a uniform draw for short ones
    rng = np.random.default_rng(seed)
    slot = np.broadcast_to(np.arange(k), (rows, k))
    draw = np.floor(rng.random((rows, k)) * np.maximum(kept, 1)[:, None]).astype(np.int64)
    pick = np.where((kept >= k)[:, None], slot, draw)
    source = keep[np.minimum(starts[:, None] + pick, max(len(keep) - 1, 0))] if len(keep) else None
    neighbours = np.zeros((rows, k), dtype=np.int64)
    weights = np.zeros((rows, k), dtype=np.float32)
    has = kept > 0
    if source is not None:
        neighbours[has] = graph.indices[source[has]]
        weights[has] = graph.data[source[has]]
    return neighbours, weights
