"""Fixtures of the data tests: the shared raw samples and benchmark pickles, skipped where absent."""

from __future__ import annotations

from pathlib import Path

import pytest

# tests/data/conftest.py -> the repository root's sibling ../shared/data
SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"


def _folder(name: str) -> Path:
    folder = SHARED_DATA / name
    if not folder.is_dir():
        pytest.skip(f"shared data folder not found: {folder}")
    return folder


@pytest.fixture(scope="session")
def raw_samples() -> Path:
    return _folder("raw-samples")


@pytest.fixture(scope="session")
def benchmarks() -> Path:
    return _folder(".")
