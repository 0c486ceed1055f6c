"""The item-scoring products on a CPU through NumPy's OpenBLAS, the items split across threads.

Why: at the scoring shapes (B = 100-1,000 sessions, d = 100-200, N = 43k items) torch's
CPU GEMM on two threads ran this AVX2 machine at 34-65 GFLOP/s, while OpenBLAS called
single-threaded from each of two Python threads, each on its own half of the items, ran
the forward product 1.6-2.0x faster, a full ranking 1.3-1.5x and a training step 1.0-1.2x
(``benchmarks/scoring_backends.py``: the backward products gain little). Each thread owns a
contiguous block of items, so no thread pool inside a BLAS library competes with another
for the cores, and NumPy releases the GIL inside ``matmul``.

The three products of a training step, with ``G`` the gradient of the [B, N] scores:

- forward: ``scores[:, a:b] = s @ E[a+1:b+1]^T``, written into its columns of one buffer;
- ``dE[a+1:b+1] = G[:, a:b]^T @ s``, written into its rows of one buffer;
- ``ds = sum over blocks of G[:, a:b] @ E[a+1:b+1]``, one partial sum per thread.

The results equal torch's up to float32 rounding (a different summation order).
Only float32 CPU tensors take this path; everything else stays with torch. TAGNN's
target attention runs its three [2P, N] products (``nn.target_attention``) the same way.
The choice is process-wide, like ``torch.set_num_threads``: ``set_cpu_scoring``.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import cache

import numpy as np
import torch
from threadpoolctl import ThreadpoolController

from sessionrec.errors import ConfigError

CPU_SCORING_BACKENDS = ("torch", "openblas")


@cache
def _openblas() -> ThreadpoolController:
    """The OpenBLAS libraries loaded in this process (NumPy's among them)."""
    return ThreadpoolController().select(internal_api="openblas")


class SplitBlas:
    """``rows @ items^T`` and its gradients on ``threads`` threads, each with single-threaded
    OpenBLAS on its own block of items (rows of ``items``)."""

    def __init__(self, threads: int) -> None:
        if threads < 1:
            raise ConfigError(f"CPU scoring threads must be at least 1, got {threads}")
        self.threads = threads
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="sessionrec-blas")

    def _blocks(self, items: int) -> list[tuple[int, int]]:
        bounds = np.linspace(0, items, self.threads + 1).astype(int)
        return [(int(a), int(b)) for a, b in itertools.pairwise(bounds) if b > a]

    def _run(self, work: Callable[[int, int], object], items: int) -> list[object]:
        blocks = self._blocks(items)
        with _openblas().limit(limits=1):
            if len(blocks) == 1:
                return [work(*blocks[0])]
            futures = [self._pool.submit(work, a, b) for a, b in blocks]
            return [future.result() for future in futures]

    def product(
        self, rows: torch.Tensor, items: torch.Tensor, out: torch.Tensor | None = None
    ) -> torch.Tensor:
        """[R, d] x [N, d] -> ``rows @ items^T`` [R, N], into ``out`` when given."""
        r, e = _array(rows), _array(items)
        out = torch.empty(len(r), len(e), dtype=torch.float32) if out is None else out
        o = out.detach().numpy()

        def block(a: int, b: int) -> None:
            np.matmul(r, e[a:b].T, out=o[:, a:b])

        self._run(block, len(e))
        return out

    def gradients(
        self,
        grad: torch.Tensor,
        rows: torch.Tensor,
        items: torch.Tensor,
        items_out: torch.Tensor,
        need_rows: bool,
    ) -> torch.Tensor | None:
        """For ``grad`` of ``rows @ items^T``: writes ``grad^T @ rows`` into ``items_out`` [N, d]
        and returns ``grad @ items`` [R, d] when ``need_rows``."""
        g, r, e = _array(grad), _array(rows), _array(items)
        gi = items_out.detach().numpy()

        def block(a: int, b: int) -> np.ndarray | None:
            np.matmul(g[:, a:b].T, r, out=gi[a:b])
            return g[:, a:b] @ e[a:b] if need_rows else None

        partials = self._run(block, len(e))
        if not need_rows:
            return None
        total = partials[0]
        for partial in partials[1:]:
            total += partial  # type: ignore[operator]
        return torch.from_numpy(total)  # type: ignore[arg-type]


def _array(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().contiguous().numpy()


_active: SplitBlas | None = None


def set_cpu_scoring(backend: str, threads: int = 1) -> None:
    """Choose how float32 CPU tensors are scored: ``"torch"`` (the default) or ``"openblas"``
    on ``threads`` threads. Changes the speed and the float32 rounding, never what is computed."""
    global _active
    if backend not in CPU_SCORING_BACKENDS:
        raise ConfigError(f"unknown CPU scoring backend {backend!r}; choose one of {CPU_SCORING_BACKENDS}")
    if backend == "openblas" and _active is not None and _active.threads == threads:
        return  # keep the running pool: each trainer fit calls this
    _active = SplitBlas(threads) if backend == "openblas" else None


def _fresh_pool_after_fork() -> None:
    """A forked child has none of its parent's threads: give it its own pool."""
    global _active
    if _active is not None:
        _active = SplitBlas(_active.threads)


os.register_at_fork(after_in_child=_fresh_pool_after_fork)


def cpu_scoring() -> str:
    return "torch" if _active is None else "openblas"


def split_for(*tensors: torch.Tensor) -> SplitBlas | None:
    """The active ``SplitBlas`` when it applies to these tensors (float32, on the CPU), else None."""
    if _active is None or not all(t.device.type == "cpu" and t.dtype == torch.float32 for t in tensors):
        return None
    return _active
