"""Logs already cut into sessions, as session-rec distributes Tmall and Nowplaying.

Tab-separated with a header holding ``SessionId``, ``ItemId`` and ``Time`` (epoch
seconds, possibly fractional). GCE-GNN's scripts (notes 1.2) read them like SR-GNN
reads Diginetica: a session's date is the ``Time`` of its last row, clicks keep file
order. Tmall's script keeps only the rows before the first one whose ``SessionId``
exceeds 120,000; ``max_session_id`` reproduces that cut.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from sessionrec.data.readers.common import (
    Column,
    as_float,
    as_int,
    check_file,
    first_line,
    header_columns,
    parse_columns,
    require_columns,
    scan_text,
)
from sessionrec.errors import DataError

REQUIRED = ["SessionId", "ItemId", "Time"]


def load_sessionised(path: Path, kind: str, max_session_id: int | None) -> pl.DataFrame:
    """Clicks of a session-rec TSV, cut before the first session id above ``max_session_id``."""
    check_file(path)
    if "\t" not in first_line(path):
        raise DataError(
            f"{path}: not {kind}: expected a tab-separated header with columns "
            f"{', '.join(REQUIRED)}, found first line {first_line(path)[:80]!r}"
        )
    require_columns(path, header_columns(path, "\t"), REQUIRED, kind)
    columns = {
        "session": Column("SessionId", as_int, "an integer session id"),
        "item": Column("ItemId", as_int, "an integer item id"),
        "time": Column("Time", as_float, "an epoch time in seconds"),
    }
    frame = parse_columns(path, scan_text(path, "\t"), columns, header_lines=1, kind=kind)
    if max_session_id is not None:
        beyond = frame.get_column("session") > max_session_id
        if beyond.any():
            frame = frame.head(int(beyond.arg_true()[0]))
    if frame.height == 0:
        raise DataError(f"{path}: no rows before the first session id above {max_session_id}")
    return frame
