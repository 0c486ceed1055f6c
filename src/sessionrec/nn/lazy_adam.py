r"""Lazy Adam for sparse gradients: only the rows a step's gradient touches are updated.

For a parameter with a sparse gradient (rows R, values G), at its t-th step:

.. math::
    m_R \leftarrow \beta_1 m_R + (1 - \beta_1) G,\quad
    v_R \leftarrow \beta_2 v_R + (1 - \beta_2) G^2,\quad
    p_R \leftarrow p_R - \eta \frac{\sqrt{1 - \beta_2^t}}{1 - \beta_1^t} \frac{m_R}{\sqrt{v_R} + \epsilon}

the update of ``torch.optim.SparseAdam`` (t counts the parameter's steps, not the row's),
written as gathers and scatters on the touched rows: ``SparseAdam`` works through sparse
tensor operations whose cost here grew with the whole table (most of a skip-gram step on
Diginetica's 43k x 100 embedding), these touch K x d values.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch


class LazyAdam(torch.optim.Optimizer):
    def __init__(
        self, params: Any, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8
    ):
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps})

    @torch.no_grad()
    def step(self, closure: Any = None) -> None:  # type: ignore[override]
        for group in self.param_groups:
            for param in group["params"]:
                if param.grad is None:
                    continue
                grad = param.grad
                if not grad.is_sparse:
                    raise RuntimeError("LazyAdam expects sparse gradients (F.embedding(..., sparse=True))")
                grad = grad.coalesce()
                self._update(group, param, grad.indices()[0], grad.values())

    @torch.no_grad()
    def step_rows(self, updates: Sequence[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]) -> None:
        """One step from dense gradients of gathered rows: ``(param, rows, grad)`` with
        ``rows`` distinct and ``grad`` [len(rows), ...] (the same step as ``step`` with the
        coalesced sparse gradient; no sparse tensors are built)."""
        groups = {id(p): group for group in self.param_groups for p in group["params"]}
        for param, rows, grad in updates:
            self._update(groups[id(param)], param, rows, grad)

    def _update(
        self, group: dict[str, Any], param: torch.Tensor, rows: torch.Tensor, values: torch.Tensor
    ) -> None:
        beta1, beta2 = group["betas"]
        state = self.state[param]
        if not state:
            state["step"] = 0
            state["exp_avg"] = torch.zeros_like(param)
            state["exp_avg_sq"] = torch.zeros_like(param)
        state["step"] += 1
        step = state["step"]
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        m = exp_avg.index_select(0, rows).mul_(beta1).add_(values, alpha=1 - beta1)
        v = exp_avg_sq.index_select(0, rows).mul_(beta2).addcmul_(values, values, value=1 - beta2)
        exp_avg.index_copy_(0, rows, m)
        exp_avg_sq.index_copy_(0, rows, v)
        size = group["lr"] * math.sqrt(1 - beta2**step) / (1 - beta1**step)
        param.index_add_(0, rows, m.div_(v.sqrt_().add_(group["eps"])), alpha=-size)
