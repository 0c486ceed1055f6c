"""Session-neighbourhood scoring shared by SKNN, V-SKNN, STAN and V-STAN.

Every model of the family is one :class:`Recipe` run by :func:`score_prefixes`
over one :class:`NeighbourIndex` of the training sessions. For a prefix s of l
clicks, with p(i) the position (1..l) of the last click on item i and
d(i) = l - p(i) its distance from the end:

1. prefix weights  w_i = position_weight(p(i), l) * (1 + idf_weight * idf_i)
   (idf_i = log(S / sessions holding i); SKNN: w = 1);
2. candidates      the training sessions n sharing an item of positive weight;
   the ``sample_size`` most recent of them (by session time) are kept;
3. similarity      o = sum_{i in s & n} w_i; cosine o / sqrt(|s| |n|),
   jaccard o / |s | n| (binary weights only), or vec o / |s|
   (|.| = distinct items);
4. recency         sim *= exp(-(t_ref - t_n) / recency_lambda) (STAN factor 2;
   t_ref = the latest training time: exp(-(t_s - t_n) / lambda) differs from it
   by a factor that is the same for every neighbour of s, so rankings agree);
5. neighbours      the ``k`` candidates of largest sim (> 0);
6. scores          score(i) = sum_{n in N(s), i in n} sim(n) * match(n) * near(i, n):
   match(n) = match_weight(t) with t = d(a) + 1 the step of the most recent
   prefix item a shared with n (V-SKNN, V-STAN); near(i, n) =
   exp(-|q_n(i) - q_n(a)| / position_lambda) with q_n the position of an item's last
   click in n (STAN factor 3); either is 1 when off.

Steps 1-5 are sparse products and a per-row top-k; step 6 is one sparse product
when match and near are off, else a vectorised expansion of the neighbours'
items (arrays of neighbour x item entries, no per-session Python loop).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.sparse as sp

from sessionrec.data.sessions import Sessions
from sessionrec.models._sparse import keep_top_k_per_row, row_ids

Weighting = Literal["same", "div", "linear", "quadratic", "exp"]
Similarity = Literal["cosine", "jaccard", "vec"]


@dataclass(frozen=True)
class Recipe:
    """What one model of the family does at each step (module docstring)."""

    k: int
    sample_size: int  # 0 = all candidates
    similarity: Similarity = "cosine"
    position_weighting: Weighting = "same"
    position_lambda: float = 1.0  # "exp": exp(-d / lambda)
    idf_weight: float = 0.0
    recency_lambda: float = 0.0  # 0 = off
    match_weighting: Weighting = "same"
    match_lambda: float = 1.0  # "exp": exp(-(t - 1) / lambda)
    near_lambda: float = 0.0  # 0 = off


def position_weight(name: Weighting, positions: np.ndarray, lengths: np.ndarray, lam: float) -> np.ndarray:
    """Weight of a prefix item whose last click is at ``positions`` (1..l) of ``lengths`` clicks.

    same 1; div p / l; linear max(1 - 0.1 d, 0); quadratic linear^2; exp exp(-d / lam); d = l - p.
    """
    d = (lengths - positions).astype(np.float64)
    if name == "same":
        return np.ones(len(d))
    if name == "div":
        return positions / lengths.astype(np.float64)
    if name == "linear":
        return np.maximum(1.0 - 0.1 * d, 0.0)
    if name == "quadratic":
        return np.maximum(1.0 - 0.1 * d, 0.0) ** 2
    return np.exp(-d / lam)


def match_weight(name: Weighting, steps: np.ndarray, lam: float) -> np.ndarray:
    """Weight of a neighbour whose most recent shared item is ``steps`` (1 = the last) back.

    same 1; div 1 / t; linear max(1 - 0.1 (t - 1), 0); quadratic linear^2; exp exp(-(t - 1) / lam).
    """
    t = steps.astype(np.float64)
    if name == "same":
        return np.ones(len(t))
    if name == "div":
        return 1.0 / t
    if name == "linear":
        return np.maximum(1.0 - 0.1 * (t - 1), 0.0)
    if name == "quadratic":
        return np.maximum(1.0 - 0.1 * (t - 1), 0.0) ** 2
    return np.exp(-(t - 1) / lam)


@dataclass
class NeighbourIndex:
    """The training sessions, rows from the oldest to the most recent."""

    sessions: sp.csr_matrix  # [S, N] float32, 1 where the session holds the item
    positions: np.ndarray  # int32, aligned with sessions.data: position (1..) of the item's last click
    times: np.ndarray  # float64 [S], ascending

    def __post_init__(self) -> None:
        self.items_to_sessions = self.sessions.T.tocsr()  # [N, S] for the overlap product
        self.sizes = np.diff(self.sessions.indptr).astype(np.float64)  # distinct items per session
        held_by = np.bincount(self.sessions.indices, minlength=self.sessions.shape[1]).astype(np.float64)
        with np.errstate(divide="ignore"):
            self.idf = np.where(held_by > 0, np.log(len(self.sizes) / np.maximum(held_by, 1.0)), 0.0)

    @classmethod
    def build(cls, sessions: Sessions, n_items: int) -> NeighbourIndex:
        """Index ``sessions`` in time order (equal times keep the file order)."""
        ordered = sessions.subset(np.argsort(sessions.times, kind="stable"))
        rows = np.repeat(np.arange(len(ordered), dtype=np.int64), ordered.lengths)
        positions = np.arange(len(ordered.items), dtype=np.int64) - ordered.offsets[rows] + 1
        rows_, items, last = last_positions(rows, ordered.items.astype(np.int64) - 1, positions, n_items)
        return cls.from_arrays(rows_, items, last, ordered.times, len(ordered), n_items)

    @classmethod
    def from_arrays(
        cls,
        rows: np.ndarray,
        items: np.ndarray,
        positions: np.ndarray,
        times: np.ndarray,
        n_sessions: int,
        n_items: int,
    ) -> NeighbourIndex:
        """From (row, item, position) entries sorted by row then item, one per pair."""
        indptr = np.zeros(n_sessions + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=n_sessions), out=indptr[1:])
        matrix = sp.csr_matrix(
            (np.ones(len(items), dtype=np.float32), items.astype(np.int32), indptr),
            shape=(n_sessions, n_items),
        )
        return cls(matrix, positions.astype(np.int32), np.asarray(times, dtype=np.float64))


def last_positions(
    rows: np.ndarray, items: np.ndarray, positions: np.ndarray, n_items: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One (row, item) entry per pair, with the largest position; sorted by row then item."""
    keys = rows * n_items + items
    order = np.lexsort((positions, keys))
    keys, positions = keys[order], positions[order]
    last = np.append(keys[1:] != keys[:-1], True)
    keys = keys[last]
    return keys // n_items, keys % n_items, positions[last]


@dataclass(frozen=True)
class Prefixes:
    """A batch of prefixes as sorted (row, item) entries with the last click's position."""

    rows: np.ndarray
    items: np.ndarray  # 0-based columns
    positions: np.ndarray  # 1..l
    lengths: np.ndarray  # [B] clicks
    n_items: int

    @classmethod
    def from_padded(cls, items: np.ndarray, lengths: np.ndarray, n_items: int) -> Prefixes:
        rows, cols = np.nonzero(items > 0)
        r, i, p = last_positions(
            rows.astype(np.int64), items[rows, cols].astype(np.int64) - 1, cols + 1, n_items
        )
        return cls(r, i, p, np.asarray(lengths, dtype=np.int64), n_items)

    @property
    def keys(self) -> np.ndarray:
        return self.rows * self.n_items + self.items

    def matrix(self, values: np.ndarray) -> sp.csr_matrix:
        n_rows = len(self.lengths)
        indptr = np.zeros(n_rows + 1, dtype=np.int64)
        np.cumsum(np.bincount(self.rows, minlength=n_rows), out=indptr[1:])
        return sp.csr_matrix((values, self.items, indptr), shape=(n_rows, self.n_items))


def neighbours(index: NeighbourIndex, recipe: Recipe, prefixes: Prefixes) -> sp.csr_matrix:
    """[B, S] similarities of each prefix's k neighbour sessions (0 elsewhere); steps 1-5."""
    weights = position_weight(
        recipe.position_weighting, prefixes.positions, prefixes.lengths[prefixes.rows], recipe.position_lambda
    )
    if recipe.idf_weight:
        weights = weights * (1.0 + recipe.idf_weight * index.idf[prefixes.items])
    prefix = prefixes.matrix(weights)
    overlap = (prefix @ index.items_to_sessions).tocsr()  # sum of shared weights, every candidate
    overlap.eliminate_zeros()
    overlap.sort_indices()  # columns ascend = sessions from the oldest to the most recent
    rows = row_ids(overlap)
    cols = overlap.indices.astype(np.int64)
    common = overlap.data.astype(np.float64)
    if recipe.sample_size:
        from_end = overlap.indptr[rows + 1] - 1 - np.arange(len(rows))
        recent = from_end < recipe.sample_size
        rows, cols, common = rows[recent], cols[recent], common[recent]
    a = np.bincount(prefixes.rows, minlength=prefix.shape[0]).astype(np.float64)[rows]
    b = index.sizes[cols]
    if recipe.similarity == "cosine":
        sims = common / np.sqrt(a * b)
    elif recipe.similarity == "jaccard":
        sims = common / (a + b - common)
    else:
        sims = common / a
    if recipe.recency_lambda:
        sims = sims * np.exp(-(index.times[-1] - index.times[cols]) / recipe.recency_lambda)
    candidates = sp.csr_matrix((sims.astype(np.float32), (rows, cols)), shape=overlap.shape)
    recency = np.arange(overlap.shape[1], dtype=np.float64)
    return keep_top_k_per_row(candidates, recipe.k, tiebreak=recency)


def score_prefixes(index: NeighbourIndex, recipe: Recipe, prefixes: Prefixes) -> np.ndarray:
    """[B, N] float32 scores of every item for every prefix (steps 1-6)."""
    nearest = neighbours(index, recipe, prefixes)
    if recipe.match_weighting == "same" and not recipe.near_lambda:
        return (nearest @ index.sessions).toarray()
    entries = NeighbourEntries.expand(index, nearest, prefixes)
    values = nearest.data.astype(np.float64)
    steps = prefixes.lengths[entries.pair_rows] - entries.anchor_prefix_position + 1
    values = values * match_weight(recipe.match_weighting, steps, recipe.match_lambda)
    per_entry = values[entries.pair]
    if recipe.near_lambda:
        distance = np.abs(entries.positions - entries.anchor_position[entries.pair])
        per_entry = per_entry * np.exp(-distance / recipe.near_lambda)
    shape = (len(prefixes.lengths), prefixes.n_items)
    scores = sp.csr_matrix((per_entry, (entries.pair_rows[entries.pair], entries.items)), shape=shape)
    return scores.toarray().astype(np.float32)


@dataclass(frozen=True)
class NeighbourEntries:
    """Every (neighbour pair, item of the neighbour) entry, with what step 6 needs."""

    pair: np.ndarray  # [E] index of the (prefix, neighbour) pair, in the storage order of ``nearest``
    pair_rows: np.ndarray  # [P] the prefix of each pair
    items: np.ndarray  # [E] 0-based item
    positions: np.ndarray  # [E] position of the item's last click in the neighbour
    anchor_prefix_position: np.ndarray  # [P] prefix position of the most recent shared item
    anchor_position: np.ndarray  # [P] that item's position in the neighbour

    @classmethod
    def expand(cls, index: NeighbourIndex, nearest: sp.csr_matrix, prefixes: Prefixes) -> NeighbourEntries:
        pair_rows = row_ids(nearest)
        sessions = nearest.indices.astype(np.int64)
        starts = index.sessions.indptr[sessions]
        lengths = index.sessions.indptr[sessions + 1] - starts
        pair = np.repeat(np.arange(len(sessions)), lengths)
        first = np.cumsum(lengths) - lengths
        entry = starts[pair] + np.arange(len(pair)) - first[pair]
        items = index.sessions.indices[entry].astype(np.int64)
        positions = index.positions[entry].astype(np.int64)
        # the prefix position of each neighbour item (0 when the prefix lacks it)
        keys = prefixes.keys
        query = pair_rows[pair] * prefixes.n_items + items
        found = np.minimum(np.searchsorted(keys, query), max(len(keys) - 1, 0))
        in_prefix = np.where(keys[found] == query, prefixes.positions[found], 0) if len(keys) else query * 0
        anchor_prefix = np.maximum.reduceat(in_prefix, first) if len(first) else first
        # items are distinct within a session and prefix positions distinct within a prefix:
        # exactly one entry of each pair holds the anchor
        anchor = (in_prefix == anchor_prefix[pair]) & (in_prefix > 0)
        anchor_position = np.zeros(len(sessions), dtype=np.int64)
        anchor_position[pair[anchor]] = positions[anchor]
        return cls(pair, pair_rows, items, positions, anchor_prefix, anchor_position)
