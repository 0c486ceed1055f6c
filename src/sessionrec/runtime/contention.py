"""A warning when the CPU is already busy: torch's threads then spin against other processes.

torch's intra-op threads busy-wait (OpenMP) for work between operations. With more busy
threads than cores, each wait costs a time slice of someone else's: two training
processes with two threads each on two cores slowed one of them about 30x. Before
training, ``sessionrec train`` (and the accuracy benchmark) reads the 1-minute load
average (``os.getloadavg``) and warns when it plus the threads asked for exceeds the
cores by more than a margin. What to do: one training process per machine with
``--threads`` = the cores, or several with ``--threads 1`` each and
``OMP_WAIT_POLICY=PASSIVE``.
"""

from __future__ import annotations

import logging
import os
import warnings

log = logging.getLogger("sessionrec.runtime")
MARGIN = 0.5  # cores' worth of load tolerated above the machine's size (short bursts, the shell)


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def busy_load() -> float | None:
    """The 1-minute load average, or None where the platform has none."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def contention_message(threads: int, load: float | None, cores: int) -> str | None:
    """The warning for ``threads`` more busy threads on ``cores`` cores under ``load``, or None."""
    if load is None or load + threads <= cores + MARGIN:
        return None
    return (
        f"the CPU is oversubscribed: load average {load:.1f} on {cores} cores, and this run adds "
        f"{threads} torch threads. Training will be many times slower than on an idle machine. Run "
        "one training process at a time with --threads set to the cores, or give each of several "
        "processes --threads 1 and OMP_WAIT_POLICY=PASSIVE."
    )


def warn_if_oversubscribed(threads: int) -> bool:
    """Warn (``warnings`` and the log) when starting ``threads`` threads would oversubscribe."""
    message = contention_message(threads, busy_load(), available_cores())
    if message is None:
        return False
    log.warning(message)
    warnings.warn(message, RuntimeWarning, stacklevel=2)
    return True
