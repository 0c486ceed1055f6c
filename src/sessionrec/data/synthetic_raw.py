"""Seeded raw click files in the real benchmarks' formats, at any size (scale tests).

:func:`write_yoochoose_clicks` writes a ``yoochoose-clicks.dat``-shaped file: no
header, ``session,timestamp,item,category`` with ISO timestamps in milliseconds and
``Z`` (``2014-04-06T20:21:58.444Z``), 9-digit item ids (``214717095``), categories
``0`` (most clicks), ``S`` (special offers) or ``1``..``12``, sessions in id order and
clicks in time order within each, over the real period (2014-04-01 to 2014-09-30). The
defaults are the real file's size: 33,003,944 clicks in 9,249,729 sessions, 52,739
items (the figures of the RecSys Challenge 2015 release).

:func:`write_diginetica_views` writes a ``train-item-views.csv``-shaped file from the
same kind of log: a ``session_id;user_id;item_id;timeframe;eventdate`` header, ``;``
separators, ``NA`` user ids for most sessions, ``timeframe`` in milliseconds since the
session's start, ``eventdate`` a day of 2016-01-01 .. 2016-06-01.

Sessions are drawn in chunks (a Markov chain over Zipf-popular items, as in
``data.synthetic``: a click follows one of its item's successors with probability
``p_follow``, else is a popularity draw), so memory is bounded by the chunk and not
by the file; session lengths are 1 + geometric, mean ``n_clicks / n_sessions``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import polars as pl

YOOCHOOSE = {"n_clicks": 33_003_944, "n_sessions": 9_249_729, "n_items": 52_739}
YOOCHOOSE_START = 1_396_310_400  # 2014-04-01T00:00:00Z
DIGINETICA_START = 1_451_606_400  # 2016-01-01T00:00:00Z
CHUNK = 500_000  # sessions per chunk
MAX_LENGTH = 200


def session_chunks(
    n_clicks: int, n_sessions: int, n_items: int, seed: int, p_follow: float = 0.5
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """``(lengths, items)`` per chunk of sessions; items are indices 0..n_items-1."""
    rng = np.random.default_rng(seed)
    cdf = np.cumsum(rng.permutation(1.0 / np.arange(1, n_items + 1)))
    successors = _draw(rng, cdf, (n_items, 4))
    mean_extra = max(n_clicks / n_sessions - 1.0, 1e-9)
    for first in range(0, n_sessions, CHUNK):
        n = min(CHUNK, n_sessions - first)
        lengths = np.minimum(rng.geometric(1.0 / (1.0 + mean_extra), n), MAX_LENGTH)  # >= 1
        total = int(lengths.sum())
        starts = np.cumsum(lengths) - lengths
        items = _draw(rng, cdf, total)
        position = np.arange(total) - np.repeat(starts, lengths)
        follow = (rng.random(total) < p_follow) & (position > 0)
        pick = rng.integers(0, 4, total)
        by_position = np.argsort(position, kind="stable")
        bounds = np.searchsorted(position[by_position], np.arange(int(lengths.max()) + 1))
        for t in range(1, int(lengths.max())):  # clicks at position t follow those at t - 1
            at = by_position[bounds[t] : bounds[t + 1]]
            at = at[follow[at]]
            items[at] = successors[items[at - 1], pick[at]]
        yield lengths, items


def _draw(rng: np.random.Generator, cdf: np.ndarray, size: int | tuple[int, ...]) -> np.ndarray:
    return np.minimum(np.searchsorted(cdf, rng.random(size) * cdf[-1], side="right"), len(cdf) - 1)


def _append(path: Path, frame: pl.DataFrame, separator: str, header: bool) -> None:
    with path.open("ab") as handle:
        frame.write_csv(handle, separator=separator, include_header=header)


def write_yoochoose_clicks(path: str | Path, seed: int = 0, **size: int) -> Path:
    """A Yoochoose-shaped ``yoochoose-clicks.dat`` (sizes default to the real file's)."""
    path = Path(path)
    path.unlink(missing_ok=True)
    n = {**YOOCHOOSE, **size}
    item_ids = 214_500_000 + np.sort(
        np.random.default_rng([seed, 1]).choice(700_000, n["n_items"], replace=False)
    )
    period = 183 * 86_400 - 7_200
    session_id = 1
    for index, (lengths, items) in enumerate(
        session_chunks(n["n_clicks"], n["n_sessions"], n["n_items"], seed)
    ):
        rng = np.random.default_rng([seed, 2, index])
        starts = rng.uniform(0, period, len(lengths))
        gaps = rng.exponential(45.0, int(lengths.sum()))
        first = np.cumsum(lengths) - lengths
        gaps[first] = 0.0
        elapsed = np.cumsum(gaps)
        elapsed -= np.repeat(elapsed[first], lengths)
        millis = ((YOOCHOOSE_START + np.repeat(starts, lengths) + elapsed) * 1000).astype(np.int64)
        category = np.where(
            rng.random(len(items)) < 0.9, "0", np.where(rng.random(len(items)) < 0.5, "S", "3")
        )
        frame = pl.DataFrame(
            {
                "session": np.repeat(np.arange(session_id, session_id + len(lengths)), lengths),
                "timestamp": pl.Series(millis).cast(pl.Datetime("ms")).dt.strftime("%Y-%m-%dT%H:%M:%S%.3fZ"),
                "item": item_ids[items],
                "category": category,
            }
        )
        _append(path, frame, ",", header=False)
        session_id += len(lengths)
    return path


def write_diginetica_views(path: str | Path, seed: int = 0, **size: int) -> Path:
    """A Diginetica-shaped ``train-item-views.csv`` (sizes default to Yoochoose's full file)."""
    path = Path(path)
    path.unlink(missing_ok=True)
    n = {**YOOCHOOSE, **size}
    session_id = 1
    for index, (lengths, items) in enumerate(
        session_chunks(n["n_clicks"], n["n_sessions"], n["n_items"], seed)
    ):
        rng = np.random.default_rng([seed, 3, index])
        days = rng.integers(0, 152, len(lengths))
        first = np.cumsum(lengths) - lengths
        gaps = rng.exponential(60_000.0, int(lengths.sum())).astype(np.int64) + 1
        gaps[first] = 0
        timeframe = np.cumsum(gaps)
        timeframe -= np.repeat(timeframe[first], lengths)
        users = np.where(
            rng.random(len(lengths)) < 0.85, "NA", rng.integers(1, 300_000, len(lengths)).astype(str)
        )
        dates = (
            pl.Series((DIGINETICA_START + days * 86_400) * 1000)
            .cast(pl.Datetime("ms"))
            .dt.strftime("%Y-%m-%d")
        )
        frame = pl.DataFrame(
            {
                "session_id": np.repeat(np.arange(session_id, session_id + len(lengths)), lengths),
                "user_id": np.repeat(users, lengths),
                "item_id": items + 1,
                "timeframe": timeframe,
                "eventdate": np.repeat(dates.to_numpy(), lengths),
            }
        )
        _append(path, frame, ";", header=index == 0)
        session_id += len(lengths)
    return path
