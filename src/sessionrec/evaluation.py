"""Full-ranking evaluation: ranks of held-out next items, metrics, breakdowns, paired tests.

Every test sample is one prefix and its next item, ranked against every item 1..N
(the padding index 0 is never a candidate). HR@K is the fraction of samples whose
target ranks in the top K: the papers' P@K and Recall@K are the same number here,
as each sample has exactly one target. MRR@K averages 1/rank, counting 0 past K.
NDCG@K averages 1/log2(1 + rank), counting 0 past K.

Ties: ``optimistic`` (default, the papers' convention) gives the target rank
1 + #items scored strictly higher; ``conservative`` gives 1 + #other items scored
higher or equal, so a heuristic baseline that scores many items equally gains
nothing from ties. Per-sample ranks are kept: length breakdowns and paired tests
need nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from sessionrec.data.batching import BatchSpec, make_batch
from sessionrec.data.sessions import Split

TieMode = Literal["optimistic", "conservative"]
CUTOFFS: tuple[int, ...] = (5, 10, 20)
LENGTH_BUCKETS = 11  # lengths 1..10 and 11+


def rank_of_targets(
    scores: torch.Tensor, targets: torch.Tensor, ties: TieMode = "optimistic"
) -> torch.Tensor:
    """Ranks (1 = best) of internal targets 1..N; ``scores[:, j]`` scores item j + 1."""
    if ties not in ("optimistic", "conservative"):
        raise ValueError(f"ties must be 'optimistic' or 'conservative', got {ties!r}")
    target_scores = scores.gather(1, (targets - 1).unsqueeze(1))
    if scores.device.type == "cpu":
        # NumPy's comparison and per-row count run several times faster on a CPU than
        # torch's boolean sum, which made ranking cost as much as scoring
        values, threshold = scores.numpy(), target_scores.numpy()
        above = values > threshold if ties == "optimistic" else values >= threshold
        counts = torch.from_numpy(np.count_nonzero(above, axis=1).astype(np.int64))
    else:
        above_t = scores > target_scores if ties == "optimistic" else scores >= target_scores
        counts = above_t.sum(1)
    return counts + 1 if ties == "optimistic" else counts


def metrics_from_ranks(ranks: np.ndarray, cutoffs: Sequence[int] = CUTOFFS) -> dict[str, float]:
    """HR@K, MRR@K and NDCG@K in percent."""
    ranks = np.asarray(ranks, dtype=np.float64)
    if len(ranks) == 0:
        return {f"{m}@{k}": float("nan") for k in cutoffs for m in ("HR", "MRR", "NDCG")}
    out: dict[str, float] = {}
    for k in cutoffs:
        hit = ranks <= k
        out[f"HR@{k}"] = 100.0 * float(hit.mean())
        out[f"MRR@{k}"] = 100.0 * float(np.where(hit, 1.0 / ranks, 0.0).mean())
        out[f"NDCG@{k}"] = 100.0 * float(np.where(hit, 1.0 / np.log2(1.0 + ranks), 0.0).mean())
    return out


@dataclass(frozen=True)
class Evaluation:
    """Per-sample ranks of one model on one split, with the prefix lengths."""

    ranks: np.ndarray  # int64 [n_samples], in the split's sample order
    lengths: np.ndarray  # int64 [n_samples]
    ties: TieMode = "optimistic"

    def metrics(self, cutoffs: Sequence[int] = CUTOFFS) -> dict[str, float]:
        return metrics_from_ranks(self.ranks, cutoffs)

    def by_length(self, cutoffs: Sequence[int] = CUTOFFS) -> dict[str, dict[str, float]]:
        """Metrics per prefix length 1, 2, ..., 10 and 11+ (with sample counts)."""
        bucket = np.minimum(self.lengths, LENGTH_BUCKETS)
        out: dict[str, dict[str, float]] = {}
        for b in range(1, LENGTH_BUCKETS + 1):
            chosen = bucket == b
            if chosen.any():
                label = f"{b}+" if b == LENGTH_BUCKETS else str(b)
                out[label] = {"samples": int(chosen.sum()), **metrics_from_ranks(self.ranks[chosen], cutoffs)}
        return out


ScoreFn = Callable[[object], torch.Tensor]


def evaluate_scores(
    score: ScoreFn,
    split: Split,
    spec: BatchSpec,
    batch_size: int = 500,
    ties: TieMode = "optimistic",
    device: torch.device | str = "cpu",
    progress: Callable[[int], None] | None = None,
) -> Evaluation:
    """Rank every test target with ``score(batch) -> [B, N]``; no gradients are kept.

    Samples are batched in order of prefix length, so a batch pads to lengths close to
    its own rather than to the longest prefix among a thousand random ones (the session
    encoders then cost about a third as much on Diginetica); ranks are written back in
    the split's order.
    """
    ranks = np.empty(len(split), dtype=np.int64)
    order = np.argsort(split.prefix_lengths, kind="stable")
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            samples = order[start : start + batch_size]
            batch = make_batch(split, samples, spec).to(device)
            scores = score(batch)
            assert batch.targets is not None
            batch_ranks = rank_of_targets(scores.float(), batch.targets, ties)
            ranks[samples] = batch_ranks.cpu().numpy()
            if progress is not None:
                progress(batch.size)
    return Evaluation(ranks, split.prefix_lengths.astype(np.int64), ties)


@dataclass(frozen=True)
class PairedComparison:
    """Paired tests of run A against run B on the same test samples."""

    n: int
    mrr_mean_diff: float  # mean of (1/rank_A - 1/rank_B), in percent
    t_pvalue: float  # paired t-test on reciprocal ranks
    wilcoxon_pvalue: float  # Wilcoxon signed-rank on reciprocal ranks
    cutoff: int
    hits_only_a: int
    hits_only_b: int
    mcnemar_pvalue: float  # exact McNemar on hits@cutoff


def compare(a: Evaluation, b: Evaluation, cutoff: int = 20) -> PairedComparison:
    from scipy import stats

    if len(a.ranks) != len(b.ranks) or not np.array_equal(a.lengths, b.lengths):
        raise ValueError("paired comparison needs two evaluations of the same test samples")
    rr_a, rr_b = 1.0 / a.ranks, 1.0 / b.ranks
    diff = rr_a - rr_b
    if np.allclose(diff, 0.0):
        t_p = w_p = 1.0
    else:
        t_p = float(stats.ttest_rel(rr_a, rr_b).pvalue)
        w_p = float(stats.wilcoxon(rr_a, rr_b, zero_method="wilcox").pvalue)
    hit_a, hit_b = a.ranks <= cutoff, b.ranks <= cutoff
    only_a, only_b = int((hit_a & ~hit_b).sum()), int((~hit_a & hit_b).sum())
    discordant = only_a + only_b
    mcnemar_p = 1.0 if discordant == 0 else float(stats.binomtest(only_a, discordant, 0.5).pvalue)
    return PairedComparison(
        len(diff), 100.0 * float(diff.mean()), t_p, w_p, cutoff, only_a, only_b, mcnemar_p
    )
