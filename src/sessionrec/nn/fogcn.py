r"""FOGCN: graph convolution over FOCOL's fine-grained co-occurrence graph (Chen et al., section 3.2.2).

The graph (``graphs.fog``) gives, per signed-distance bucket b (n_b = 2K + 2 of them), a sparse
matrix M_b [N, N] with M_b[i, j] = w_ij[b], the co-occurrences of neighbour j at that distance
from the receiving item i. A layer maps item states H [N, d] to H' [N, d]:

- ``weighting="code"`` (the official code, the default): importance weights
  :math:`P = \mathrm{softmax}(W, \text{over buckets})` with :math:`W \in \mathbb{R}^{n_b \times d}`
  (initialised to ones: uniform), an edge score linear in the counts,
  :math:`s_{ij} = \sum_b w_{ij}[b] P_b \in \mathbb{R}^d`, and a per-feature weighted mean

  .. math::
      h'_i = \frac{\sum_j s_{ij} \odot h_j}{\sum_j s_{ij}}
           = \frac{\sum_b P_b \odot (M_b H)_i}{\sum_b P_b \, \deg_b(i)},
      \qquad \deg_b(i) = \textstyle\sum_j M_b[i, j].

  The right-hand form needs no [edges, d] tensor: one sparse product per bucket, mixed
  per feature (:class:`BucketMix`, with a hand-written backward that recomputes
  :math:`M_b^\top G` instead of keeping n_b products alive). A node with no edge gets 0
  (DGL's mean over no message).
- ``weighting="paper"`` (Eq. 3): :math:`\alpha_{ij} = \exp(P w_{ij}) / \sum_{k \in N(i)}
  \exp(P w_{ik})` with :math:`P \in \mathbb{R}^{d \times n_b}`, then
  :math:`h'_i = \sum_j \alpha_{ij} \odot h_j` (Eq. 2). The exponential is not linear in the
  counts, so this form does build the [edges, d] logits (memory O(E d): about 1 GB per saved
  tensor on Diginetica's 2.5 million directed edges).
- ``learn=False`` freezes W at ones: every bucket weighs the same (FOCOL-SG on its one bucket).

The output of :class:`FOGCN` is the mean of the layer outputs 0..L (Eq. 4; the paper's
1/(T + 1) stands for 1/(L + 1)). Shapes: embeddings [N, d] -> [N, d].
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn


def _csr(matrix: sp.csr_array) -> torch.Tensor:
    warnings.filterwarnings("ignore", "Sparse CSR tensor support is in beta", UserWarning)
    matrix = sp.csr_array(matrix, dtype=np.float32)
    matrix.sort_indices()
    return torch.sparse_csr_tensor(
        torch.from_numpy(matrix.indptr.astype(np.int64)),
        torch.from_numpy(matrix.indices.astype(np.int64)),
        torch.from_numpy(matrix.data),
        size=matrix.shape,
        check_invariants=False,  # built from a valid SciPy CSR with sorted indices
    )


class BucketGraph(nn.Module):
    """The bucket matrices of a FOG on a device, as non-persistent buffers (never saved).

    ``halves``: the positive buckets' matrices C_1..C_K, B [N, N] (rows: receivers); bucket b
    of the first half uses ``halves[b]``, bucket b of the second half its transpose. Both
    each matrix and its transpose are kept in CSR: the forward multiplies by one, the
    backward by the other. ``degrees`` [N, n_b]: row sums per bucket.
    """

    def __init__(self, halves: list[sp.csr_array], with_edges: bool = False) -> None:
        super().__init__()
        self.n_half = len(halves)
        for b, matrix in enumerate(halves):
            self.register_buffer(f"forward_{b}", _csr(matrix), persistent=False)
            self.register_buffer(f"transpose_{b}", _csr(sp.csr_array(matrix.T)), persistent=False)
        rows = [np.asarray(m.sum(axis=1)).ravel() for m in halves]
        cols = [np.asarray(m.sum(axis=0)).ravel() for m in halves]
        degrees = torch.from_numpy(np.stack(rows + cols, axis=1).astype(np.float32))
        self.register_buffer("degrees", degrees, persistent=False)
        if with_edges:
            self._register_edges(halves)

    @property
    def n_buckets(self) -> int:
        return 2 * self.n_half

    @property
    def n_nodes(self) -> int:
        return int(self.degrees.shape[0])

    def matrix(self, bucket: int, transposed: bool = False) -> torch.Tensor:
        """M_b (``transposed``: M_b^T) as a sparse CSR tensor."""
        half, negative = bucket % self.n_half, bucket >= self.n_half
        name = "transpose" if negative != transposed else "forward"
        return getattr(self, f"{name}_{half}")

    def _register_edges(self, halves: list[sp.csr_array]) -> None:
        """Edge list (receiver, neighbour) and its counts per bucket [E, n_b], for Eq. 3."""
        n = halves[0].shape[0]
        coo = [sp.coo_array(m) for m in halves] + [sp.coo_array(m.T) for m in halves]
        keys = np.concatenate([c.row.astype(np.int64) * n + c.col for c in coo])
        buckets = np.concatenate([np.full(c.nnz, b, dtype=np.int64) for b, c in enumerate(coo)])
        values = np.concatenate([c.data for c in coo]).astype(np.float32)
        edges, edge_of = np.unique(keys, return_inverse=True)
        counts = sp.csr_array((values, (edge_of, buckets)), shape=(len(edges), len(coo)))
        self.register_buffer("receivers", torch.from_numpy(edges // n), persistent=False)
        self.register_buffer("neighbours", torch.from_numpy(edges % n), persistent=False)
        self.register_buffer("edge_counts", _csr(counts), persistent=False)


class BucketMix(torch.autograd.Function):
    """sum_b P_b * (M_b @ H) for every bucket b: [N, d], differentiable in H and P.

    Backward, with G the output's gradient: dH = sum_b P_b * (M_b^T G) and
    dP_b = sum_i (H * M_b^T G)_i, one sparse product per bucket as in the forward.
    """

    @staticmethod
    def forward(ctx: Any, hidden: torch.Tensor, weights: torch.Tensor, graph: BucketGraph) -> torch.Tensor:
        out = torch.zeros_like(hidden)
        for b in range(graph.n_buckets):
            out.addcmul_(graph.matrix(b) @ hidden, weights[b])
        ctx.graph = graph
        ctx.save_for_backward(hidden, weights)
        return out

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None, None]:
        hidden, weights = ctx.saved_tensors
        graph: BucketGraph = ctx.graph
        grad = grad.contiguous()
        grad_hidden = torch.zeros_like(hidden) if ctx.needs_input_grad[0] else None
        grad_weights = torch.empty_like(weights) if ctx.needs_input_grad[1] else None
        for b in range(graph.n_buckets):
            back = graph.matrix(b, transposed=True) @ grad
            if grad_hidden is not None:
                grad_hidden.addcmul_(back, weights[b])
            if grad_weights is not None:
                grad_weights[b] = torch.linalg.vecdot(back, hidden, dim=0)
        return grad_hidden, grad_weights, None


def bucket_mix(hidden: torch.Tensor, weights: torch.Tensor, graph: BucketGraph) -> torch.Tensor:
    return BucketMix.apply(hidden, weights, graph)


class FOGCNLayer(nn.Module):
    """One FOGCN layer; ``weight`` is W [n_b, d] (code) or P^T [n_b, d] (paper)."""

    def __init__(self, dim: int, n_buckets: int, weighting: str = "code", learn: bool = True) -> None:
        super().__init__()
        if weighting not in ("code", "paper"):
            raise ValueError(f"weighting must be 'code' or 'paper', got {weighting!r}")
        self.weighting = weighting
        self.weight = nn.Parameter(torch.ones(n_buckets, dim), requires_grad=learn)

    def reset_parameters(self) -> None:
        nn.init.ones_(self.weight)

    def importance(self) -> torch.Tensor:
        """[n_b, d]: the code's softmax over buckets per feature (figure 4); the raw P^T for Eq. 3."""
        return torch.softmax(self.weight, dim=0) if self.weighting == "code" else self.weight

    def forward(self, hidden: torch.Tensor, graph: BucketGraph) -> torch.Tensor:
        if self.weighting == "paper":
            return self._paper(hidden, graph)
        weights = torch.softmax(self.weight, dim=0)
        numerator = bucket_mix(hidden, weights, graph)
        denominator = graph.degrees @ weights
        return torch.where(denominator > 0, numerator / denominator.clamp(min=1e-30), 0.0)

    def _paper(self, hidden: torch.Tensor, graph: BucketGraph) -> torch.Tensor:
        receivers, neighbours = graph.receivers, graph.neighbours
        logits = graph.edge_counts @ self.weight  # [E, d] = w_ij^T P^T
        index = receivers[:, None].expand_as(logits)
        top = torch.full_like(hidden, float("-inf")).scatter_reduce(0, index, logits.detach(), "amax")
        scores = torch.exp(logits - top[receivers])
        total = torch.zeros_like(hidden).index_add(0, receivers, scores)
        alpha = scores / total[receivers]
        return torch.zeros_like(hidden).index_add(0, receivers, alpha * hidden[neighbours])


class FOGCN(nn.Module):
    """L_G FOGCN layers; returns the mean of the layer outputs 0..L_G (Eq. 4)."""

    def __init__(
        self, dim: int, n_buckets: int, layers: int, weighting: str = "code", learn: bool = True
    ) -> None:
        super().__init__()
        self.layers = nn.ModuleList(FOGCNLayer(dim, n_buckets, weighting, learn) for _ in range(layers))

    def forward(self, embeddings: torch.Tensor, graph: BucketGraph) -> torch.Tensor:
        total, hidden = embeddings, embeddings
        for layer in self.layers:
            hidden = layer(hidden, graph)
            total = total + hidden
        return total / (len(self.layers) + 1)

    def importance(self) -> torch.Tensor:
        """[L_G, n_b, d]: each layer's importance weights (see ``FOGCNLayer.importance``)."""
        return torch.stack([layer.importance() for layer in self.layers])
