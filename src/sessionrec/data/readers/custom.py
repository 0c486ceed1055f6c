"""The user's own click log: CSV (any separator) or Parquet, with configurable column names.

One row per click with a session id, an item id and a time: epoch seconds, epoch
milliseconds, or an ISO 8601 datetime (``time_format=auto`` decides from the first
value; numbers above 1e11 are taken as milliseconds). Clicks are ordered by time
within a session (file order breaks ties) and a session's date is its latest click,
so the file need not be sorted. The standard filters apply; the test set is the last
``test_days`` days or the last ``test_fraction`` of the time span.

Item ids keep their type in the vocabulary: a column of canonical integers gives
integer ids, anything else (``"00042"``, ``"sku-1"``) stays a string.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Literal

import polars as pl

from sessionrec.data.protocol import Protocol
from sessionrec.data.readers.common import Column, Parser, Reader, check_file, parse_columns, scan_text
from sessionrec.errors import DataError

KIND = "a click log"
PARQUET = (".parquet", ".pq")
MS_THRESHOLD = 1e11  # epoch seconds pass 1e11 in the year 5138; epoch milliseconds passed it in 1973


@dataclasses.dataclass(frozen=True)
class CustomOptions(Protocol):
    session_date: Literal["last", "max"] = "max"
    session_column: str = "session_id"
    item_column: str = "item_id"
    time_column: str = "timestamp"
    time_format: Literal["auto", "epoch", "epoch_ms", "iso"] = "auto"
    separator: str = ","


def load(path: Path, options: CustomOptions) -> pl.DataFrame:
    check_file(path)
    if path.suffix.lower() in PARQUET:
        try:
            lazy = pl.scan_parquet(path)
            lazy.collect_schema()
        except pl.exceptions.PolarsError as exc:
            raise DataError(f"{path}: not a readable Parquet file ({str(exc).splitlines()[0]})") from None
        return clicks_from_frame(lazy, options, path, header_lines=0)
    if len(options.separator) != 1:
        raise DataError(f"separator must be one character, got {options.separator!r}")
    return clicks_from_frame(scan_text(path, options.separator), options, path, header_lines=1)


def clicks_from_frame(
    lazy: pl.LazyFrame, options: CustomOptions, where: Path, header_lines: int = 1
) -> pl.DataFrame:
    """The protocol's (session, item, time, order) columns from the user's named columns."""
    schema = lazy.collect_schema()
    wanted = [options.session_column, options.item_column, options.time_column]
    missing = [c for c in wanted if c not in schema.names()]
    if missing:
        raise DataError(
            f"{where}: missing column(s) {', '.join(map(repr, missing))}; found columns "
            f"{', '.join(map(repr, schema.names()))} (set session_column, item_column, time_column)"
        )
    time_parser, expected = _time_parser(lazy, options, schema[options.time_column])
    columns = {
        "session": Column(options.session_column, _key(schema[options.session_column]), "a session id"),
        "item": Column(options.item_column, _key(schema[options.item_column]), "an item id"),
        "time": Column(options.time_column, time_parser, expected),
    }
    frame = parse_columns(Path(where), lazy, columns, header_lines, KIND)
    return frame.with_columns(item=_ints_if_canonical(frame.get_column("item")), order=pl.col("time"))


def _key(dtype: pl.DataType) -> Parser:
    """Ids as they are when integer or text (empty text = missing); anything else as text."""
    if dtype.is_integer():
        return lambda e: e
    if dtype == pl.String:
        return lambda e: pl.when(e.str.strip_chars() != "").then(e.str.strip_chars())
    return lambda e: e.cast(pl.String)


def _ints_if_canonical(items: pl.Series) -> pl.Series:
    """Text ids become integers only when every one is an integer written canonically."""
    if items.dtype != pl.String:
        return items
    numbers = items.cast(pl.Int64, strict=False)
    if numbers.null_count() == 0 and (numbers.cast(pl.String) == items).all():
        return numbers
    return items


def _time_parser(lazy: pl.LazyFrame, options: CustomOptions, dtype: pl.DataType) -> tuple[Parser, str]:
    """A parser to epoch seconds for the time column, and what it expects (for errors)."""
    if dtype.is_temporal():
        return (lambda e: e.cast(pl.Datetime("ms")).dt.epoch("ms") / 1000.0), "a datetime"
    mode = options.time_format
    text = dtype == pl.String
    if mode == "auto":
        mode = "epoch" if not text or _first_is_number(lazy, options.time_column) else "iso"
        if mode == "epoch":

            def auto(e: pl.Expr) -> pl.Expr:
                seconds = _number(e, text)
                return pl.when(seconds > MS_THRESHOLD).then(seconds / 1000.0).otherwise(seconds)

            return auto, "an epoch time (seconds or milliseconds), like the first row's"
    if mode == "epoch":
        return (lambda e: _number(e, text)), "an epoch time in seconds"
    if mode == "epoch_ms":
        return (lambda e: _number(e, text) / 1000.0), "an epoch time in milliseconds"
    if not text:
        raise DataError(f"time column {options.time_column!r} holds {dtype}, not ISO datetime text")
    iso = "an ISO 8601 datetime in the same format as the first row's"
    return _iso_seconds, iso


def _iso_seconds(expr: pl.Expr) -> pl.Expr:
    """ISO datetimes (format inferred from the first value) to epoch seconds; naive ones read as UTC."""
    parsed = expr.str.strip_chars().str.to_datetime(time_unit="ms", strict=False, time_zone="UTC")
    return parsed.dt.epoch("ms") / 1000.0


def _number(expr: pl.Expr, text: bool) -> pl.Expr:
    return (expr.str.strip_chars() if text else expr).cast(pl.Float64, strict=False)


def _first_is_number(lazy: pl.LazyFrame, column: str) -> bool:
    first = lazy.select(pl.col(column).str.strip_chars()).drop_nulls().head(1).collect()
    if first.height == 0:
        return True  # an all-empty column fails later with a line number
    return first.cast(pl.Float64, strict=False).null_count().item() == 0


READER = Reader(
    name="custom",
    description="your own CSV or Parquet click log (session, item, time columns are options)",
    options=CustomOptions,
    load=load,
)
