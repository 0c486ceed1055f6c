"""The standard protocol: a hand-worked log, properties on generated logs, the error cases."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st
from srgnn_reference import reference_protocol

from sessionrec.data.protocol import Protocol, apply_protocol
from sessionrec.errors import ConfigError, DataError

DAY = 86_400


def frame(rows: list[tuple], order: bool = False) -> pl.DataFrame:
    columns = ["session", "item", "time", "order"] if order else ["session", "item", "time"]
    return pl.DataFrame([r[: len(columns)] for r in rows], schema=columns, orient="row")


# File order. Worked by hand with min_item_support=2 and a 1-day test window:
#  s2 is a single click: dropped first, so item c (s1 + s2 = 2 raw clicks) is left with 1
#  and becomes rare; z is seen once (rare), which leaves s4 = [a] -> dropped as too short;
#  y is seen twice (kept) but only in test. Max date d5, split date d4: s7, dated exactly
#  d4, is in neither set (strict on both sides).
HAND_LOG = [
    ("s1", "a", 0 * DAY), ("s1", "c", 0 * DAY), ("s1", "b", 0 * DAY),
    ("s2", "c", 0 * DAY),
    ("s3", "b", 1 * DAY), ("s3", "a", 1 * DAY), ("s3", "b", 1 * DAY),
    ("s4", "a", 2 * DAY), ("s4", "z", 2 * DAY),
    ("s7", "a", 4 * DAY), ("s7", "b", 4 * DAY),
    ("s6", "a", 4.5 * DAY), ("s6", "b", 4.5 * DAY),
    ("s5", "b", 5 * DAY), ("s5", "y", 5 * DAY), ("s5", "a", 5 * DAY), ("s5", "y", 5 * DAY),
]  # fmt: skip


def test_hand_worked_log() -> None:
    dataset = apply_protocol(frame(HAND_LOG), Protocol(min_item_support=2, test_days=1), source="hand")
    steps = {s["step"]: (s["rows"], s["sessions"], s["items"]) for s in dataset.manifest["steps"]}
    assert steps == {
        "read": (17, 7, 5),  # a b c z y
        "drop_single_click_sessions": (16, 6, 5),  # s2 gone; c survives in s1
        "drop_rare_items": (14, 6, 3),  # c, z removed (1 click each); a, b: 6 clicks, y: 2
        "drop_short_sessions": (13, 5, 3),  # s4 = [a]
        "train_split": (5, 2, 2),  # s1 [a b], s3 [b a b]
        "test_split": (6, 2, 3),  # s6 [a b], s5 [b y a y]; s7 on the split date in neither
        "test_drop_unseen_items": (4, 2, 2),  # y unseen in training
        "test_drop_short_sessions": (4, 2, 2),
    }
    # items numbered by first appearance in time-sorted training sessions: a -> 1, b -> 2
    assert dataset.vocab.external.tolist() == ["a", "b"]
    assert dataset.train.sessions.to_lists() == [[1, 2], [2, 1, 2]]
    assert dataset.test.sessions.to_lists() == [[1, 2], [2, 1]]  # s6 (d4.5) before s5 (d5)
    assert dataset.train.sessions.times.tolist() == [0.0, DAY]
    assert dataset.manifest["split"] == {"max_date": 5.0 * DAY, "split_date": 4.0 * DAY}
    # prefixes longest first: s1 -> ([a], b); s3 -> ([b a], b), ([b], a)
    assert dataset.train.sample_cut.tolist() == [1, 2, 1]
    assert dataset.train.targets.tolist() == [2, 2, 1]
    assert len(dataset.test) == 2


def test_order_key_ties_and_last_row_date() -> None:
    # q's rows are not contiguous; its date is that of its last row in file order (day 3),
    # not its largest time (day 9); within a session clicks sort by the order key, ties
    # keeping file order. p and r share a date, so they keep first-appearance order.
    rows = [
        ("q", 10, 9 * DAY, 2), ("p", 11, 1 * DAY, 0), ("q", 12, 1 * DAY, 1),
        ("p", 10, 1 * DAY, 0), ("r", 12, 1 * DAY, 5), ("r", 11, 1 * DAY, 4),
        ("q", 11, 3 * DAY, 1), ("t", 10, 20 * DAY, 0), ("t", 11, 20 * DAY, 1),
    ]  # fmt: skip
    dataset = apply_protocol(frame(rows, order=True), Protocol(min_item_support=1, test_days=5), source="x")
    vocab = dataset.vocab.external.tolist()
    train = [[vocab[i - 1] for i in s] for s in dataset.train.sessions.to_lists()]
    assert train == [[11, 10], [11, 12], [12, 11, 10]]  # p, r (day 1) then q (day 3)
    assert vocab == [11, 10, 12]


def test_test_fraction_and_length_cap() -> None:
    # one 2-click session per day 0..10, plus a 4-click one on day 1: with the window a
    # fifth of the 10-day span, the split date is day 8 (days 9, 10 are test, day 8 is
    # neither); the cap of 3 drops the 4-click session after the item filter
    rows = [(f"d{d}", "ab"[k % 2], d * DAY) for d in range(11) for k in range(2)]
    rows += [("long", "a", DAY), ("long", "b", DAY), ("long", "a", DAY), ("long", "b", DAY)]
    protocol = Protocol(min_item_support=1, test_fraction=0.2, max_session_length=3)
    dataset = apply_protocol(frame(rows), protocol, source="x")
    steps = {s["step"]: s["sessions"] for s in dataset.manifest["steps"]}
    assert steps["drop_long_sessions"] == 11
    assert dataset.manifest["split"]["split_date"] == pytest.approx(8 * DAY)
    assert len(dataset.train.sessions) == 8 and len(dataset.test.sessions) == 2


def test_errors_name_the_step() -> None:
    rows = [("a", 1, 0), ("a", 2, 0), ("b", 3, 9 * DAY), ("b", 4, 9 * DAY)]
    with pytest.raises(DataError, match="test_drop_unseen_items"):  # test items 3, 4 never trained
        apply_protocol(frame(rows), Protocol(min_item_support=1, test_days=1), source="x")
    with pytest.raises(DataError, match="train_split"):  # a 30-day window leaves no training session
        apply_protocol(frame(rows), Protocol(min_item_support=1, test_days=30), source="x")
    with pytest.raises(DataError, match="drop_rare_items"):
        apply_protocol(frame(rows), Protocol(min_item_support=5, test_days=1), source="x")
    with pytest.raises(DataError, match="empty"):
        apply_protocol(frame(rows).head(0), Protocol(), source="x")
    with pytest.raises(ConfigError, match="test_fraction"):
        Protocol(test_fraction=1.5)


@st.composite
def click_logs(draw: st.DrawFn) -> tuple[list[tuple], bool]:
    """Up to 25 sessions of 1-6 clicks over 8 items, dated over 12 days, rows shuffled."""
    rows = []
    for session in range(draw(st.integers(1, 25))):
        day = draw(st.integers(0, 12))
        for _ in range(draw(st.integers(1, 6))):
            hour = draw(st.integers(0, 2))  # few distinct times: many ties
            rows.append((session, draw(st.integers(0, 7)), day * DAY + hour * 3600, draw(st.integers(0, 3))))
    return draw(st.permutations(rows)), draw(st.booleans())


@settings(max_examples=150, deadline=None)
@given(log=click_logs(), date_of=st.sampled_from(["last", "max"]), test_days=st.sampled_from([1, 3]))
def test_protocol_matches_reference_and_invariants(
    log: tuple[list[tuple], bool], date_of: str, test_days: int
) -> None:
    rows, use_order = log
    protocol = Protocol(min_item_support=2, test_days=test_days, session_date=date_of)
    reference = reference_protocol(
        [(s, i, t, o if use_order else None) for s, i, t, o in rows], test_days * DAY, 2, date_of=date_of
    )
    event("no train or no test" if not reference.train or not reference.test else "full comparison")
    if not reference.train or not reference.test:
        with pytest.raises(DataError):
            apply_protocol(frame(rows, order=use_order), protocol, source="gen")
        return
    dataset = apply_protocol(frame(rows, order=use_order), protocol, source="gen")
    vocab = dataset.vocab.external.tolist()
    assert vocab == reference.vocab
    assert [[vocab[i - 1] for i in s] for s in dataset.train.sessions.to_lists()] == reference.train
    assert [[vocab[i - 1] for i in s] for s in dataset.test.sessions.to_lists()] == reference.test
    assert {s["step"]: (s["rows"], s["sessions"], s["items"]) for s in dataset.manifest["steps"]} == (
        reference.steps
    )
    train, test = dataset.train.sessions, dataset.test.sessions
    assert train.times.max() < dataset.manifest["split"]["split_date"] < test.times.min()
    assert np.all(np.diff(train.times) >= 0) and np.all(np.diff(test.times) >= 0)
    assert set(test.items.tolist()) <= set(train.items.tolist())
    assert len(dataset.train) == int((train.lengths - 1).sum())
    assert len(dataset.test) == int((test.lengths - 1).sum())
    _, first = np.unique(train.items, return_index=True)  # first position of items 1..n
    assert np.array_equal(train.items[np.sort(first)], np.arange(1, dataset.n_items + 1))
