"""DHCN's item hypergraph: every training prefix is a hyperedge (notes 5.9).

With the binary incidence H [N + 1, E] (H[i, e] = 1 when item i occurs in hyperedge e;
``incidence.session_item_incidence`` gives H^T), the hyperedge weights W = I, the item
degrees D = diag(H 1) and the hyperedge sizes B = diag(H^T 1), the convolution operator is

    A = D^-1 H W B^-1 H^T      [N + 1, N + 1],  A[i, j] = (1 / D_ii) sum_e H[i, e] H[j, e] / B_ee,

row-stochastic on every item that occurs (rows of absent items, and row 0, are empty).
``min_weight`` drops the entries below it afterwards (DHCN's Nowplaying setting: 0.05),
without renormalising, as the official code does.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import reverse_cuthill_mckee

from sessionrec.data.sessions import Sessions, Split, _ranges
from sessionrec.graphs.incidence import session_item_incidence


def prefix_hyperedges(split: Split) -> Sessions:
    """The input prefixes of a split's samples, each as its own session (one hyperedge each)."""
    sessions = split.sessions
    starts = sessions.offsets[split.sample_session]
    lengths = split.sample_cut.astype(np.int64)
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return Sessions(offsets, sessions.items[_ranges(starts, lengths)], np.zeros(len(lengths)))


def _inverse(values: np.ndarray) -> np.ndarray:
    return np.divide(1.0, values, out=np.zeros_like(values, dtype=np.float64), where=values > 0)


def hypergraph_operator(
    hyperedges: Sessions, n_items: int, min_weight: float = 0.0
) -> tuple[sp.csr_array, np.ndarray]:
    """(A = D^-1 H B^-1 H^T as float32 CSR [N + 1, N + 1], item degrees D_ii as float32 [N + 1])."""
    incidence = session_item_incidence(hyperedges, n_items, binary=True)  # H^T [E, N + 1]
    sizes = np.asarray(incidence.sum(axis=1)).ravel()
    degrees = np.asarray(incidence.sum(axis=0)).ravel()
    scaled = sp.csr_array(sp.diags_array(_inverse(sizes)) @ incidence)  # B^-1 H^T
    operator = sp.csr_array(sp.diags_array(_inverse(degrees)) @ sp.csr_array(incidence.T @ scaled))
    operator = sp.csr_array(operator.astype(np.float32))
    if min_weight > 0:
        operator.data[operator.data < min_weight] = 0.0
    operator.eliminate_zeros()
    operator.sort_indices()
    return operator, degrees.astype(np.float32)


def locality_order(operator: sp.csr_array) -> np.ndarray:
    """A permutation of the items (int64 [N + 1]) that keeps each row's columns close.

    The reverse Cuthill-McKee order of the symmetrised pattern of ``operator``: with rows
    and columns both in this order, ``A X`` reads nearby rows of X for nearby rows of A
    (cache reuse); the product is the same up to float summation order.
    """
    pattern = sp.csr_matrix(operator + operator.T)
    return reverse_cuthill_mckee(pattern, symmetric_mode=True).astype(np.int64)
