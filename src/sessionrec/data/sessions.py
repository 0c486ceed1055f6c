"""Sessions in CSR form, and the (prefix -> next item) samples cut from them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sessionrec.data.vocab import ItemVocab
from sessionrec.errors import DataError


@dataclass(frozen=True)
class Sessions:
    """``items[offsets[s]:offsets[s + 1]]`` are the internal item indices of session s.

    ``times`` holds one timestamp per session (epoch seconds of its last click, or
    its rank in time order where the source has no clock, as in SR-GNN pickles).
    """

    offsets: np.ndarray  # int64 [n_sessions + 1]
    items: np.ndarray  # int32 [n_clicks]
    times: np.ndarray  # float64 [n_sessions]

    def __post_init__(self) -> None:
        if self.offsets.ndim != 1 or len(self.offsets) == 0 or self.offsets[0] != 0:
            raise DataError("session offsets must start at 0")
        if self.offsets[-1] != len(self.items):
            raise DataError("session offsets do not cover the item array")
        if len(self.times) != len(self):
            raise DataError("there must be one timestamp per session")

    @classmethod
    def from_lists(cls, sessions: Sequence[Sequence[int]], times: Sequence[float] | None = None) -> Sessions:
        lengths = np.fromiter((len(s) for s in sessions), dtype=np.int64, count=len(sessions))
        offsets = np.zeros(len(sessions) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        items = np.fromiter((i for s in sessions for i in s), dtype=np.int32, count=int(offsets[-1]))
        stamps = (
            np.arange(len(sessions), dtype=np.float64)
            if times is None
            else np.asarray(times, dtype=np.float64)
        )
        return cls(offsets, items, stamps)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def session(self, index: int) -> np.ndarray:
        return self.items[self.offsets[index] : self.offsets[index + 1]]

    def to_lists(self) -> list[list[int]]:
        return [self.session(i).tolist() for i in range(len(self))]

    def subset(self, indices: np.ndarray) -> Sessions:
        """The sessions at ``indices``, in that order."""
        lengths = self.lengths[indices]
        offsets = np.zeros(len(indices) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        gather = _ranges(self.offsets[indices], lengths)
        return Sessions(offsets, self.items[gather], self.times[indices])


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenation of ``arange(s, s + n)`` for each (s, n), vectorised."""
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    ends = np.cumsum(lengths)
    offsets_within = np.arange(total, dtype=np.int64) - np.repeat(ends - lengths, lengths)
    return np.repeat(starts, lengths) + offsets_within


def prefix_samples(sessions: Sessions) -> tuple[np.ndarray, np.ndarray]:
    """Standard prefix augmentation, longest prefix first within each session.

    Session ``[v1..vn]`` yields samples with prefix lengths ``n-1, n-2, ..., 1``;
    the sample (s, c) has prefix ``items[s][:c]`` and target ``items[s][c]``.
    """
    counts = np.maximum(sessions.lengths - 1, 0)
    sample_session = np.repeat(np.arange(len(sessions), dtype=np.int64), counts)
    within = np.arange(int(counts.sum()), dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
    sample_cut = np.repeat(counts, counts) - within
    return sample_session, sample_cut


@dataclass(frozen=True)
class Split:
    """A set of sessions, the samples evaluated or trained on, and the vocabulary."""

    sessions: Sessions
    sample_session: np.ndarray  # int64 [n_samples]
    sample_cut: np.ndarray  # int64 [n_samples], prefix length >= 1
    vocab: ItemVocab

    @classmethod
    def augmented(cls, sessions: Sessions, vocab: ItemVocab) -> Split:
        sample_session, sample_cut = prefix_samples(sessions)
        return cls(sessions, sample_session, sample_cut, vocab)

    def __len__(self) -> int:
        return len(self.sample_session)

    @property
    def n_items(self) -> int:
        return self.vocab.n_items

    @property
    def targets(self) -> np.ndarray:
        return self.sessions.items[self.sessions.offsets[self.sample_session] + self.sample_cut].astype(
            np.int64
        )

    @property
    def prefix_lengths(self) -> np.ndarray:
        return self.sample_cut

    def prefix(self, sample: int) -> np.ndarray:
        start = self.sessions.offsets[self.sample_session[sample]]
        return self.sessions.items[start : start + self.sample_cut[sample]]

    def select(self, samples: np.ndarray) -> Split:
        """A split over the same sessions restricted to the given samples."""
        return Split(self.sessions, self.sample_session[samples], self.sample_cut[samples], self.vocab)

    def take_sessions(self, indices: np.ndarray) -> Split:
        """A split over a subset of the sessions, with all their samples."""
        return Split.augmented(self.sessions.subset(indices), self.vocab)

    def item_counts(self) -> np.ndarray:
        """Clicks per internal item over the sessions (index 0 = padding, always 0)."""
        counts = np.bincount(self.sessions.items, minlength=self.n_items + 1)
        counts[0] = 0
        return counts
