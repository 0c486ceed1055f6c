"""Shared fixtures: a small deterministic synthetic dataset with a known next-item rule.

The rule: item k is followed by item (k + 1) mod n_items with probability
``1 - noise``, otherwise by a uniformly random item. A model that learns
sequential patterns ranks the successor of the last click first; a model that
only learns co-occurrence ranks it among the last click's close neighbours.

External ids are strings ``"p000"..`` and the internal indices are a shuffled
assignment of them, so a model that confuses the two spaces fails the tests.
"""

from __future__ import annotations

import functools
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch

from sessionrec.data.dataset import Dataset
from sessionrec.data.sessions import Sessions, Split
from sessionrec.data.vocab import ItemVocab

SHARED_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"

# The suite runs one pytest worker per core: more torch threads than that only make
# the workers' threads spin against each other (tiny models train 10-100x slower).
torch.set_num_threads(1)
# prepared structures that models cache on disk go to a throw-away folder, not ~/.cache
os.environ["SESSIONREC_CACHE_DIR"] = tempfile.mkdtemp(prefix="sessionrec-test-cache-")


def external_id(k: int) -> str:
    return f"p{k:03d}"


@functools.cache
def synthetic_dataset(
    n_items: int = 30,
    n_train: int = 400,
    n_test: int = 80,
    noise: float = 0.1,
    max_length: int = 8,
    seed: int = 0,
) -> Dataset:
    """Sessions following ``k -> k + 1 (mod n_items)`` with some noise; cached (treat as read-only)."""
    rng = np.random.default_rng(seed)
    permutation = rng.permutation(n_items)  # external k has internal index permutation[k] + 1
    vocab = ItemVocab(np.array([external_id(k) for k in np.argsort(permutation)]))

    def session() -> list[int]:
        length = int(rng.integers(2, max_length + 1))
        items = [int(rng.integers(n_items))]
        for _ in range(length - 1):
            jump = rng.random() < noise
            items.append(int(rng.integers(n_items)) if jump else (items[-1] + 1) % n_items)
        return [int(permutation[k]) + 1 for k in items]

    train = Sessions.from_lists([session() for _ in range(n_train)])
    test_lists = [session() for _ in range(n_test)]
    test = Sessions.from_lists(test_lists, times=np.arange(n_train, n_train + n_test, dtype=np.float64))
    return Dataset.from_sessions(train, test, vocab, {"source": "synthetic", "seed": seed})


def tiny_split(sessions: list[list[int]], n_items: int, times: list[float] | None = None) -> Split:
    """Hand-written sessions of internal indices over an identity vocabulary 1..n_items."""
    return Split.augmented(Sessions.from_lists(sessions, times), ItemVocab.identity(n_items))


def successor(external: str, n_items: int = 30) -> str:
    """The item the synthetic rule puts after ``external``."""
    return external_id((int(external[1:]) + 1) % n_items)


@pytest.fixture(scope="session")
def synthetic() -> Dataset:
    return synthetic_dataset()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared benchmark folder; tests that need it are skipped where it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared benchmark data not found at {SHARED_DATA}")
    return SHARED_DATA
