"""SKNN: the contract, hand-computed neighbourhoods, and a per-session reference on real data."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from sessionrec.data.batching import batch_from_lists, make_batch
from sessionrec.errors import ConfigError
from sessionrec.models.registry import create
from sessionrec.models.sknn import SKNN
from tests.conftest import tiny_split

# the prefix's own items collect the most votes, so the successor lands a few places down
CONTRACT = {"sknn": {"pattern_metric": "HR@10", "pattern_threshold": 75.0}}


# s0 [1, 2], s1 [2, 3, 4], s2 [1, 3], s3 [4, 5]; the prefix {1, 3} overlaps s0 (1 item), s1 (1), s2 (2)
TRAIN = [[1, 2], [2, 3, 4], [1, 3], [4, 5]]


def scores(prefix: list[int], times: list[float] | None = None, **config: object) -> np.ndarray:
    model = create("sknn", **config).fit(tiny_split(TRAIN, n_items=5, times=times))
    return model.score(batch_from_lists([prefix], model.batch_spec)).numpy()[0]


def test_cosine_neighbourhood_by_hand() -> None:
    # true cosine: s0 1/sqrt(2*2) = 0.5, s1 1/sqrt(2*3), s2 2/sqrt(2*2) = 1; s3 shares nothing
    s1 = 1 / np.sqrt(6)
    np.testing.assert_allclose(scores([1, 3]), [0.5 + 1, 0.5 + s1, s1 + 1, s1, 0.0], rtol=1e-6)
    # repeated clicks do not change the item set
    np.testing.assert_allclose(scores([1, 3, 1, 1]), scores([1, 3]))


def test_jaccard_neighbourhood_by_hand() -> None:
    # jaccard: s0 1/3, s1 1/4, s2 2/2
    expected = [1 / 3 + 1, 1 / 3 + 1 / 4, 1 / 4 + 1, 1 / 4, 0.0]
    np.testing.assert_allclose(scores([1, 3], similarity="jaccard"), expected, rtol=1e-6)


def test_k_keeps_the_most_similar_neighbours() -> None:
    # k = 1: only s2 (similarity 1) votes
    np.testing.assert_allclose(scores([1, 3], k=1), [1.0, 0.0, 1.0, 0.0, 0.0])


def test_sample_keeps_the_most_recent_candidates_by_timestamp() -> None:
    # default times = file order: the 2 most recent candidates are s1 and s2
    s1 = 1 / np.sqrt(6)
    np.testing.assert_allclose(scores([1, 3], sample_size=2), [1.0, s1, s1 + 1, s1, 0.0], rtol=1e-6)
    # timestamps, not positions, decide: with s0 the latest, s1 (the oldest) drops out
    np.testing.assert_allclose(
        scores([1, 3], times=[3.0, 0.0, 1.0, 2.0], sample_size=2), [1.5, 0.5, 1.0, 0.0, 0.0], rtol=1e-6
    )


def test_neighbours_come_from_training_sessions_only() -> None:
    # item 6 occurs in no training session: a prefix of it alone has no neighbour at all,
    # even though it is scored with other sessions around it in the same batch
    model = create("sknn").fit(tiny_split(TRAIN, n_items=6))
    result = model.score(batch_from_lists([[6], [1, 3], [5, 6]], model.batch_spec)).numpy()
    np.testing.assert_array_equal(result[0], np.zeros(6))
    assert result[2, 3] > 0 and result[2, 5] == 0.0  # [5, 6] reaches s3 [4, 5] only


@pytest.mark.parametrize(("key", "value"), [("k", 0), ("sample_size", -1)])
def test_out_of_range_values_are_rejected(key: str, value: int) -> None:
    with pytest.raises(ConfigError, match=key):
        create("sknn", **{key: value})


def reference_scores(sessions: list[set[int]], prefix: set[int], n_items: int, k: int, m: int) -> np.ndarray:
    """The session-rec algorithm, one prefix at a time (sessions in time order)."""
    candidates = [s for s, items in enumerate(sessions) if items & prefix][-m:]
    sims = [(len(sessions[s] & prefix) / np.sqrt(len(sessions[s]) * len(prefix)), s) for s in candidates]
    neighbours = sorted(sims, reverse=True)[:k]  # equal similarity: the later session first
    out = np.zeros(n_items)
    for sim, s in neighbours:
        out[np.fromiter(sessions[s], dtype=np.int64) - 1] += sim
    return out


@pytest.mark.slow
def test_matches_the_per_session_algorithm_on_diginetica(shared_data: Path) -> None:
    from sessionrec.data.pickles import import_pickles

    data = import_pickles(shared_data / "diginetica")
    model = create("sknn", k=50, sample_size=300).fit(data.train)
    assert isinstance(model, SKNN)
    samples = np.arange(0, len(data.test), 1217)  # 51 prefixes spread over the test set
    start = time.perf_counter()
    result = model.score(make_batch(data.test, samples, model.batch_spec)).numpy()
    assert time.perf_counter() - start < 5.0
    sessions = [set(s) for s in data.train.sessions.to_lists()]
    for row, sample in enumerate(samples):
        prefix = set(data.test.prefix(sample).tolist())
        expected = reference_scores(sessions, prefix, data.n_items, k=50, m=300)
        np.testing.assert_allclose(result[row], expected, rtol=1e-5, atol=1e-6)
