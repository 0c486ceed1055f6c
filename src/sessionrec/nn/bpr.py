r"""Bayesian personalised ranking on sampled negatives (Rendle et al. 2009).

.. math::
    \mathcal{L} = \frac{1}{B K} \sum_{b, k} -\log \sigma(x_{b,i_b} - x_{b,j_{bk}})
                = \frac{1}{B K} \sum_{b, k} \mathrm{softplus}(x_{b,j_{bk}} - x_{b,i_b})

for each sample b, its positive (target) item i_b and K sampled negatives j_bk.
``uniform_negatives`` draws j uniformly from items 1..N with torch's generator (seeded
per epoch by the trainer, so resumed runs draw the same); a draw may hit the positive,
as in BPR's uniform sampler.
Shapes: positive [B], negative [B, K] -> scalar.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F


def bpr_loss(positive: torch.Tensor, negative: torch.Tensor) -> torch.Tensor:
    return F.softplus(negative - positive.unsqueeze(1)).mean()


def uniform_negatives(n_items: int, batch: int, k: int, device: torch.device) -> torch.Tensor:
    """[batch, k] item indices drawn uniformly from 1..n_items."""
    return torch.randint(1, n_items + 1, (batch, k), device=device)
