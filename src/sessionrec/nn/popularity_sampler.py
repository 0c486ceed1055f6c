r"""Negative items drawn by popularity raised to a power (GRU4Rec's shared sampler, CIKM 2018).

.. math::
    P(j) = \frac{\mathrm{supp}_j^{\alpha}}{\sum_k \mathrm{supp}_k^{\alpha}}

with supp_j the training clicks of item j and :math:`\alpha` = ``sample_alpha``
(0: uniform over the items clicked in training, 1: as popular as in the data). Items never
clicked in training have P = 0. ``sampling_cdf`` is built once (in a model's ``prepare``)
and ``draw`` inverts it: searchsorted of uniforms in the cumulative sums, O(S log N) per
draw of S items, with torch's generator (seeded per epoch by the trainer).
Shapes: counts [N + 1] (index 0 padding) -> cdf [N] over items 1..N; draw -> [S] in 1..N.
"""

from __future__ import annotations

import numpy as np
import torch


def sampling_probabilities(counts: np.ndarray, alpha: float) -> np.ndarray:
    """P(j) for j = 0..N (0 for padding and for items never clicked), float64."""
    counts = np.asarray(counts, dtype=np.float64).copy()
    counts[0] = 0.0
    weights = np.where(counts > 0, counts**alpha, 0.0)
    total = weights.sum()
    return weights / total if total > 0 else weights


def sampling_cdf(probabilities: np.ndarray) -> np.ndarray:
    """Cumulative sums over items 1..N, float64, the last one 1."""
    return np.cumsum(probabilities[1:])


def draw(cdf: torch.Tensor, n: int) -> torch.Tensor:
    """``n`` items (int64, 1..N) drawn from the distribution whose cumulative sums are ``cdf``."""
    uniform = torch.rand(n, device=cdf.device, dtype=cdf.dtype) * cdf[-1]
    index = torch.searchsorted(cdf, uniform, right=True).clamp_(max=len(cdf) - 1)
    return index + 1
