"""Import of SR-GNN-format pickles through an unpickler that builds no objects.

The format most public session-based code exchanges: ``all_train_seq.txt`` (a list
of training sessions), ``train.txt`` / ``test.txt`` (``(prefixes, targets)``).
``pickle.load`` would execute whatever a file asks for, so these files are read
with an unpickler that refuses every global: only lists, tuples, ints (and the
bytes/str/float/bool/None literals pickle encodes inline) can come out of it.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from sessionrec.data.dataset import Dataset
from sessionrec.data.sessions import Sessions
from sessionrec.data.vocab import ItemVocab
from sessionrec.errors import DataError

_ALLOWED = (list, tuple, int)


class _NoGlobalsUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        raise DataError(f"refusing to load {module}.{name}: SR-GNN pickles hold only lists, tuples and ints")


def load_restricted(path: str | Path) -> Any:
    """Unpickle ``path``, allowing nothing but nested lists, tuples and ints."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror})") from None
    if not data:
        raise DataError(f"{path}: empty file")
    try:
        value = _NoGlobalsUnpickler(io.BytesIO(data)).load()
    except DataError as exc:
        raise DataError(f"{path}: {exc}") from None
    except Exception as exc:
        raise DataError(f"{path}: not a valid pickle ({type(exc).__name__}: {exc})") from None
    _check_types(value, path)
    return value


def _check_types(value: Any, path: Path) -> None:
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, (list, tuple)):
            stack.extend(node)
        elif not isinstance(node, _ALLOWED) or isinstance(node, bool):
            raise DataError(f"{path}: holds a {type(node).__name__}; only lists, tuples and ints are allowed")


def _as_sessions(value: Any, path: Path) -> list[list[int]]:
    if not isinstance(value, list) or not all(isinstance(s, list) for s in value):
        raise DataError(f"{path}: expected a list of sessions (lists of item ids)")
    return value


def _samples_to_sessions(value: Any, path: Path) -> tuple[list[list[int]], list[int] | None]:
    """Rebuild whole sessions from augmented ``(prefixes, targets)``, longest prefix first.

    Returns the sessions and, where the samples are not exactly the prefix chains of
    whole sessions, the per-sample prefix lengths to keep them as given.
    """
    if not (isinstance(value, (tuple, list)) and len(value) == 2):
        raise DataError(f"{path}: expected a (prefixes, targets) pair")
    prefixes, targets = value
    if len(prefixes) != len(targets):
        raise DataError(f"{path}: {len(prefixes)} prefixes but {len(targets)} targets")
    for row, prefix in enumerate(prefixes):
        if not isinstance(prefix, list) or not prefix:
            raise DataError(f"{path}: sample {row} has an empty or non-list prefix")
    sessions: list[list[int]] = []
    row = 0
    while row < len(prefixes):
        full = prefixes[row] + [targets[row]]
        length = len(prefixes[row])
        chain = all(
            row + j < len(prefixes)
            and prefixes[row + j] == full[: length - j]
            and targets[row + j] == full[length - j]
            for j in range(length)
        )
        if not chain:
            # not a standard augmentation: keep every sample as its own session
            return [[*p, t] for p, t in zip(prefixes, targets, strict=True)], [len(p) for p in prefixes]
        sessions.append(full)
        row += length
    return sessions, None


def import_pickles(directory: str | Path, n_items: int | None = None) -> Dataset:
    """Read ``all_train_seq.txt`` (or ``train.txt``) and ``test.txt`` into a Dataset.

    Item ids are kept as they are (the pickles number items 1..N already), so the
    vocabulary is the identity over 1..max id and external ids equal internal ones.
    """
    directory = Path(directory)
    if (directory / "all_train_seq.txt").is_file():
        train_path = directory / "all_train_seq.txt"
        train_sessions = _as_sessions(load_restricted(train_path), train_path)
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
    largest = max(max(s) for s in train_sessions + test_sessions if s)
    smallest = min(min(s) for s in train_sessions + test_sessions if s)
    if smallest < 1:
        raise DataError(f"{directory}: item ids must start at 1 (0 is padding), found {smallest}")
    n_items = max(largest, n_items or 0)
    vocab = ItemVocab.identity(n_items)
    manifest = {
        "source": "srgnn-pickles",
        "path": str(directory.resolve()),
        "protocol": "as preprocessed by the producer of the pickles",
        "train_file": train_path.name,
    }
    dataset = Dataset.from_sessions(
        Sessions.from_lists(train_sessions), Sessions.from_lists(test_sessions), vocab, manifest
    )
    if cuts is not None:
        test = dataset.test
        cut = np.asarray(cuts, dtype=np.int64)
        dataset = Dataset(
            dataset.train,
            type(test)(test.sessions, np.arange(len(cut), dtype=np.int64), cut, vocab),
            dataset.manifest,
        )
    return dataset
