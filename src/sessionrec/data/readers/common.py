"""What every raw-log reader shares: file checks, typed parsing with row-level errors, the reader record.

Raw files are scanned lazily with every column as text, then cast; a value that does
not parse is located in a second, diagnostic pass, so the error names the file, the
line, the column and what was expected, while the fast path stays a single scan.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl

from sessionrec.config import Config
from sessionrec.data.dataset import Dataset
from sessionrec.data.protocol import Protocol, StepCallback, apply_protocol
from sessionrec.errors import DataError

Parser = Callable[[pl.Expr], pl.Expr]


def as_int(expr: pl.Expr) -> pl.Expr:
    return expr.str.strip_chars().cast(pl.Int64, strict=False)


def as_float(expr: pl.Expr) -> pl.Expr:
    return expr.str.strip_chars().cast(pl.Float64, strict=False)


def as_day(expr: pl.Expr) -> pl.Expr:
    """``YYYY-MM-DD`` -> epoch seconds of that day's midnight (UTC)."""
    return expr.str.strip_chars().str.to_date("%Y-%m-%d", strict=False).cast(pl.Datetime("ms")).dt.epoch("s")


def as_iso_seconds(expr: pl.Expr) -> pl.Expr:
    """``YYYY-MM-DDTHH:MM:SS[.fff]Z`` -> epoch seconds, fraction dropped as SR-GNN does (UTC)."""
    return expr.str.slice(0, 19).str.to_datetime("%Y-%m-%dT%H:%M:%S", strict=False).dt.epoch("s")


@dataclasses.dataclass(frozen=True)
class Column:
    """One output column: the raw column it comes from, how to parse it, and what it should hold."""

    raw: str
    parse: Parser
    expected: str


def check_file(path: Path) -> Path:
    """The path exists, is a file and is not empty."""
    if not path.exists():
        raise DataError(f"{path}: file not found")
    if not path.is_file():
        raise DataError(f"{path}: not a file")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: empty file")
    return path


def first_line(path: Path) -> str:
    """The file's first line without its newline or a UTF-8 byte-order mark."""
    with path.open("rb") as handle:
        raw = handle.readline(64 * 1024)
    return raw.decode("utf-8", errors="replace").lstrip("\ufeff").rstrip("\r\n")


def header_columns(path: Path, separator: str) -> list[str]:
    return [name.strip().strip('"') for name in first_line(path).split(separator)]


def pick_column(path: Path, present: list[str], spellings: tuple[str, ...], kind: str) -> str:
    """The first accepted spelling of a column that the header has."""
    for spelling in spellings:
        if spelling in present:
            return spelling
    require_columns(path, present, [spellings[0]], kind)
    raise AssertionError  # require_columns raised


def scan_text(path: Path, separator: str, names: list[str] | None = None, skip_rows: int = 0) -> pl.LazyFrame:
    """Scan a delimited file with every column as text; ``names`` for a file without header."""
    return pl.scan_csv(
        path,
        separator=separator,
        has_header=names is None,
        new_columns=names,
        skip_rows=skip_rows,
        infer_schema=False,
        with_column_names=None if names else (lambda cols: [c.lstrip("\ufeff").strip() for c in cols]),
        truncate_ragged_lines=False,
    )


def parse_columns(
    path: Path, raw: pl.LazyFrame, columns: dict[str, Column], header_lines: int, kind: str
) -> pl.DataFrame:
    """Collect ``raw`` parsed into ``columns``; raise a DataError naming the first bad value's line."""
    exprs = [spec.parse(pl.col(spec.raw)).alias(name) for name, spec in columns.items()]
    try:
        frame = raw.select(exprs).collect(engine="streaming")
    except pl.exceptions.PolarsError as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"{path}: cannot be read as {kind} ({message})") from None
    if frame.height == 0:
        raise DataError(f"{path}: no data rows (expected {kind})")
    for name, spec in columns.items():
        if frame.get_column(name).null_count():
            _raise_first_bad(path, raw, name, spec, header_lines)
    return frame


def _raise_first_bad(path: Path, raw: pl.LazyFrame, name: str, spec: Column, header_lines: int) -> None:
    bad = (
        raw.with_row_index("_row")
        .filter(spec.parse(pl.col(spec.raw)).is_null())
        .select("_row", spec.raw)
        .head(1)
        .collect()
    )
    row, value = bad.row(0)
    found = "an empty field" if value is None or str(value).strip() == "" else repr(value)
    line = int(row) + header_lines + 1
    raise DataError(f"{path}, line {line}, column {spec.raw!r}: expected {spec.expected}, found {found}")


def require_columns(path: Path, present: list[str], required: list[str], kind: str) -> None:
    missing = [c for c in required if c not in present]
    if missing:
        raise DataError(
            f"{path}: missing column(s) {', '.join(map(repr, missing))} for {kind}; "
            f"found columns {', '.join(map(repr, present))}"
        )


Loader = Callable[[Path, Any], pl.DataFrame | pl.LazyFrame]
Finisher = Callable[[Dataset, Any, StepCallback], Dataset]


@dataclasses.dataclass(frozen=True)
class Reader:
    """A raw-log source: its options (a :class:`Protocol` extension) and how to load its clicks."""

    name: str
    description: str
    options: type[Config]
    load: Loader
    finish: Finisher | None = None

    def run(self, path: Path, options: Config, on_step: StepCallback | None = None) -> Dataset:
        notify = on_step or (lambda _message: None)
        notify(f"reading {path.name}")
        dataset = apply_protocol(
            self.load(path, options),  # not kept here: the protocol lets the raw log go once read
            Protocol.of(options),
            source=self.name,
            raw_path=str(path.resolve()),
            options=options.to_dict(),
            on_step=notify,
        )
        return self.finish(dataset, options, notify) if self.finish else dataset
