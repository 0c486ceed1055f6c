"""GCE-GNN's global-level item representation (Wang et al. 2020, Eq. 4-7; notes 5.5).

Each item x has a fixed table of k neighbours N(x) with co-occurrence counts w_{xy}
(``graphs.neighbours.top_neighbours``). For a session with mean item embedding s, hop
n = 1..H computes, from the previous hop's vectors V_{n-1} (V_0 = item embeddings),

    pi_{xy} = softmax_{y in N(x)}( w_2^T LeakyReLU_{0.2}( W_1 [s * V_{n-1}(y) ; w_{xy}] ) )
    V_n(x)  = ReLU( W_3 dropout([V_{n-1}(x) ; sum_y pi_{xy} V_{n-1}(y)]) )

(no biases, as in the official code) and the session's nodes v take V_H(v). V_n(x)
depends only on the session and the item, so it is computed once per distinct
(session, item) pair of the batch: ``neighbourhood_levels`` lists, from the nodes outwards,
the pairs each hop needs (R_H = the nodes, R_{n-1} = R_n with their neighbours). The
official code instead expands every node to k^H neighbour slots, a [B, U, k^H, d] tensor.
The product W_1[:d] (s * V(y)) is taken once per pair y, not once per slot (x, y).
Dropout therefore draws one mask per distinct pair, where the official code draws one
per slot (training noise only; evaluation is identical).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F


@dataclass(frozen=True)
class NeighbourLevel:
    """Rows of hop n: for each pair, its own row and its neighbours' rows in hop n - 1."""

    self_index: torch.Tensor  # int64 [R_n] into the rows of hop n - 1
    neighbour_index: torch.Tensor  # int64 [R_n, k] into the rows of hop n - 1
    weights: torch.Tensor  # float [R_n, k], the counts w_{xy}


@dataclass(frozen=True)
class Neighbourhood:
    """``items``/``sessions`` [R_0]: the innermost pairs; ``levels[n - 1]``: hop n; nodes -> rows of R_H."""

    items: torch.Tensor
    sessions: torch.Tensor
    levels: list[NeighbourLevel]
    node_rows: torch.Tensor  # int64 [number of real nodes], rows of R_H in node order
    innermost_rows: torch.Tensor  # int64 [number of real nodes], rows of R_0 in node order


def neighbourhood_levels(
    nodes: torch.Tensor, node_mask: torch.Tensor, table: torch.Tensor, weights: torch.Tensor, hops: int
) -> Neighbourhood:
    """The distinct (session, item) pairs of every hop for a batch's nodes [B, U] (vectorised)."""
    stride = table.shape[0]
    session_of = torch.arange(nodes.shape[0], device=nodes.device)[:, None].expand_as(nodes)
    keys = session_of[node_mask] * stride + nodes[node_mask]  # R_H: nodes are distinct per session
    node_rows = torch.arange(len(keys), device=nodes.device)
    innermost_rows = node_rows  # every level keeps the pairs of the level above
    levels: list[NeighbourLevel] = []
    for _ in range(hops):
        items, sessions = keys % stride, keys // stride
        neighbour_keys = sessions[:, None] * stride + table[items]
        wanted = torch.cat([keys, neighbour_keys.reshape(-1)])
        keys, inverse = torch.unique(wanted, return_inverse=True)
        count = len(items)
        innermost_rows = inverse[:count][innermost_rows]
        levels.append(
            NeighbourLevel(inverse[:count], inverse[count:].view_as(neighbour_keys), weights[items])
        )
    levels.reverse()  # levels[0] is hop 1, reading the innermost pairs
    return Neighbourhood(keys % stride, keys // stride, levels, node_rows, innermost_rows)


class GlobalAggregator(nn.Module):
    """One hop of the global aggregation (the module docstring's equations)."""

    def __init__(self, dim: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.w_1 = nn.Parameter(torch.empty(dim + 1, dim))
        self.w_2 = nn.Parameter(torch.empty(dim, 1))
        self.w_3 = nn.Parameter(torch.empty(2 * dim, dim))
        self.dropout = dropout
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = self.w_2.shape[0] ** -0.5
        for parameter in self.parameters():
            nn.init.uniform_(parameter, -bound, bound)

    def forward(self, values: torch.Tensor, session: torch.Tensor, level: NeighbourLevel) -> torch.Tensor:
        """values [R_{n-1}, d] with their sessions' mean vectors ``session`` [R_{n-1}, d] -> [R_n, d]."""
        dim = values.shape[1]
        projected = (session * values) @ self.w_1[:dim]  # once per pair, not per slot
        # F.embedding gathers rows: its backward is a parallel scatter, unlike indexing's
        hidden = torch.addcmul(
            F.embedding(level.neighbour_index, projected), level.weights.unsqueeze(2), self.w_1[dim]
        )
        # F.linear, not ``@ w_2``: the weight gradient is then a product with the contiguous
        # [R_n k, d] input, not with its transpose (a slow matrix-vector product on a CPU)
        logits = F.linear(F.leaky_relu(hidden, 0.2), self.w_2.t()).squeeze(2)  # [R_n, k]
        attention = torch.softmax(logits, dim=1)
        gathered = F.embedding(level.neighbour_index, values)
        neighbours = torch.bmm(attention.unsqueeze(1), gathered).squeeze(1)
        joined = torch.cat([F.embedding(level.self_index, values), neighbours], dim=1)
        return torch.relu(F.dropout(joined, self.dropout, self.training) @ self.w_3)


class GlobalAggregation(nn.Module):
    """H hops of ``GlobalAggregator``; returns V_H of the batch's nodes, [B, U, d] (zero on padding)."""

    def __init__(self, dim: int, hops: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.hops = nn.ModuleList(GlobalAggregator(dim, dropout) for _ in range(hops))

    def reset_parameters(self) -> None:
        for hop in self.hops:
            hop.reset_parameters()  # type: ignore[operator]

    def forward(
        self,
        innermost: torch.Tensor,
        session_mean: torch.Tensor,
        neighbourhood: Neighbourhood,
        node_mask: torch.Tensor,
    ) -> torch.Tensor:
        """innermost: V_0 of the pairs R_0, the item vectors of ``neighbourhood.items`` [R_0, d];
        session_mean [B, d]; node_mask [B, U]."""
        values, sessions = innermost, neighbourhood.sessions
        for aggregator, level in zip(self.hops, neighbourhood.levels, strict=True):
            values = aggregator(values, F.embedding(sessions, session_mean), level)
            sessions = sessions[level.self_index]
        out = values.new_zeros((*node_mask.shape, values.shape[1]))
        out[node_mask] = values[neighbourhood.node_rows]
        return out
