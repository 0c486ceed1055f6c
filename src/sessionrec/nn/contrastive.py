r"""InfoNCE over one positive and sampled negatives (FOCOL's CSRL, Eq. 11-12).

For anchor i with candidates c (rows of a pool of M session vectors), one positive
``positive[i]`` and negatives ``negatives[i, :]`` (``valid`` marks the sampled slots),

.. math::
    L_i = -\log \frac{\exp(\mathrm{sim}(h_i, c_{p_i}) / \tau)}
                     {\exp(\mathrm{sim}(h_i, c_{p_i}) / \tau) + \sum_{n} \exp(\mathrm{sim}(h_i, c_n) / \tau)}

``similarity="dot"`` is the paper's h^T h' (with ``temperature`` 1 for Eq. 11 as printed);
``"cosine"`` is the official code's, with temperature 0.5. Rows where ``has_positive`` is
false are left out of the mean. Shapes: anchors [B, d], pool [M, d], positive [B],
negatives/valid [B, K] -> scalar.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F


def similarities(anchors: torch.Tensor, pool: torch.Tensor, similarity: str) -> torch.Tensor:
    """[B, M] dot products, or cosines, of every anchor with every pool row."""
    if similarity == "cosine":
        anchors, pool = F.normalize(anchors, dim=1), F.normalize(pool, dim=1)
    elif similarity != "dot":
        raise ValueError(f"similarity must be 'cosine' or 'dot', got {similarity!r}")
    return anchors @ pool.t()


def info_nce(
    anchors: torch.Tensor,
    pool: torch.Tensor,
    positive: torch.Tensor,
    negatives: torch.Tensor,
    valid: torch.Tensor,
    similarity: str = "cosine",
    temperature: float = 0.5,
    has_positive: torch.Tensor | None = None,
) -> torch.Tensor:
    scores = similarities(anchors, pool, similarity) / temperature
    positive_logit = scores.gather(1, positive[:, None])
    negative_logits = scores.gather(1, negatives).masked_fill(~valid, float("-inf"))
    logits = torch.cat([positive_logit, negative_logits], dim=1)
    losses = torch.logsumexp(logits, dim=1) - positive_logit[:, 0]
    if has_positive is None:
        return losses.mean()
    weight = has_positive.to(losses.dtype)
    return (losses * weight).sum() / weight.sum().clamp(min=1.0)
