"""Item co-occurrence counted by signed distance within sessions.

For a signed distance k != 0 and sessions s over items 1..N,

    C_k[i, j] = #{(s, t) : s_t = i and s_{t+k} = j},

the number of ordered position pairs where j stands k places after i (k > 0) or
|k| places before it (k < 0). C_{-k} = C_k^T, so only k > 0 is counted and the negative
distances are transposes. Summed over 1 <= |k| <= K, this is the undirected
co-occurrence within distance K that GCE-GNN's global graph builds on; kept apart by k,
it is FOCOL's fine-grained co-occurrence graph. ``beyond=True`` (FOCOL's cap) adds one
more matrix, B = sum_{k > K} C_k: j more than K places after i (B^T: before it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from sessionrec.data.sessions import Sessions
from sessionrec.graphs.transitions import position_pairs


@dataclass(frozen=True)
class CooccurrenceByDistance:
    """``forward[k - 1]`` = C_k for k = 1..max_distance; ``beyond`` = sum of C_k for k > max_distance."""

    forward: list[sp.csr_array]
    beyond: sp.csr_array | None
    n_items: int

    @property
    def max_distance(self) -> int:
        return len(self.forward)

    def at(self, distance: int) -> sp.csr_array:
        """C_distance for a signed distance 1 <= |distance| <= max_distance."""
        if distance == 0 or abs(distance) > self.max_distance:
            raise ValueError(f"distance must be in +-1..{self.max_distance}, got {distance}")
        graph = self.forward[abs(distance) - 1]
        return graph if distance > 0 else sp.csr_array(graph.T)

    def within(self) -> sp.csr_array:
        """Undirected counts sum_{1 <= |k| <= K} C_k (symmetric)."""
        total = sum(self.forward[1:], self.forward[0].copy())
        return sp.csr_array(total + total.T)


def _counts(source: np.ndarray, target: np.ndarray, n_items: int) -> sp.csr_array:
    graph = sp.csr_array(
        (np.ones(len(source), dtype=np.float32), (source, target)), shape=(n_items + 1, n_items + 1)
    )
    graph.sum_duplicates()
    return graph


def cooccurrence_by_distance(
    sessions: Sessions, n_items: int, max_distance: int, beyond: bool = False
) -> CooccurrenceByDistance:
    """Counts C_k for k = 1..max_distance (and the bucket past it with ``beyond``); [N + 1, N + 1] each."""
    if max_distance < 1:
        raise ValueError(f"max_distance must be at least 1, got {max_distance}")
    forward = [_counts(*position_pairs(sessions, k), n_items) for k in range(1, max_distance + 1)]
    far = None
    if beyond:
        longest = int(sessions.lengths.max(initial=0))
        pairs = [position_pairs(sessions, k) for k in range(max_distance + 1, longest)]
        source = np.concatenate([p[0] for p in pairs]) if pairs else np.zeros(0, dtype=np.int32)
        target = np.concatenate([p[1] for p in pairs]) if pairs else np.zeros(0, dtype=np.int32)
        far = _counts(source, target, n_items)
    return CooccurrenceByDistance(forward, far, n_items)
