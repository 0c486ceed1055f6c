"""Yoochoose (RecSys Challenge 2015) ``yoochoose-clicks.dat``: ``session,timestamp,item,category``.

The file has no header (one added by hand is tolerated). Timestamps are ISO 8601
with milliseconds and ``Z``; like SR-GNN only the first 19 characters count, so dates
are whole seconds (read as UTC where SR-GNN used local time; the split is relative
to the latest date, so only a daylight-saving change inside the last day could
move it). Clicks keep file order within a session; the test set is the last day.

``fraction=4`` / ``64`` builds Yoochoose 1/4 and 1/64 (notes 1.1 step 13): the
training samples are the last ``len // fraction`` of the augmented prefix list of
the full training set (the cut may fall inside a session), the training sessions
are every session from the one holding the first kept prefix, and the item
vocabulary and the test set are those of the full training set.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import polars as pl

from sessionrec.config import check
from sessionrec.data.dataset import Dataset
from sessionrec.data.protocol import Protocol, StepCallback
from sessionrec.data.readers.common import (
    Column,
    Reader,
    as_int,
    as_iso_seconds,
    check_file,
    first_line,
    parse_columns,
    scan_text,
)
from sessionrec.data.sessions import Split
from sessionrec.errors import DataError

KIND = "a Yoochoose yoochoose-clicks.dat file"
NAMES = ["session", "timestamp", "item", "category"]


@dataclasses.dataclass(frozen=True)
class YoochooseOptions(Protocol):
    test_days: float | None = 1.0
    fraction: int = 1

    def validate(self) -> None:
        super().validate()
        check(self.fraction >= 1, f"YoochooseOptions.fraction must be >= 1, got {self.fraction}")


def load(path: Path, options: YoochooseOptions) -> pl.DataFrame:
    check_file(path)
    line = first_line(path)
    fields = line.split(",")
    if len(fields) != 4:
        raise DataError(
            f"{path}: not {KIND}: expected 4 comma-separated fields "
            f"(session,timestamp,item,category; no header), found {len(fields)} in line 1: {line[:80]!r}"
        )
    header = 0 if fields[0].strip().isdigit() else 1  # tolerate a hand-added header line
    columns = {
        "session": Column("session", as_int, "an integer session id"),
        "item": Column("item", as_int, "an integer item id"),
        "time": Column("timestamp", as_iso_seconds, "an ISO timestamp like 2014-04-07T10:51:09.277Z"),
    }
    raw = scan_text(path, ",", names=NAMES, skip_rows=header)
    return parse_columns(path, raw, columns, header_lines=header, kind=KIND)


def keep_last_fraction(dataset: Dataset, fraction: int, on_step: StepCallback | None = None) -> Dataset:
    """Yoochoose 1/``fraction``: the most recent ``len // fraction`` training prefixes."""
    if fraction == 1:
        return dataset
    if on_step:
        on_step(f"keeping the last 1/{fraction} of the training prefixes")
    train = dataset.train
    keep = len(train) // fraction
    if keep == 0:
        raise DataError(f"fraction 1/{fraction} of {len(train)} training prefixes keeps none (step fraction)")
    first = len(train) - keep
    first_session = int(train.sample_session[first])
    sessions = train.sessions.subset(np.arange(first_session, len(train.sessions), dtype=np.int64))
    kept = Split(
        sessions,
        train.sample_session[first:] - first_session,
        train.sample_cut[first:].copy(),
        train.vocab,
    )
    manifest = dict(dataset.manifest)
    clicks = len(sessions.items)
    items = len(np.unique(sessions.items))
    manifest["steps"] = [
        *manifest.get("steps", []),
        {"step": f"train_fraction_1/{fraction}", "rows": clicks, "sessions": len(sessions), "items": items},
    ]
    result = Dataset(kept, dataset.test, manifest)
    result.manifest["stats"] = result.stats()
    return result


def finish(dataset: Dataset, options: YoochooseOptions, on_step: StepCallback) -> Dataset:
    return keep_last_fraction(dataset, options.fraction, on_step)


READER = Reader(
    name="yoochoose",
    description="Yoochoose yoochoose-clicks.dat (RecSys 2015); test = last day; fraction=4/64",
    options=YoochooseOptions,
    load=load,
    finish=finish,
)
