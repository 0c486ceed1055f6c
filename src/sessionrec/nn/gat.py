"""Multi-head graph attention on message-flow blocks (Velickovic et al. 2018; I3GN Eq. 7-10)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def segment_softmax(logits: torch.Tensor, segment: torch.Tensor, n_segments: int) -> torch.Tensor:
    """Softmax of ``logits`` [E, K] over the entries sharing a ``segment`` id [E]."""
    index = segment[:, None].expand_as(logits)
    top = logits.new_full((n_segments, logits.shape[1]), float("-inf"))
    top = top.scatter_reduce(0, index, logits.detach(), "amax", include_self=True)
    weights = torch.exp(logits - top[segment])
    total = weights.new_zeros(n_segments, logits.shape[1]).index_add_(0, segment, weights)
    return weights / total[segment]


class GATLayer(nn.Module):
    r"""Graph attention with K heads, computed for a block of target nodes only.

    For target i, its neighbourhood :math:`N_i` (i included: the block must hold the
    self-loop) and head k:

    .. math::
        e^k_{ij} = \mathrm{LeakyReLU}_{0.2}\big(a_k^\top [W^k v_i \,\Vert\, W^k v_j]\big),\qquad
        \alpha^k_{ij} = \operatorname{softmax}_{j \in N_i} e^k_{ij}

        \text{concat:}\; v'_i = \Big\Vert_{k=1}^{K} \sum_{j \in N_i} \alpha^k_{ij} W^k v_j + b,\qquad
        \text{mean:}\; v'_i = \frac{1}{K} \sum_{k=1}^{K} \sum_{j \in N_i} \alpha^k_{ij} W^k v_j + b

    the hidden (Eq. 9) and output (Eq. 10) layers of I3GN, before their sigmoid; the same
    function as PyTorch Geometric's ``GATConv`` (``att_src``/``att_dst`` are the halves of
    :math:`a_k`), which the tests check. Only the targets are computed, so a stack of layers
    evaluates the nodes a readout needs (the prefix's) from their L-hop neighbourhood alone.
    With ``concat=False`` the sum runs in the input space,
    :math:`\frac{1}{K}\sum_k W^k (\sum_j \alpha^k_{ij} v_j)`, and the logits use
    :math:`a^\top W^k v = (W^{k\top} a)^\top v`: no source node is transformed, which is
    what makes the 8-head output layer (input 8d) cheap. Attention dropout (``dropout``)
    drops :math:`\alpha` entries in training, as GATConv does.

    Shapes: x [U, d_in] (every node of the graph; rows outside the block are ignored),
    edge_index [2, E] = (source node in 0..U-1, target position in 0..T-1), targets [T]
    node ids -> [T, K d_out] (concat) or [T, d_out].
    """

    def __init__(
        self, in_dim: int, out_dim: int, heads: int = 1, concat: bool = True, dropout: float = 0.0
    ) -> None:
        super().__init__()
        self.in_dim, self.out_dim, self.heads, self.concat, self.dropout = (
            in_dim,
            out_dim,
            heads,
            concat,
            dropout,
        )
        self.weight = nn.Parameter(torch.empty(heads, out_dim, in_dim))  # W^k
        self.att_src = nn.Parameter(torch.empty(heads, out_dim))
        self.att_dst = nn.Parameter(torch.empty(heads, out_dim))
        self.bias = nn.Parameter(torch.empty(heads * out_dim if concat else out_dim))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.xavier_uniform_(self.weight.view(-1, self.in_dim))
        nn.init.xavier_uniform_(self.att_src)
        nn.init.xavier_uniform_(self.att_dst)
        nn.init.zeros_(self.bias)

    def attention(self, x: torch.Tensor, edge_index: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """alpha [E, K] of every block edge."""
        # a_k^T W^k v = (W^k^T a_k)^T v: logits straight from the input vectors
        project_src = torch.einsum("koi,ko->ik", self.weight, self.att_src)  # [d_in, K]
        project_dst = torch.einsum("koi,ko->ik", self.weight, self.att_dst)
        source, target = edge_index[0], edge_index[1]
        logits = (x @ project_src)[source] + (x[targets] @ project_dst)[target]
        alpha = segment_softmax(F.leaky_relu(logits, 0.2), target, len(targets))
        return F.dropout(alpha, self.dropout, self.training)

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        alpha = self.attention(x, edge_index, targets)
        source, target = edge_index[0], edge_index[1]
        n_targets = len(targets)
        if self.concat:
            transformed = torch.einsum("ui,koi->uko", x, self.weight)  # [U, K, d_out]
            messages = alpha[:, :, None] * transformed[source]
            out = transformed.new_zeros(n_targets, self.heads, self.out_dim).index_add_(0, target, messages)
            return out.flatten(1) + self.bias
        # output layer: aggregate the inputs per head, then transform (same result, no [U, K, d_out])
        messages = alpha[:, :, None] * x[source][:, None, :]  # [E, K, d_in]
        gathered = x.new_zeros(n_targets, self.heads, self.in_dim).index_add_(0, target, messages)
        return torch.einsum("tki,koi->to", gathered, self.weight) / self.heads + self.bias
