"""Item-KNN: the contract, a hand-computed example, and a brute-force cross-check."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from sessionrec.data.batching import batch_from_lists
from sessionrec.errors import ConfigError
from sessionrec.models.registry import create
from tests.conftest import synthetic_dataset, tiny_split

# co-occurrence is symmetric: the successor competes with the predecessor, so HR@5
CONTRACT = {"itemknn": {"pattern_metric": "HR@5", "pattern_threshold": 80.0}}


# supp (clicks): item 1: 4, item 2: 3, item 3: 2, item 4: 1
# sessions holding both: (1,2): 2, (1,3): 1, (1,4): 1, (2,3): 2, (2,4): 0, (3,4): 0
TRAIN = [[1, 2], [1, 2, 3], [2, 3], [1, 1, 4]]


def test_hand_computed_similarities_of_the_last_item() -> None:
    model = create("itemknn", lmbd=0.0).fit(tiny_split(TRAIN, n_items=4))
    scores = model.score(batch_from_lists([[3, 1]], model.batch_spec)).numpy()
    # last item 1: sim(1, j) = co / sqrt(4 * supp_j); sim(1, 1) = 0; the earlier click 3 is ignored
    np.testing.assert_allclose(scores, [[0.0, 2 / np.sqrt(12), 1 / np.sqrt(8), 1 / np.sqrt(4)]], rtol=1e-6)
    assert model.recommend([[3, 1]], k=3).items == [[2, 4, 3]]


def last_item_one(**config: float) -> np.ndarray:
    """Scores of the prefix [1] under ``config``, on TRAIN."""
    model = create("itemknn", **config).fit(tiny_split(TRAIN, n_items=4))
    return model.score(batch_from_lists([[1]], model.batch_spec)).numpy()[0]


def test_shrinkage_alpha_and_neighbour_cut() -> None:
    # lambda = 20 (default): sim(1, 2) = 2 / sqrt((4 + 20) * (3 + 20))
    assert last_item_one()[1] == pytest.approx(2 / np.sqrt(24 * 23), rel=1e-6)
    # alpha = 1 normalises by the last item's support only: sim(1, j) = co(1, j) / 4
    np.testing.assert_allclose(last_item_one(lmbd=0.0, alpha=1.0), [0.0, 0.5, 0.25, 0.25])
    # one neighbour kept: only item 2 (the most similar) scores
    np.testing.assert_allclose(last_item_one(lmbd=0.0, n_neighbors=1), [0.0, 2 / np.sqrt(12), 0.0, 0.0])


def test_event_cooccurrence_counts_repeated_clicks() -> None:
    model = create("itemknn", lmbd=0.0, cooccurrence="events").fit(tiny_split(TRAIN, n_items=4))
    scores = model.score(batch_from_lists([[1]], model.batch_spec)).numpy()
    # session [1, 1, 4]: 2 clicks on 1 x 1 click on 4 -> co(1, 4) = 2, sim = 2 / sqrt(4 * 1)
    assert scores[0, 3] == pytest.approx(1.0)
    assert model.recommend([[1]], k=1).items == [[4]]


def test_matches_a_brute_force_computation() -> None:
    data = synthetic_dataset()
    n = data.n_items
    model = create("itemknn", n_neighbors=n).fit(data.train)
    sessions = data.train.sessions.to_lists()
    supp = np.bincount(np.concatenate(sessions), minlength=n + 1)
    expected = np.zeros((n, n))
    for i, j in itertools.permutations(range(1, n + 1), 2):
        co = sum(1 for s in sessions if i in s and j in s)
        expected[i - 1, j - 1] = co / np.sqrt((supp[i] + 20) * (supp[j] + 20))
    scores = model.score(batch_from_lists([[i] for i in range(1, n + 1)], model.batch_spec))
    np.testing.assert_allclose(scores.numpy(), expected, rtol=1e-5)


@pytest.mark.parametrize(("key", "value"), [("n_neighbors", 0), ("lmbd", -1.0), ("alpha", 1.5)])
def test_out_of_range_values_are_rejected(key: str, value: float) -> None:
    with pytest.raises(ConfigError, match=key):
        create("itemknn", **{key: value})
