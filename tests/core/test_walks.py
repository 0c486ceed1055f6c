"""Random walks on the global item graph: alias tables, walk distribution, degree ranks."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.stats import chisquare

from sessionrec.data.sessions import Sessions
from sessionrec.graphs.transitions import row_normalise, transition_counts
from sessionrec.graphs.walks import alias_tables, compact_walks, degree_ranks, node_walks, random_walks


def graph_of(edges: dict[tuple[int, int], float], n: int) -> sp.csr_array:
    rows, cols = zip(*edges, strict=True)
    weights = np.array(list(edges.values()), dtype=np.float64)
    return sp.csr_array((weights, (rows, cols)), shape=(n, n))


def reconstructed(graph: sp.csr_array) -> np.ndarray:
    """p_x = (prob[x] + sum_{alias[j] = x} (1 - prob[j])) / k, per edge."""
    table = alias_tables(graph)
    degree = np.diff(graph.indptr)
    rows = np.repeat(np.arange(graph.shape[0]), degree)
    mass = table.prob.copy()
    np.add.at(mass, table.alias, 1.0 - table.prob)
    assert (rows[table.alias] == rows).all()  # an alias never leaves its row
    return mass / degree[rows]


def test_alias_tables_give_back_each_rows_probabilities() -> None:
    # row 1: 1/10, 3/10, 6/10 (hand: k p = 0.3, 0.9, 1.8); row 2: uniform; row 3: one edge
    graph = row_normalise(graph_of({(1, 2): 1, (1, 3): 3, (1, 4): 6, (2, 1): 2, (2, 3): 2, (3, 1): 5}, 5))
    graph.sort_indices()
    table = alias_tables(graph)
    np.testing.assert_allclose(table.prob[:3], [0.3, 0.9, 1.0])  # the 1.8 edge keeps its own bucket
    assert list(table.alias[:2]) == [2, 2]  # both light buckets fall back to the 6/10 edge
    np.testing.assert_allclose(reconstructed(graph), graph.data, atol=1e-12)
    rng = np.random.default_rng(0)
    weights = rng.integers(1, 100, size=(60, 60)) * (rng.random((60, 60)) < 0.3)
    random_graph = row_normalise(sp.csr_array(weights.astype(np.float64)))
    np.testing.assert_allclose(reconstructed(random_graph), random_graph.data, atol=1e-12)


def test_walks_follow_the_edge_weights_in_distribution() -> None:
    graph = row_normalise(graph_of({(1, 2): 1, (1, 3): 3, (1, 4): 6, (2, 1): 1, (3, 1): 1, (3, 2): 1}, 5))
    walks = random_walks(graph, alias_tables(graph), np.full(30_000, 1), 6, np.random.default_rng(7))
    # every transition out of node 1, at any step of any walk
    source, target = walks[:, :-1].ravel(), walks[:, 1:].ravel()
    observed = np.bincount(target[source == 1], minlength=5)[2:]
    assert observed.sum() > 30_000
    expected = observed.sum() * np.array([0.1, 0.3, 0.6])
    assert chisquare(observed, expected).pvalue > 1e-3
    out_of_3 = np.bincount(target[source == 3], minlength=5)[[1, 2]]
    assert chisquare(out_of_3).pvalue > 1e-3  # 1/2, 1/2
    # node 4 has no out-edges: a walk that reaches it stops, the rest of its row is padding
    stopped = (walks == 4).argmax(1)
    reached = (walks == 4).any(1)
    after = np.arange(6)[None, :] > stopped[:, None]
    assert reached.any() and (walks[reached][after[reached]] == 0).all()


def test_node_walks_start_T_times_from_every_node_with_an_edge() -> None:
    sessions = Sessions.from_lists([[1, 1, 2], [2, 3], [3, 1]])
    counts = transition_counts(sessions, 5, self_loops=False)
    walks = node_walks(row_normalise(counts), 3, 4, np.random.default_rng(0))
    assert walks.shape == (9, 4)
    assert sorted(walks[:, 0].tolist()) == [1, 1, 1, 2, 2, 2, 3, 3, 3]  # items 4, 5 have no edge
    # the only edges are 1->2, 2->3, 3->1 (1->1 skipped): every walk follows the cycle
    assert ((walks[:, 1:] - 1) == (walks[:, :-1] % 3)).all()
    assert compact_walks(walks, 5).dtype == np.uint16 and compact_walks(walks, 70_000).dtype == np.int32


def test_degree_ranks_order_nodes_by_in_plus_out_neighbours() -> None:
    # degrees: 1: out {2, 3} + in {2} = 3; 2: out {1} + in {1, 3} = 3; 3: out {2} + in {1} = 2
    graph = graph_of({(1, 2): 1, (1, 3): 1, (2, 1): 1, (3, 2): 1}, 5)
    assert degree_ranks(graph).tolist() == [-1, 0, 1, 2, -1]
