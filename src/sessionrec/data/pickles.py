"""Import of SR-GNN-format pickles: restricted unpickling, shape checks, a sparse-safe vocabulary.

The format most public session-based code exchanges: ``all_train_seq.txt`` (a list
of training sessions), ``train.txt`` / ``test.txt`` (``(prefixes, targets)``).
Files are read by :func:`~sessionrec.data.restricted_pickle.load_restricted` (no
code runs; bounded time and memory), then checked for the expected shapes: each
session a list of item ids, each id an integer in 1..2^63-1.

Catalogue: SR-GNN's pickles number items 1..N from a dictionary, and the papers rank
all N, so the catalogue is 1..largest id (external id = internal index) as long as
the largest id is no more than the clicks in the files. A larger id cannot size any
array: the catalogue is then the ids that occur, mapped sparsely to 1..N (the
manifest's ``catalogue`` says which).
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np

from sessionrec.data.dataset import Dataset
from sessionrec.data.restricted_pickle import load_restricted
from sessionrec.data.sessions import Sessions
from sessionrec.data.vocab import ItemVocab
from sessionrec.errors import DataError

__all__ = ["import_pickles", "load_restricted"]
MAX_ITEM_ID = 2**63 - 1


def _check_ids(values: list[Any], path: Path, where: Callable[[int], str]) -> None:
    """Every value an int in 1..MAX_ITEM_ID; else one error naming the first offender."""
    if all(type(v) is int and 0 < v <= MAX_ITEM_ID for v in values):
        return
    position, bad = next(
        (i, v) for i, v in enumerate(values) if not (type(v) is int and 0 < v <= MAX_ITEM_ID)
    )
    if type(bad) is not int:
        raise DataError(f"{path}: {where(position)}: item ids are integers, got a {type(bad).__name__}")
    if bad < 1:
        raise DataError(f"{path}: item ids must start at 1 (0 is padding), found {bad} ({where(position)})")
    shown = bad if bad.bit_length() <= 128 else f"of {bad.bit_length():,} bits"  # never print 10^5000
    raise DataError(f"{path}: item id {shown} is above 2^63-1 ({where(position)})")


def _check_sessions(value: Any, path: Path, name: str = "session") -> list[list[int]]:
    if not isinstance(value, list) or not all(type(s) is list for s in value):
        raise DataError(f"{path}: expected a list of {name}s (lists of item ids)")
    flat = list(chain.from_iterable(value))
    bounds = np.cumsum([len(s) for s in value])

    def where(position: int) -> str:
        row = int(np.searchsorted(bounds, position, side="right"))
        return f"{name} {row}, position {position - (int(bounds[row - 1]) if row else 0)}"

    _check_ids(flat, path, where)
    return value


def _check_samples(value: Any, path: Path) -> tuple[list[list[int]], list[int]]:
    if not (isinstance(value, (tuple, list)) and len(value) == 2):
        raise DataError(f"{path}: expected a (prefixes, targets) pair")
    prefixes, targets = value
    if not isinstance(targets, list):
        raise DataError(f"{path}: expected a list of targets (item ids)")
    prefixes = _check_sessions(prefixes, path, "prefix")
    if len(prefixes) != len(targets):
        raise DataError(f"{path}: {len(prefixes)} prefixes but {len(targets)} targets")
    for row, prefix in enumerate(prefixes):
        if not prefix:
            raise DataError(f"{path}: sample {row} has an empty prefix")
    _check_ids(targets, path, lambda row: f"target {row}")
    return prefixes, targets


def _samples_to_sessions(value: Any, path: Path) -> tuple[list[list[int]], list[int] | None]:
    """Rebuild whole sessions from augmented ``(prefixes, targets)``, longest prefix first.

    Returns the sessions and, where the samples are not exactly the prefix chains of
    whole sessions, the per-sample prefix lengths to keep them as given.
    """
    prefixes, targets = _check_samples(value, path)
    sessions: list[list[int]] = []
    row = 0
    while row < len(prefixes):
        full = prefixes[row] + [targets[row]]
        length = len(prefixes[row])
        chain_ = all(
            row + j < len(prefixes)
            and prefixes[row + j] == full[: length - j]
            and targets[row + j] == full[length - j]
            for j in range(length)
        )
        if not chain_:
            # not a standard augmentation: keep every sample as its own session
            return [[*p, t] for p, t in zip(prefixes, targets, strict=True)], [len(p) for p in prefixes]
        sessions.append(full)
        row += length
    return sessions, None


def _flat(sessions: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    lengths = np.fromiter(map(len, sessions), dtype=np.int64, count=len(sessions))
    return lengths, np.fromiter(chain.from_iterable(sessions), dtype=np.int64, count=int(lengths.sum()))


def _catalogue(ids: np.ndarray, n_items: int | None) -> tuple[ItemVocab, np.ndarray | None, str]:
    """The vocabulary, the sorted external ids when mapped sparsely (else None), and its label."""
    largest = int(ids.max())
    if largest <= max(len(ids), n_items or 0):  # an identity array no larger than the data
        return ItemVocab.identity(max(largest, n_items or 0)), None, "1..largest id"
    present = np.unique(ids)
    return ItemVocab(present), present, "ids present (mapped sparsely)"


def _sessions(lengths: np.ndarray, ids: np.ndarray, present: np.ndarray | None) -> Sessions:
    internal = ids if present is None else np.searchsorted(present, ids) + 1
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return Sessions(offsets, internal.astype(np.int32), np.arange(len(lengths), dtype=np.float64))


def import_pickles(directory: str | Path, n_items: int | None = None) -> Dataset:
    """Read ``all_train_seq.txt`` (or ``train.txt``) and ``test.txt`` into a Dataset.

    ``n_items`` extends the catalogue to 1..n_items (a producer's ``n_node - 1``).
    """
    directory = Path(directory)
    if (directory / "all_train_seq.txt").is_file():
        train_path = directory / "all_train_seq.txt"
        train_sessions = _check_sessions(load_restricted(train_path), train_path)
    elif (directory / "train.txt").is_file():
        train_path = directory / "train.txt"
        train_sessions, _ = _samples_to_sessions(load_restricted(train_path), train_path)
    else:
        raise DataError(f"{directory}: neither all_train_seq.txt nor train.txt found")
    test_path = directory / "test.txt"
    if not test_path.is_file():
        raise DataError(f"{directory}: test.txt not found")
    test_sessions, cuts = _samples_to_sessions(load_restricted(test_path), test_path)
    if not test_sessions:
        raise DataError(f"{test_path}: no test samples")
    (train_lengths, train_ids), (test_lengths, test_ids) = _flat(train_sessions), _flat(test_sessions)
    vocab, present, catalogue = _catalogue(np.concatenate([train_ids, test_ids]), n_items)
    manifest = {
        "source": "srgnn-pickles",
        "path": str(directory.resolve()),
        "protocol": "as preprocessed by the producer of the pickles",
        "train_file": train_path.name,
        "catalogue": catalogue,
    }
    train = _sessions(train_lengths, train_ids, present)
    test = _sessions(test_lengths, test_ids, present)
    dataset = Dataset.from_sessions(train, test, vocab, manifest)
    if cuts is not None:  # each sample its own session, cut where the file cut it
        split = dataset.test
        cut = np.asarray(cuts, dtype=np.int64)
        kept = type(split)(split.sessions, np.arange(len(cut), dtype=np.int64), cut, vocab)
        dataset = Dataset(dataset.train, kept, dataset.manifest)
        dataset.manifest["stats"] = dataset.stats()  # the figures of the samples as kept
    return dataset
