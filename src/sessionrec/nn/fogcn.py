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
- ``importance="distance"`` (a departure from the code and the paper, both of which weigh
  every feature apart): one weight per bucket, :math:`p = \mathrm{softmax}(w)`, :math:`w \in
  \mathbb{R}^{n_b}`, shared by the features. The layer is then ONE sparse matrix on the union
  pattern of the buckets (E directed edges),

  .. math::
      h' = \hat{A} H,\qquad \hat{A}_{ij} = \frac{w_{ij} \cdot p}{\sum_b p_b \deg_b(i)},

  whose value vector is the [E, n_b] count matrix times p (:class:`CountMix`) and whose
  product (:class:`PatternProduct`) has a hand-written backward: dH = \hat{A}^T G (the
  transposed pattern is precomputed) and d\hat{A}_{ij} = <G_i, H_j> sampled on the pattern;
  p's gradient flows back through the value vector. Three sparse passes per layer and step
  instead of 3 n_b. It equals the per-feature form when every column of W is the same.
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
from scipy.sparse.csgraph import reverse_cuthill_mckee
from torch import nn


def _csr(matrix: sp.csr_array, index_dtype: type = np.int64) -> torch.Tensor:
    warnings.filterwarnings("ignore", "Sparse CSR tensor support is in beta", UserWarning)
    matrix = sp.csr_array(matrix, dtype=np.float32)
    matrix.sort_indices()
    return torch.sparse_csr_tensor(
        torch.from_numpy(matrix.indptr.astype(index_dtype)),
        torch.from_numpy(matrix.indices.astype(index_dtype)),
        torch.from_numpy(matrix.data),
        size=matrix.shape,
        check_invariants=False,  # built from a valid SciPy CSR with sorted indices
    )


def _offsets(rows: np.ndarray, n: int) -> np.ndarray:
    """CSR row offsets [n + 1] of sorted row indices."""
    return np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=n))]).astype(np.int64)


class BucketGraph(nn.Module):
    """The bucket matrices of a FOG on a device, as non-persistent buffers (never saved).

    ``halves``: the positive buckets' matrices C_1..C_K, B [N, N] (rows: receivers); bucket b
    of the first half uses ``halves[b]``, bucket b of the second half its transpose.
    ``degrees`` [N, n_b]: row sums per bucket. What else is kept depends on the layers:

    - ``with_buckets`` (per-feature code form): each matrix and its transpose in CSR (the
      forward multiplies by one, the backward by the other);
    - ``with_edges`` (Eq. 3 and the per-distance form): the union pattern of the buckets,
      E directed edges (receiver, neighbour) sorted by receiver then neighbour, as CSR
      offsets, its count vectors ``edge_counts`` [E, n_b] (CSR) and their transpose
      [n_b, E], and the transposed pattern: edge ``transpose_order[k]`` is the k-th
      non-zero of the transpose (rows = neighbours), whose offsets are ``transpose_offsets``
      (CSR indices in int32 where they fit: MKL's sparse products run faster on them).
    """

    def __init__(
        self,
        halves: list[sp.csr_array],
        with_edges: bool = False,
        with_buckets: bool = True,
        reorder: bool = False,
    ) -> None:
        super().__init__()
        self.n_half = len(halves)
        self.order: torch.Tensor | None
        self.inverse: torch.Tensor | None
        order = inverse = None
        if reorder:  # node k of the graph is item order[k]: neighbours close in memory
            total = sum(halves[1:], halves[0].copy())
            perm = reverse_cuthill_mckee(sp.csr_matrix(total + total.T), symmetric_mode=True)
            halves = [sp.csr_array(m[perm][:, perm]) for m in halves]
            order = torch.from_numpy(perm.astype(np.int64))
            inverse = torch.from_numpy(np.argsort(perm).astype(np.int64))
        self.register_buffer("order", order, persistent=False)
        self.register_buffer("inverse", inverse, persistent=False)
        self.with_buckets = with_buckets
        if with_buckets:
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
        if not self.with_buckets:
            raise RuntimeError("this BucketGraph was built without its bucket matrices")
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
        receivers, neighbours = edges // n, edges % n
        order = np.lexsort((receivers, neighbours))  # the transpose's non-zeros, row-major
        self.register_buffer("receivers", torch.from_numpy(receivers), persistent=False)
        index = np.int32 if len(edges) < 2**31 - 1 else np.int64  # MKL's sparse BLAS: int32 is faster
        self.register_buffer("neighbours", torch.from_numpy(neighbours), persistent=False)
        self.register_buffer("edge_columns", torch.from_numpy(neighbours.astype(index)), persistent=False)
        self.register_buffer(
            "edge_offsets", torch.from_numpy(_offsets(receivers, n).astype(index)), persistent=False
        )
        self.register_buffer("edge_counts", _csr(counts), persistent=False)
        self.register_buffer("edge_counts_t", _csr(sp.csr_array(counts.T)), persistent=False)
        self.register_buffer("transpose_order", torch.from_numpy(order), persistent=False)
        self.register_buffer(
            "transpose_columns", torch.from_numpy(receivers[order].astype(index)), persistent=False
        )
        self.register_buffer(
            "transpose_offsets",
            torch.from_numpy(_offsets(neighbours[order], n).astype(index)),
            persistent=False,
        )

    def pattern(self, values: torch.Tensor, transposed: bool = False) -> torch.Tensor:
        """The [N, N] CSR matrix with ``values`` [E] on the edge pattern (``transposed``: its
        transpose, ``values`` given in the transpose's order)."""
        warnings.filterwarnings("ignore", "Sparse CSR tensor support is in beta", UserWarning)
        offsets, columns = (
            (self.transpose_offsets, self.transpose_columns)
            if transposed
            else (self.edge_offsets, self.edge_columns)
        )
        n = self.n_nodes
        return torch.sparse_csr_tensor(offsets, columns, values, size=(n, n), check_invariants=False)


def _spmm(matrix: torch.Tensor, dense: torch.Tensor) -> torch.Tensor:
    """Sparse CSR [N, M] @ dense [M, d] -> [N, d]."""
    return matrix @ dense


def _sampled_dots(graph: BucketGraph, left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
    """[E]: <left_i, right_j> for every edge (i, j) of the pattern (SDDMM)."""
    zeros = graph.pattern(left.new_zeros(graph.receivers.shape[0]))
    return torch.sparse.sampled_addmm(zeros, left, right.t()).values()


class PatternProduct(torch.autograd.Function):
    """A(values) @ H on the edge pattern: [N, d], differentiable in the values [E] and H.

    Backward, with G the output's gradient: dH = A^T G (the transposed pattern, the values
    permuted) and dvalues_e = <G_i, H_j> for edge e = (i, j). No [E, d] tensor is built.
    """

    @staticmethod
    def forward(ctx: Any, values: torch.Tensor, hidden: torch.Tensor, graph: BucketGraph) -> torch.Tensor:
        ctx.graph = graph
        ctx.save_for_backward(values, hidden)
        return _spmm(graph.pattern(values), hidden)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None, None]:
        values, hidden = ctx.saved_tensors
        graph: BucketGraph = ctx.graph
        grad = grad.contiguous()
        grad_values = _sampled_dots(graph, grad, hidden) if ctx.needs_input_grad[0] else None
        grad_hidden = None
        if ctx.needs_input_grad[1]:
            grad_hidden = _spmm(graph.pattern(values[graph.transpose_order], transposed=True), grad)
        return grad_values, grad_hidden, None


def pattern_product(values: torch.Tensor, hidden: torch.Tensor, graph: BucketGraph) -> torch.Tensor:
    return PatternProduct.apply(values, hidden, graph)


class CountMix(torch.autograd.Function):
    """The edge values w_ij . p for every edge: [E] = counts [E, n_b] @ p [n_b]; dp = counts^T g."""

    @staticmethod
    def forward(ctx: Any, weights: torch.Tensor, graph: BucketGraph) -> torch.Tensor:
        ctx.graph = graph
        return (graph.edge_counts @ weights[:, None])[:, 0]

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        graph: BucketGraph = ctx.graph
        return (graph.edge_counts_t @ grad.contiguous()[:, None])[:, 0], None


def count_mix(weights: torch.Tensor, graph: BucketGraph) -> torch.Tensor:
    return CountMix.apply(weights, graph)


class BucketMix(torch.autograd.Function):
    """sum_b P_b * (M_b @ H) for every bucket b: [N, d], differentiable in H and P.

    Backward, with G the output's gradient: dH = sum_b P_b * (M_b^T G) and
    dP_b = sum_i (H * M_b^T G)_i, one sparse product per bucket as in the forward.
    """

    @staticmethod
    def forward(ctx: Any, hidden: torch.Tensor, weights: torch.Tensor, graph: BucketGraph) -> torch.Tensor:
        out = torch.zeros_like(hidden)
        for b in range(graph.n_buckets):
            out.addcmul_(_spmm(graph.matrix(b), hidden), weights[b])
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
            back = _spmm(graph.matrix(b, transposed=True), grad)
            if grad_hidden is not None:
                grad_hidden.addcmul_(back, weights[b])
            if grad_weights is not None:
                grad_weights[b] = torch.linalg.vecdot(back, hidden, dim=0)
        return grad_hidden, grad_weights, None


def bucket_mix(hidden: torch.Tensor, weights: torch.Tensor, graph: BucketGraph) -> torch.Tensor:
    return BucketMix.apply(hidden, weights, graph)


def distance_layer(hidden: torch.Tensor, weights: torch.Tensor, graph: BucketGraph) -> torch.Tensor:
    """h' = A_hat H with one importance p [n_b] per bucket (the per-distance form; see above)."""
    values = count_mix(weights, graph)
    denominator = graph.degrees @ weights  # > 0 at every receiver of an edge (p > 0, counts > 0)
    return pattern_product(values / denominator[graph.receivers], hidden, graph)


class FOGCNLayer(nn.Module):
    """One FOGCN layer; ``weight`` is W [n_b, d] (code), P^T [n_b, d] (paper) or w [n_b]
    (``importance="distance"``)."""

    def __init__(
        self,
        dim: int,
        n_buckets: int,
        weighting: str = "code",
        learn: bool = True,
        importance: str = "feature",
    ) -> None:
        super().__init__()
        if weighting not in ("code", "paper"):
            raise ValueError(f"weighting must be 'code' or 'paper', got {weighting!r}")
        if importance not in ("feature", "distance"):
            raise ValueError(f"importance must be 'feature' or 'distance', got {importance!r}")
        if weighting == "paper" and importance == "distance":
            raise ValueError("Eq. 3 weighs every feature: weighting='paper' needs importance='feature'")
        self.weighting, self.per_distance, self.dim = weighting, importance == "distance", dim
        shape = (n_buckets,) if self.per_distance else (n_buckets, dim)
        self.weight = nn.Parameter(torch.ones(shape), requires_grad=learn)

    def reset_parameters(self) -> None:
        nn.init.ones_(self.weight)

    def importance(self) -> torch.Tensor:
        """[n_b, d]: the code's softmax over buckets per feature (figure 4; with one weight per
        bucket, the same for every feature); the raw P^T for Eq. 3."""
        if self.weighting == "paper":
            return self.weight
        weights = torch.softmax(self.weight, dim=0)
        return weights[:, None].expand(-1, self.dim) if self.per_distance else weights

    def forward(self, hidden: torch.Tensor, graph: BucketGraph) -> torch.Tensor:
        if self.weighting == "paper":
            return self._paper(hidden, graph)
        weights = torch.softmax(self.weight, dim=0)
        if self.per_distance:
            return distance_layer(hidden, weights, graph)
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
        self,
        dim: int,
        n_buckets: int,
        layers: int,
        weighting: str = "code",
        learn: bool = True,
        importance: str = "feature",
    ) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            FOGCNLayer(dim, n_buckets, weighting, learn, importance) for _ in range(layers)
        )

    def forward(self, embeddings: torch.Tensor, graph: BucketGraph) -> torch.Tensor:
        if graph.order is not None:
            embeddings = embeddings.index_select(0, graph.order)
        total, hidden = embeddings, embeddings
        for layer in self.layers:
            hidden = layer(hidden, graph)
            total = total + hidden
        out = total / (len(self.layers) + 1)
        return out if graph.inverse is None else out.index_select(0, graph.inverse)

    def importance(self) -> torch.Tensor:
        """[L_G, n_b, d]: each layer's importance weights (see ``FOGCNLayer.importance``)."""
        return torch.stack([layer.importance() for layer in self.layers])
