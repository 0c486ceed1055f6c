"""V-STAN: the contract, STAN as a special case, and the match and IDF weights by hand."""

from __future__ import annotations

import math

import numpy as np

from sessionrec.data.batching import batch_from_lists
from sessionrec.models.registry import create
from tests.conftest import tiny_split

CONTRACT = {
    "vstan": {"pattern_metric": "HR@10", "pattern_threshold": 75.0},
}

# s0 [1, 2], s1 [2, 3, 4], s2 [1, 3], s3 [4, 5] at times 0, 1, 2, 3
TRAIN = [[1, 2], [2, 3, 4], [1, 3], [4, 5]]
DECAYS = {"lambda_position": 2.0, "lambda_recency": 4.0, "lambda_near": 3.0}


def scores(name: str, prefix: list[int], **config: object) -> np.ndarray:
    model = create(name, **config).fit(tiny_split(TRAIN, n_items=5))
    return model.score(batch_from_lists([prefix], model.batch_spec)).numpy()[0]


def test_without_match_decay_and_idf_it_is_stan() -> None:
    got = scores("vstan", [2, 1, 3], lambda_match=0.0, idf_weight=0.0, **DECAYS)
    np.testing.assert_allclose(got, scores("stan", [2, 1, 3], **DECAYS), rtol=1e-6)


def test_match_decay_by_hand() -> None:
    # prefix [1, 3]; as STAN, with each neighbour also weighted exp(-(step - 1) / lambda_match):
    # s0's most recent shared item is 1, one step further back (step 2); s1 and s2 share item 3 (step 1)
    w1 = math.exp(-1 / 2)
    sim = {0: w1 / 2, 1: 1 / math.sqrt(6), 2: (w1 + 1) / 2}
    sim = {n: s * math.exp(-(3 - n) / 4) for n, s in sim.items()}
    sim[0] *= math.exp(-1 / 0.5)
    near = lambda d: math.exp(-d / 3)  # noqa: E731
    expected = [
        sim[0] + sim[2] * near(1),
        sim[0] * near(1) + sim[1] * near(1),
        sim[1] + sim[2],
        sim[1] * near(1),
        0.0,
    ]
    np.testing.assert_allclose(scores("vstan", [1, 3], lambda_match=0.5, **DECAYS), expected, rtol=1e-6)


def test_vec_similarity_with_idf_by_hand() -> None:
    # vec: shared weights / |s|; item 1 and item 3 are both held by 2 of 4 sessions (idf log 2)
    f = 1 + 2.0 * math.log(2)
    w1 = math.exp(-1 / 2) * f
    sim = {0: w1 / 2, 1: f / 2, 2: (w1 + f) / 2}
    sim = {n: s * math.exp(-(3 - n) / 4) for n, s in sim.items()}
    near = lambda d: math.exp(-d / 3)  # noqa: E731
    expected = [
        sim[0] + sim[2] * near(1),
        sim[0] * near(1) + sim[1] * near(1),
        sim[1] + sim[2],
        sim[1] * near(1),
        0.0,
    ]
    got = scores("vstan", [1, 3], similarity="vec", idf_weight=2.0, lambda_match=0.0, **DECAYS)
    np.testing.assert_allclose(got, expected, rtol=1e-6)
