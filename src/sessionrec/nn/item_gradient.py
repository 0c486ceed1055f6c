"""One gradient buffer for an item table that several ops of one forward pass read.

An item table is read by the scoring product (a dense [N + 1, d] gradient), by the
lookups of session items (a few rows) and, in TAGNN, by the target attention (dense
again). Autograd sums these, but a dense gradient returned by a Python autograd
Function is never the sole owner of its buffer, so autograd adds every further
contribution out of place: a fresh copy of the whole table's gradient (17 MB on
Diginetica), about 8 ms of SR-GNN's ~100 ms training step on a 2-core CPU
(``torch.profiler``; ``benchmarks/speed_ablation.py`` measures the whole effect).

Ops sharing an ``ItemGradient`` write into one buffer instead. In each backward pass
the first contributor hands its buffer to autograd; every later one adds into it in
place and hands autograd nothing. This is sound because autograd accumulates a leaf's
gradient only after every op that read it has run its backward. Every op of the
forward that reads the table with gradients must take part: an op outside it would
make autograd sum out of place, and later in-place additions would land in a buffer
autograd has already replaced. The models create one per forward pass and give it to
each such op (``score_items``, ``lookup_items``, ``TargetAttention``). Several backward
passes over one graph (``retain_graph``) work: a pass ends when every contributor
that joined in the forward has contributed.
"""

from __future__ import annotations

from collections.abc import Callable

import torch


class ItemGradient:
    def __init__(self) -> None:
        self._contributors = 0
        self._seen = 0
        self._buffer: torch.Tensor | None = None

    def join(self) -> None:
        """Called in the forward by each op whose backward will contribute."""
        self._contributors += 1

    def add_dense(self, grad: torch.Tensor) -> torch.Tensor | None:
        """A whole-table gradient: returned when it opens the pass, else added (None)."""
        return self._contribute(lambda: grad, lambda buffer: buffer.add_(grad))

    def add_rows(self, indices: torch.Tensor, rows: torch.Tensor, shape: torch.Size) -> torch.Tensor | None:
        """Gradient rows of a lookup of ``indices`` into a table of ``shape``."""
        flat_indices, flat_rows = indices.reshape(-1), rows.reshape(-1, shape[1])

        def first() -> torch.Tensor:
            return flat_rows.new_zeros(shape).index_add_(0, flat_indices, flat_rows)

        return self._contribute(first, lambda buffer: buffer.index_add_(0, flat_indices, flat_rows))

    def _contribute(
        self, first: Callable[[], torch.Tensor], add: Callable[[torch.Tensor], object]
    ) -> torch.Tensor | None:
        handed: torch.Tensor | None = None
        if self._buffer is None:
            self._buffer = handed = first()
        else:
            add(self._buffer)
        self._seen += 1
        if self._seen == self._contributors:  # the pass is complete: a next pass starts afresh
            self._buffer, self._seen = None, 0
        return handed


def joins(grads: ItemGradient | None, table: torch.Tensor) -> ItemGradient | None:
    """``grads`` if an op reading ``table`` now will contribute to it in a backward, else None."""
    if grads is None or not (torch.is_grad_enabled() and table.requires_grad):
        return None
    grads.join()
    return grads
