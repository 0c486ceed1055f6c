"""GCE-GNN's session-level item representation: attention over typed edges (Wang et al. 2020, Eq. 1-3)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

N_RELATIONS = 4  # self-loop, in, out, in-and-out (codes 1..4 of ``SessionGraph.relations``)


class RelationAttention(nn.Module):
    r"""One layer of attention over a session graph whose edges carry one of four types.

    .. math::
        e_{ij} = \mathrm{LeakyReLU}_{0.2}\big(a_{r_{ij}}^\top (h_i \odot h_j)\big),\qquad
        \alpha_{ij} = \operatorname{softmax}_{j : r_{ij} \ne 0}(e_{ij}),\qquad
        h_i' = \textstyle\sum_j \alpha_{ij} h_j

    with one learnable vector :math:`a_r` per relation type :math:`r \in \{1..4\}` and no
    weight matrix, as in the official code. Computed as four batched products
    :math:`(H \odot a_r) H^\top` instead of the official [B, U, U, d] tensor. Nodes without
    any edge (padding) get zeros. Shapes: hidden [B, U, d], relations int [B, U, U] -> [B, U, d].
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.relation_vectors = nn.Parameter(torch.empty(N_RELATIONS, dim))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = self.relation_vectors.shape[1] ** -0.5
        nn.init.uniform_(self.relation_vectors, -bound, bound)

    def forward(self, hidden: torch.Tensor, relations: torch.Tensor) -> torch.Tensor:
        batch, nodes, dim = hidden.shape
        scaled = hidden.unsqueeze(1) * self.relation_vectors[None, :, None, :]  # [B, 4, U, d]
        energies = torch.bmm(scaled.reshape(batch, N_RELATIONS * nodes, dim), hidden.transpose(1, 2))
        energies = F.leaky_relu(energies.view(batch, N_RELATIONS, nodes, nodes), 0.2)
        index = (relations - 1).clamp(min=0).unsqueeze(1)
        logits = energies.gather(1, index).squeeze(1)
        edge = relations > 0
        logits = logits.masked_fill(~edge, float("-inf"))
        weights = torch.softmax(logits, dim=2).nan_to_num(0.0)  # rows without edges: all -inf
        return torch.bmm(weights, hidden)
