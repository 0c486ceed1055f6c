r"""Skip-gram over random walks with shared negatives (LGSR's cross-session encoder).

Pairs: for a walk w and a centre position i, every input position j with
``-left <= j - i <= right``, j != i (LGSR's code: 8 before, 7 after) gives the pair
(input w_j, label w_i). The input is looked up in the item embedding E (shared with the
recommender), the label in a separate output table :math:`\theta` [R, d] with bias b [R],
indexed by the label's *rank* (descending degree), so that a log-uniform sampler over
ranks favours the busiest items.

One batch (a set of walks) shares S negatives drawn without repetition from the
log-uniform distribution over ranks 0..R-1,

.. math:: P(k) = \frac{\log(k + 2) - \log(k + 1)}{\log(R + 1)},

taking as many draws (``tries``) as it takes to collect S distinct ranks; a rank's
expected count in the sample is :math:`Q(k) = 1 - (1 - P(k))^{tries}` (TensorFlow's
``log_uniform_candidate_sampler`` with ``unique=True``).

Losses, averaged over the batch's pairs (input x, label c), with
:math:`s(x, k) = e_x^\top \theta_k + b_k`:

- ``"nce"`` (the official code's ``tf.nn.nce_loss``, sampled logistic with log-Q
  correction and accidental hits removed):
  :math:`\ell = -\log\sigma(s(x,c) - \log Q(c)) - \sum_{n \in N, n \ne c} \log\sigma(-(s(x,n) - \log Q(n)))`;
- ``"neg"`` (the paper's negative sampling, Eq. 5): the same without bias and correction,
  :math:`\ell = -\log\sigma(e_x^\top\theta_c) - \sum_{n \in N, n \ne c} \log\sigma(-e_x^\top\theta_n)`.

The negatives' logits depend on the input only, so they are computed once per distinct
input item of the batch and weighted by its number of pairs (about 15x fewer products
than one per pair, the same loss); an accidental hit (a pair whose label is one of the
negatives) lowers that weight for that negative by one.

A batch touches few rows: U distinct input items of E and K distinct output ranks (the
labels' and the negatives'). ``batch_rows`` indexes them once (``BatchRows``) and
``SkipGram.rows_loss`` computes the loss from those rows alone, [U, d], [K, d] and [K],
so a training step can take dense gradients of the gathered rows and update the tables
row-wise (``nn.lazy_adam.LazyAdam.step_rows``) without sparse tensors;
``SkipGram.forward`` gathers the rows from the full tables itself (autograd through the
gather).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F


def log_uniform_probabilities(ranks: torch.Tensor | np.ndarray, n_ranks: int) -> torch.Tensor:
    """P(k) of the log-uniform (Zipfian) distribution over ranks 0..n_ranks-1."""
    k = torch.as_tensor(ranks, dtype=torch.float64)
    return (torch.log(k + 2) - torch.log(k + 1)) / math.log(n_ranks + 1)


@dataclass(frozen=True)
class Negatives:
    """Distinct sampled ranks [S] and their log expected counts log Q [S]; ``tries`` draws."""

    ranks: torch.Tensor
    log_q: torch.Tensor
    tries: int

    def to(self, device: torch.device | str) -> Negatives:
        return Negatives(self.ranks.to(device), self.log_q.to(device), self.tries)


def expected_log_count(ranks: torch.Tensor, n_ranks: int, tries: int | None) -> torch.Tensor:
    """log Q(k) = log(1 - (1 - P(k))^tries); 0 (Q = 1) when every rank was sampled (``tries`` None)."""
    if tries is None:
        return torch.zeros(ranks.shape, dtype=torch.float32, device=ranks.device)
    p = log_uniform_probabilities(ranks.cpu(), n_ranks)
    return torch.log(-torch.expm1(tries * torch.log1p(-p))).float().to(ranks.device)


def sample_negatives(rng: np.random.Generator, n_ranks: int, count: int) -> Negatives:
    """``count`` distinct log-uniform ranks (all of them when ``count >= n_ranks``)."""
    if count >= n_ranks:
        ranks = torch.arange(n_ranks)
        return Negatives(ranks, expected_log_count(ranks, n_ranks, None), 0)
    draws = np.zeros(0, dtype=np.int64)
    while True:
        more = np.exp(rng.random(4 * count) * math.log(n_ranks + 1)).astype(np.int64) - 1
        draws = np.concatenate([draws, np.clip(more, 0, n_ranks - 1)])
        unique, first = np.unique(draws, return_index=True)
        if len(unique) >= count:
            break
    keep = np.sort(first)[:count]  # the first ``count`` distinct draws, in draw order
    tries = int(keep[-1]) + 1
    ranks = torch.from_numpy(draws[keep])
    return Negatives(ranks, expected_log_count(ranks, n_ranks, tries), tries)


def window_mask(valid: torch.Tensor, left: int, right: int) -> torch.Tensor:
    """Pairs [W, L (input j), L (centre i)]: -left <= j - i <= right, j != i, both positions real."""
    length = valid.shape[1]
    offset = torch.arange(length, device=valid.device)[:, None] - torch.arange(length, device=valid.device)
    band = (offset >= -left) & (offset <= right) & (offset != 0)
    return band & valid[:, :, None] & valid[:, None, :]


@dataclass(frozen=True)
class BatchRows:
    """The rows one batch of walks touches, and how its pairs index them.

    ``items`` [U]: distinct items of the walks (rows of E, padding 0 included when present);
    ``item_index`` [W, L]: each walk position's row in ``items``; ``ranks`` [K]: distinct
    output ranks (the labels' and the negatives'); ``label_index`` [W, L] and
    ``negative_index`` [S]: rows in ``ranks``; ``log_q`` [K]: log Q of each output row;
    ``pairs`` [W, j, i]: the window's pairs (input j, centre i); ``weight`` [U, S]: how many
    pairs have that input and do not have that negative as their label; ``n_pairs``.
    """

    items: torch.Tensor
    item_index: torch.Tensor
    ranks: torch.Tensor
    label_index: torch.Tensor
    negative_index: torch.Tensor
    log_q: torch.Tensor
    pairs: torch.Tensor
    weight: torch.Tensor
    n_pairs: int


def batch_rows(
    walks: torch.Tensor, ranks: torch.Tensor, negatives: Negatives, n_ranks: int, left: int, right: int
) -> BatchRows:
    """Index a batch of ``walks`` [W, L] (items, 0 = padding) with their ``ranks`` [W, L]."""
    pairs = window_mask(walks != 0, left, right)
    items, item_index = torch.unique(walks, return_inverse=True)
    label = ranks.clamp(min=0)
    n_labels = label.numel()
    out_ranks, out_index = torch.unique(torch.cat([label.flatten(), negatives.ranks]), return_inverse=True)
    label_index, negative_index = out_index[:n_labels].view(label.shape), out_index[n_labels:]
    log_q = expected_log_count(out_ranks, n_ranks, negatives.tries or None)
    per_input = pairs.sum(2)  # [W, j]: pairs with position j as input
    weight = torch.zeros(len(items), len(negatives.ranks), dtype=torch.float32, device=walks.device)
    weight += torch.zeros(len(items), dtype=torch.float32, device=walks.device).index_add_(
        0, item_index.flatten(), per_input.flatten().float()
    )[:, None]
    slot = torch.full((len(out_ranks),), -1, dtype=torch.int64, device=walks.device)
    slot[negative_index] = torch.arange(len(negative_index), device=walks.device)
    label_slot = slot[label_index]  # [W, i]: the label's slot among the negatives, or -1
    hits = pairs & (label_slot >= 0)[:, None, :]
    if bool(hits.any()):
        w, j, i = hits.nonzero(as_tuple=True)
        ones = torch.ones(len(w), dtype=weight.dtype, device=weight.device)
        weight.index_put_((item_index[w, j], label_slot[w, i]), -ones, accumulate=True)
    return BatchRows(
        items, item_index, out_ranks, label_index, negative_index, log_q, pairs, weight, int(pairs.sum())
    )


class SkipGram(nn.Module):
    """Output table theta [R, d] and bias b [R] over ranks; the loss of a batch of walks.

    ``sparse=True`` gives every lookup of ``forward`` a sparse gradient (for
    ``torch.optim.SparseAdam``).
    """

    def __init__(self, n_ranks: int, dim: int, loss: str = "nce", sparse: bool = True) -> None:
        super().__init__()
        if loss not in ("nce", "neg"):
            raise ValueError(f"loss must be 'nce' or 'neg', got {loss!r}")
        self.n_ranks, self.loss_kind, self.sparse = n_ranks, loss, sparse
        self.theta = nn.Parameter(torch.empty(n_ranks, dim))
        self.bias = nn.Parameter(torch.empty(n_ranks, 1))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = self.theta.shape[1] ** -0.5
        nn.init.uniform_(self.theta, -bound, bound)
        nn.init.zeros_(self.bias)

    def rows(
        self, walks: torch.Tensor, ranks: torch.Tensor, negatives: Negatives, left: int, right: int
    ) -> BatchRows:
        return batch_rows(walks, ranks, negatives, self.n_ranks, left, right)

    def rows_loss(
        self, inputs: torch.Tensor, outputs: torch.Tensor, bias: torch.Tensor, rows: BatchRows
    ) -> torch.Tensor:
        """Mean loss over the batch's pairs from its rows: ``inputs`` [U, d] = E[rows.items],
        ``outputs`` [K, d] = theta[rows.ranks], ``bias`` [K] = b[rows.ranks]."""
        if rows.n_pairs == 0:
            return inputs.sum() * 0.0 + outputs.sum() * 0.0 + bias.sum() * 0.0
        correct = self.loss_kind == "nce"
        # positives: [W, j, i] = e_{w_j} . theta_{w_i} (+ b - log Q in NCE)
        logits = inputs[rows.item_index] @ outputs[rows.label_index].transpose(1, 2)
        negative_logits = inputs @ outputs[rows.negative_index].T  # [U, S]
        if correct:
            shift = bias - rows.log_q.to(bias.dtype)  # [K]
            logits = logits + shift[rows.label_index][:, None, :]
            negative_logits = negative_logits + shift[rows.negative_index]
        positive = (F.softplus(-logits) * rows.pairs).sum()
        negative = (F.softplus(negative_logits) * rows.weight).sum()
        return (positive + negative) / rows.n_pairs

    def forward(
        self,
        embedding: torch.Tensor,
        walks: torch.Tensor,
        ranks: torch.Tensor,
        negatives: Negatives,
        left: int,
        right: int,
    ) -> torch.Tensor:
        """Mean loss over the pairs of ``walks`` [W, L] (items, 0 = padding); ``ranks`` [W, L]
        their ranks (any value at padding); ``embedding`` the shared item table [N + 1, d]."""
        rows = self.rows(walks, ranks, negatives, left, right)
        inputs = F.embedding(rows.items, embedding, sparse=self.sparse)
        outputs = F.embedding(rows.ranks, self.theta, sparse=self.sparse)
        bias = F.embedding(rows.ranks, self.bias, sparse=self.sparse).squeeze(1)
        return self.rows_loss(inputs, outputs, bias, rows)
