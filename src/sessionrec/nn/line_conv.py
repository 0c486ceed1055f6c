"""DHCN's line-graph channel over a batch's sessions and the self-supervised term tying it to the
hypergraph channel (Xia et al. 2021, Eq. 7-10; notes 5.9)."""

from __future__ import annotations

import torch
from torch import nn


class LineConv(nn.Module):
    r"""Line-graph convolution over the sessions of a batch.

    .. math::
        \Theta^{(0)}_b = \tfrac{1}{l_b} \textstyle\sum_t e_{s_{b,t}},\qquad
        \Theta^{(l+1)} = \hat D^{-1} \hat A\, \Theta^{(l)},\qquad
        \theta_l = \tfrac{1}{L+1} \textstyle\sum_{l=0}^{L} \Theta^{(l)}

    with :math:`\hat A = \mathrm{Jaccard} + I` and :math:`\hat D` its row sums
    (``data.batching.line_graph``). Shapes: start [B, d], line_graph [B, B] -> [B, d].
    """

    def __init__(self, layers: int) -> None:
        super().__init__()
        self.layers = layers

    def reset_parameters(self) -> None:
        pass

    def forward(self, start: torch.Tensor, line_graph: torch.Tensor) -> torch.Tensor:
        total, x = start, start
        for _ in range(self.layers):
            x = line_graph @ x
            total = total + x
        return total / (self.layers + 1)


def ssl_loss(hyper: torch.Tensor, line: torch.Tensor) -> torch.Tensor:
    r"""DHCN's contrastive term, summed over the batch (Eq. 10, as the official code computes it).

    .. math::
        \sum_b -\log(10^{-8} + \sigma(\theta^h_b \cdot \theta^l_b))
               -\log(10^{-8} + 1 - \sigma(\theta^l_b \cdot \tilde\theta^h_b))

    where :math:`\tilde\theta^h` is :math:`\theta^h` with its rows and then its columns
    randomly permuted (the official corruption). Shapes: [B, d], [B, d] -> scalar.
    """
    rows = torch.randperm(hyper.shape[0], device=hyper.device)
    cols = torch.randperm(hyper.shape[1], device=hyper.device)
    corrupted = hyper[rows][:, cols]
    positive = (hyper * line).sum(1)
    negative = (line * corrupted).sum(1)
    eps = 1e-8
    return (-torch.log(eps + torch.sigmoid(positive)) - torch.log(eps + 1 - torch.sigmoid(negative))).sum()
