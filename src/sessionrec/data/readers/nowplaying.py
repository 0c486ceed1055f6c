"""Nowplaying (#nowplaying music listening events), as sessionised by session-rec.

GCE-GNN's recipe (notes 1.2): sessions longer than 30 clicks dropped after item
filtering, the last 60 days as test. GCE-GNN's Nowplaying script reads the whole
file; ``max_session_id`` applies a Tmall-style cut when wanted.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import polars as pl

from sessionrec.data.protocol import Protocol
from sessionrec.data.readers.common import Reader
from sessionrec.data.readers.sessionised import load_sessionised

KIND = "a Nowplaying nowplaying.csv file (SessionId, ItemId, Time)"


@dataclasses.dataclass(frozen=True)
class NowplayingOptions(Protocol):
    max_session_length: int | None = 30
    test_days: float | None = 60.0
    max_session_id: int | None = None


def load(path: Path, options: NowplayingOptions) -> pl.DataFrame:
    return load_sessionised(path, KIND, options.max_session_id)


READER = Reader(
    name="nowplaying",
    description="Nowplaying nowplaying.csv (session-rec TSV); length <= 30, test = last 60 days",
    options=NowplayingOptions,
    load=load,
)
