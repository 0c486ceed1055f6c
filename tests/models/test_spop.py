"""S-POP: the contract, hand-computed scores, and the float32-safe popularity tie-breaker."""

from __future__ import annotations

import numpy as np
import pytest

from sessionrec.data.batching import batch_from_lists
from sessionrec.errors import ConfigError
from sessionrec.models.registry import create
from sessionrec.models.spop import popularity_tiebreak
from tests.conftest import tiny_split

CONTRACT = {"spop": {"pattern_metric": None}}  # S-POP only repeats the session's items: the successor is new


# clicks: item 1 twice, item 2 four times, item 3 once, item 4 never
TRAIN = [[1, 2], [2, 3], [2, 1, 2]]


def test_session_counts_first_popularity_breaks_ties() -> None:
    model = create("spop", top_n=0).fit(tiny_split(TRAIN, n_items=4))
    scores = model.score(batch_from_lists([[3, 3, 1]], model.batch_spec))
    # distinct counts 1 < 2 < 4 -> tie-breakers 1/4, 2/4, 3/4 (item 4, never clicked: 0);
    # the prefix holds item 3 twice and item 1 once
    np.testing.assert_allclose(scores.numpy(), [[1 + 2 / 4, 3 / 4, 2 + 1 / 4, 0.0]])
    assert model.recommend([[3, 3, 1]], k=4).items == [[3, 1, 2, 4]]


def test_only_the_top_n_popular_items_get_the_tie_breaker() -> None:
    model = create("spop", top_n=1).fit(tiny_split(TRAIN, n_items=4))
    scores = model.score(batch_from_lists([[3, 3, 1]], model.batch_spec))
    # only item 2 (4 clicks) is in the top 1: it alone gets 1/2 (one distinct level)
    np.testing.assert_allclose(scores.numpy(), [[1.0, 0.5, 2.0, 0.0]])


def test_tiebreak_orders_like_supp_over_supp_plus_one_and_keeps_ties() -> None:
    counts = np.random.default_rng(0).integers(0, 40, size=200)
    tiebreak = popularity_tiebreak(counts, top_n=0)
    reference = counts / (counts + 1.0)
    # same pairwise order (and the same ties) as the reference formula
    np.testing.assert_array_equal(
        np.sign(tiebreak[:, None] - tiebreak[None, :]), np.sign(reference[:, None] - reference[None, :])
    )
    assert tiebreak.max() < 1.0 and tiebreak.min() >= 0.0


def test_tiebreak_separates_close_large_counts_in_float32() -> None:
    # a clicked item scores 1 + supp/(supp+1): for supp 5000 and 5001 that is one float32
    assert np.float32(1 + 5000 / 5001) == np.float32(1 + 5001 / 5002)
    tiebreak = popularity_tiebreak(np.array([5000, 5001]), top_n=0)
    assert tiebreak[1] > tiebreak[0]
    assert np.float32(1 + tiebreak[1]) > np.float32(1 + tiebreak[0])


def test_negative_top_n_is_rejected() -> None:
    with pytest.raises(ConfigError, match="top_n must be >= 0"):
        create("spop", top_n=-1)
