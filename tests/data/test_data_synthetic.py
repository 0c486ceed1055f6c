"""Synthetic click logs: deterministic, fast, shaped like the benchmarks, with learnable transitions."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import numpy as np
import polars as pl

from sessionrec.data.readers import preprocess
from sessionrec.data.synthetic import synthetic_dataset, synthetic_log, write_synthetic_csv


def test_deterministic_and_fast() -> None:
    synthetic_log(100, 10, seed=0)  # warm-up (imports, first Polars call)
    start = time.perf_counter()
    log = synthetic_log(10_000, 1_000, seed=7)
    elapsed = time.perf_counter() - start
    assert elapsed < 1.0, f"10k sessions took {elapsed:.2f} s"
    assert log.equals(synthetic_log(10_000, 1_000, seed=7))
    assert not log.equals(synthetic_log(10_000, 1_000, seed=8))
    assert log.columns == ["session_id", "item_id", "timestamp"]
    assert all(dtype == pl.Int64 for dtype in log.dtypes)


def test_shape_like_real_logs() -> None:
    log = synthetic_log(10_000, 1_000, seed=0, n_days=30)
    lengths = log.group_by("session_id").len().get_column("len").to_numpy()
    # geometric with mean 5: P(length 1) = 1/5; capped at 50
    assert len(lengths) == 10_000 and 4.7 < lengths.mean() < 5.3 and 0.18 < (lengths == 1).mean() < 0.22
    stamps = log.get_column("timestamp").to_numpy()
    assert stamps.max() - stamps.min() < 30 * 86_400
    # sessions are contiguous and time-ordered within themselves
    assert log.get_column("session_id").is_sorted()
    assert log.select((pl.col("timestamp").diff().over("session_id") >= 0).all()).item()
    # Zipf-like popularity: the top 10% of items take most clicks (about H(100)/H(1000) ~ 0.69 of draws)
    counts = np.sort(log.get_column("item_id").value_counts().get_column("count").to_numpy())[::-1]
    assert counts[:100].sum() / counts.sum() > 0.5
    # repeated clicks within a session (p_repeat = 0.1 of the non-first clicks, plus chance)
    repeats = log.select(pl.col("item_id").is_duplicated().over("session_id").mean()).item()
    assert repeats > 0.1


def test_transitions_are_learnable() -> None:
    """The most frequent successor seen in the first half predicts the next click in the second
    half far better than the most popular item does: there is structure beyond popularity."""
    log = synthetic_log(20_000, 500, seed=3)
    pairs = log.select(
        previous=pl.col("item_id").shift(1).over("session_id"), item=pl.col("item_id")
    ).drop_nulls()
    half = pairs.height // 2
    fit, held = pairs.head(half).rows(), pairs.tail(pairs.height - half).rows()
    successors: dict[int, Counter[int]] = {}
    for previous, item in fit:
        successors.setdefault(previous, Counter())[item] += 1
    best = {prev: counter.most_common(1)[0][0] for prev, counter in successors.items()}
    popular = Counter(item for _, item in fit).most_common(1)[0][0]
    transition_hits = np.mean([best.get(prev) == item for prev, item in held])
    popularity_hits = np.mean([item == popular for _, item in held])
    # first successors are followed 0.6 * 0.5 = 30% of the time (plus chance hits); the top item
    # of a Zipf(1) popularity over 500 items is 1 / H(500) ~ 15% of the noise draws
    assert transition_hits > 0.28 and transition_hits > 2 * popularity_hits


def test_dataset_goes_through_the_custom_reader(tmp_path: Path) -> None:
    dataset = synthetic_dataset(3_000, 200, seed=5)
    assert dataset.manifest["source"] == "synthetic"
    assert dataset.manifest["options"]["seed"] == 5
    # about the last 3 of 30 days are test
    assert 0.05 < len(dataset.test.sessions) / len(dataset.train.sessions) < 0.2
    assert dataset.train.sessions.times.max() < dataset.test.sessions.times.min()
    # the CSV route gives the very same dataset
    path = write_synthetic_csv(tmp_path / "log.csv", n_sessions=3_000, n_items=200, seed=5)
    from_file = preprocess("custom", path, test_days=3)
    assert from_file.train.sessions.to_lists() == dataset.train.sessions.to_lists()
    assert from_file.test.sessions.to_lists() == dataset.test.sessions.to_lists()
    assert from_file.vocab.external.tolist() == dataset.vocab.external.tolist()
    assert (
        synthetic_dataset(3_000, 200, seed=5).train.sessions.to_lists() == dataset.train.sessions.to_lists()
    )
