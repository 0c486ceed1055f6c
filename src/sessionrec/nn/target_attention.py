r"""Target-aware attention scored against every candidate item (TAGNN, Yu et al. 2020, Eq. 6-7).

For a session with node states :math:`h_1..h_U`, keys :math:`k_u = W h_u` and values
:math:`v_u`, the target term of item *t* is

.. math::
    T_t = \sum_u \beta_{t,u}\, (e_t \cdot v_u),\qquad
    \beta_{t,u} = \frac{c_u \exp(e_t \cdot k_u)}{\sum_{u'} c_{u'} \exp(e_t \cdot k_{u'}) + p}

where :math:`c_u` counts the positions holding node *u* (a softmax over positions equals
one over unique nodes with these multiplicities) and *p* counts phantom positions of
logit 0 and value 0: the official code pads every prefix to the dataset's longest one
and lets the padded (zeroed) states into the softmax. ``p = 0`` is the proper masking.

Materialising the target vectors ``[B, N, d]`` as the official code does is avoided:
GEMMs give every logit and value product ``[2P, N]`` for the P (session, node) pairs of
the batch, and a custom backward reuses them (their gradients feed two GEMMs). Sessions
are grouped by their number of nodes so that each group's softmax is a dense
``[n, u, c]`` block, with no padding work. Items go in blocks of at most ``BLOCK``
(fewer if the memory budget says so); the blocks are kept for the backward when
``2P x N`` fits the budget, and recomputed otherwise. On the benchmarks one block
covers every item: smaller, cache-sized blocks speed up one thread by ~10% but
multiply the small per-group operations, which two busy cores make slow.
Shapes: embedding [N + 1, d] (row 0 = padding, never scored), keys/values [B, U, d],
counts [B, U] (0 marks absent nodes, real nodes first), pad_count [B] -> [B, N].
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from sessionrec.runtime.split_blas import SplitBlas, split_for
from sessionrec.runtime.workspace import Workspace, buffer

BLOCK = 1 << 16  # most items per block (see the module docstring)


@dataclass(frozen=True)
class _Bucket:
    """Sessions ``start:start+size`` (sorted order) with ``nodes`` nodes each."""

    start: int
    size: int
    nodes: int
    offset: int  # first (session, node) pair of the bucket
    repeats: bool  # some node fills several positions: add log-counts to the logits
    phantoms: bool  # some session has phantom padded positions


@dataclass(frozen=True)
class _Plan:
    buckets: list[_Bucket]
    n_pairs: int
    log_counts: torch.Tensor  # [P]
    log_pad: torch.Tensor  # [B, 1], sorted order: log of the phantom count (-inf for none)
    floor: torch.Tensor  # [B, 1]: 0 where phantoms (their logit) else -inf, for the max
    empty: int  # sessions without any node (sorted first): their target term is 0
    block: int  # items per block
    keep: bool  # keep the forward's blocks for the backward (else recompute them)


def _plan(
    counts: torch.Tensor, pad_count: torch.Tensor, n_items: int, memory_mb: float
) -> tuple[torch.Tensor, torch.Tensor, _Plan]:
    """Sort sessions by node count; list the (session, node) pairs group by group."""
    n_nodes = (counts > 0).sum(1)
    order = torch.argsort(n_nodes, stable=True)
    sorted_counts, sorted_pad = counts[order], pad_count[order].to(counts.dtype)
    real = sorted_counts > 0
    pair_counts = sorted_counts[real]
    sizes, members = torch.unique_consecutive(n_nodes[order], return_counts=True)
    buckets, start, offset = [], 0, 0
    for nodes, size in zip(sizes.tolist(), members.tolist(), strict=True):
        span = size * nodes
        if nodes > 0:
            repeats = bool((pair_counts[offset : offset + span] != 1).any())
            phantoms = bool((sorted_pad[start : start + size] > 0).any())
            buckets.append(_Bucket(start, size, nodes, offset, repeats, phantoms))
        start, offset = start + size, offset + span
    budget, row_bytes = memory_mb * 2**20, 2 * offset * counts.element_size()  # one item, 2P rows
    block = max(1, min(BLOCK, n_items, int(budget / 2 / max(row_bytes, 1))))  # work + grad blocks
    keep = row_bytes * (n_items + block) <= budget
    floor = torch.where(sorted_pad > 0, 0.0, float("-inf")).to(counts.dtype).unsqueeze(1)
    empty = buckets[0].start if buckets else len(order)
    return (
        order,
        real,
        _Plan(buckets, offset, pair_counts.log(), sorted_pad.log().unsqueeze(1), floor, empty, block, keep),
    )


def _attend(work: torch.Tensor, plan: _Plan, out: torch.Tensor) -> None:
    """One block of ``work`` [2P, c] from (logits; values) to (beta; beta * value) in place,
    and ``out[b] = sum_u beta * value``. Keeping beta and beta * value (not the value)
    lets the backward run without temporaries."""
    n_pairs = plan.n_pairs
    for b in plan.buckets:
        lo, hi, rows = b.offset, b.offset + b.size * b.nodes, slice(b.start, b.start + b.size)
        logits = work[lo:hi].view(b.size, b.nodes, -1)
        values = work[n_pairs + lo : n_pairs + hi].view(b.size, b.nodes, -1)
        if b.nodes == 1:
            if b.phantoms:  # c e^L / (c e^L + p) = sigmoid(L + log c - log p); p = 0 gives 1
                shift = plan.log_counts[lo:hi].unsqueeze(1) - plan.log_pad[rows]
                logits[:, 0].add_(shift).sigmoid_()
                values.mul_(logits)
            else:  # one node, no padding: beta = 1
                logits.fill_(1.0)
            out[rows] = values[:, 0]
            continue
        top = logits.amax(1)
        if b.phantoms:  # phantom logits are 0: the stabiliser must cover them
            top = torch.maximum(top, plan.floor[rows])
        logits.sub_(top.unsqueeze(1))
        if b.repeats:
            logits.add_(plan.log_counts[lo:hi].view(b.size, b.nodes, 1))
        total = logits.exp_().sum(1)
        if b.phantoms:  # p exp(0 - top) = exp(log p - top); exactly 0 where p = 0
            total.add_(torch.sub(plan.log_pad[rows], top).exp_())
        values.mul_(logits.div_(total.unsqueeze(1)))
        out[rows] = values.sum(1)


def _gradient(
    work: torch.Tensor, plan: _Plan, grad: torch.Tensor, target: torch.Tensor, out: torch.Tensor
) -> None:
    """d loss / d (logits; values) of one block into ``out``: g beta (value - T) and g beta."""
    n_pairs = plan.n_pairs
    for b in plan.buckets:
        lo, hi, rows = b.offset, b.offset + b.size * b.nodes, slice(b.start, b.start + b.size)
        shape = (b.size, b.nodes, -1)
        beta, weighted = work[lo:hi].view(shape), work[n_pairs + lo : n_pairs + hi].view(shape)
        g = grad[rows].unsqueeze(1)
        torch.mul(beta, g, out=out[n_pairs + lo : n_pairs + hi].view(shape))
        d_logits = out[lo:hi].view(shape)
        if b.nodes == 1 and not b.phantoms:
            d_logits.zero_()  # beta is constant 1: no gradient through the logits
            continue
        torch.addcmul(weighted, beta, target[rows].unsqueeze(1), value=-1.0, out=d_logits)
        d_logits.mul_(g)


def _product(split: SplitBlas | None, rows: torch.Tensor, items: torch.Tensor, out: torch.Tensor) -> None:
    """``out = rows @ items^T``, through split OpenBLAS when it is the CPU scoring backend."""
    if split is not None:
        split.product(rows, items, out)
    else:
        torch.mm(rows, items.T, out=out)


def _blocks(n_items: int, block: int) -> list[tuple[int, int]]:
    return [(lo, min(lo + block, n_items)) for lo in range(0, n_items, block)]


class _TargetScores(torch.autograd.Function):
    """Takes the whole embedding table (row 0 = padding, never a candidate) so that its
    gradient is written straight into one [N + 1, d] tensor, as ``nn.scoring`` does."""

    @staticmethod
    def forward(
        ctx: Any, embedding: torch.Tensor, pairs: torch.Tensor, plan: _Plan, workspace: Workspace | None
    ) -> torch.Tensor:
        items = embedding[1:]
        n_items, n_rows = items.shape[0], pairs.shape[0]
        out = items.new_empty(plan.log_pad.shape[0], n_items)  # the buckets fill every row but
        out[: plan.empty].zero_()  # those of sessions without nodes
        # kept: block [lo, hi) lives at rows*lo .. rows*hi of one buffer; else one block reused
        store = buffer(workspace, "work", n_rows, n_items if plan.keep else plan.block, items)
        split = split_for(embedding, pairs)
        for lo, hi in _blocks(n_items, plan.block):
            start = n_rows * lo if plan.keep else 0
            work = store.view(-1)[start : start + n_rows * (hi - lo)].view(n_rows, hi - lo)
            _product(split, pairs, items[lo:hi], work)
            _attend(work, plan, out[:, lo:hi])
        ctx.plan, ctx.workspace = plan, workspace
        ctx.save_for_backward(embedding, pairs, out, *((store,) if plan.keep else ()))
        return out

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None, None, None]:
        embedding, pairs, target, *kept = ctx.saved_tensors
        plan, workspace, items = ctx.plan, ctx.workspace, embedding[1:]
        n_rows, grad = pairs.shape[0], grad.contiguous()
        d_embedding = torch.empty_like(embedding) if ctx.needs_input_grad[0] else None
        if d_embedding is not None:
            d_embedding[0].zero_()
        d_pairs = torch.zeros_like(pairs) if ctx.needs_input_grad[1] else None
        d_work_store = buffer(workspace, "grad", n_rows, plan.block, items)
        redo = None if kept else buffer(workspace, "work", n_rows, plan.block, items)
        split = split_for(embedding, pairs, grad)
        for lo, hi in _blocks(items.shape[0], plan.block):
            chunk = items[lo:hi]
            if kept:
                work = kept[0].view(-1)[n_rows * lo : n_rows * hi].view(n_rows, hi - lo)
            else:  # recompute the block's weights rather than keep [2P, N] alive
                assert redo is not None
                work = redo.view(-1)[: n_rows * (hi - lo)].view(n_rows, hi - lo)
                _product(split, pairs, chunk, work)
                _attend(work, plan, torch.empty_like(target[:, lo:hi]))
            d_work = d_work_store.view(-1)[: n_rows * (hi - lo)].view(n_rows, hi - lo)
            _gradient(work, plan, grad[:, lo:hi], target[:, lo:hi], d_work)
            if split is not None and d_embedding is not None:
                d_chunk = split.gradients(
                    d_work, pairs, chunk, d_embedding[1 + lo : 1 + hi], d_pairs is not None
                )
                if d_pairs is not None:
                    d_pairs += d_chunk
                continue
            if d_embedding is not None:
                torch.mm(d_work.T, pairs, out=d_embedding[1 + lo : 1 + hi])
            if d_pairs is not None:
                d_pairs.addmm_(d_work, chunk)
        return d_embedding, d_pairs, None, None


def target_attention_scores(
    embedding: torch.Tensor,
    keys: torch.Tensor,
    values: torch.Tensor,
    counts: torch.Tensor,
    pad_count: torch.Tensor,
    memory_mb: float = 512.0,
    workspace: Workspace | None = None,
) -> torch.Tensor:
    """Target term ``T [B, N]`` of items 1..N (``embedding`` [N + 1, d], row 0 = padding)."""
    order, real, plan = _plan(counts.to(embedding.dtype), pad_count, embedding.shape[0] - 1, memory_mb)
    pairs = torch.cat([keys[order][real], values[order][real]])
    sorted_scores = _TargetScores.apply(embedding, pairs, plan, workspace)
    return sorted_scores[torch.argsort(order)]


class TargetAttention(nn.Module):
    r"""TAGNN's local target attentive unit: keys :math:`W h_u` (``linear_t``, no bias).

    ``forward(embedding, states, counts, pad_count, values=None)``: the item table
    [N + 1, d], states [B, U, d] of the session's nodes, ``values`` defaulting to the
    states (the official code; the paper's :math:`W_3` form passes projected states).
    Returns T [B, N]. Training steps reuse work buffers (about ``memory_mb``) held by the
    module; inference allocates afresh, so concurrent scoring never shares them.
    """

    def __init__(self, dim: int, memory_mb: float = 512.0) -> None:
        super().__init__()
        self.memory_mb = memory_mb
        self.linear_t = nn.Linear(dim, dim, bias=False)
        self._workspace = Workspace()

    def forward(
        self,
        embedding: torch.Tensor,
        states: torch.Tensor,
        counts: torch.Tensor,
        pad_count: torch.Tensor,
        values: torch.Tensor | None = None,
    ) -> torch.Tensor:
        keys = self.linear_t(states)
        values = states if values is None else values
        workspace = self._workspace if torch.is_grad_enabled() and keys.requires_grad else None
        return target_attention_scores(embedding, keys, values, counts, pad_count, self.memory_mb, workspace)
