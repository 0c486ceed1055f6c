"""Every reader on its raw sample or a hand-made file, checked against known counts and sequences."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from srgnn_reference import diginetica_rows, reference_protocol, retailrocket_rows, yoochoose_rows

from sessionrec.data.dataset import Dataset
from sessionrec.data.readers import SOURCES, preprocess

DAY = 86_400


def steps(dataset: Dataset) -> dict[str, tuple[int, int, int]]:
    return {s["step"]: (s["rows"], s["sessions"], s["items"]) for s in dataset.manifest["steps"]}


def external(dataset: Dataset, split: str) -> list[list[object]]:
    vocab = dataset.vocab.external.tolist()
    return [[vocab[i - 1] for i in s] for s in getattr(dataset, split).sessions.to_lists()]


def assert_matches_reference(
    dataset: Dataset, rows: list, test_seconds: float, date_of: str = "last"
) -> None:
    """Same counts, vocabulary and sessions as the plain-Python re-implementation."""
    reference = reference_protocol(rows, test_seconds, date_of=date_of)
    assert steps(dataset) == reference.steps
    assert dataset.vocab.external.tolist() == reference.vocab
    assert external(dataset, "train") == reference.train
    assert external(dataset, "test") == reference.test


def test_sources_listed() -> None:
    assert set(SOURCES) == {"diginetica", "yoochoose", "retailrocket", "tmall", "nowplaying", "custom"}


def test_diginetica_sample(raw_samples: Path, tmp_path: Path) -> None:
    path = raw_samples / "sample_train-item-views.csv"
    dataset = preprocess("diginetica", path)
    # read: 12,392 lines - header = 12,391 rows; 2,986 distinct session ids (sort -u | wc -l)
    assert steps(dataset) == {
        "read": (12391, 2986, 7139),
        "drop_single_click_sessions": (11458, 2053, 6774),
        "drop_rare_items": (2233, 881, 318),
        "drop_short_sessions": (1877, 525, 317),
        "train_split": (1674, 469, 309),
        "test_split": (165, 47, 79),
        "test_drop_unseen_items": (141, 42, 72),
        "test_drop_short_sessions": (138, 39, 70),
    }
    # max date 2016-06-01, split date 2016-05-25: the 525 - 469 - 47 = 9 sessions dated on the
    # split day are in neither set (strict on both sides)
    assert dataset.manifest["split"] == {"max_date": 1464739200.0, "split_date": 1464739200.0 - 7 * DAY}
    assert_matches_reference(dataset, diginetica_rows(path), 7 * DAY)
    assert dataset.vocab.kind == "int" and len(dataset.train) == 1674 - 469  # sum(len - 1)
    # the released file's header spelling gives the same dataset
    lines = path.read_text().splitlines(keepends=True)
    renamed = tmp_path / "train-item-views.csv"
    renamed.write_text("sessionId;userId;itemId;timeframe;eventdate\n" + "".join(lines[1:]))
    again = preprocess("diginetica", renamed)
    assert external(again, "train") == external(dataset, "train")
    assert external(again, "test") == external(dataset, "test")


def test_diginetica_unsorted_variant(raw_samples: Path) -> None:
    path = raw_samples / "sample_train-item-views.csv"
    unsorted = preprocess("diginetica", path, sort_by_timeframe=False)
    rows = [(s, i, t, None) for s, i, t, _ in diginetica_rows(path)]
    assert_matches_reference(unsorted, rows, 7 * DAY)
    assert external(unsorted, "train") != external(preprocess("diginetica", path), "train")


def test_yoochoose_sample(raw_samples: Path) -> None:
    path = raw_samples / "sample_yoochoose.dat"
    dataset = preprocess("yoochoose", path)
    assert steps(dataset) == {
        "read": (1913, 461, 907),  # wc -l = 1,913 rows, no header; 461 distinct sessions
        "drop_single_click_sessions": (1883, 431, 898),
        "drop_rare_items": (657, 249, 90),
        "drop_short_sessions": (591, 183, 90),
        "train_split": (515, 158, 90),
        "test_split": (76, 25, 30),
        "test_drop_unseen_items": (76, 25, 30),
        "test_drop_short_sessions": (76, 25, 30),
    }
    # seconds from the first 19 characters: the latest session ends 2014-04-07T20:50:40
    assert dataset.manifest["split"]["max_date"] == 1396903840.0
    assert_matches_reference(dataset, yoochoose_rows(path), DAY)


def test_yoochoose_with_a_hand_added_header(raw_samples: Path, tmp_path: Path) -> None:
    path = raw_samples / "sample_yoochoose.dat"
    headed = tmp_path / "clicks.dat"
    headed.write_text("session_id,timestamp,item_id,category\n" + path.read_text())
    assert steps(preprocess("yoochoose", headed)) == steps(preprocess("yoochoose", path))


@pytest.mark.parametrize("fraction", [4, 64])
def test_yoochoose_fraction(raw_samples: Path, fraction: int) -> None:
    path = raw_samples / "sample_yoochoose.dat"
    full = preprocess("yoochoose", path)
    part = preprocess("yoochoose", path, fraction=fraction)
    keep = len(full.train) // fraction  # 357 // 4 = 89, 357 // 64 = 5
    assert len(part.train) == keep == {4: 89, 64: 5}[fraction]
    # the kept samples are exactly the last `keep` (prefix, target) pairs of the full list
    full_samples = [(full.train.prefix(k).tolist(), t) for k, t in enumerate(full.train.targets.tolist())]
    part_samples = [(part.train.prefix(k).tolist(), t) for k, t in enumerate(part.train.targets.tolist())]
    assert part_samples == full_samples[-keep:]
    # sessions: every full session from the one holding the first kept prefix
    first = int(full.train.sample_session[len(full.train) - keep])
    assert part.train.sessions.to_lists() == full.train.sessions.to_lists()[first:]
    # vocabulary and test set are those of the full training set
    assert part.vocab.external.tolist() == full.vocab.external.tolist()
    assert part.test.sessions.to_lists() == full.test.sessions.to_lists()
    assert part.manifest["stats"]["train_samples"] == keep


def test_retailrocket_sessionised_sample(raw_samples: Path) -> None:
    path = raw_samples / "sample_retailrocket.csv"
    dataset = preprocess("retailrocket", path)
    assert steps(dataset) == {
        "read": (10080, 2950, 5566),  # 10,081 lines - header; 2,950 distinct session ids
        "drop_single_click_sessions": (10079, 2949, 5565),
        "drop_rare_items": (1933, 695, 278),
        "drop_short_sessions": (1708, 470, 278),
        "train_split": (1642, 448, 275),
        "test_split": (66, 22, 19),
        "test_drop_unseen_items": (48, 18, 16),
        "test_drop_short_sessions": (48, 18, 16),
    }
    assert_matches_reference(dataset, retailrocket_rows(path), 7 * DAY, date_of="max")


def test_retailrocket_events_are_sessionised(tmp_path: Path) -> None:
    # visitor 1 views a, b, then 31 minutes later c, a (gap > 30 min: a new session);
    # visitor 2 views b, a, adds a to cart (not a view), views c 29 minutes later (same
    # session); a last-week session (visitor 3, day 10) makes the test set.
    minute = 60_000
    t0 = 1_000 * DAY * 1000
    events = [
        (t0, 1, "view", "a"), (t0 + minute, 1, "view", "b"),
        (t0 + 32 * minute, 1, "view", "c"), (t0 + 33 * minute, 1, "view", "a"),
        (t0 + 2 * minute, 2, "view", "b"), (t0 + 3 * minute, 2, "view", "a"),
        (t0 + 4 * minute, 2, "addtocart", "a"), (t0 + 32 * minute, 2, "view", "c"),
        (t0 + 10 * DAY * 1000, 3, "view", "a"), (t0 + 10 * DAY * 1000 + minute, 3, "view", "b"),
    ]  # fmt: skip
    ids = {"a": 11, "b": 12, "c": 13}
    lines = ["timestamp,visitorid,event,itemid,transactionid"]
    lines += [f"{t},{v},{e},{ids[i]}," for t, v, e, i in events]
    path = tmp_path / "events.csv"
    path.write_text("\n".join(lines) + "\n")
    dataset = preprocess("retailrocket", path, min_item_support=1)
    assert steps(dataset)["read"] == (9, 4, 3)  # 9 views, sessions: 1a, 1b, 2, 3
    assert external(dataset, "train") == [[11, 12], [12, 11, 13], [13, 11]]  # by date: 1a, 2, 1b
    assert external(dataset, "test") == [[11, 12]]


def sessionised_tsv(path: Path, sessions: list[tuple[int, int, list[int]]]) -> Path:
    """session-rec's layout: UserId, ItemId, SessionId (3rd column), Time = day + k seconds."""
    lines = ["UserId\tItemId\tSessionId\tTime"]
    for session, day, items in sessions:
        lines += [f"7\t{item}\t{session}\t{day * DAY + k}.0" for k, item in enumerate(items)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_tmall_cut_cap_and_last_day(tmp_path: Path) -> None:
    path = sessionised_tsv(
        tmp_path / "dataset15.csv",
        [
            (1, 100, [1, 2]),
            (2, 100, [1, 2] * 20 + [3]),  # 41 clicks: over the cap of 40
            (3, 101, [2, 1] * 20),  # exactly 40: kept
            (4, 105, [1, 2, 3]),  # last day: test
            (120001, 105, [1, 2]),  # first session id above 120,000: reading stops here
            (5, 105, [3, 3]),  # after the cut, though its id is small
        ],
    )
    dataset = preprocess("tmall", path, min_item_support=1)
    assert steps(dataset)["read"] == (2 + 41 + 40 + 3, 4, 3)
    assert steps(dataset)["drop_long_sessions"] == (2 + 40 + 3, 3, 3)
    assert external(dataset, "train") == [[1, 2], [2, 1] * 20]
    assert external(dataset, "test") == [[1, 2]]  # 3 was only in the dropped 41-click session
    assert steps(preprocess("tmall", path, min_item_support=1, max_session_id=None))["read"][1] == 6


def test_nowplaying_cap_and_sixty_days(tmp_path: Path) -> None:
    path = sessionised_tsv(
        tmp_path / "nowplaying.csv",
        [(1, 0, [1, 2]), (2, 10, [1, 2] * 15 + [1]), (3, 40, [2, 1]), (4, 100, [1, 2]), (5, 100, [2, 2])],
    )
    dataset = preprocess("nowplaying", path, min_item_support=1)
    # 31 clicks > 30: dropped; max date = day 100 + 1 s, split date 60 days earlier = day 40 + 1 s,
    # which is session 3's date (its last click): in neither set
    assert steps(dataset)["drop_long_sessions"][1] == 4
    assert external(dataset, "train") == [[1, 2]]
    assert external(dataset, "test") == [[1, 2], [2, 2]]


def test_custom_csv_string_ids_iso_times(tmp_path: Path) -> None:
    # unsorted file, ISO times with Z, string item ids with leading zeros kept as strings
    path = tmp_path / "log.tsv"
    path.write_text(
        "sid\tproduct\twhen\n"
        "u2\t007\t2024-03-01T10:02:00Z\n"
        "u1\tsku-9\t2024-03-01T09:00:00Z\n"
        "u2\tsku-9\t2024-03-01T10:01:00Z\n"
        "u1\t007\t2024-03-01T09:05:00Z\n"
        "u3\t007\t2024-03-09T08:00:00Z\n"
        "u3\tsku-9\t2024-03-09T08:00:30Z\n"
    )
    options = {"session_column": "sid", "item_column": "product", "time_column": "when", "separator": "\t"}
    dataset = preprocess("custom", path, min_item_support=1, test_days=2, **options)
    assert dataset.vocab.kind == "str"
    assert dataset.vocab.external.tolist() == ["sku-9", "007"]  # u1 (09:05) is the earliest session
    assert external(dataset, "train") == [["sku-9", "007"], ["sku-9", "007"]]  # time order within u2
    assert external(dataset, "test") == [["007", "sku-9"]]
    assert dataset.train.sessions.times.tolist() == [1709283900.0, 1709287320.0]  # latest click each


def test_custom_parquet_int_ids_and_epoch_ms(tmp_path: Path) -> None:
    ms = 1_700_000_000_000
    log = pl.DataFrame(
        {
            "session_id": [1, 1, 2, 2, 3, 3],
            "item_id": [5, 6, 6, 5, 5, 6],
            "timestamp": [
                ms + k for k in (0, 1_000, DAY * 1_000, DAY * 1_000 + 5, 9 * DAY * 1_000, 9 * DAY * 1_000)
            ],
        }
    )
    log.write_parquet(tmp_path / "log.parquet")
    log.write_csv(tmp_path / "log.csv")
    for name in ("log.parquet", "log.csv"):
        dataset = preprocess("custom", tmp_path / name, min_item_support=1, test_fraction=0.5)
        assert dataset.vocab.kind == "int" and dataset.vocab.external.dtype == np.int64
        assert external(dataset, "train") == [[5, 6], [6, 5]]
        assert external(dataset, "test") == [[5, 6]]
        # milliseconds detected (values > 1e11): dates are seconds
        assert dataset.train.sessions.times[0] == pytest.approx(ms / 1000 + 1)
