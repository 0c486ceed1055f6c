r"""Adagrad with Nesterov momentum (GRU4Rec's optimiser, Hidasi & Karatzoglou, CIKM 2018).

For a parameter p with gradient g, at every step (accumulator G and velocity v start at 0):

.. math::
    G \leftarrow G + g^2,\quad u = \frac{g}{\sqrt{G + \epsilon}},\quad
    v \leftarrow \mu v - \eta u,\quad p \leftarrow p + \mu v - \eta u

(Nesterov's look-ahead written on the current point; :math:`\mu` = ``momentum`` = 0 is
plain Adagrad). A sparse gradient (rows R of an item table, from
``F.embedding(..., sparse=True)``) updates G, v and p on rows R only, as GRU4Rec updates
only the item vectors a mini-batch touched: an untouched row's velocity does not decay.
A row that appears several times in a sparse gradient is summed first (``coalesce``).
"""

from __future__ import annotations

from typing import Any

import torch


class AdagradNesterov(torch.optim.Optimizer):
    def __init__(self, params: Any, lr: float = 0.05, momentum: float = 0.0, eps: float = 1e-6) -> None:
        super().__init__(params, {"lr": lr, "momentum": momentum, "eps": eps})

    @torch.no_grad()
    def step(self, closure: Any = None) -> None:  # type: ignore[override]
        for group in self.param_groups:
            lr, momentum, eps = group["lr"], group["momentum"], group["eps"]
            dense: list[torch.Tensor] = []
            for param in group["params"]:
                if param.grad is None:
                    continue
                state = self.state[param]
                if not state:
                    state["sum"] = torch.zeros_like(param)
                    if momentum:
                        state["velocity"] = torch.zeros_like(param)
                grad = param.grad
                if grad.is_sparse:
                    grad = grad.coalesce()
                    self._rows(param, state, grad.indices()[0], grad.values(), lr, momentum, eps)
                else:
                    dense.append(param)
            if dense:
                self._dense(dense, lr, momentum, eps)

    def _dense(self, params: list[torch.Tensor], lr: float, mu: float, eps: float) -> None:
        """The dense parameters of a group at once (multi-tensor operations)."""
        grads = [p.grad for p in params]
        totals = [self.state[p]["sum"] for p in params]
        torch._foreach_addcmul_(totals, grads, grads)
        denominators = torch._foreach_add(totals, eps)
        torch._foreach_sqrt_(denominators)  # sqrt(G + eps)
        if mu:
            velocities = [self.state[p]["velocity"] for p in params]
            torch._foreach_mul_(velocities, mu)
            torch._foreach_addcdiv_(velocities, grads, denominators, value=-lr)
            torch._foreach_add_(params, velocities, alpha=mu)
        torch._foreach_addcdiv_(params, grads, denominators, value=-lr)

    @staticmethod
    def _rows(
        param: torch.Tensor,
        state: dict,
        rows: torch.Tensor,
        grad: torch.Tensor,
        lr: float,
        mu: float,
        eps: float,
    ) -> None:
        total = state["sum"].index_select(0, rows).addcmul_(grad, grad)
        state["sum"].index_copy_(0, rows, total)
        step = grad.div(total.add_(eps).sqrt_()).mul_(lr)  # eta * u (the gradient is left as it is)
        if mu:
            velocity = state["velocity"].index_select(0, rows).mul_(mu).sub_(step)
            state["velocity"].index_copy_(0, rows, velocity)
            step = step.sub_(velocity, alpha=mu)  # -(mu v - eta u)
        param.index_add_(0, rows, step, alpha=-1.0)
