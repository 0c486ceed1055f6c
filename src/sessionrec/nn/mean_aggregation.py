"""Graph convolution with fixed mean weights: the I3GN-alpha ablation (Zheng et al. 2019, Eq. 18)."""

from __future__ import annotations

import torch
from torch import nn


class MeanAggregationConv(nn.Module):
    r"""A GAT layer whose attention is replaced by the fixed weights :math:`1/|N_i|`.

    .. math::
        v'_i = \Big\Vert_{k=1}^{K} \sum_{j \in N_i} \tfrac{1}{|N_i|} W^k v_j + b
        \quad\text{or, with ``concat=False``,}\quad
        v'_i = \tfrac{1}{K} \sum_{k=1}^{K} \sum_{j \in N_i} \tfrac{1}{|N_i|} W^k v_j + b

    with :math:`N_i` = i and its neighbours. The parameters have the shapes of the attention
    layer it replaces (K heads of :math:`W^k \in \mathbb{R}^{d_{out} \times d_{in}}`), and like
    it the layer applies no non-linearity. As :class:`nn.gat.GATLayer`, it computes a block of
    targets: the mean runs over the inputs, then :math:`W^k` transforms it (linear, so equal).
    Shapes: x [U, d_in], edge_index [2, E] = (source node, target position; the self-loops
    included), targets [T] -> [T, K d_out] (concat) or [T, d_out].
    """

    def __init__(self, in_dim: int, out_dim: int, heads: int = 1, concat: bool = True) -> None:
        super().__init__()
        self.out_dim, self.heads, self.concat = out_dim, heads, concat
        self.lin = nn.Linear(in_dim, heads * out_dim, bias=False)
        self.bias = nn.Parameter(torch.empty(heads * out_dim if concat else out_dim))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.lin.reset_parameters()
        nn.init.zeros_(self.bias)

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        source, target = edge_index[0], edge_index[1]
        total = x.new_zeros(len(targets), x.shape[1]).index_add_(0, target, x[source])
        degree = torch.bincount(target, minlength=len(targets)).clamp(min=1).to(x.dtype)
        mean = self.lin(total / degree[:, None]).view(len(targets), self.heads, self.out_dim)
        out = mean.flatten(1) if self.concat else mean.mean(1)
        return out + self.bias
