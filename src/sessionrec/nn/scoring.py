"""Scoring every item against a session vector: the dominant cost of training.

``scores = s @ E[1:]^T`` over items 1..N (the padding row 0 is never a candidate).
This is 6 x d x N FLOP per training sample (forward and two backward products), so
its formulation decides the trainer's speed on a CPU:

- the forward runs as ``F.linear(s, E[1:])``, which picks a faster GEMM than
  ``s @ E[1:].T`` (12 vs 22 ms at B=100, d=100, N=43k on 2 threads, Intel); fewer
  than ``COLUMNS_MAX_ROWS`` sessions without gradients (live serving) are scored
  against a cached [d, N] layout, the fastest single-session product measured here;
- the backward writes the embedding gradient straight into one [N + 1, d] buffer
  (row 0 zeroed) instead of autograd's zero-filled buffer plus a copy for the slice;
- ``bf16=True`` runs the three products in bfloat16 with float32 accumulation and
  returns float32 scores, so the softmax and the loss stay in float32. It only pays
  on hardware with native bfloat16 products (AVX512-BF16 or AMX CPUs, GPUs): on an
  AVX2-only CPU (AMD Zen 3 here) torch emulates them at 4-6 GFLOP/s, ten times slower
  than float32 (``benchmarks/gemm_roofline.py``), and the trainer warns;
- on a CPU the three float32 products can run through NumPy's OpenBLAS instead, the
  items split across threads (``runtime.split_blas.set_cpu_scoring("openblas")``, the
  trainer's ``--cpu-scoring openblas``): same results up to float32 rounding.
"""

from __future__ import annotations

import weakref
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from sessionrec.runtime.split_blas import split_for

COLUMNS_MAX_ROWS = 32  # fewer sessions than this, without gradients, use the [d, N] layout


class _ItemScores(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, session: torch.Tensor, weight: torch.Tensor, bf16: bool) -> torch.Tensor:
        ctx.bf16 = bf16
        if bf16:
            session_b, weight_b = session.bfloat16(), weight.bfloat16()
            ctx.save_for_backward(session_b, weight_b)
            return F.linear(session_b, weight_b[1:]).float()
        ctx.save_for_backward(session, weight)
        split = split_for(session, weight)
        return split.product(session, weight[1:]) if split else F.linear(session, weight[1:])

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None, None]:
        session, weight = ctx.saved_tensors
        split = None if ctx.bf16 else split_for(grad, session, weight)
        if split is not None and ctx.needs_input_grad[1]:
            grad_weight = torch.empty_like(weight)
            grad_weight[0].zero_()
            grad_session = split.gradients(
                grad, session, weight[1:], grad_weight[1:], ctx.needs_input_grad[0]
            )
            return grad_session, grad_weight, None
        if ctx.bf16:
            grad = grad.bfloat16()
        grad_session = grad_weight = None
        if ctx.needs_input_grad[0]:
            grad_session = torch.mm(grad, weight[1:])
            grad_session = grad_session.float() if ctx.bf16 else grad_session
        if ctx.needs_input_grad[1]:
            dtype = torch.float32 if ctx.bf16 else weight.dtype
            grad_weight = torch.empty(weight.shape, dtype=dtype, device=weight.device)
            grad_weight[0].zero_()
            if ctx.bf16:
                grad_weight[1:] = torch.mm(grad.t(), session)
            else:
                torch.mm(grad.t(), session, out=grad_weight[1:])
        return grad_session, grad_weight, None


class CachedItemColumns(nn.Module):
    """Base for modules that score items: keeps items 1..N as a contiguous [d, N] copy.

    Scoring without gradients (ranking, serving) multiplies by this layout: ``s @ C``
    takes about half the time of ``F.linear(s, E[1:])`` for one session here (1.1-1.2
    against 2.3-2.7 ms over 43,097 items on one thread). The copy (17 MB on Diginetica)
    is kept only in eval mode and dropped on ``train()``, ``load_state_dict`` and moves
    between devices: the trainer's in-place optimiser (fused Adam) does not bump tensor
    versions, so no cheaper signal says when the weights changed. Code that edits the
    weights of a module in eval mode by other means must call ``drop_item_columns()``.
    """

    def __init__(self) -> None:
        super().__init__()
        self._item_columns: torch.Tensor | None = None
        self.register_load_state_dict_post_hook(lambda module, _keys: module.drop_item_columns())

    def drop_item_columns(self) -> None:
        self._item_columns = None

    def item_columns(self, embedding: torch.Tensor, rows: int) -> torch.Tensor | None:
        """The cached [d, N] layout for ``rows`` sessions in eval mode without gradients.

        None otherwise, and for ``COLUMNS_MAX_ROWS`` sessions or more (ranking batches,
        where ``F.linear`` is as fast), so ranking never builds a copy it will not use.
        """
        if self.training or torch.is_grad_enabled() or rows >= COLUMNS_MAX_ROWS:
            return None
        if self._item_columns is None:
            with torch.no_grad():
                self._item_columns = embedding[1:].t().contiguous()
        return self._item_columns

    def score_against_items(self, session: torch.Tensor, embedding: torch.Tensor, bf16: bool) -> torch.Tensor:
        """``score_items`` with this module's cached layout wherever it applies."""
        return score_items(session, embedding, bf16, self.item_columns(embedding, len(session)))

    def train(self, mode: bool = True) -> CachedItemColumns:
        self.drop_item_columns()
        return super().train(mode)

    def _apply(self, fn: Any, recurse: bool = True) -> CachedItemColumns:
        self.drop_item_columns()
        return super()._apply(fn, recurse)


def score_items(
    session: torch.Tensor,
    embedding: torch.Tensor,
    bf16: bool = False,
    columns: torch.Tensor | None = None,
) -> torch.Tensor:
    """[B, d] x [N + 1, d] -> [B, N] scores of items 1..N, differentiable in both inputs.

    ``columns``: items 1..N as [d, N] (``CachedItemColumns.item_columns``), used when no
    gradient is recorded.
    """
    if not torch.is_grad_enabled() or not (session.requires_grad or embedding.requires_grad):
        if bf16:
            return F.linear(session.bfloat16(), embedding[1:].bfloat16()).float()
        if columns is not None:  # a few live sessions
            return session @ columns
        split = split_for(session, embedding)
        return split.product(session, embedding[1:]) if split else F.linear(session, embedding[1:])
    return _ItemScores.apply(session, _scored_table(embedding), bf16)


def lookup_items(embedding: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
    """Rows of an item table that ``score_items`` also scores, with a sparse gradient.

    The dense gradient of a lookup is a zero-filled copy of the whole [N + 1, d] table
    plus a scatter, then added to the scoring gradient: three passes over 17 MB per step
    on Diginetica, about 15% of SR-GNN's step on a CPU. A sparse gradient costs only its
    rows, but autograd adds a sparse gradient into a dense one out of place (a copy of
    the whole table: it treats sparse tensors as subclasses) when the dense one comes
    first, as the scoring gradient does (the scoring is recorded last, so its backward
    runs first). In place only when the sparse one arrives first. So under autograd the
    first lookup of a table also records an alias of it (``_defer_scoring_gradient``),
    which the next ``score_items`` of that table scores against: the alias's backward
    node is older than every lookup, autograd runs nodes newest first, so the scoring
    gradient reaches the table after the lookups' and the sparse rows are added into it
    in place. Same gradient, bit for bit. Only for tables that ``score_items`` also
    uses: a table with only sparse gradients would not suit fused Adam.
    """
    if torch.is_grad_enabled() and embedding.requires_grad:
        _defer_scoring_gradient(embedding)
    return F.embedding(indices, embedding, sparse=True)


# table id -> (weak reference to the table, its alias); at most _DEFERRED_MAX entries, so
# lookups that no scoring follows (models with their own loss) hold a few aliases at most.
# Training runs in one thread; without autograd (ranking, serving) nothing is recorded.
_DEFERRED: dict[int, tuple[weakref.ref[torch.Tensor], torch.Tensor]] = {}
_DEFERRED_MAX = 4


def _defer_scoring_gradient(embedding: torch.Tensor) -> None:
    """Record an alias of ``embedding`` now, before the lookups (see ``lookup_items``)."""
    held = _DEFERRED.get(id(embedding))
    if held is not None and held[0]() is embedding:
        return  # a later lookup of the same forward: the alias is already older
    while len(_DEFERRED) >= _DEFERRED_MAX:
        del _DEFERRED[next(iter(_DEFERRED))]
    _DEFERRED[id(embedding)] = (weakref.ref(embedding), torch.ops.aten.alias(embedding))


def _scored_table(embedding: torch.Tensor) -> torch.Tensor:
    """The alias a lookup recorded for ``embedding`` (then forgotten), else ``embedding``.

    An alias from an earlier forward whose graph was never run backward is still the same
    table (a view of its storage) with the same gradient path, only older.
    """
    held = _DEFERRED.pop(id(embedding), None)
    return held[1] if held is not None and held[0]() is embedding else embedding
