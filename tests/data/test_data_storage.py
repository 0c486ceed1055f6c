"""Datasets on disk: exact round trips, and outputs that appear complete or not at all."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import sessionrec.data.dataset as dataset_module
from sessionrec.data.dataset import Dataset
from sessionrec.data.readers import preprocess
from sessionrec.data.synthetic import synthetic_dataset, write_synthetic_csv


def assert_same(a: Dataset, b: Dataset) -> None:
    for split in ("train", "test"):
        x, y = getattr(a, split), getattr(b, split)
        for name in ("offsets", "items", "times"):
            assert np.array_equal(getattr(x.sessions, name), getattr(y.sessions, name)), (split, name)
        assert np.array_equal(x.sample_session, y.sample_session)
        assert np.array_equal(x.sample_cut, y.sample_cut)
    assert a.vocab.external.tolist() == b.vocab.external.tolist()
    assert a.vocab.kind == b.vocab.kind


def test_round_trip_int_ids(tmp_path: Path) -> None:
    dataset = synthetic_dataset(2_000, 100, seed=1)
    loaded = Dataset.load(dataset.save(tmp_path / "ds"))
    assert_same(dataset, loaded)
    assert loaded.manifest["steps"] == dataset.manifest["steps"]
    assert loaded.manifest["stats"] == dataset.stats()
    assert loaded.vocab.lookup(int(dataset.vocab.external[0])) == 1


def test_round_trip_string_ids_and_explicit_samples(raw_samples: Path, tmp_path: Path) -> None:
    # Yoochoose 1/4 keeps an explicit sample list that starts inside a session
    part = preprocess("yoochoose", raw_samples / "sample_yoochoose.dat", tmp_path / "yc4", fraction=4)
    assert_same(part, Dataset.load(tmp_path / "yc4"))
    log = tmp_path / "log.csv"
    log.write_text("session_id,item_id,timestamp\n" + "".join(
        f"{s},sku{(s + k) % 3},{s * 3600 + k}\n" for s in range(40) for k in range(3)
    ))  # fmt: skip
    strings = preprocess("custom", log, tmp_path / "str", min_item_support=1, test_days=0.1)
    assert strings.vocab.kind == "str"
    assert_same(strings, Dataset.load(tmp_path / "str"))


def test_failed_write_leaves_no_output(
    raw_samples: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []
    real_save = dataset_module._save_split

    def fail_on_test_split(split: object, path: Path) -> None:
        calls.append(path.name)
        if path.name == "test.npz":  # train.npz and the vocabulary are already written
            raise OSError("disk full")
        real_save(split, path)

    monkeypatch.setattr(dataset_module, "_save_split", fail_on_test_split)
    out = tmp_path / "out"
    with pytest.raises(OSError, match="disk full"):
        preprocess("yoochoose", raw_samples / "sample_yoochoose.dat", out)
    assert calls == ["train.npz", "test.npz"]
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []  # no temporary sibling left behind either


def test_failed_overwrite_keeps_the_old_dataset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = write_synthetic_csv(tmp_path / "log.csv", n_sessions=500, n_items=50, seed=2)
    out = tmp_path / "out"
    first = preprocess("custom", log, out)

    def broken(split: object, path: Path) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(dataset_module, "_save_split", broken)
    with pytest.raises(OSError):
        preprocess("custom", log, out, min_item_support=2)
    assert_same(first, Dataset.load(out))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["log.csv", "out"]
