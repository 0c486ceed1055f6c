"""Work buffers reused from one training step to the next.

On a CPU a fresh tensor of a few hundred MB costs more in page faults (the kernel
zeroing each new page) than the GEMM that fills it, and PyTorch's CPU allocator hands
large blocks back to the system. A layer whose temporaries are that large keeps them
in a :class:`Workspace` between steps.

A buffer that a forward saves for its backward must not be rewritten before that
backward: autograd's version counter turns such reuse (two forwards, then one
backward) into an error rather than a wrong gradient. Use a workspace only where one
thread trains the module; inference should allocate afresh.
"""

from __future__ import annotations

import torch


class Workspace:
    """Named flat buffers, grown on demand (with slack) and reused."""

    def __init__(self, slack: float = 1.25) -> None:
        self.slack = slack  # sizes vary from batch to batch: avoid regrowing every step
        self.buffers: dict[str, torch.Tensor] = {}

    def get(self, name: str, rows: int, cols: int, like: torch.Tensor) -> torch.Tensor:
        """A [rows, cols] view of buffer ``name`` with ``like``'s dtype and device (contents undefined)."""
        size = rows * cols
        current = self.buffers.get(name)
        if (
            current is None
            or current.numel() < size
            or current.dtype != like.dtype
            or current.device != like.device
        ):
            current = like.new_empty(int(size * self.slack))
            self.buffers[name] = current
        return current[:size].view(rows, cols)


def buffer(workspace: Workspace | None, name: str, rows: int, cols: int, like: torch.Tensor) -> torch.Tensor:
    """From ``workspace`` when there is one, else a fresh tensor."""
    return like.new_empty(rows, cols) if workspace is None else workspace.get(name, rows, cols, like)
