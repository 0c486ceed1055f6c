"""Floating-point settings of every CPU computation the package runs.

**Subnormal floats are flushed to zero.** As training proceeds, gradients, Adam's second
moments and low scores underflow into subnormal float32 values (below about 1.18e-38),
and x86 CPUs run arithmetic on those through a microcode assist many times slower than
on normal values: a training epoch can slow down several-fold as it goes on, and a full
ranking with it (``benchmarks/denormals.py`` measures both). ``torch.set_flush_denormal``
sets the CPU's flush-to-zero (results) and denormals-are-zero (inputs) modes.

What it changes numerically: a float32 value below about 1.18e-38 in magnitude (1e-308 in
float64) becomes 0 wherever it is read or produced. Such values carry no weight in any
score, loss or update of these models (Adam's update divides by sqrt(v) + eps with
eps = 1e-8); runs stay deterministic and a resumed run bit-identical to an uninterrupted
one, since every process of a run applies the same rule.

Where it applies: the mode is a per-thread CPU register that a new thread copies from the
thread that creates it. torch's intra-op (OpenMP) workers are created by the first
parallel operation, so ``import sessionrec`` applies the setting before anything of the
package runs (``sessionrec/__init__.py``): the trainer, evaluation, the service, the CLI,
the demo and the benchmarks all inherit it, and so do threads they start. Threads that
existed before the import keep their mode: a program that ran parallel torch work before
importing ``sessionrec`` is warned by the trainer (``check_flushed``). NumPy's own
OpenBLAS threads start when NumPy is imported (by torch), so dense NumPy products spread
over OpenBLAS's threads may still meet subnormals; the package's hot paths run in torch or
single-threaded OpenBLAS on threads of its own.

Opt out with the environment variable ``SESSIONREC_KEEP_DENORMALS=1`` (set before Python
starts): IEEE gradual underflow everywhere, as plain PyTorch computes.
"""

from __future__ import annotations

import functools
import os
import threading
import warnings

import torch

KEEP_DENORMALS_ENV = "SESSIONREC_KEEP_DENORMALS"
_SUBNORMAL_BITS = 0x00400000  # a float32 subnormal, about 5.9e-39 (the smallest normal is 1.18e-38)
_PROBE_SIZE = 1 << 18  # large enough that torch splits it across its intra-op threads


def flush_requested() -> bool:
    """Whether this process should flush subnormals (the default; the environment can opt out)."""
    return os.environ.get(KEEP_DENORMALS_ENV, "").strip().lower() not in ("1", "true", "yes")


def apply_flush_denormal() -> bool:
    """Set the mode on the calling thread as requested; True when subnormals are flushed.

    Returns False on CPUs without the mode (torch reports it unsupported) or when opted out.
    """
    return bool(torch.set_flush_denormal(flush_requested()))


def subnormals_survive() -> int:
    """How many of a parallel product's subnormal results survive: 0 when every torch thread
    that took part flushes them (a probe of the calling thread and torch's workers)."""
    # built and read as bits: a float constant or comparison would itself be flushed
    values = torch.full((_PROBE_SIZE,), _SUBNORMAL_BITS, dtype=torch.int32).view(torch.float32)
    return int(torch.count_nonzero((values * 1.0).view(torch.int32)))


def flushed_everywhere() -> bool:
    """True when the calling thread, torch's intra-op workers and a new Python thread all flush."""
    seen: list[int] = []
    thread = threading.Thread(target=lambda: seen.append(subnormals_survive()))
    thread.start()
    thread.join()
    return subnormals_survive() == 0 and seen == [0]


def status() -> dict[str, bool]:
    """What a run records about its numerics (run.json, the service's model info)."""
    return {"flush_denormal": flush_requested(), "denormals_flushed": flushed_everywhere()}


@functools.cache
def check_flushed() -> bool:
    """Warn once per process when flushing was asked for but some torch thread does not flush."""
    if not flush_requested() or flushed_everywhere():
        return True
    warnings.warn(
        "subnormal floats are not flushed on every torch thread: torch's worker threads were "
        "started before `import sessionrec` set the mode, and training may slow down several "
        f"times as it goes on. Import sessionrec before running torch work (or set "
        f"{KEEP_DENORMALS_ENV}=1 to silence this and keep IEEE underflow).",
        RuntimeWarning,
        stacklevel=2,
    )
    return False


def cpu_has_native_bf16() -> bool:
    """Whether this CPU multiplies bfloat16 natively (else torch emulates it, slowly)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False
