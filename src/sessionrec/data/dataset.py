"""A preprocessed dataset on disk: train and test sessions (CSR), samples, vocabulary, manifest.

Layout of a dataset directory::

    manifest.json         source, protocol, filters, counts (the papers' Table 1 figures)
    items.npy|items.json  external item id of each internal index 1..N
    train.npz, test.npz   offsets, items, times, sample_session, sample_cut

Writing goes to a temporary sibling directory that is renamed into place, so a
crash never leaves a half-written dataset that looks complete.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from sessionrec.data.sessions import Sessions, Split
from sessionrec.data.vocab import ItemVocab
from sessionrec.errors import DataError
from sessionrec.io import atomic_directory

FORMAT_VERSION = 1


@dataclass(frozen=True)
class Dataset:
    train: Split
    test: Split
    manifest: dict[str, Any] = field(default_factory=dict)

    @property
    def vocab(self) -> ItemVocab:
        return self.train.vocab

    @property
    def n_items(self) -> int:
        return self.vocab.n_items

    @classmethod
    def from_sessions(
        cls, train: Sessions, test: Sessions, vocab: ItemVocab, manifest: dict[str, Any] | None = None
    ) -> Dataset:
        dataset = cls(Split.augmented(train, vocab), Split.augmented(test, vocab), dict(manifest or {}))
        dataset.manifest["stats"] = dataset.stats()
        return dataset

    def stats(self) -> dict[str, Any]:
        """The figures of the papers' Table 1 (samples are augmented prefixes)."""
        clicks = len(self.train.sessions.items) + len(self.test.sessions.items)
        n_sessions = len(self.train.sessions) + len(self.test.sessions)
        trained = np.count_nonzero(self.train.item_counts())
        return {
            "clicks": int(clicks),
            "train_sessions": len(self.train.sessions),
            "test_sessions": len(self.test.sessions),
            "train_samples": len(self.train),
            "test_samples": len(self.test),
            "items": self.n_items,
            "items_in_train": int(trained),
            "avg_length": round(clicks / max(n_sessions, 1), 4),
        }

    def validation_split(
        self, fraction: float = 0.1, mode: Literal["last", "random"] = "last", seed: int = 0
    ) -> tuple[Split, Split]:
        """Hold out about ``fraction`` of the training samples, whole sessions at a time.

        ``last``: the most recent sessions (the training sessions are in time order);
        ``random``: sessions drawn at random with ``seed``. Cutting whole sessions keeps
        a session's prefixes from landing on both sides.
        """
        if not 0.0 < fraction < 1.0:
            raise DataError(f"validation fraction must be in (0, 1), got {fraction}")
        sessions = self.train.sessions
        order = np.arange(len(sessions))
        if mode == "random":
            order = np.random.default_rng(seed).permutation(len(sessions))
        elif mode != "last":
            raise DataError(f"validation mode must be 'last' or 'random', got {mode!r}")
        samples = np.maximum(sessions.lengths[order] - 1, 0)
        kept = np.cumsum(samples) <= (1.0 - fraction) * samples.sum()
        train_idx, valid_idx = np.sort(order[kept]), np.sort(order[~kept])
        if len(valid_idx) == 0 or len(train_idx) == 0:
            raise DataError("too few training sessions to hold out a validation split")
        return self.train.take_sessions(train_idx), self.train.take_sessions(valid_idx)

    def save(self, directory: str | Path) -> Path:
        directory = Path(directory)
        with atomic_directory(directory) as tmp:
            self.vocab.save(tmp)
            _save_split(self.train, tmp / "train.npz")
            _save_split(self.test, tmp / "test.npz")
            manifest = {"format_version": FORMAT_VERSION, **self.manifest, "stats": self.stats()}
            (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str))
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> Dataset:
        directory = Path(directory)
        manifest_path = directory / "manifest.json"
        if not manifest_path.is_file():
            raise DataError(f"{directory}: not a sessionrec dataset (no manifest.json)")
        try:
            manifest = json.loads(manifest_path.read_text())
        except json.JSONDecodeError as exc:
            raise DataError(f"{manifest_path}: invalid JSON ({exc})") from None
        if manifest.get("format_version") != FORMAT_VERSION:
            raise DataError(f"{manifest_path}: unsupported format_version {manifest.get('format_version')!r}")
        vocab = ItemVocab.load(directory)
        train = _load_split(directory / "train.npz", vocab)
        test = _load_split(directory / "test.npz", vocab)
        return cls(train, test, manifest)


_ARRAYS = ("offsets", "items", "times", "sample_session", "sample_cut")


def _save_split(split: Split, path: Path) -> None:
    s = split.sessions
    np.savez(
        path,
        offsets=s.offsets,
        items=s.items,
        times=s.times,
        sample_session=split.sample_session,
        sample_cut=split.sample_cut,
    )


def _load_split(path: Path, vocab: ItemVocab) -> Split:
    if not path.is_file():
        raise DataError(f"{path}: missing")
    try:
        with np.load(path) as npz:
            missing = [name for name in _ARRAYS if name not in npz.files]
            if missing:
                raise DataError(f"{path}: missing arrays {missing}")
            arrays = {name: npz[name] for name in _ARRAYS}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise DataError(f"{path}: unreadable ({exc})") from None
    sessions = Sessions(arrays["offsets"], arrays["items"], arrays["times"])
    if len(sessions.items) and (sessions.items.max() > vocab.n_items or sessions.items.min() < 1):
        raise DataError(f"{path}: item indices outside the vocabulary 1..{vocab.n_items}")
    return Split(sessions, arrays["sample_session"], arrays["sample_cut"], vocab)
