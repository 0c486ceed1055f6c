"""The standard preprocessing protocol of the SR-GNN family, on Polars.

Input: one row per click, in file order, with columns ``session``, ``item``, ``time``
(epoch seconds; day-resolution sources give the day's midnight) and optionally
``order`` (a key that orders clicks within a session, e.g. Diginetica's timeframe).
The steps run in the order of SR-GNN's ``preprocess.py``, because the order changes
the result (the filters are a single pass, not a fixed point):

1. session date = ``time`` of the session's last row in file order (or its latest
   click, ``session_date="max"``, for logs whose rows are not time-ordered);
2. drop sessions of one raw click; 3. count items over the remaining clicks and drop
   items seen fewer than ``min_item_support`` times; 4. drop sessions left with fewer
   than 2 clicks (or more than ``max_session_length``);
5. split by session date, strict on both sides (sessions dated exactly on the split
   date belong to neither set: with whole-day dates that drops the split day);
6. sort sessions by date (stable: ties keep first-appearance order), clicks within
   a session by ``order`` then file order;
7. number items from 1 in order of first appearance in the sorted training sessions;
8. drop test clicks on items unseen in training, then test sessions shorter than 2.

The dataset's manifest records every parameter and the rows / sessions / items left
after each step, so a figure that differs from a paper's can be traced to its step.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, Literal

import numpy as np
import polars as pl

from sessionrec.config import Config, check
from sessionrec.data.dataset import Dataset
from sessionrec.data.sessions import Sessions
from sessionrec.data.vocab import ItemVocab
from sessionrec.errors import DataError

SECONDS_PER_DAY = 86_400.0
StepCallback = Callable[[str], None]


@dataclasses.dataclass(frozen=True)
class Protocol(Config):
    """Filter and split parameters. ``test_fraction``, when set, replaces ``test_days``."""

    min_item_support: int = 5
    max_session_length: int | None = None
    test_days: float | None = 7.0
    test_fraction: float | None = None
    session_date: Literal["last", "max"] = "last"

    def validate(self) -> None:
        name = type(self).__name__
        check(self.min_item_support >= 1, f"{name}.min_item_support must be >= 1")
        check(
            self.max_session_length is None or self.max_session_length >= 2,
            f"{name}.max_session_length must be >= 2 (or null for no cap)",
        )
        check(self.test_days is None or self.test_days > 0, f"{name}.test_days must be > 0")
        check(
            self.test_fraction is None or 0.0 < self.test_fraction < 1.0,
            f"{name}.test_fraction must be in (0, 1)",
        )
        check(
            self.test_days is not None or self.test_fraction is not None,
            f"{name}: set test_days or test_fraction",
        )

    @classmethod
    def of(cls, options: Config) -> Protocol:
        """The protocol part of a reader's options (which extend this class)."""
        return cls(**{name: getattr(options, name) for name in cls.field_names()})


def apply_protocol(
    clicks: pl.DataFrame | pl.LazyFrame,
    protocol: Protocol,
    *,
    source: str,
    raw_path: str | None = None,
    options: dict[str, Any] | None = None,
    on_step: StepCallback | None = None,
) -> Dataset:
    """Run the protocol on a click log and return the train/test :class:`Dataset`.

    Memory: the log is held as one frame of the columns the protocol needs (row,
    session key, item, session date, and ``order``); the filters of steps 2-4 are
    boolean masks over it, applied once; one sort orders it, and the train and test
    sets are its two date ranges (slices, not copies); every frame is released before
    the CSR sessions are augmented. A caller that passes ``clicks`` without keeping a
    reference (``Reader.run``) lets the raw log go once it is read.
    """
    where = raw_path or source
    notify = on_step or (lambda _message: None)
    lazy = clicks.lazy() if isinstance(clicks, pl.DataFrame) else clicks
    del clicks
    names = lazy.collect_schema().names()
    missing = [c for c in ("session", "item", "time") if c not in names]
    if missing:
        raise DataError(f"{where}: click log lacks column(s) {missing}")
    has_order = "order" in names
    notify("reading clicks")
    frame = _attach_sessions(lazy, protocol.session_date)
    del lazy
    if frame.height == 0:
        raise DataError(f"{where}: no clicks to preprocess (empty log)")
    log = _StepLog(where)
    log.record("read", frame)
    notify("filtering sessions and items")
    keep = _filter(frame, protocol, log)
    frame = frame.drop("raw_length").filter(keep)
    del keep

    notify("splitting by time")
    max_date, split_date = _split_date(frame, protocol)
    keys = ["date", "sid", *(["order"] if has_order else []), "row"]
    # one sort; the date is its first key, so each set is a slice in the order it alone sorts to
    order = frame.select(pl.arg_sort_by(keys)).to_series()
    frame = frame.select(pl.col("sid", "item", "date").gather(order))
    del order
    dates = frame.get_column("date")
    n_before, n_through = int((dates < split_date).sum()), int((dates <= split_date).sum())
    del dates
    train = log.record("train_split", frame.slice(0, n_before))
    test = log.record("test_split", frame.slice(n_through))
    del frame
    if train.height == 0:
        raise DataError(f"{where}: no training session is dated before the split date (step train_split)")

    notify("numbering items")
    external = train.get_column("item").unique(maintain_order=True)
    numbers = pl.int_range(1, len(external) + 1, dtype=pl.Int32, eager=True)
    test = log.record("test_drop_unseen_items", test.filter(pl.col("item").is_in(external.implode())))
    test = log.record("test_drop_short_sessions", test.filter(pl.len().over("sid") >= 2))
    if test.height == 0:
        raise DataError(f"{where}: no test session survives (step {log.last_empty('test')})")
    train_sessions = _to_sessions(train, external, numbers)
    test_sessions = _to_sessions(test, external, numbers)
    del train, test

    manifest = {
        "source": source,
        "raw_path": raw_path,
        "protocol": protocol.to_dict(),
        "options": dict(options or {}),
        "split": {"max_date": max_date, "split_date": split_date},
        "steps": log.steps,
    }
    vocab = ItemVocab(external.to_numpy())
    return Dataset.from_sessions(train_sessions, test_sessions, vocab, manifest)


def _attach_sessions(lazy: pl.LazyFrame, session_date: str) -> pl.DataFrame:
    """Collect the log with a session key, the session's date and its raw length per row.

    ``sid`` is the row index of the session's first click: unique per session and
    increasing in order of first appearance, which is the tie-break of the date sort.
    The raw session key and the click time are not kept: only the session date is used.
    """
    date = pl.col("time").last() if session_date == "last" else pl.col("time").max()
    columns = ["row", "sid", "item", "date", "raw_length"]
    if "order" in lazy.collect_schema().names():
        columns.append("order")
    query = (
        lazy.with_row_index("row")
        .with_columns(
            sid=pl.col("row").min().over("session"),
            date=date.over("session").cast(pl.Float64),
            raw_length=pl.len().over("session"),
        )
        .select(columns)
    )
    return query.collect(engine="streaming")


def _filter(frame: pl.DataFrame, protocol: Protocol, log: _StepLog) -> pl.Series:
    """Steps 2-4 as a mask over ``frame``: one pass each, in this order (a fixed point would remove more).

    A count over the rows a step keeps is a masked sum over the whole frame, so no step
    copies the frame: ``keep.sum().over(key)`` is ``len().over(key)`` of the filtered rows.
    """
    keep = log.record_mask("drop_single_click_sessions", frame, frame.get_column("raw_length") >= 2)
    keep = _step(log, "drop_rare_items", frame, keep, "item", lambda n: n >= protocol.min_item_support)
    keep = _step(log, "drop_short_sessions", frame, keep, "sid", lambda n: n >= 2)
    if protocol.max_session_length is not None:
        cap = protocol.max_session_length
        keep = _step(log, "drop_long_sessions", frame, keep, "sid", lambda n: n <= cap)
    return keep


def _step(
    log: _StepLog,
    name: str,
    frame: pl.DataFrame,
    keep: pl.Series,
    key: str,
    condition: Callable[[pl.Expr], pl.Expr],
) -> pl.Series:
    """The rows ``keep`` marks whose ``key`` group, counted over those rows, meets ``condition``."""
    kept = pl.col("_keep")
    masked = frame.select(key).with_columns(keep.alias("_keep"))
    return log.record_mask(name, frame, masked.select(kept & condition(kept.sum().over(key))).to_series())


def _split_date(frame: pl.DataFrame, protocol: Protocol) -> tuple[float, float]:
    """Split date: the latest session date minus the test window (days or a fraction of the span)."""
    dates = frame.get_column("date")
    max_date, min_date = float(dates.max()), float(dates.min())  # type: ignore[arg-type]
    if protocol.test_fraction is not None:
        return max_date, max_date - protocol.test_fraction * (max_date - min_date)
    assert protocol.test_days is not None
    return max_date, max_date - protocol.test_days * SECONDS_PER_DAY


def _to_sessions(frame: pl.DataFrame, external: pl.Series, numbers: pl.Series) -> Sessions:
    """CSR sessions from rows sorted so that each session's clicks are contiguous.

    Items are numbered by ``external`` (item ``external[j]`` is ``numbers[j]`` = j + 1).
    """
    sid = frame.get_column("sid").to_numpy()
    starts = np.flatnonzero(np.r_[True, sid[1:] != sid[:-1]]) if len(sid) else np.zeros(0, np.int64)
    offsets = np.append(starts, len(sid)).astype(np.int64)
    del sid
    items = frame.get_column("item").replace_strict(external, numbers, return_dtype=pl.Int32).to_numpy()
    times = frame.get_column("date").to_numpy()[starts].astype(np.float64)
    return Sessions(offsets, items, times)


class _StepLog:
    """Rows, sessions and distinct items left after each step (the manifest's ``steps``)."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.steps: list[dict[str, Any]] = []

    def record(self, step: str, frame: pl.DataFrame) -> pl.DataFrame:
        counts = {
            "step": step,
            "rows": frame.height,
            "sessions": frame.get_column("sid").n_unique(),
            "items": frame.get_column("item").n_unique(),
        }
        self.steps.append(counts)
        if frame.height == 0 and not step.startswith(("train", "test")):
            raise DataError(f"{self.where}: no click survives step {step}")
        return frame

    def record_mask(self, step: str, frame: pl.DataFrame, keep: pl.Series) -> pl.Series:
        """``record`` of the rows of ``frame`` that ``keep`` marks, without copying them all."""
        counts = {
            "step": step,
            "rows": int(keep.sum()),
            "sessions": frame.get_column("sid").filter(keep).n_unique(),
            "items": frame.get_column("item").filter(keep).n_unique(),
        }
        self.steps.append(counts)
        if counts["rows"] == 0:
            raise DataError(f"{self.where}: no click survives step {step}")
        return keep

    def last_empty(self, prefix: str) -> str:
        """The first step of the ``prefix`` branch that left no sessions."""
        for counts in self.steps:
            if counts["step"].startswith(prefix) and counts["sessions"] == 0:
                return str(counts["step"])
        return f"{prefix}_split"
