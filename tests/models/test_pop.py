"""POP: the contract, and scores that are exactly the training click counts."""

from __future__ import annotations

import numpy as np

from sessionrec.data.batching import batch_from_lists
from sessionrec.models.registry import create
from tests.conftest import tiny_split

CONTRACT = {"pop": {"pattern_metric": None}}  # POP ignores the session: no next-item rule to learn


def test_scores_are_training_click_counts_whatever_the_session() -> None:
    # clicks: item 1 twice, item 2 four times (repeats count), item 3 once, item 4 never
    model = create("pop").fit(tiny_split([[1, 2], [2, 3], [2, 1, 2]], n_items=4))
    scores = model.score(batch_from_lists([[4], [3, 3, 1]], model.batch_spec))
    np.testing.assert_array_equal(scores.numpy(), [[2, 4, 1, 0], [2, 4, 1, 0]])
    assert model.recommend([[4]], k=3).items == [[2, 1, 3]]
    # exclude_seen drops the session's own items from the popular list
    assert model.recommend([[2]], k=2, exclude_seen=True).items == [[1, 3]]


def test_scores_can_be_written_into_without_touching_the_model() -> None:
    model = create("pop").fit(tiny_split([[1, 2], [2, 3]], n_items=3))
    scores = model.score(batch_from_lists([[1], [2]], model.batch_spec))
    scores[0, 1] = -1.0  # e.g. a server masking seen items in place
    assert model.popularity_ is not None and model.popularity_[2] == 2
    assert scores[1, 1] == 2.0
