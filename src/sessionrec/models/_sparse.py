"""Sparse building blocks shared by the neighbourhood baselines (Item-KNN, SKNN).

Both models reduce to products of a session x item incidence matrix, plus a
"keep the best k entries of every row" step. Both are written once here, fully
vectorised: no Python loop runs per session or per item.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from sessionrec.data.sessions import Sessions


def session_item_matrix(sessions: Sessions, n_items: int, binary: bool = True) -> sp.csr_matrix:
    """[n_sessions, n_items] matrix; column j is internal item j + 1.

    ``binary``: 1 where the session holds the item (item sets, repeats ignored);
    otherwise the number of clicks of the item in the session.
    """
    rows = np.repeat(np.arange(len(sessions), dtype=np.int64), sessions.lengths)
    cols = sessions.items.astype(np.int64) - 1
    data = np.ones(len(cols), dtype=np.float64)
    matrix = sp.csr_matrix((data, (rows, cols)), shape=(len(sessions), n_items))
    matrix.sum_duplicates()  # also sorts the column indices of every row
    if binary:
        matrix.data[:] = 1.0
    return matrix


def prefix_matrix(items: np.ndarray, n_items: int) -> sp.csr_matrix:
    """Binary [B, n_items] item sets of right-padded prefixes (0 = padding)."""
    rows, positions = np.nonzero(items > 0)
    matrix = sp.csr_matrix(
        (np.ones(len(rows)), (rows, items[rows, positions].astype(np.int64) - 1)),
        shape=(items.shape[0], n_items),
    )
    matrix.sum_duplicates()
    matrix.data[:] = 1.0
    return matrix


def row_ids(matrix: sp.csr_matrix) -> np.ndarray:
    """The row of every stored entry, in storage order."""
    return np.repeat(np.arange(matrix.shape[0], dtype=np.int64), np.diff(matrix.indptr))


def keep_top_k_per_row(matrix: sp.csr_matrix, k: int, tiebreak: np.ndarray | None = None) -> sp.csr_matrix:
    """Keep the ``k`` largest stored values of each row (and only positive ones).

    Equal values are ordered by ``tiebreak[column]`` (larger first), then by the
    lower column index, so the result never depends on storage order.
    """
    matrix = matrix.tocsr()
    rows = row_ids(matrix)
    cols = matrix.indices.astype(np.int64)
    values = matrix.data
    secondary = np.zeros(len(cols)) if tiebreak is None else -np.asarray(tiebreak, dtype=np.float64)[cols]
    # lexsort: the last key is the primary one
    order = np.lexsort((cols, secondary, -values, rows))
    rows, cols, values = rows[order], cols[order], values[order]
    starts = np.searchsorted(rows, np.arange(matrix.shape[0]))
    position = np.arange(len(rows)) - starts[rows]
    keep = (position < k) & (values > 0)
    return sp.csr_matrix((values[keep], (rows[keep], cols[keep])), shape=matrix.shape)
