"""STAN: the contract, its three decays by hand, and the shared engine against a per-session loop."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sessionrec.data.batching import batch_from_lists
from sessionrec.errors import ConfigError
from sessionrec.models._neighbours import NeighbourIndex, Prefixes, Recipe, score_prefixes
from sessionrec.models.registry import create
from tests.conftest import tiny_split

CONTRACT = {
    # the prefix's own items collect the most votes, so the successor lands a few places down
    "stan": {"pattern_metric": "HR@10", "pattern_threshold": 75.0},
}

# s0 [1, 2], s1 [2, 3, 4], s2 [1, 3], s3 [4, 5] at times 0, 1, 2, 3
TRAIN = [[1, 2], [2, 3, 4], [1, 3], [4, 5]]
E = math.exp


def scores(prefix: list[int], times: list[float] | None = None, **config: object) -> np.ndarray:
    model = create("stan", **config).fit(tiny_split(TRAIN, n_items=5, times=times))
    return model.score(batch_from_lists([prefix], model.batch_spec)).numpy()[0]


def test_the_three_decays_by_hand() -> None:
    # prefix [1, 3] (l = 2), lambda_position 2, lambda_recency 4, lambda_near 3
    # factor 1: w(1) = exp((1 - 2) / 2), w(3) = 1
    w1 = E(-1 / 2)
    # sim1 = (s . n) / sqrt(|s| |n|): s0 w1 / 2, s1 1 / sqrt(6), s2 (w1 + 1) / 2
    sim1 = {0: w1 / 2, 1: 1 / math.sqrt(6), 2: (w1 + 1) / 2}
    # factor 2: times 0, 1, 2, 3; the reference time is the latest, 3
    sim2 = {n: s * E(-(3 - n) / 4) for n, s in sim1.items()}
    # factor 3: the most recent prefix item each neighbour holds and its position there:
    # s0 [1, 2]: item 1 at 1; s1 [2, 3, 4]: item 3 at 2; s2 [1, 3]: item 3 at 2
    near = lambda d: E(-d / 3)  # noqa: E731
    expected = [
        sim2[0] * near(0) + sim2[2] * near(1),  # item 1: s0 (distance 0), s2 (1)
        sim2[0] * near(1) + sim2[1] * near(1),  # item 2: s0 (1), s1 (1)
        sim2[1] * near(0) + sim2[2] * near(0),  # item 3
        sim2[1] * near(1),  # item 4
        0.0,
    ]
    got = scores([1, 3], lambda_position=2.0, lambda_recency=4.0, lambda_near=3.0)
    np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_decay_factor_one_uses_the_last_click_of_a_repeated_item() -> None:
    # [3, 1, 3]: item 3 last at position 3 (weight 1), item 1 at 2 (weight exp(-1/2)): as [1, 3]
    config = {"lambda_position": 2.0, "lambda_recency": 4.0, "lambda_near": 3.0}
    np.testing.assert_allclose(scores([3, 1, 3], **config), scores([1, 3], **config), rtol=1e-6)


def test_recency_relative_to_the_prefix_time_gives_the_same_ranking() -> None:
    # exp(-(t_s - t_n) / lambda) = exp(-(t_s - t_ref) / lambda) * exp(-(t_ref - t_n) / lambda):
    # the neighbour weights differ by one factor per prefix, here the same for any t_s
    config = {"lambda_recency": 2.0, "k": 2}
    base = scores([1, 3], **config)
    shifted = scores([1, 3], times=[10.0, 11.0, 12.0, 13.0], **config)
    np.testing.assert_allclose(base, shifted, rtol=1e-6)
    # reversed times and a sharp decay: s0 [1, 2] is now the latest and outweighs s2 [1, 3]
    # (the oldest candidate, dropped from the k = 2) and s1 (decayed by exp(-10))
    newest_first = scores([1, 3], times=[3.0, 2.0, 1.0, 0.0], lambda_recency=0.1, k=2)
    assert newest_first.argmax() == 0 and newest_first[2] < 1e-4
    assert base.argmax() == 2  # without it s2 and s1 vote item 3 first


@pytest.mark.parametrize("key", ["lambda_position", "lambda_near"])
def test_non_positive_decays_are_rejected(key: str) -> None:
    with pytest.raises(ConfigError, match=key):
        create("stan", **{key: 0.0})


# -- the shared engine against the definition, one prefix and one neighbour at a time ----------
def reference(
    sessions: list[list[int]], times: np.ndarray, prefix: list[int], n_items: int, r: Recipe
) -> np.ndarray:
    """The module docstring of ``models._neighbours``, written as plain loops."""
    length = len(prefix)
    last = {item: p + 1 for p, item in enumerate(prefix)}  # position of the last click
    held = np.zeros(n_items + 1)
    for s in sessions:
        for i in set(s):
            held[i] += 1
    weights = {}
    for item, p in last.items():
        d = length - p
        w = {"same": 1.0, "div": p / length, "exp": math.exp(-d / r.position_lambda)}[r.position_weighting]
        idf = math.log(len(sessions) / held[item]) if held[item] else 0.0
        weights[item] = w * (1 + r.idf_weight * idf)
    candidates = [n for n, s in enumerate(sessions) if any(weights.get(i, 0) > 0 for i in s)]
    candidates = candidates[-r.sample_size :] if r.sample_size else candidates
    sims = []
    for n in candidates:
        items = set(sessions[n])
        o = sum(w for i, w in weights.items() if i in items)
        a, b = len(last), len(items)
        sim = {"cosine": o / math.sqrt(a * b), "vec": o / a, "jaccard": o / (a + b - o)}[r.similarity]
        if r.recency_lambda:
            sim *= math.exp(-(times[-1] - times[n]) / r.recency_lambda)
        sims.append((sim, n))
    out = np.zeros(n_items)
    for sim, n in sorted(sims, reverse=True)[: r.k]:
        session = sessions[n]
        anchor = max((i for i in set(session) if i in last), key=lambda i: last[i])
        step = length - last[anchor] + 1
        match = {"same": 1.0, "div": 1 / step, "exp": math.exp(-(step - 1) / r.match_lambda)}[
            r.match_weighting
        ]
        where = {item: q + 1 for q, item in enumerate(session)}  # last click in the neighbour
        for item, q in where.items():
            near = math.exp(-abs(q - where[anchor]) / r.near_lambda) if r.near_lambda else 1.0
            out[item - 1] += sim * match * near
    return out


RECIPES = [
    Recipe(k=5, sample_size=0),
    Recipe(k=3, sample_size=20, similarity="jaccard"),
    # vec similarities tie often and float sums in another order break ties apart: keep every candidate
    Recipe(k=100, sample_size=0, similarity="vec", position_weighting="div", match_weighting="div"),
    Recipe(
        k=6,
        sample_size=0,
        position_weighting="exp",
        position_lambda=1.5,
        recency_lambda=30.0,
        near_lambda=2.0,
    ),
    Recipe(
        k=6,
        sample_size=25,
        similarity="vec",
        position_weighting="exp",
        position_lambda=0.7,
        idf_weight=2.0,
        recency_lambda=50.0,
        match_weighting="exp",
        match_lambda=1.3,
        near_lambda=0.8,
    ),
]


@pytest.mark.parametrize("recipe", RECIPES, ids=range(len(RECIPES)))
def test_engine_equals_the_per_session_definition(recipe: Recipe) -> None:
    rng = np.random.default_rng(7)
    n_items = 15
    # sessions with repeated items, in time order
    sessions = [list(rng.integers(1, n_items + 1, size=rng.integers(1, 9))) for _ in range(60)]
    times = np.arange(60, dtype=np.float64) * 1.5
    split = tiny_split(sessions, n_items=n_items, times=list(times))
    index = NeighbourIndex.build(split.sessions, n_items)
    prefixes = [list(rng.integers(1, n_items + 1, size=rng.integers(1, 7))) for _ in range(25)]
    batch = batch_from_lists(prefixes, create("sknn").batch_spec)
    got = score_prefixes(
        index, recipe, Prefixes.from_padded(batch.items.numpy(), batch.lengths.numpy(), n_items)
    )
    for row, prefix in enumerate(prefixes):
        expected = reference(
            [[int(i) for i in s] for s in sessions], times, [int(i) for i in prefix], n_items, recipe
        )
        np.testing.assert_allclose(got[row], expected, rtol=2e-5, atol=1e-7, err_msg=f"prefix {prefix}")
