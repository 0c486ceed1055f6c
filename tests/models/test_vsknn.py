"""V-SKNN: the contract, and its prefix and neighbour weights by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sessionrec.data.batching import batch_from_lists
from sessionrec.errors import ConfigError
from sessionrec.models.registry import create
from tests.conftest import tiny_split

CONTRACT = {
    "vsknn": {"pattern_metric": "HR@10", "pattern_threshold": 75.0},
}

# s0 [1, 2], s1 [2, 3, 4], s2 [1, 3], s3 [4, 5]
TRAIN = [[1, 2], [2, 3, 4], [1, 3], [4, 5]]


def scores(prefix: list[int], **config: object) -> np.ndarray:
    model = create("vsknn", **config).fit(tiny_split(TRAIN, n_items=5))
    return model.score(batch_from_lists([prefix], model.batch_spec)).numpy()[0]


def test_div_weights_and_vec_similarity_by_hand() -> None:
    # prefix [1, 3]: weights p / l = 1/2 (item 1), 1 (item 3); vec = shared weight / |s| = / 2
    # s0 (holds 1): 0.25, s1 (holds 3): 0.5, s2 (holds 1 and 3): 0.75
    # match 1 / step of the most recent shared item: s0 item 1 is 2 back (1/2), s1 and s2 item 3 (1)
    s0, s1, s2 = 0.25 * 0.5, 0.5 * 1.0, 0.75 * 1.0
    expected = [s0 + s2, s0 + s1, s1 + s2, s1, 0.0]
    np.testing.assert_allclose(scores([1, 3]), expected, rtol=1e-6)


def test_order_matters_where_sknn_sees_one_item_set() -> None:
    # [3, 1]: now item 1 is the last click: s0 gets weight 1 and match 1, s1 1/2 and 1/2
    s0, s1, s2 = 0.5 * 1.0, 0.25 * 0.5, 0.75 * 1.0
    np.testing.assert_allclose(scores([3, 1]), [s0 + s2, s0 + s1, s1 + s2, s1, 0.0], rtol=1e-6)
    sknn = create("sknn").fit(tiny_split(TRAIN, n_items=5))
    batch = batch_from_lists([[1, 3], [3, 1]], sknn.batch_spec)
    same = sknn.score(batch).numpy()
    np.testing.assert_array_equal(same[0], same[1])


def test_idf_weight_by_hand() -> None:
    # idf = log(4 sessions / sessions holding the item): item 1 in 2 -> log 2, item 3 in 2 -> log 2
    # with weights 'same' and cosine: shared weights (1 + idf_weight * log 2) each
    f = 1 + 3.0 * math.log(2)
    got = scores([1, 3], weighting="same", weighting_score="same", similarity="cosine", idf_weight=3.0)
    s0, s1, s2 = f / 2, f / math.sqrt(6), 2 * f / 2
    np.testing.assert_allclose(got, [s0 + s2, s0 + s1, s1 + s2, s1, 0.0], rtol=1e-6)


def test_same_weights_and_cosine_are_sknn() -> None:
    sknn = create("sknn").fit(tiny_split(TRAIN, n_items=5))
    expected = sknn.score(batch_from_lists([[1, 3, 4]], sknn.batch_spec)).numpy()[0]
    got = scores([1, 3, 4], weighting="same", weighting_score="same", similarity="cosine")
    np.testing.assert_allclose(got, expected, rtol=1e-6)


@pytest.mark.parametrize(("key", "value"), [("idf_weight", -1.0), ("weighting", "cubic"), ("k", 0)])
def test_bad_values_are_rejected(key: str, value: object) -> None:
    with pytest.raises(ConfigError, match=key):
        create("vsknn", **{key: value})
