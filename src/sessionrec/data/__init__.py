"""Data: raw-log readers, the standard protocol, datasets on disk, pickles, batching."""

from __future__ import annotations

from pathlib import Path

from sessionrec.data.dataset import Dataset
from sessionrec.errors import DataError


def open_dataset(path: str | Path) -> Dataset:
    """A dataset directory (``sessionrec preprocess``), or a folder of SR-GNN pickles imported on the fly."""
    path = Path(path)
    if not path.is_dir():
        raise DataError(f"{path}: no such dataset directory")
    if not (path / "manifest.json").is_file() and (path / "test.txt").is_file():
        from sessionrec.data.pickles import import_pickles

        return import_pickles(path)
    return Dataset.load(path)


__all__ = ["Dataset", "open_dataset"]
