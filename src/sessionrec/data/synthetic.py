"""Seeded synthetic click logs with structure a next-item model can learn.

The generator is a small Markov process over items, shaped like the benchmarks:

* item popularity is Zipf-like (weight ``1 / rank ** zipf``, ranks shuffled over ids);
* every item has a few likely successors (drawn by popularity, with decreasing
  weights), followed with probability ``p_follow``; that sparse transition structure
  is what sequence and graph models pick up and popularity baselines cannot;
* with probability ``p_repeat`` the next click repeats an earlier item of the session;
* otherwise the next click is a popularity draw (noise);
* session lengths are geometric with mean ``mean_length`` (one-click sessions
  included, as in raw logs), timestamps spread over ``n_days`` days.

The log has the ``custom`` reader's default columns (``session_id``, ``item_id``,
``timestamp`` in epoch seconds), so it travels the same path as a user's own file.
Everything is vectorised over sessions: 10,000 sessions take a few milliseconds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from sessionrec.data.dataset import Dataset
from sessionrec.data.protocol import Protocol, apply_protocol
from sessionrec.data.readers.custom import CustomOptions, clicks_from_frame
from sessionrec.io import atomic_write_bytes

START = 1_704_067_200  # 2024-01-01T00:00:00Z
SUCCESSOR_WEIGHTS = np.array([0.5, 0.25, 0.15, 0.1])
MAX_LENGTH = 50


def synthetic_log(
    n_sessions: int = 10_000,
    n_items: int = 1_000,
    seed: int = 0,
    *,
    n_days: int = 30,
    mean_length: float = 5.0,
    zipf: float = 1.0,
    p_follow: float = 0.6,
    p_repeat: float = 0.1,
) -> pl.DataFrame:
    """A click log (``session_id``, ``item_id``, ``timestamp``), sessions in time order."""
    if n_sessions < 1 or n_items < len(SUCCESSOR_WEIGHTS) or n_days < 1:
        raise ValueError("need n_sessions >= 1, n_items >= 4 and n_days >= 1")
    rng = np.random.default_rng(seed)
    popularity = 1.0 / np.arange(1, n_items + 1) ** zipf
    popularity = rng.permutation(popularity / popularity.sum())
    cdf = np.cumsum(popularity)
    successors = _draw(rng, cdf, (n_items, len(SUCCESSOR_WEIGHTS)))
    lengths = np.minimum(rng.geometric(1.0 / mean_length, size=n_sessions), MAX_LENGTH)

    clicks = np.zeros((n_sessions, int(lengths.max())), dtype=np.int32)  # n_items < 2**31
    clicks[:, 0] = _draw(rng, cdf, n_sessions)
    for t in range(1, clicks.shape[1]):
        active = np.flatnonzero(lengths > t)  # only sessions still running: work ~ total clicks
        n = len(active)
        choice = rng.random(n)
        rank = rng.choice(len(SUCCESSOR_WEIGHTS), n, p=SUCCESSOR_WEIGHTS)
        follow = successors[clicks[active, t - 1], rank]
        repeat = clicks[active, rng.integers(0, t, n)]
        noise = _draw(rng, cdf, n)
        clicks[active, t] = np.where(
            choice < p_follow, follow, np.where(choice < p_follow + p_repeat, repeat, noise)
        )

    mask = np.arange(clicks.shape[1])[None, :] < lengths[:, None]
    # sessions start in time order over the period; clicks follow ~1 minute apart
    starts = np.sort(rng.uniform(0, n_days * 86_400.0 - 3_600.0, n_sessions)).astype(np.int64)
    first = np.cumsum(lengths) - lengths  # flat index of each session's first click
    gaps = rng.exponential(60.0, size=int(lengths.sum())).astype(np.int64) + 1
    gaps[first] = 0
    elapsed = np.cumsum(gaps)
    elapsed -= np.repeat(elapsed[first], lengths)
    return pl.DataFrame(
        {
            "session_id": np.repeat(np.arange(1, n_sessions + 1, dtype=np.int64), lengths),
            "item_id": clicks[mask].astype(np.int64) + 1,  # external ids 1..n_items
            "timestamp": START + np.repeat(starts, lengths) + elapsed,
        }
    )


def _draw(rng: np.random.Generator, cdf: np.ndarray, size: int | tuple[int, ...]) -> np.ndarray:
    """Item indices 0..n-1 drawn from the popularity distribution (inverse CDF)."""
    return np.minimum(np.searchsorted(cdf, rng.random(size) * cdf[-1], side="right"), len(cdf) - 1)


def write_synthetic_csv(path: str | Path, **kwargs: Any) -> Path:
    """Write :func:`synthetic_log` (same keyword arguments) as CSV, atomically."""
    path = Path(path)
    atomic_write_bytes(path, synthetic_log(**kwargs).write_csv().encode())
    return path


def synthetic_dataset(
    n_sessions: int = 10_000, n_items: int = 1_000, seed: int = 0, *, test_days: float = 3.0, **kwargs: Any
) -> Dataset:
    """A synthetic log through the custom reader's columns and the standard protocol.

    ``kwargs`` go to :func:`synthetic_log`; with the default 30 days, the last 3
    (about a tenth of the sessions) are the test set.
    """
    log = synthetic_log(n_sessions, n_items, seed, **kwargs)
    options = CustomOptions(test_days=test_days)
    clicks = clicks_from_frame(log.lazy(), options, Path("<synthetic>"))
    parameters = {"n_sessions": n_sessions, "n_items": n_items, "seed": seed, **kwargs}
    return apply_protocol(
        clicks, Protocol.of(options), source="synthetic", options={**options.to_dict(), **parameters}
    )
