"""FOCOL's fine-grained co-occurrence graph (FOG): co-occurrence counts kept apart by signed distance.

For sessions over items 1..N, the FOG (Chen et al., FOCOL, section 3.2.1, Eq. 1) puts on every
directed edge (i, j) a vector of counts by signed relative distance,

    w_ij[k] = #{(s, t) : s_t = i and s_{t+k} = j},   1 <= |k|,

so w_ij[+k] counts j occurring k places after i and w_ij[-k] k places before it; hence
w_ji = reverse(w_ij). In terms of ``cooccurrence.C_k`` (C_k[i, j] = j k places after i):
w_ij[+k] = C_k[i, j] and w_ij[-k] = C_k[j, i]. A pair of equal items counts on the self-loop
in both halves (i at t and at t + k gives w_ii[+k] and w_ii[-k]).

Distances beyond ``max_distance`` = K share one bucket each way (the paper's figure 4 finds
the learned weights beyond +-10 negligible; the official code keeps every distance up to the
longest session, ``max_distance=None`` here). The 2K + 2 buckets, in this order,

    +1, ..., +K, +(>K), -1, ..., -K, -(>K),

give one matrix each, rows = the receiving item i, columns = the neighbour j:
M_{+k} = C_k, M_{-k} = C_k^T (the bucket past K: B = sum_{k>K} C_k and B^T). Only C_1..C_K
and B are stored (``stack``): the negative buckets are their transposes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from sessionrec.data.sessions import Sessions
from sessionrec.graphs.cooccurrence import CooccurrenceByDistance, cooccurrence_by_distance


@dataclass(frozen=True)
class FineGrainedGraph:
    """``forward[k - 1]`` = C_k (k = 1..K) and ``beyond`` = B, each [N + 1, N + 1] float32 CSR."""

    forward: list[sp.csr_array]
    beyond: sp.csr_array
    n_items: int

    @property
    def max_distance(self) -> int:
        return len(self.forward)

    @property
    def n_buckets(self) -> int:
        return 2 * (self.max_distance + 1)

    def halves(self) -> list[sp.csr_array]:
        """C_1, ..., C_K, B: the positive buckets (the negative ones are their transposes)."""
        return [*self.forward, self.beyond]

    def bucket(self, index: int) -> sp.csr_array:
        """M_b for bucket ``index`` in 0..2K+1 (order in the module docstring)."""
        half = self.halves()
        if not 0 <= index < self.n_buckets:
            raise ValueError(f"bucket must be in 0..{self.n_buckets - 1}, got {index}")
        matrix = half[index % len(half)]
        return matrix if index < len(half) else sp.csr_array(matrix.T)

    def labels(self) -> list[str]:
        """Bucket names: "+1", ..., "+K", ">+K", "-1", ..., "-K", "<-K"."""
        k = self.max_distance
        positive = [f"+{d}" for d in range(1, k + 1)] + [f">+{k}"]
        negative = [f"-{d}" for d in range(1, k + 1)] + [f"<-{k}"]
        return positive + negative

    def edge_vector(self, i: int, j: int) -> np.ndarray:
        """w_ij in bucket order: counts of j at each signed distance from i."""
        return np.array([self.bucket(b)[i, j] for b in range(self.n_buckets)], dtype=np.float32)

    def total(self) -> sp.csr_array:
        """Sum of every bucket: the symmetric co-occurrence count at any distance (FOCOL-SG)."""
        half = sum(self.halves()[1:], self.halves()[0].copy())
        return sp.csr_array(half + half.T)

    def degrees(self) -> np.ndarray:
        """[N + 1, 2K + 2]: row sums of each bucket matrix (sum_j w_ij[b])."""
        half = self.halves()
        rows = [np.asarray(m.sum(axis=1)).ravel() for m in half]
        cols = [np.asarray(m.sum(axis=0)).ravel() for m in half]
        return np.stack(rows + cols, axis=1).astype(np.float32)

    def stack(self) -> sp.csr_array:
        """C_1; ...; C_K; B stacked by rows into one [(K + 1)(N + 1), N + 1] CSR (for saving)."""
        return sp.csr_array(sp.vstack(self.halves(), format="csr"))

    @classmethod
    def from_stack(cls, stacked: sp.csr_array, n_items: int) -> FineGrainedGraph:
        size = n_items + 1
        blocks, remainder = divmod(stacked.shape[0], size)
        if remainder or blocks < 2 or stacked.shape[1] != size:
            raise ValueError(
                f"a stacked FOG for {n_items} items has (K + 1) x {size} rows, got {stacked.shape}"
            )
        stacked = sp.csr_array(stacked)
        parts = [sp.csr_array(stacked[b * size : (b + 1) * size]) for b in range(blocks)]
        return cls(parts[:-1], parts[-1], n_items)

    def position_pairs(self) -> int:
        """Ordered position pairs counted (each once, in its positive bucket)."""
        return int(sum(m.sum() for m in self.halves()))

    def item_pairs(self) -> int:
        """Unordered pairs of items (a self-pair included) that co-occur at any distance."""
        return int(sp.triu(self.total()).nnz)


def fine_grained_graph(sessions: Sessions, n_items: int, max_distance: int | None = 10) -> FineGrainedGraph:
    """The FOG of ``sessions``; ``max_distance=None`` keeps every distance (an empty beyond bucket)."""
    longest = int(sessions.lengths.max(initial=0))
    cap = max(longest - 1, 1) if max_distance is None else max_distance
    counts: CooccurrenceByDistance = cooccurrence_by_distance(sessions, n_items, cap, beyond=True)
    assert counts.beyond is not None
    return FineGrainedGraph(counts.forward, counts.beyond, n_items)
