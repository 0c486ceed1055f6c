"""OpenMP's wait policy for the split-OpenBLAS scoring backend, chosen before torch loads.

After each parallel region torch's OpenMP workers spin for a while before they sleep.
With ``--cpu-scoring openblas`` the scoring products run on their own threads right
after torch's ops, and a spinning worker takes a core from them: on the 2-core machine
of ``benchmarks/openmp_wait_policy.py`` ``OMP_WAIT_POLICY=PASSIVE`` made TAGNN's training
step 1.15x faster with that backend, and SR-GNN's step about 5% slower with torch's
own (whose back-to-back parallel ops gain from the spinning). OpenMP reads the policy
once, when torch loads, which is before a command's options are parsed: hence a look
at the raw arguments. A policy already in the environment is left alone.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

OPTION = "--cpu-scoring"


def asks_for_openblas(argv: Sequence[str]) -> bool:
    """Whether ``argv`` chooses the OpenBLAS backend (``--cpu-scoring openblas`` or ``=openblas``)."""
    for index, token in enumerate(argv):
        if token == f"{OPTION}=openblas":
            return True
        if token == OPTION and index + 1 < len(argv) and argv[index + 1] == "openblas":
            return True
    return False


def prefer_passive_wait(argv: Sequence[str]) -> bool:
    """Set ``OMP_WAIT_POLICY=PASSIVE`` when ``argv`` asks for the OpenBLAS backend, unless
    a policy is already set or torch is already loaded (too late to matter). Returns
    whether it set the policy."""
    if "OMP_WAIT_POLICY" in os.environ or "torch" in sys.modules or not asks_for_openblas(argv):
        return False
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    return True
