"""Full-ranking evaluation: ranks of held-out next items, metrics, breakdowns, paired tests.

Every test sample is one prefix and its next item, ranked against every item 1..N
(the padding index 0 is never a candidate). HR@K is the fraction of samples whose
target ranks in the top K: the papers' P@K and Recall@K are the same number here,
as each sample has exactly one target. MRR@K averages 1/rank, counting 0 past K.
NDCG@K averages 1/log2(1 + rank), counting 0 past K.

Ties: a target with g items scored strictly higher and e items scored exactly as it
(itself included) may stand anywhere in ranks g+1..g+e. Three modes:

- ``expected`` (default): the value expected under uniformly random tie-breaking,
  computed exactly (each of the e ranks with probability 1/e), not sampled; neither
  flatters nor penalises a model that scores many items equally;
- ``optimistic``: rank g+1, the best place (the papers' convention; heuristics that
  tie thousands of items at 0 gain tens of points from it);
- ``conservative``: rank g+e, the worst place.

Per sample, g and e are kept (:class:`Evaluation`), so every mode, the length
breakdown and the paired tests come from one scoring pass.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from sessionrec.data.batching import BatchSpec, make_batch
from sessionrec.data.sessions import Split

TieMode = Literal["expected", "optimistic", "conservative"]
TIE_MODES: tuple[TieMode, ...] = ("expected", "optimistic", "conservative")
DEFAULT_TIES: TieMode = "expected"
CUTOFFS: tuple[int, ...] = (5, 10, 20)
LENGTH_BUCKETS = 11  # lengths 1..10 and 11+


def _check_mode(ties: str) -> None:
    if ties not in TIE_MODES:
        raise ValueError(f"ties must be one of {', '.join(TIE_MODES)}, got {ties!r}")


def count_above_and_tied(scores: torch.Tensor, targets: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Per row, items scored strictly higher than the target, and items scored equal (itself included).

    ``scores[:, j]`` scores internal item j + 1; targets are internal ids 1..N. A
    target scored NaN ranks last (no other item is below it).
    """
    target_scores = scores.gather(1, (targets - 1).unsqueeze(1))
    if scores.device.type == "cpu":
        # NumPy's comparison and per-row count run several times faster on a CPU than
        # torch's boolean sum, which made ranking cost as much as scoring
        values, threshold = scores.numpy(), target_scores.numpy()
        above = np.count_nonzero(values > threshold, axis=1).astype(np.int64)
        tied = np.count_nonzero(values == threshold, axis=1).astype(np.int64)
        lost = np.isnan(threshold[:, 0])
    else:
        above = (scores > target_scores).sum(1).cpu().numpy().astype(np.int64)
        tied = (scores == target_scores).sum(1).cpu().numpy().astype(np.int64)
        lost = torch.isnan(target_scores[:, 0]).cpu().numpy()
    if lost.any():
        above[lost], tied[lost] = scores.shape[1] - 1, 1
    return above, tied


def rank_of_targets(
    scores: torch.Tensor, targets: torch.Tensor, ties: TieMode = "optimistic"
) -> torch.Tensor:
    """Ranks (1 = best) of internal targets in a mode with one rank per target.

    ``expected`` has none (a target's rank is then a distribution): use
    :func:`count_above_and_tied` and :class:`Evaluation`.
    """
    if ties not in ("optimistic", "conservative"):
        raise ValueError(f"rank_of_targets takes ties 'optimistic' or 'conservative', got {ties!r}")
    above, tied = count_above_and_tied(scores, targets)
    return torch.from_numpy(above + 1 if ties == "optimistic" else above + tied)


def load_counts(path: Path) -> tuple[np.ndarray, np.ndarray, TieMode]:
    """What :meth:`Evaluation.save_counts` wrote: above, tied and the tie mode."""
    with np.load(path) as data:
        ties = str(data["ties"])
        _check_mode(ties)
        return data["above"].astype(np.int64), data["tied"].astype(np.int64), ties  # type: ignore[return-value]


def _gain_table(name: str, n: int) -> np.ndarray:
    """Cumulative gain over ranks: ``table[j]`` = sum of the gain of ranks 1..j (``table[0] = 0``)."""
    ranks = np.arange(1, n + 1, dtype=np.float64)
    gain = {"HR": np.ones(n), "MRR": 1.0 / ranks, "NDCG": 1.0 / np.log2(1.0 + ranks)}[name]
    return np.concatenate([[0.0], np.cumsum(gain)])


def metrics_from_ranks(ranks: np.ndarray, cutoffs: Sequence[int] = CUTOFFS) -> dict[str, float]:
    """HR@K, MRR@K and NDCG@K in percent, from one rank per sample."""
    ranks = np.asarray(ranks, dtype=np.int64)
    return Evaluation(ranks - 1, np.ones_like(ranks), np.ones_like(ranks), "optimistic").metrics(cutoffs)


@dataclass(frozen=True)
class Evaluation:
    """Per-sample counts of one model on one split, with the prefix lengths and the tie mode."""

    above: np.ndarray  # int64 [n_samples]: items scored strictly higher than the target
    tied: np.ndarray  # int64 [n_samples]: items scored as the target, itself included (>= 1)
    lengths: np.ndarray  # int64 [n_samples]
    ties: TieMode = DEFAULT_TIES

    def __post_init__(self) -> None:
        _check_mode(self.ties)

    @classmethod
    def from_ranks(cls, ranks: np.ndarray, lengths: np.ndarray, ties: TieMode = "optimistic") -> Evaluation:
        """From one rank per sample, with no ties (every mode then agrees)."""
        ranks = np.asarray(ranks, dtype=np.int64)
        return cls(ranks - 1, np.ones_like(ranks), np.asarray(lengths, dtype=np.int64), ties)

    def with_ties(self, ties: TieMode) -> Evaluation:
        return replace(self, ties=ties)

    def save_counts(self, path: Path) -> None:
        """Write the per-sample counts and the tie mode (``.npz``), everything but the lengths."""
        np.savez(path, above=self.above, tied=self.tied, ties=np.array(self.ties))

    def _span(self) -> tuple[np.ndarray, np.ndarray]:
        """The ranks the target may take, as (first - 1, how many), each equally likely."""
        if self.ties == "optimistic":
            return self.above, np.ones_like(self.tied)
        if self.ties == "conservative":
            return self.above + self.tied - 1, np.ones_like(self.tied)
        return self.above, self.tied

    @property
    def ranks(self) -> np.ndarray:
        """The rank under the mode; for ``expected``, the mean rank g + (e + 1) / 2 (float)."""
        start, count = self._span()
        return start + 1 if self.ties != "expected" else start + (count + 1) / 2.0

    def gains(self, name: str, cutoff: int | None = None) -> np.ndarray:
        """Per-sample HR, MRR or NDCG at ``cutoff`` (None: no cutoff), as a fraction, under the mode."""
        start, count = self._span()
        limit = int((start + count).max(initial=1)) if cutoff is None else cutoff
        table = _gain_table(name, limit)
        first, last = np.minimum(start, limit), np.minimum(start + count, limit)
        return (table[last] - table[first]) / count

    def _all_gains(self, cutoffs: Sequence[int]) -> dict[str, np.ndarray]:
        return {f"{name}@{k}": self.gains(name, k) for k in cutoffs for name in ("HR", "MRR", "NDCG")}

    def metrics(self, cutoffs: Sequence[int] = CUTOFFS) -> dict[str, float]:
        """HR@K, MRR@K and NDCG@K in percent (NaN when there is no sample)."""
        return {key: _percent(values) for key, values in self._all_gains(cutoffs).items()}

    def by_length(self, cutoffs: Sequence[int] = CUTOFFS) -> dict[str, dict[str, float]]:
        """Metrics per prefix length 1, 2, ..., 10 and 11+ (with sample counts)."""
        gains = self._all_gains(cutoffs)
        bucket = np.minimum(self.lengths, LENGTH_BUCKETS)
        out: dict[str, dict[str, float]] = {}
        for b in range(1, LENGTH_BUCKETS + 1):
            chosen = bucket == b
            if chosen.any():
                label = f"{b}+" if b == LENGTH_BUCKETS else str(b)
                row = {key: _percent(values[chosen]) for key, values in gains.items()}
                out[label] = {"samples": int(chosen.sum()), **row}
        return out


def _percent(values: np.ndarray) -> float:
    return 100.0 * float(values.mean()) if len(values) else float("nan")


ScoreFn = Callable[[object], torch.Tensor]


def evaluate_scores(
    score: ScoreFn,
    split: Split,
    spec: BatchSpec,
    batch_size: int = 500,
    ties: TieMode = DEFAULT_TIES,
    device: torch.device | str = "cpu",
    progress: Callable[[int], None] | None = None,
) -> Evaluation:
    """Rank every test target with ``score(batch) -> [B, N]``; no gradients are kept.

    Samples are batched in order of prefix length, so a batch pads to lengths close to
    its own rather than to the longest prefix among a thousand random ones (the session
    encoders then cost about a third as much on Diginetica); counts are written back in
    the split's order.
    """
    _check_mode(ties)
    above = np.empty(len(split), dtype=np.int64)
    tied = np.empty(len(split), dtype=np.int64)
    order = np.argsort(split.prefix_lengths, kind="stable")
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            samples = order[start : start + batch_size]
            batch = make_batch(split, samples, spec).to(device)
            scores = score(batch)
            assert batch.targets is not None
            above[samples], tied[samples] = count_above_and_tied(scores.float(), batch.targets)
            if progress is not None:
                progress(batch.size)
    return Evaluation(above, tied, split.prefix_lengths.astype(np.int64), ties)


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
    """Paired tests on the same samples, in the (shared) tie mode of ``a`` and ``b``.

    Reciprocal ranks and hits are per-sample values under the mode; with ``expected``
    they are expectations, and McNemar's discordant counts are the expected numbers of
    samples that only one run hits (each run breaking its ties independently), rounded.
    """
    from scipy import stats

    if len(a.above) != len(b.above) or not np.array_equal(a.lengths, b.lengths):
        raise ValueError("paired comparison needs two evaluations of the same test samples")
    if a.ties != b.ties:
        raise ValueError(f"paired comparison needs one tie mode, got {a.ties!r} and {b.ties!r}")
    rr_a, rr_b = a.gains("MRR"), b.gains("MRR")
    diff = rr_a - rr_b
    if np.allclose(diff, 0.0):
        t_p = w_p = 1.0
    else:
        t_p = float(stats.ttest_rel(rr_a, rr_b).pvalue)
        w_p = float(stats.wilcoxon(rr_a, rr_b, zero_method="wilcox").pvalue)
    hit_a, hit_b = a.gains("HR", cutoff), b.gains("HR", cutoff)
    only_a = round(float((hit_a * (1.0 - hit_b)).sum()))
    only_b = round(float(((1.0 - hit_a) * hit_b).sum()))
    discordant = only_a + only_b
    mcnemar_p = 1.0 if discordant == 0 else float(stats.binomtest(only_a, discordant, 0.5).pvalue)
    return PairedComparison(
        len(diff), 100.0 * float(diff.mean()), t_p, w_p, cutoff, only_a, only_b, mcnemar_p
    )
