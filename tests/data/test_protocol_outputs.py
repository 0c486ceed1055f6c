"""Preprocessing outputs pinned: the memory rework of the protocol changed none of them.

Each case preprocesses a small seeded raw file (``sessionrec.data.synthetic_raw``) and
compares a SHA-256 digest of everything a dataset holds (sessions, samples, vocabulary,
the manifest less the raw file's path) with the digest the previous implementation
(frame copies at every filter, a sort per split) produced on the same file.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from sessionrec.data.dataset import Dataset
from sessionrec.data.readers import preprocess
from sessionrec.data.synthetic_raw import write_diginetica_views, write_yoochoose_clicks

SIZE = {"n_clicks": 40_000, "n_sessions": 11_000, "n_items": 600}
CASES = {
    "yoochoose": ("yoochoose", {}),
    "yoochoose-fraction-4": ("yoochoose", {"fraction": 4}),
    "yoochoose-capped": ("yoochoose", {"max_session_length": 5, "min_item_support": 20}),
    "diginetica": ("diginetica", {}),
    "diginetica-unsorted-max-date": ("diginetica", {"sort_by_timeframe": False, "session_date": "max"}),
    "diginetica-test-fraction": ("diginetica", {"test_fraction": 0.3}),
}
EXPECTED = {  # digests of the previous implementation's outputs
    "diginetica": "e8a632b6836a89266c643f55c52674b468652c5663371778cf2172300f8fe75b",
    "diginetica-test-fraction": "0d2366379dee1ef8aaff0fb772e8d078b3d8806cbcecb0fc94a5653fb4b4a315",
    "diginetica-unsorted-max-date": "f235d57b7e131dfd464911b75555223019125f0948fd40335b236c8bd60af24b",
    "yoochoose": "f2bff2ad5523991bf27659610f9c8c5c6df70c5cba09f834a36265aad6717921",
    "yoochoose-capped": "62f635a8668918d12e1c47be5bd771da959ff4f9dc96b1bbaf5c9a4584206e8e",
    "yoochoose-fraction-4": "9a408a6ea6b59d6e12cf6585d98e7223b0ba27e0b0d50423d8fd47a2e6b4236f",
}


def dataset_digest(dataset: Dataset) -> str:
    digest = hashlib.sha256()
    for split in (dataset.train, dataset.test):
        s = split.sessions
        for array in (s.offsets, s.items, s.times, split.sample_session, split.sample_cut):
            digest.update(str(array.dtype).encode() + np.ascontiguousarray(array).tobytes())
    digest.update(np.asarray(dataset.vocab.external).astype(np.int64).tobytes())
    manifest = {k: v for k, v in dataset.manifest.items() if k != "raw_path"}
    digest.update(json.dumps(manifest, sort_keys=True, default=str).encode())
    return digest.hexdigest()


@pytest.fixture(scope="module")
def raw_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("raw")
    return {
        "yoochoose": write_yoochoose_clicks(root / "yoochoose-clicks.dat", seed=3, **SIZE),
        "diginetica": write_diginetica_views(root / "train-item-views.csv", seed=3, **SIZE),
    }


@pytest.mark.parametrize("case", sorted(CASES))
def test_preprocessing_outputs_are_those_of_the_previous_implementation(
    case: str, raw_files: dict[str, Path]
) -> None:
    source, options = CASES[case]
    dataset = preprocess(source, raw_files[source], **options)
    assert dataset_digest(dataset) == EXPECTED[case]
