"""Tmall (IJCAI-15), as sessionised by session-rec (``dataset15.csv``) and cut by GCE-GNN.

GCE-GNN's recipe (notes 1.2): the first 120,000 sessions, sessions longer than 40
clicks dropped after item filtering, the last day as test. (GCE-GNN's script
writes the window as ``maxdate - 100`` seconds; ``test_days`` is the knob, e.g.
``test_days=0.0011574`` for exactly 100 seconds.)
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import polars as pl

from sessionrec.data.protocol import Protocol
from sessionrec.data.readers.common import Reader
from sessionrec.data.readers.sessionised import load_sessionised

KIND = "a Tmall dataset15.csv file (SessionId, ItemId, Time)"


@dataclasses.dataclass(frozen=True)
class TmallOptions(Protocol):
    max_session_length: int | None = 40
    test_days: float | None = 1.0
    max_session_id: int | None = 120_000


def load(path: Path, options: TmallOptions) -> pl.DataFrame:
    return load_sessionised(path, KIND, options.max_session_id)


READER = Reader(
    name="tmall",
    description="Tmall dataset15.csv (session-rec TSV); first 120k sessions, length <= 40, test = last day",
    options=TmallOptions,
    load=load,
)
