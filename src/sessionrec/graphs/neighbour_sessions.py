r"""Neighbour sessions of prefixes (SKNN retrieval, I3GN's Session Merging Module, Sec. 3.3).

The pool is the training sessions, ordered from the oldest to the most recent (column j of
the index = the j-th session in time order). For a prefix s:

1. candidates = the pool sessions that share at least one item with s, less the excluded
   ones (a training prefix's own session, and with ``before`` every session not older than
   it); of those, the ``sample_size`` = m most recent (0 = all);
2. sim(s, s_j) = |s \cap s_j| / \sqrt{|s| |s_j|}: the cosine of the binary item vectors
   (Eq. 1; |.| counts distinct items, which is the norm of a binary vector);
3. neighbours = the candidates with sim >= ``threshold``, the ``k`` most similar (equal
   similarities: the more recent session first).

A whole batch of prefixes is done with one sparse product (prefix x session overlap) and
vectorised per-row selection (``models._sparse``), as SKNN scores; no loop runs per prefix.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from sessionrec.data.sessions import Sessions, _ranges
from sessionrec.models._sparse import keep_top_k_per_row, row_ids, session_item_matrix


@dataclass(frozen=True)
class SessionIndex:
    """The pool of neighbour sessions: binary incidence and its transpose, time-ordered."""

    sessions: Sessions  # the pool, oldest first
    items_to_sessions: sp.csr_matrix  # [N, S] binary
    sizes: np.ndarray  # float64 [S], distinct items per session

    @classmethod
    def build(cls, sessions: Sessions, n_items: int) -> SessionIndex:
        """Index ``sessions`` as given (the caller orders them by time)."""
        incidence = session_item_matrix(sessions, n_items, binary=True)
        return cls(sessions, incidence.T.tocsr(), np.diff(incidence.indptr).astype(np.float64))

    def __len__(self) -> int:
        return len(self.sessions)


def time_order(sessions: Sessions) -> np.ndarray:
    """Session indices from the oldest to the most recent (ties keep the file order)."""
    return np.argsort(sessions.times, kind="stable")


def prefix_sets(sessions: Sessions, session: np.ndarray, cut: np.ndarray, n_items: int) -> sp.csr_matrix:
    """Binary [P, N] item sets of the prefixes ``sessions[session[p]][:cut[p]]``."""
    cut = cut.astype(np.int64)
    items = sessions.items[_ranges(sessions.offsets[session], cut)].astype(np.int64)
    rows = np.repeat(np.arange(len(session), dtype=np.int64), cut)
    matrix = sp.csr_matrix((np.ones(len(items)), (rows, items - 1)), shape=(len(session), n_items))
    matrix.sum_duplicates()
    matrix.data[:] = 1.0
    return matrix


def retrieve(
    index: SessionIndex,
    prefixes: sp.csr_matrix,
    k: int,
    sample_size: int = 1000,
    threshold: float = 0.5,
    exclude: np.ndarray | None = None,
    before: np.ndarray | None = None,
) -> sp.csr_matrix:
    """[P, S] similarities of each prefix's neighbour sessions (0 elsewhere).

    ``prefixes``: binary [P, N] item sets. ``exclude[p]``: a pool column never retrieved
    for prefix p (its own session; -1 for none). ``before[p]``: only columns < before[p]
    are candidates (sessions older than p's own). Both apply before the m most recent
    candidates are taken, so an excluded session never takes a place among them.
    """
    n_prefixes, n_sessions = prefixes.shape[0], len(index)
    if k <= 0 or n_prefixes == 0:
        return sp.csr_matrix((n_prefixes, n_sessions), dtype=np.float32)
    overlap = (prefixes @ index.items_to_sessions).tocsr()  # |s & s_j| for every candidate
    overlap.sort_indices()  # columns ascend: oldest to most recent
    rows = row_ids(overlap)
    cols = overlap.indices.astype(np.int64)
    common = overlap.data
    keep = np.ones(len(cols), dtype=bool)
    if exclude is not None:
        keep &= cols != np.asarray(exclude, dtype=np.int64)[rows]
    if before is not None:
        keep &= cols < np.asarray(before, dtype=np.int64)[rows]
    rows, cols, common = rows[keep], cols[keep], common[keep]
    if sample_size:
        ends = np.cumsum(np.bincount(rows, minlength=n_prefixes))
        from_end = ends[rows] - 1 - np.arange(len(rows))
        recent = from_end < sample_size
        rows, cols, common = rows[recent], cols[recent], common[recent]
    sizes = np.diff(prefixes.indptr).astype(np.float64)
    sims = common / np.sqrt(sizes[rows] * index.sizes[cols])
    similar = sims >= threshold
    candidates = sp.csr_matrix(
        (sims[similar], (rows[similar], cols[similar])), shape=(n_prefixes, n_sessions)
    )
    recency = np.arange(n_sessions, dtype=np.float64)
    return keep_top_k_per_row(candidates, k, tiebreak=recency).astype(np.float32)


def training_neighbours(
    index: SessionIndex,
    session_column: np.ndarray,
    cut: np.ndarray,
    k: int,
    sample_size: int = 1000,
    threshold: float = 0.5,
    past_only: bool = True,
    chunk: int = 4096,
) -> sp.csr_matrix:
    """Neighbours of the training prefixes ``index.sessions[session_column[p]][:cut[p]]``.

    Never the prefix's own session; with ``past_only`` only sessions older than it (the
    situation of a test prefix, whose pool is entirely in its past). Done in chunks of
    ``chunk`` prefixes to bound memory. Returns [P, S] similarities.
    """
    n_items = index.items_to_sessions.shape[0]
    parts = []
    for start in range(0, len(session_column), chunk):
        own = session_column[start : start + chunk]
        sets = prefix_sets(index.sessions, own, cut[start : start + chunk], n_items)
        parts.append(
            retrieve(index, sets, k, sample_size, threshold, exclude=own, before=own if past_only else None)
        )
    if not parts:
        return sp.csr_matrix((0, len(index)), dtype=np.float32)
    return sp.vstack(parts, format="csr")
