"""SR-GNN pickles: malicious files are refused, nothing runs; the real benchmarks import exactly."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest

from sessionrec.data.pickles import import_pickles, load_restricted
from sessionrec.errors import DataError


class _RunsAShellCommand:
    """Unpickling this with plain ``pickle.load`` would run ``touch <marker>``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return os.system, (f"touch {self.marker}",)


class _Session:
    def __init__(self) -> None:
        self.items = [1, 2, 3]


def test_reduce_to_os_system_is_refused_and_not_run(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "all_train_seq.txt"
    path.write_bytes(pickle.dumps([[1, 2], _RunsAShellCommand(marker)]))
    assert b"system" in path.read_bytes()  # the payload really is in the file
    with pytest.raises(DataError, match=r"all_train_seq\.txt: refusing to load (posix|os)\.system"):
        load_restricted(path)
    assert not marker.exists()


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ({1, 2, 3}, "set"),  # built by pickle opcodes alone, no global involved
        ([[1, 2], {"items": [1]}], "dict"),
        ([[1, 2.5]], "float"),
    ],
)
def test_non_list_values_are_refused(tmp_path: Path, value: object, kind: str) -> None:
    path = tmp_path / "test.txt"
    path.write_bytes(pickle.dumps(value, protocol=4))
    with pytest.raises(DataError, match=rf"test\.txt: holds a {kind}; only lists, tuples and ints"):
        load_restricted(path)


def test_object_instances_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "test.txt"
    path.write_bytes(pickle.dumps([_Session()]))
    with pytest.raises(DataError, match=r"refusing to load .*_Session"):
        load_restricted(path)


def test_truncated_and_empty_pickles(tmp_path: Path) -> None:
    path = tmp_path / "test.txt"
    path.write_bytes(pickle.dumps([[1, 2, 3]])[:-3])
    with pytest.raises(DataError, match="not a valid pickle"):
        load_restricted(path)
    path.write_bytes(b"")
    with pytest.raises(DataError, match="empty file"):
        load_restricted(path)


def test_small_import_rebuilds_sessions(tmp_path: Path) -> None:
    # test.txt holds augmented prefixes, longest first: [4 5 6] -> ([4 5], 6), ([4], 5)
    (tmp_path / "all_train_seq.txt").write_bytes(pickle.dumps([[1, 2, 3], [2, 3]]))
    (tmp_path / "test.txt").write_bytes(pickle.dumps(([[4, 5], [4]], [6, 5])))
    dataset = import_pickles(tmp_path)
    assert dataset.train.sessions.to_lists() == [[1, 2, 3], [2, 3]]
    assert dataset.test.sessions.to_lists() == [[4, 5, 6]]
    assert (len(dataset.train), len(dataset.test), dataset.n_items) == (3, 2, 6)


def test_import_diginetica(benchmarks: Path) -> None:
    dataset = import_pickles(benchmarks / "diginetica")
    # SR-GNN's Table 1: 719,470 training and 60,858 test samples, 43,097 items
    assert (len(dataset.train), len(dataset.test), dataset.n_items) == (719_470, 60_858, 43_097)
    assert len(dataset.train.sessions) == 186_670


def test_import_yoochoose_1_64(benchmarks: Path) -> None:
    dataset = import_pickles(benchmarks / "yoochoose1_64")
    assert (len(dataset.train), len(dataset.test)) == (369_859, 55_898)
    # ids of the full Yoochoose dictionary (up to 37,483 in test), 17,376 of them trained
    assert dataset.stats()["items_in_train"] == 17_376


def test_samples_that_are_not_chains_are_counted_as_kept(tmp_path: Path) -> None:
    # RetailRocket-style test.txt: last-item samples only, no prefix chains -> one session each
    (tmp_path / "all_train_seq.txt").write_bytes(pickle.dumps([[1, 2, 3], [2, 3]]))
    (tmp_path / "test.txt").write_bytes(pickle.dumps(([[1, 2, 3], [4, 5]], [4, 6])))
    dataset = import_pickles(tmp_path)
    assert dataset.test.sessions.to_lists() == [[1, 2, 3, 4], [4, 5, 6]]
    assert dataset.test.prefix_lengths.tolist() == [3, 2]  # the samples as given, not re-augmented
    stats = dataset.manifest["stats"]
    assert stats == dataset.stats()
    # clicks 5 + 7, test samples 2 (not the 5 a re-augmentation would count), length 12 / 4
    assert (stats["clicks"], stats["test_samples"], stats["avg_length"]) == (12, 2, 3.0)
