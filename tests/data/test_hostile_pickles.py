"""Hostile SR-GNN pickles: each ends in one clear DataError, fast and in little memory, or imports.

The cases the issue found (a 25-byte cycle, a 400 KB file expanding to 2x10^8 ints
through the memo, item ids of 10^8 and 10^12) plus hypothesis-generated ones:
random opcode streams, and random list graphs with shared parts and cycles.
"""

from __future__ import annotations

import pickle
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sessionrec.data.pickles import import_pickles, load_restricted
from sessionrec.data.restricted_pickle import ELEMENTS_PER_BYTE, MIN_ELEMENTS, expanded_size
from sessionrec.errors import DataError


def write(path: Path, value: Any = None, raw: bytes | None = None) -> Path:
    path.write_bytes(raw if raw is not None else pickle.dumps(value, protocol=4))
    return path


def test_self_referencing_list_is_a_cycle(tmp_path: Path) -> None:
    loop: list[Any] = [1]
    loop.append(loop)
    path = write(tmp_path / "test.txt", loop)
    assert path.stat().st_size < 30
    with pytest.raises(DataError, match=r"test\.txt: a list contains itself \(a cycle\)"):
        load_restricted(path)


def test_a_cycle_through_a_tuple(tmp_path: Path) -> None:
    inner: list[Any] = [1, 2]
    outer = ([inner], [3])
    inner.append(outer)
    with pytest.raises(DataError, match="contains itself"):
        load_restricted(write(tmp_path / "test.txt", outer))


def test_a_list_repeated_through_the_memo_is_refused_quickly(tmp_path: Path) -> None:
    shared = list(range(1, 1001))
    path = write(tmp_path / "all_train_seq.txt", [shared] * 200_000)  # 2x10^8 ints once expanded
    assert path.stat().st_size < 500_000
    started = time.perf_counter()
    with pytest.raises(
        DataError, match=r"holds more than [\d,]+ elements once shared references are expanded"
    ):
        load_restricted(path)
    assert time.perf_counter() - started < 5.0  # minutes before the cap


def test_some_sharing_within_the_cap_is_fine() -> None:
    shared = [1, 2, 3]
    assert expanded_size([shared, shared, [shared]], limit=100) == 1 + 4 + 4 + (1 + 4)
    with pytest.raises(DataError, match="more than 12 elements"):
        expanded_size([shared, shared, [shared]], limit=12)


def test_a_huge_memo_index_is_refused_before_unpickling(tmp_path: Path) -> None:
    # EMPTY_LIST, LONG_BINPUT 2^31-1, STOP: the unpickler would size its memo table by the index
    path = write(tmp_path / "test.txt", raw=b"\x80\x04]r\xff\xff\xff\x7f.")
    with pytest.raises(DataError, match=r"memo index 2147483647 at opcode 2 is out of range"):
        load_restricted(path)


def test_dict_keys_are_refused_before_anything_is_hashed(tmp_path: Path) -> None:
    nested: tuple[Any, ...] = (1,)
    for _ in range(80):  # hashing this tuple would visit 2^80 leaves
        nested = (nested, nested)
    # {nested: 1}, written by hand (building it here would hash it): EMPTY_DICT, key, value, SETITEM
    raw = b"\x80\x02}" + pickle.dumps(nested, protocol=2)[2:-1] + b"K\x01s."
    assert len(raw) < 2000
    started = time.perf_counter()
    with pytest.raises(DataError, match=r"holds a dict; only lists, tuples and ints are allowed"):
        load_restricted(write(tmp_path / "test.txt", raw=raw))
    assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize("largest", [10**8, 10**12, 2**63 - 1])
def test_large_item_ids_map_sparsely(tmp_path: Path, largest: int) -> None:
    write(tmp_path / "all_train_seq.txt", [[1, largest, 7], [7, largest]])
    write(tmp_path / "test.txt", ([[7, 1], [7]], [largest, 1]))
    dataset = import_pickles(tmp_path)
    assert dataset.n_items == 3 and dataset.vocab.external.tolist() == [1, 7, largest]
    assert dataset.manifest["catalogue"] == "ids present (mapped sparsely)"
    assert dataset.train.sessions.to_lists() == [[1, 3, 2], [2, 3]]
    assert dataset.test.sessions.to_lists() == [[2, 1, 3]]
    assert dataset.vocab.decode(dataset.test.sessions.to_lists()[0]) == [7, 1, largest]


@pytest.mark.parametrize(
    ("train", "message"),
    [
        ([[1, 2**63]], r"item id 9223372036854775808 is above 2\^63-1 \(session 0, position 1\)"),
        ([[1, 2], [3, 10**5000]], r"item id of 16,610 bits is above 2\^63-1 \(session 1, position 1\)"),
        ([[1, 0]], r"item ids must start at 1 \(0 is padding\), found 0 \(session 0, position 1\)"),
        ([[1], [2, [3]]], r"session 1, position 1: item ids are integers, got a list"),
        ([[1], (2, 3)], r"expected a list of sessions"),
    ],
)
def test_bad_training_sessions_get_one_error(tmp_path: Path, train: Any, message: str) -> None:
    write(tmp_path / "all_train_seq.txt", train)
    write(tmp_path / "test.txt", ([[1]], [2]))
    with pytest.raises(DataError, match=message):
        import_pickles(tmp_path)


def test_bad_test_samples_get_one_error(tmp_path: Path) -> None:
    write(tmp_path / "all_train_seq.txt", [[1, 2]])
    for samples, message in [
        (([[1]], [2, 3]), "1 prefixes but 2 targets"),
        (([[1], []], [2, 3]), "sample 1 has an empty prefix"),
        (([[1]], [[2]]), r"target 0: item ids are integers, got a list"),
        (([[1]],), r"expected a \(prefixes, targets\) pair"),
    ]:
        write(tmp_path / "test.txt", samples)
        with pytest.raises(DataError, match=message):
            import_pickles(tmp_path)


# -- generated --------------------------------------------------------------------------
HOSTILE = settings(max_examples=200, deadline=2000, suppress_health_check=[HealthCheck.too_slow])


@HOSTILE
@given(body=st.binary(max_size=200), protocol=st.sampled_from([b"", b"\x80\x02", b"\x80\x04", b"\x80\x05"]))
def test_random_opcode_streams_load_or_fail_cleanly(
    tmp_path_factory: Any, body: bytes, protocol: bytes
) -> None:
    path = tmp_path_factory.mktemp("p") / "test.txt"
    path.write_bytes(protocol + body)
    try:
        value = load_restricted(path)
    except DataError as exc:
        assert str(exc).startswith(str(path))
        return
    assert expanded_size(value, max(ELEMENTS_PER_BYTE * len(protocol + body), MIN_ELEMENTS)) >= 1


@st.composite
def list_graphs(draw: st.DrawFn) -> list[Any]:
    """Lists that share parts (by reference, as the memo does) and may point back at themselves."""
    nodes: list[list[Any]] = [[]]
    for _ in range(draw(st.integers(1, 12))):
        node: list[Any] = []
        for _ in range(draw(st.integers(0, 6))):
            if draw(st.booleans()):
                node.append(draw(st.integers(-3, 2**70)))
            else:
                node.append(nodes[draw(st.integers(0, len(nodes) - 1))])
        nodes.append(node)
    if draw(st.booleans()):  # close a cycle
        nodes[draw(st.integers(0, len(nodes) - 1))].append(nodes[-1])
    return nodes[-1]


@HOSTILE
@given(train=list_graphs(), test=list_graphs(), repeat=st.integers(1, 50_000))
def test_generated_list_graphs_import_or_fail_cleanly(
    tmp_path_factory: Any, train: list[Any], test: list[Any], repeat: int
) -> None:
    directory = tmp_path_factory.mktemp("d")
    write(directory / "all_train_seq.txt", [train] * repeat)  # the whole graph shared `repeat` times
    write(directory / "test.txt", (test, test))
    try:
        dataset = import_pickles(directory)
    except DataError as exc:
        assert str(exc).startswith(str(directory))
        return
    assert 1 <= dataset.n_items <= len(dataset.train.sessions.items) + len(dataset.test.sessions.items)
