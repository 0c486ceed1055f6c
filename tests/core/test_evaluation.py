"""Metrics on hand-computed ranks, tie modes, and invariance to batch size and order."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from sessionrec.data.batching import BatchSpec
from sessionrec.data.sessions import Sessions, Split
from sessionrec.data.vocab import ItemVocab
from sessionrec.evaluation import (
    Evaluation,
    compare,
    count_above_and_tied,
    evaluate_scores,
    metrics_from_ranks,
    rank_of_targets,
)


def test_rank_counts_strictly_higher_scores_and_ignores_padding() -> None:
    # column j scores item j + 1; target 3 scores 0.5, beaten by 0.9 and 0.7 -> rank 3
    scores = torch.tensor([[0.9, 0.7, 0.5, 0.1], [0.2, 0.2, 0.2, 0.2]])
    targets = torch.tensor([3, 2])
    assert rank_of_targets(scores, targets).tolist() == [3, 1]
    # conservative: every other item tied with the target ranks before it -> 4 of 4
    assert rank_of_targets(scores, targets, "conservative").tolist() == [3, 4]


def test_metrics_from_hand_ranks() -> None:
    ranks = np.array([1, 2, 5, 10, 25])
    m = metrics_from_ranks(ranks)
    assert m["HR@5"] == pytest.approx(100 * 3 / 5)
    assert m["HR@20"] == pytest.approx(100 * 4 / 5)
    assert m["MRR@5"] == pytest.approx(100 * (1 + 1 / 2 + 1 / 5) / 5)
    assert m["MRR@20"] == pytest.approx(100 * (1 + 1 / 2 + 1 / 5 + 1 / 10) / 5)
    ndcg10 = (1 + 1 / math.log2(3) + 1 / math.log2(6) + 1 / math.log2(11)) / 5
    assert m["NDCG@10"] == pytest.approx(100 * ndcg10)


def _split(n_items: int = 30, n_sessions: int = 40, seed: int = 0) -> Split:
    rng = np.random.default_rng(seed)
    sessions = [rng.integers(1, n_items + 1, size=rng.integers(2, 9)).tolist() for _ in range(n_sessions)]
    return Split.augmented(Sessions.from_lists(sessions), ItemVocab.identity(n_items))


def _fixed_scores(batch: object) -> torch.Tensor:
    # a deterministic function of the prefix only: sum of item ids times a fixed matrix
    gen = torch.Generator().manual_seed(7)
    table = torch.randn(31, 30, generator=gen)
    return (table[batch.items] * batch.mask.unsqueeze(2)).sum(1)  # type: ignore[attr-defined]


def test_results_do_not_depend_on_batch_size_or_order() -> None:
    split = _split()
    base = evaluate_scores(_fixed_scores, split, BatchSpec(), batch_size=7)
    other = evaluate_scores(_fixed_scores, split, BatchSpec(), batch_size=1000)
    np.testing.assert_array_equal(base.ranks, other.ranks)
    order = np.random.default_rng(1).permutation(len(split))
    shuffled = evaluate_scores(_fixed_scores, split.select(order), BatchSpec(), batch_size=13)
    np.testing.assert_array_equal(base.ranks[order], shuffled.ranks)
    assert base.metrics() == pytest.approx(shuffled.metrics())


def test_by_length_buckets_and_counts() -> None:
    lengths = np.array([1, 1, 2, 11, 15])
    ev = Evaluation.from_ranks(np.array([1, 30, 2, 1, 100]), lengths)
    table = ev.by_length()
    assert table["1"]["samples"] == 2 and table["1"]["HR@20"] == pytest.approx(50.0)
    assert table["11+"]["samples"] == 2 and table["11+"]["MRR@20"] == pytest.approx(50.0)
    assert "3" not in table


def test_paired_comparison() -> None:
    lengths = np.ones(200, dtype=np.int64)
    better = Evaluation.from_ranks(np.ones(200, dtype=np.int64), lengths)
    worse = Evaluation.from_ranks(np.full(200, 50, dtype=np.int64), lengths)
    result = compare(better, worse, cutoff=20)
    assert result.hits_only_a == 200 and result.hits_only_b == 0
    assert result.mcnemar_pvalue < 1e-10 and result.t_pvalue < 1e-10
    same = compare(better, better)
    assert same.t_pvalue == 1.0 and same.mcnemar_pvalue == 1.0
    with pytest.raises(ValueError):
        compare(better, Evaluation.from_ranks(np.ones(3, dtype=np.int64), np.ones(3, dtype=np.int64)))


# -- tie modes ---------------------------------------------------------------------------
def test_counts_above_and_tied_and_nan_ranks_last() -> None:
    scores = torch.tensor([[0.9, 0.5, 0.5, 0.5], [0.1, float("nan"), 0.3, 0.2]])
    above, tied = count_above_and_tied(scores, torch.tensor([3, 2]))
    assert above.tolist() == [1, 3] and tied.tolist() == [3, 1]
    with pytest.raises(ValueError, match="'optimistic' or 'conservative'"):
        rank_of_targets(scores, torch.tensor([3, 2]), "expected")  # type: ignore[arg-type]


def test_expected_mode_averages_the_tied_ranks_exactly() -> None:
    # sample 0: one item above, three tied (itself included) -> ranks 2, 3, 4 with p = 1/3 each
    # sample 1: no tie, rank 1; sample 2: 20 tied at the top -> ranks 1..20
    ev = Evaluation(np.array([1, 0, 0]), np.array([3, 1, 20]), np.array([1, 2, 3]), "expected")
    m = ev.metrics(cutoffs=(3, 20))
    hr3 = (2 / 3 + 1 + 3 / 20) / 3
    mrr3 = ((1 / 2 + 1 / 3) / 3 + 1 + (1 + 1 / 2 + 1 / 3) / 20) / 3
    assert m["HR@3"] == pytest.approx(100 * hr3) and m["MRR@3"] == pytest.approx(100 * mrr3)
    assert m["HR@20"] == pytest.approx(100.0)
    ndcg3 = ((1 / math.log2(3) + 1 / math.log2(4)) / 3 + 1 + (1 + 1 / math.log2(3) + 0.5) / 20) / 3
    assert m["NDCG@3"] == pytest.approx(100 * ndcg3)
    assert ev.ranks.tolist() == [3.0, 1.0, 10.5]  # the mean rank
    assert ev.with_ties("optimistic").ranks.tolist() == [2, 1, 1]
    assert ev.with_ties("conservative").ranks.tolist() == [4, 1, 20]
    # the expectation lies between the two bounds, for every metric
    low, high = ev.with_ties("conservative").metrics(), ev.with_ties("optimistic").metrics()
    assert all(low[k] - 1e-9 <= ev.metrics()[k] <= high[k] + 1e-9 for k in low)


def test_by_length_and_compare_agree_with_the_mode() -> None:
    rng = np.random.default_rng(3)
    above, tied = rng.integers(0, 30, 300), rng.integers(1, 40, 300)
    ev = Evaluation(above, tied, rng.integers(1, 15, 300), "expected")
    table = ev.by_length()
    weighted = sum(row["samples"] * row["MRR@20"] for row in table.values()) / 300
    assert weighted == pytest.approx(ev.metrics()["MRR@20"])
    other = Evaluation(above + 5, tied, ev.lengths, "expected")
    result = compare(ev, other, cutoff=20)
    gap = ev.gains("MRR") - other.gains("MRR")
    assert result.mrr_mean_diff == pytest.approx(100 * gap.mean()) and result.mrr_mean_diff > 0
    expected_only_a = (ev.gains("HR", 20) * (1 - other.gains("HR", 20))).sum()
    assert result.hits_only_a == round(expected_only_a) and result.t_pvalue < 1e-6
    with pytest.raises(ValueError, match="one tie mode"):
        compare(ev, other.with_ties("optimistic"))


def test_evaluate_scores_keeps_every_mode_in_one_pass() -> None:
    split = _split()

    def flat(batch: object) -> torch.Tensor:  # every item tied: expected rank (N + 1) / 2
        return torch.zeros(batch.size, 30)  # type: ignore[attr-defined]

    ev = evaluate_scores(flat, split, BatchSpec())
    assert ev.ties == "expected" and (ev.tied == 30).all() and (ev.above == 0).all()
    assert ev.metrics()["HR@20"] == pytest.approx(100 * 20 / 30)
    assert ev.with_ties("optimistic").metrics()["HR@20"] == 100.0
    assert ev.with_ties("conservative").metrics()["HR@20"] == 0.0
