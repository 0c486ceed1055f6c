"""Graph builders against hand counts."""

from __future__ import annotations

import numpy as np
import pytest

from sessionrec.data.sessions import Sessions
from sessionrec.graphs.cooccurrence import cooccurrence_by_distance
from sessionrec.graphs.incidence import session_item_incidence
from sessionrec.graphs.transitions import row_normalise, transition_counts

# s0 = [1, 2, 3, 2], s1 = [2, 3], s2 = [4], s3 = [3, 3, 1]
SESSIONS = Sessions.from_lists([[1, 2, 3, 2], [2, 3], [4], [3, 3, 1]])


def dense(matrix: object) -> np.ndarray:
    return matrix.toarray()  # type: ignore[attr-defined]


def test_transition_counts_match_a_hand_count() -> None:
    counts = dense(transition_counts(SESSIONS, n_items=4))
    expected = np.zeros((5, 5))
    # 1->2 (s0), 2->3 (s0, s1), 3->2 (s0), 3->3 (s3), 3->1 (s3); nothing crosses sessions
    expected[1, 2], expected[2, 3], expected[3, 2], expected[3, 3], expected[3, 1] = 1, 2, 1, 1, 1
    np.testing.assert_array_equal(counts, expected)
    no_loops = dense(transition_counts(SESSIONS, n_items=4, self_loops=False))
    expected[3, 3] = 0
    np.testing.assert_array_equal(no_loops, expected)
    probabilities = dense(row_normalise(transition_counts(SESSIONS, 4, self_loops=False)))
    np.testing.assert_allclose(probabilities[3], [0, 0.5, 0.5, 0, 0])  # 3 -> 2 once, 3 -> 1 once
    np.testing.assert_allclose(probabilities.sum(axis=1), [0, 1, 1, 1, 0])  # 4 has no out-edge


def test_cooccurrence_by_signed_distance_matches_a_hand_count() -> None:
    graph = cooccurrence_by_distance(SESSIONS, n_items=4, max_distance=2, beyond=True)
    c1, c2 = dense(graph.at(1)), dense(graph.at(2))
    np.testing.assert_array_equal(c1, dense(transition_counts(SESSIONS, 4)))  # k = 1: transitions
    expected2 = np.zeros((5, 5))
    # distance 2: s0 (1,3), (2,2); s3 (3,1)
    expected2[1, 3], expected2[2, 2], expected2[3, 1] = 1, 1, 1
    np.testing.assert_array_equal(c2, expected2)
    np.testing.assert_array_equal(dense(graph.at(-2)), expected2.T)  # j two places before i
    expected_far = np.zeros((5, 5))
    expected_far[1, 2] = 1  # distance 3 only in s0: (1, 2)
    assert graph.beyond is not None
    np.testing.assert_array_equal(dense(graph.beyond), expected_far)
    within = dense(graph.within())
    np.testing.assert_array_equal(within, c1 + c1.T + c2 + c2.T)
    with pytest.raises(ValueError, match="distance"):
        graph.at(3)


def test_incidence_is_binary_or_counts() -> None:
    binary = dense(session_item_incidence(SESSIONS, n_items=4))
    np.testing.assert_array_equal(
        binary, [[0, 1, 1, 1, 0], [0, 0, 1, 1, 0], [0, 0, 0, 0, 1], [0, 1, 0, 1, 0]]
    )
    counts = dense(session_item_incidence(SESSIONS, n_items=4, binary=False))
    assert counts[0, 2] == 2 and counts[3, 3] == 2 and counts.sum() == len(SESSIONS.items)
