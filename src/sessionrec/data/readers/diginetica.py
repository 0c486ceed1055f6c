"""Diginetica (CIKM Cup 2016) ``train-item-views.csv``: ``;``-separated item views.

The released file's header is ``sessionId;userId;itemId;timeframe;eventdate``; the
sample bundled with SR-GNN spells it ``session_id;user_id;item_id;...``; both are
accepted. Session dates are whole days (``eventdate``), and clicks are sorted within
a session by ``timeframe``, as SR-GNN does (notes 1.1 step 3). The test set is the
last 7 days, strict on both sides, which drops the split day.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import polars as pl

from sessionrec.data.protocol import Protocol
from sessionrec.data.readers.common import (
    Column,
    Reader,
    as_day,
    as_int,
    check_file,
    first_line,
    header_columns,
    parse_columns,
    pick_column,
    scan_text,
)
from sessionrec.errors import DataError

KIND = "a Diginetica train-item-views.csv file"
# canonical name -> accepted spellings
SPELLINGS = {
    "session": ("sessionId", "session_id"),
    "item": ("itemId", "item_id"),
    "timeframe": ("timeframe",),
    "eventdate": ("eventdate",),
}


@dataclasses.dataclass(frozen=True)
class DigineticaOptions(Protocol):
    """``sort_by_timeframe=false`` gives the unsorted variant NARM and I3GN used (notes 1.4)."""

    test_days: float | None = 7.0
    sort_by_timeframe: bool = True


def load(path: Path, options: DigineticaOptions) -> pl.DataFrame:
    check_file(path)
    line = first_line(path)
    if ";" not in line:
        raise DataError(
            f"{path}: not {KIND}: expected a ';'-separated header "
            f"'sessionId;userId;itemId;timeframe;eventdate', found first line {line[:80]!r}"
        )
    present = header_columns(path, ";")
    names = {
        canonical: pick_column(path, present, spellings, KIND) for canonical, spellings in SPELLINGS.items()
    }
    columns = {
        "session": Column(names["session"], as_int, "an integer session id"),
        "item": Column(names["item"], as_int, "an integer item id"),
        "time": Column(names["eventdate"], as_day, "a date YYYY-MM-DD"),
    }
    if options.sort_by_timeframe:
        columns["order"] = Column(names["timeframe"], as_int, "an integer timeframe")
    return parse_columns(path, scan_text(path, ";"), columns, header_lines=1, kind=KIND)


READER = Reader(
    name="diginetica",
    description="Diginetica train-item-views.csv (CIKM Cup 2016); test = last 7 days",
    options=DigineticaOptions,
    load=load,
)
