"""The directed item transition graph of a set of sessions.

For sessions s = [v_1, ..., v_n] over items 1..N (0 is padding, never an item),

    A[i, j] = #{(s, t) : s_t = i and s_{t+1} = j}

counts how often item j directly follows item i. ``self_loops=False`` drops the pairs
with i = j (a repeated click is not a transition, as LGSR's global graph has it).
``row_normalise`` turns counts into transition probabilities P[i, j] = A[i, j] / sum_j A[i, j]
(rows without out-edges stay zero).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from sessionrec.data.sessions import Sessions


def position_pairs(sessions: Sessions, distance: int) -> tuple[np.ndarray, np.ndarray]:
    """Items (at t, at t + distance) for every position t with t + distance inside its session.

    ``distance`` >= 1; vectorised over the flat item array: a pair is kept where both
    positions belong to the same session.
    """
    if distance < 1:
        raise ValueError(f"distance must be at least 1, got {distance}")
    items = sessions.items
    if len(items) <= distance:
        empty = np.zeros(0, dtype=items.dtype)
        return empty, empty
    session_of = np.repeat(np.arange(len(sessions)), sessions.lengths)
    same = session_of[:-distance] == session_of[distance:]
    return items[:-distance][same], items[distance:][same]


def transition_counts(sessions: Sessions, n_items: int, self_loops: bool = True) -> sp.csr_array:
    """A [N + 1, N + 1] (row and column 0: padding, empty) with A[i, j] = transitions i -> j."""
    source, target = position_pairs(sessions, 1)
    if not self_loops:
        keep = source != target
        source, target = source[keep], target[keep]
    counts = np.ones(len(source), dtype=np.float32)
    graph = sp.csr_array((counts, (source, target)), shape=(n_items + 1, n_items + 1))
    graph.sum_duplicates()
    return graph


def row_normalise(graph: sp.csr_array) -> sp.csr_array:
    """Each row divided by its sum; empty rows stay empty."""
    sums = np.asarray(graph.sum(axis=1)).ravel()
    scale = np.divide(1.0, sums, out=np.zeros_like(sums, dtype=np.float64), where=sums > 0)
    return sp.csr_array(sp.diags_array(scale.astype(graph.dtype)) @ graph)
