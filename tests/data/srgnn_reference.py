"""A plain-Python re-implementation of SR-GNN's preprocessing, to check the Polars one against.

Written straight from the step list (notes 1.1) with dicts and lists, one click at
a time, sharing no code with ``sessionrec.data.protocol``: if both give the same
sessions, vocabulary and per-step counts, the vectorised version follows the steps.
"""

from __future__ import annotations

import calendar
import csv
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

Row = tuple[object, object, float, float | None]  # session, item, time, order key (or None)


@dataclass
class Reference:
    steps: dict[str, tuple[int, int, int]] = field(default_factory=dict)  # step -> rows, sessions, items
    train: list[list[object]] = field(default_factory=list)  # external ids, time-sorted
    test: list[list[object]] = field(default_factory=list)
    vocab: list[object] = field(default_factory=list)  # external id of internal 1, 2, ...


def _count(sessions: dict[object, list[object]]) -> tuple[int, int, int]:
    clicks = [i for seq in sessions.values() for i in seq]
    return len(clicks), sum(1 for seq in sessions.values() if seq), len(set(clicks))


def reference_protocol(
    rows: Iterable[Row],
    test_seconds: float,
    min_support: int = 5,
    max_length: int | None = None,
    date_of: str = "last",
) -> Reference:
    out = Reference()
    clicks: dict[object, list[tuple[object, float | None, int]]] = {}
    dates: dict[object, float] = {}
    for position, (session, item, stamp, order) in enumerate(rows):
        clicks.setdefault(session, []).append((item, order, position))
        if date_of == "last" or session not in dates:
            dates[session] = stamp  # the last row read wins
        else:
            dates[session] = max(dates[session], stamp)
    # within a session: by order key when there is one (Python's sort is stable: file order on ties)
    sessions = {
        s: [c[0] for c in (sorted(seq, key=lambda c: c[1]) if seq[0][1] is not None else seq)]
        for s, seq in clicks.items()
    }
    out.steps["read"] = _count(sessions)
    sessions = {s: seq for s, seq in sessions.items() if len(seq) > 1}
    out.steps["drop_single_click_sessions"] = _count(sessions)
    support: dict[object, int] = {}
    for seq in sessions.values():
        for item in seq:
            support[item] = support.get(item, 0) + 1
    sessions = {s: [i for i in seq if support[i] >= min_support] for s, seq in sessions.items()}
    out.steps["drop_rare_items"] = _count(sessions)
    sessions = {s: seq for s, seq in sessions.items() if len(seq) >= 2}
    out.steps["drop_short_sessions"] = _count(sessions)
    if max_length is not None:
        sessions = {s: seq for s, seq in sessions.items() if len(seq) <= max_length}
        out.steps["drop_long_sessions"] = _count(sessions)
    if not sessions:
        return out
    split = max(dates[s] for s in sessions) - test_seconds
    train_ids = sorted((s for s in sessions if dates[s] < split), key=lambda s: dates[s])
    test_ids = sorted((s for s in sessions if dates[s] > split), key=lambda s: dates[s])
    out.steps["train_split"] = _count({s: sessions[s] for s in train_ids})
    out.steps["test_split"] = _count({s: sessions[s] for s in test_ids})
    known: set[object] = set()
    for s in train_ids:
        out.train.append(sessions[s])
        for item in sessions[s]:
            if item not in known:
                known.add(item)
                out.vocab.append(item)
    seen = {s: [i for i in sessions[s] if i in known] for s in test_ids}
    out.steps["test_drop_unseen_items"] = _count(seen)
    out.test = [seq for seq in seen.values() if len(seq) >= 2]
    out.steps["test_drop_short_sessions"] = _count({k: v for k, v in enumerate(out.test)})
    return out


def diginetica_rows(path: Path) -> list[Row]:
    """Rows of a train-item-views.csv as SR-GNN's DictReader sees them (dates at day resolution, UTC)."""
    rows: list[Row] = []
    with path.open(newline="") as handle:
        for record in csv.DictReader(handle, delimiter=";"):
            day = calendar.timegm(time.strptime(record["eventdate"], "%Y-%m-%d"))
            rows.append((record["session_id"], int(record["item_id"]), day, int(record["timeframe"])))
    return rows


def yoochoose_rows(path: Path) -> list[Row]:
    """Rows of yoochoose-clicks.dat: seconds from ``timestamp[:19]`` (UTC), file order within a session."""
    rows: list[Row] = []
    with path.open(newline="") as handle:
        for session, stamp, item, _category in csv.reader(handle):
            seconds = calendar.timegm(time.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S"))
            rows.append((session, int(item), seconds, None))
    return rows


def retailrocket_rows(path: Path) -> list[Row]:
    """Rows of the sessionised RetailRocket sample; clicks ordered by timestamp."""
    rows: list[Row] = []
    with path.open(newline="") as handle:
        for record in csv.DictReader(handle, delimiter="\t"):
            stamp = int(record["timestamp"])
            rows.append((record["session_id"], int(record["item_id"]), stamp, stamp))
    return rows
