"""The sessions-by-items incidence matrix.

H[s, i] = 1 when item i occurs in session s (``binary=True``, the hypergraph of DHCN and
the neighbour retrieval of SKNN-style models), else the number of times it occurs.
Shape [S, N + 1]; column 0 (padding) is empty.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from sessionrec.data.sessions import Sessions


def session_item_incidence(sessions: Sessions, n_items: int, binary: bool = True) -> sp.csr_array:
    rows = np.repeat(np.arange(len(sessions)), sessions.lengths)
    values = np.ones(len(rows), dtype=np.float32)
    matrix = sp.csr_array((values, (rows, sessions.items)), shape=(len(sessions), n_items + 1))
    matrix.sum_duplicates()
    if binary:
        matrix.data[:] = 1.0
    return matrix
