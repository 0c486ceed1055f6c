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
than one per pair, the same loss); the accidental hits are read back from those logits.
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


class SkipGram(nn.Module):
    """Output table theta [R, d] and bias b [R] over ranks; the loss of a batch of walks.

    ``sparse=True`` gives every lookup a sparse gradient (for ``torch.optim.SparseAdam``).
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
        valid = walks != 0
        pairs = window_mask(valid, left, right)  # [W, j, i]
        n_pairs = pairs.sum()
        if int(n_pairs) == 0:
            return embedding.sum() * 0.0
        correct = self.loss_kind == "nce"
        label = ranks.clamp(min=0)
        inputs = F.embedding(walks, embedding, sparse=self.sparse)  # [W, L, d]
        outputs = F.embedding(label, self.theta, sparse=self.sparse)
        logits = inputs @ outputs.transpose(1, 2)  # [W, j, i] = e_{w_j} . theta_{w_i}
        if correct:  # s(x, c) - log Q(c): Q of a true label is its expected count in the sample
            bias = F.embedding(label, self.bias, sparse=self.sparse).squeeze(2)
            log_q = expected_log_count(label.flatten(), self.n_ranks, negatives.tries or None)
            logits = logits + (bias - log_q.view(label.shape).to(logits.dtype))[:, None, :]
        positive = F.softplus(-logits)[pairs].sum()
        # negatives: once per distinct input item, weighted by its number of pairs
        unique, inverse = torch.unique(walks, return_inverse=True)
        weight = torch.zeros(len(unique), dtype=logits.dtype, device=logits.device)
        weight.index_add_(0, inverse.flatten(), pairs.sum(2).flatten().to(logits.dtype))
        neg_out = F.embedding(negatives.ranks, self.theta, sparse=self.sparse)
        neg_logits = F.embedding(unique, embedding, sparse=self.sparse) @ neg_out.T  # [U, S]
        if correct:
            neg_bias = F.embedding(negatives.ranks, self.bias, sparse=self.sparse).squeeze(1)
            neg_logits = neg_logits + neg_bias - negatives.log_q.to(neg_logits.dtype)
        neg_terms = F.softplus(neg_logits)
        negative = (neg_terms * weight[:, None]).sum()
        # accidental hits: a pair whose label is one of the negatives drops that negative
        slot = torch.full((self.n_ranks,), -1, dtype=torch.int64, device=walks.device)
        slot[negatives.ranks] = torch.arange(len(negatives.ranks), device=walks.device)
        label_slot = slot[label]  # [W, i]
        hits = pairs & (label_slot >= 0)[:, None, :]
        if bool(hits.any()):
            w, j, i = hits.nonzero(as_tuple=True)
            negative = negative - neg_terms[inverse[w, j], label_slot[w, i]].sum()
        return (positive + negative) / n_pairs
