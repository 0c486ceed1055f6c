"""RetailRocket: ``events.csv``, or a log already cut into sessions.

``events.csv`` (``timestamp,visitorid,event,itemid,transactionid``, milliseconds):
only ``view`` events are kept, and each visitor's views are cut into sessions at
gaps longer than ``gap_minutes`` (30, as in DSAN's script; notes 1.3). The
sessionised format (``timestamp<TAB>user_id<TAB>item_id<TAB>session_id``, seconds)
is read as it is. Either way clicks are ordered by time within a session and a
session's date is its latest click; the test set is the last 7 days. The exact
script behind the published RetailRocket figures was never released, so expect
counts close to, not equal to, theirs.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Literal

import polars as pl

from sessionrec.config import check
from sessionrec.data.protocol import Protocol
from sessionrec.data.readers.common import (
    Column,
    Reader,
    as_int,
    check_file,
    first_line,
    parse_columns,
    require_columns,
    scan_text,
)
from sessionrec.errors import DataError

KIND = "a RetailRocket events.csv or sessionised log"
EVENTS = ["timestamp", "visitorid", "event", "itemid"]
SESSIONISED = ["timestamp", "user_id", "item_id", "session_id"]


@dataclasses.dataclass(frozen=True)
class RetailRocketOptions(Protocol):
    test_days: float | None = 7.0
    session_date: Literal["last", "max"] = "max"
    gap_minutes: float = 30.0
    event: str = "view"

    def validate(self) -> None:
        super().validate()
        check(self.gap_minutes > 0, "RetailRocketOptions.gap_minutes must be > 0")


def load(path: Path, options: RetailRocketOptions) -> pl.DataFrame:
    check_file(path)
    line = first_line(path)
    if "\t" in line:
        present = [c.strip() for c in line.split("\t")]
        require_columns(path, present, SESSIONISED, KIND)
        return _sessionised(path)
    present = [c.strip() for c in line.split(",")]
    if "visitorid" not in present:
        raise DataError(
            f"{path}: not {KIND}: expected the header 'timestamp,visitorid,event,itemid,transactionid' "
            f"or 'timestamp<TAB>user_id<TAB>item_id<TAB>session_id', found first line {line[:80]!r}"
        )
    require_columns(path, present, EVENTS, KIND)
    return _events(path, options)


def _sessionised(path: Path) -> pl.DataFrame:
    columns = {
        "time": Column("timestamp", as_int, "an integer epoch timestamp in seconds"),
        "session": Column("session_id", as_int, "an integer session id"),
        "item": Column("item_id", as_int, "an integer item id"),
    }
    frame = parse_columns(path, scan_text(path, "\t"), columns, header_lines=1, kind=KIND)
    return frame.with_columns(order=pl.col("time"))


def _events(path: Path, options: RetailRocketOptions) -> pl.DataFrame:
    columns = {
        "ms": Column("timestamp", as_int, "an integer epoch timestamp in milliseconds"),
        "visitor": Column("visitorid", as_int, "an integer visitor id"),
        "event": Column("event", lambda e: e.str.strip_chars(), "an event type"),
        "item": Column("itemid", as_int, "an integer item id"),
    }
    frame = parse_columns(path, scan_text(path, ","), columns, header_lines=1, kind=KIND)
    frame = frame.filter(pl.col("event") == options.event).drop("event")
    if frame.height == 0:
        raise DataError(f"{path}: no {options.event!r} events")
    gap_ms = options.gap_minutes * 60_000
    # one visitor's views in time order (file order breaks ties); a long gap starts a session
    frame = frame.with_row_index("file_row").sort(["visitor", "ms", "file_row"])
    starts = (pl.col("visitor") != pl.col("visitor").shift(1)) | (pl.col("ms").diff() > gap_ms)
    return frame.select(
        session=starts.fill_null(True).cum_sum(),
        item=pl.col("item"),
        time=pl.col("ms") / 1000.0,
        order=pl.col("ms"),
    )


READER = Reader(
    name="retailrocket",
    description="RetailRocket events.csv (views cut at 30-minute gaps) or a sessionised log; last 7 days",
    options=RetailRocketOptions,
    load=load,
)
