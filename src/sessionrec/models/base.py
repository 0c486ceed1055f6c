"""The contract every model obeys (DESIGN.md), written once.

- ``Model(config)`` only stores a validated config; no work in the constructor.
- ``fit(train, valid=None) -> self``, always through one sequence: ``prepare(train)``
  (what comes from the whole training log: vocabulary statistics, global graphs,
  neighbour indices, samplers; ``models.prepared``), then the model's own ``_fit``
  (a neural model builds its network from what was prepared and hands it to the trainer).
- ``score(batch) -> Tensor[B, N]``: column j scores internal item j + 1 (padding
  is never a candidate). Evaluation and serving are built on this alone.
- ``recommend(sessions, k)``: external ids in and out; unknown items are dropped
  and reported; a session with no known item falls back to the most popular
  training items, flagged in the result.
- ``save(dir)`` / ``load(dir)``: config JSON + vocabulary + arrays (weights and prepared
  structures), never a pickle; the SHA-256 of every file is recorded in ``model.json``
  and checked before anything is read back.
"""

from __future__ import annotations

import json
import logging
import zipfile
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Self

import numpy as np
import torch

from sessionrec import __version__
from sessionrec.config import Config
from sessionrec.data.batching import Batch, BatchSpec, batch_from_lists
from sessionrec.data.sessions import Split
from sessionrec.data.vocab import ExternalId, ItemVocab
from sessionrec.errors import CheckpointError, ConfigError, DataError
from sessionrec.evaluation import DEFAULT_TIES, Evaluation, TieMode, evaluate_scores
from sessionrec.integrity import digest_files, verify_files
from sessionrec.io import atomic_directory
from sessionrec.models.prepared import (
    PREPARED_FILE,
    Prepared,
    cache_path,
    decode_prepared,
    save_prepared,
    split_fingerprint,
)
from sessionrec.tuning.space import SearchSpace

if TYPE_CHECKING:
    from sessionrec.ann import IndexConfig, ItemIndex

log = logging.getLogger(__name__)
MODEL_FILE = "model.json"
ItemScoring = Literal["inner_product", "cosine"]


@dataclass(frozen=True)
class Recommendations:
    """Top-k lists per session; unpacks as ``(items, scores)``."""

    items: list[list[ExternalId]]
    scores: list[list[float]]
    unknown_items: list[list[object]]
    fallback: list[bool]  # True where no item was known and popular items were returned

    def __iter__(self) -> Iterator[Any]:
        return iter((self.items, self.scores))


class Recommender(ABC):
    """Base of every model. Subclasses set ``config_class`` and implement the hooks."""

    name: ClassVar[str] = "?"
    config_class: ClassVar[type[Config]]
    # config keys that shape what ``prepare`` builds; a tuple caches it on disk (costly ones)
    prepare_keys: ClassVar[tuple[str, ...] | None] = None
    # the config keys ``sessionrec tune`` may vary, over typed ranges (None: not tunable)
    search_space: ClassVar[SearchSpace | None] = None
    # declared by models whose ``score`` is exactly one product of ``session_vectors(batch)``
    # with ``item_table()`` rows 1..N: "inner_product" (<v, E_j>) or "cosine"; None for any
    # other scoring (target-aware attention, extra terms, neighbour votes). Only a declared
    # model may recommend through an approximate index (``build_index``, ``sessionrec.ann``).
    item_scoring: ClassVar[ItemScoring | None] = None

    def __init__(self, config: Config | dict[str, Any] | None = None, **overrides: Any) -> None:
        if config is None:
            config = self.config_class.from_dict(overrides)
        elif isinstance(config, dict):
            config = self.config_class.from_dict({**config, **overrides})
        elif not isinstance(config, self.config_class):
            raise ConfigError(f"{type(self).__name__} expects a {self.config_class.__name__}")
        elif overrides:
            config = config.replace(**overrides)
        self.config = config
        self.preset: str | None = None
        self.vocab_: ItemVocab | None = None
        self.popularity_: np.ndarray | None = None  # training clicks per item 0..N
        self.prepared_: Prepared = {}  # what prepare() built from the training sessions
        self.train_fingerprint_: str | None = None  # the training split it was built from
        self.item_index_: ItemIndex | None = None  # approximate top-k index (build_index), opt-in

    # -- hooks -------------------------------------------------------------------------
    @property
    def batch_spec(self) -> BatchSpec:
        """What the model needs from a batch (truncation, session graph)."""
        return BatchSpec()

    def prepare(self, train: Split) -> Prepared:
        """Structures learned from the whole training log before any network exists.

        Called once per fit on that fit's training sessions (selection and refit each
        on their own), saved with the model and loaded with it. Default: nothing.
        """
        return {}

    @abstractmethod
    def _fit(self, train: Split, valid: Split | None) -> None:
        """Learn from ``train`` once ``prepare_fit`` has run (``self.prepared_`` is set)."""

    @abstractmethod
    def score(self, batch: Batch) -> torch.Tensor:
        """Scores [B, N] of items 1..N for each prefix of the batch."""

    @abstractmethod
    def _state(self) -> dict[str, np.ndarray]:
        """Learned arrays to save (classic models); neural models override save/load hooks."""

    @abstractmethod
    def _set_state(self, state: dict[str, np.ndarray]) -> None: ...

    def session_vectors(self, batch: Batch) -> torch.Tensor:
        """[B, d] session vectors, for models that declare ``item_scoring``."""
        raise NotImplementedError(f"{type(self).__name__} declares no inner-product item scoring")

    def item_table(self) -> torch.Tensor:
        """The [N + 1, d] table (row 0: padding) scored against ``session_vectors``."""
        raise NotImplementedError(f"{type(self).__name__} declares no inner-product item scoring")

    # -- contract ----------------------------------------------------------------------
    def fit(self, train: Split, valid: Split | None = None) -> Self:
        self.prepare_fit(train, valid)
        self._fit(train, valid)
        return self

    def prepare_fit(self, train: Split, valid: Split | None = None, prepared: Prepared | None = None) -> None:
        """The first step of every fit: vocabulary, popularity and ``prepare(train)``.

        ``prepared``: structures already built from these same sessions (a resumed run's),
        used instead of preparing again.
        """
        if len(train) == 0:
            raise DataError("cannot fit on a split with no training samples")
        if valid is not None and valid.vocab is not train.vocab and valid.n_items != train.n_items:
            raise DataError("train and validation splits use different item vocabularies")
        self.vocab_ = train.vocab
        self.popularity_ = train.item_counts()
        self.train_fingerprint_ = split_fingerprint(train)
        self.prepared_ = self._prepare_cached(train) if prepared is None else prepared

    def _prepare_cached(self, train: Split) -> Prepared:
        """``prepare(train)``, read from the on-disk cache when the model declares it costly."""
        if self.prepare_keys is None:
            return self.prepare(train)
        assert self.train_fingerprint_ is not None
        settings = {key: getattr(self.config, key) for key in self.prepare_keys}
        path = cache_path(self.name, settings, self.train_fingerprint_)
        if path is not None and path.is_file():
            try:
                prepared, meta = decode_prepared(path, train.n_items)
                if meta.get("train_fingerprint") == self.train_fingerprint_:
                    return prepared
            except CheckpointError:
                pass  # a damaged cache entry is rebuilt and replaced
        prepared = self.prepare(train)
        if path is not None:
            save_prepared(path, prepared, train.n_items, self.train_fingerprint_)
        return prepared

    @property
    def is_fitted(self) -> bool:
        return self.vocab_ is not None

    @property
    def n_items(self) -> int:
        return self._require_fitted().n_items

    def _require_fitted(self) -> ItemVocab:
        if self.vocab_ is None:
            raise RuntimeError(f"{type(self).__name__} is not fitted: call fit() or load() first")
        return self.vocab_

    def evaluate(self, split: Split, batch_size: int = 500, ties: TieMode = DEFAULT_TIES) -> Evaluation:
        self._require_fitted()
        if split.n_items != self.n_items:
            raise DataError(f"split has {split.n_items} items, the model {self.n_items}")
        return evaluate_scores(self.score, split, self.batch_spec, batch_size, ties, self.device)

    @property
    def device(self) -> torch.device:
        return torch.device("cpu")

    def recommend(
        self,
        sessions: Sequence[Sequence[object]],
        k: int = 20,
        exclude_seen: bool = False,
        batch_size: int = 256,
        approximate: bool = False,
    ) -> Recommendations:
        """Top-``k`` external item ids and scores for each session of external ids.

        ``k`` is capped at the number of recommendable items (the catalogue, less
        the session's own items with ``exclude_seen``). ``approximate=True`` takes the
        top-k from the index built by :meth:`build_index` (or loaded with the model)
        instead of scoring every item; the same items are left out (padding, unknown
        items, the session's own with ``exclude_seen``) and the same popularity fallback
        serves sessions with no known item.
        """
        vocab = self._require_fitted()
        if isinstance(k, bool) or not isinstance(k, int) or k <= 0:
            raise ValueError(f"k must be a positive integer, got {k!r}")
        if approximate and self.item_index_ is None:
            raise ConfigError(
                f"{self.name}: approximate=True needs an item index: call build_index() first "
                "(or load a model saved with one, with the 'ann' extra installed)"
            )
        top_k = self._top_k_approximate if approximate else self._top_k
        encoded, unknown = zip(*(vocab.encode(s) for s in sessions), strict=True) if sessions else ((), ())
        fallback = [len(e) == 0 for e in encoded]
        out_items: list[list[ExternalId]] = []
        out_scores: list[list[float]] = []
        for start in range(0, len(encoded), batch_size):
            chunk = list(encoded[start : start + batch_size])
            ids, scores = top_k(chunk, min(k, vocab.n_items), exclude_seen)
            for row, _session in enumerate(chunk):
                keep = np.isfinite(scores[row])
                out_items.append(vocab.decode(ids[row][keep]))
                out_scores.append(scores[row][keep].tolist())
            del chunk
        return Recommendations(out_items, out_scores, [list(u) for u in unknown], fallback)

    def _top_k(self, sessions: list[list[int]], k: int, exclude_seen: bool) -> tuple[np.ndarray, np.ndarray]:
        with torch.inference_mode():
            scores = self._scores_with_fallback(sessions)
            if exclude_seen:
                for row, session in enumerate(sessions):
                    if session:
                        scores[row, torch.tensor(session) - 1] = float("-inf")
            top = scores.topk(k, dim=1)
        return (top.indices + 1).numpy(), top.values.numpy()

    def _top_k_approximate(
        self, sessions: list[list[int]], k: int, exclude_seen: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        """``_top_k`` through the item index: -inf scores mark slots left empty."""
        index = self.item_index_
        assert index is not None
        ids = np.zeros((len(sessions), k), dtype=np.int64)
        scores = np.full((len(sessions), k), -np.inf, dtype=np.float32)
        known = [row for row, session in enumerate(sessions) if session]
        if known:
            batch = batch_from_lists([sessions[row] for row in known], self.batch_spec).to(self.device)
            with torch.inference_mode():
                vectors = self.session_vectors(batch).float().cpu().numpy()
            extra = max(len(set(sessions[row])) for row in known) if exclude_seen else 0
            found_scores, found = index.search(vectors, k + extra)
            for i, row in enumerate(known):
                keep = found[i] > 0
                if exclude_seen:
                    keep &= ~np.isin(found[i], sessions[row])
                chosen = np.flatnonzero(keep)[:k]
                ids[row, : len(chosen)] = found[i, chosen]
                scores[row, : len(chosen)] = found_scores[i, chosen]
        if len(known) < len(sessions):  # the exact path's popularity fallback, unchanged
            assert self.popularity_ is not None
            top = torch.from_numpy(self.popularity_[1:].astype(np.float32)).topk(k)
            rows = [row for row, session in enumerate(sessions) if not session]
            ids[rows], scores[rows] = (top.indices + 1).numpy(), top.values.numpy()
        return ids, scores

    def build_index(self, config: IndexConfig | None = None, **overrides: Any) -> ItemIndex:
        """Build (and keep, saved with the model) an approximate top-k index over the item table.

        Only for models that declare ``item_scoring``; any other raises :class:`ConfigError`.
        Rebuild after the weights change: a saved index is checked against the table at load.
        """
        from sessionrec.ann import IndexConfig, ItemIndex

        self._require_fitted()
        if config is None:
            config = IndexConfig.from_dict(overrides)
        elif overrides:
            config = config.replace(**overrides)
        self.item_index_ = ItemIndex.build(self, config)
        return self.item_index_

    def _scores_with_fallback(self, sessions: list[list[int]]) -> torch.Tensor:
        """Model scores [S, N]; sessions with no known item get training popularity instead."""
        known = [s for s in sessions if s]
        model_scores = None
        if known:
            batch = batch_from_lists(known, self.batch_spec).to(self.device)
            model_scores = self.score(batch).float().cpu()
            if len(known) == len(sessions):
                return model_scores  # the common case: no fallback row, no copy
        scores = torch.empty(len(sessions), self.n_items)
        if model_scores is not None:
            scores[torch.tensor([bool(s) for s in sessions])] = model_scores
        assert self.popularity_ is not None
        popular = torch.from_numpy(self.popularity_[1:].astype(np.float32))
        scores[torch.tensor([not s for s in sessions])] = popular
        return scores

    # -- persistence -------------------------------------------------------------------
    def save(self, directory: str | Path) -> Path:
        vocab = self._require_fitted()
        directory = Path(directory)
        with atomic_directory(directory) as tmp:
            vocab.save(tmp)
            assert self.popularity_ is not None
            self._save_weights(tmp)
            np.save(tmp / "popularity.npy", self.popularity_)
            if self.item_index_ is not None:
                self.item_index_.save(tmp)
            if self.prepared_:
                fingerprint = self.train_fingerprint_ or ""
                save_prepared(tmp / PREPARED_FILE, self.prepared_, vocab.n_items, fingerprint)
            meta = {
                "model": self.name,
                "preset": self.preset,
                "config": self.config.to_dict(),
                "n_items": vocab.n_items,
                "train_fingerprint": self.train_fingerprint_,
                "sessionrec_version": __version__,
                "files": digest_files(tmp),  # SHA-256 of every file above, checked at load
            }
            (tmp / MODEL_FILE).write_text(json.dumps(meta, indent=2))
        return directory

    def _save_weights(self, directory: Path) -> None:
        np.savez(directory / "state.npz", **self._state())

    def _load_weights(self, directory: Path) -> None:
        path = directory / "state.npz"
        try:
            with np.load(path, allow_pickle=False) as npz:
                state = {name: npz[name] for name in npz.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
            raise CheckpointError(f"{path}: unreadable or truncated ({exc})") from None
        self._set_state(state)

    @classmethod
    def load(cls, directory: str | Path) -> Self:
        directory = Path(directory)
        meta = read_model_meta(directory)
        if meta["model"] != cls.name:
            raise CheckpointError(f"{directory} holds a {meta['model']!r} model, not {cls.name!r}")
        verify_files(directory, meta.get("files") or {})
        model = cls(cls.config_class.from_dict(meta["config"]))
        model.preset = meta.get("preset")
        model.train_fingerprint_ = meta.get("train_fingerprint")
        try:
            model.vocab_ = ItemVocab.load(directory)
            model.popularity_ = np.load(directory / "popularity.npy", allow_pickle=False)
        except (DataError, OSError, ValueError) as exc:
            raise CheckpointError(f"{directory}: {exc}") from None
        if model.vocab_.n_items != meta["n_items"] or len(model.popularity_) != meta["n_items"] + 1:
            raise CheckpointError(f"{directory}: vocabulary does not match the saved model")
        if (directory / PREPARED_FILE).is_file():
            model.prepared_, prepared_meta = decode_prepared(directory / PREPARED_FILE, model.vocab_.n_items)
            if prepared_meta.get("train_fingerprint") != (model.train_fingerprint_ or ""):
                raise CheckpointError(f"{directory}: prepared structures come from other training data")
        model._load_weights(directory)
        model._load_index(directory)
        return model

    def _load_index(self, directory: Path) -> None:
        """The item index saved with the model, if any; without FAISS the model loads without it."""
        from sessionrec.ann import META_FILE

        if not (directory / META_FILE).is_file():
            return
        from sessionrec.ann import ItemIndex, import_faiss

        try:
            import_faiss()
        except ConfigError as exc:
            log.warning("%s: the saved item index is not loaded (%s)", directory, exc)
            return
        self.item_index_ = ItemIndex.load(directory, self)


def read_model_meta(directory: Path) -> dict[str, Any]:
    path = Path(directory) / MODEL_FILE
    if not path.is_file():
        raise CheckpointError(f"{directory}: no saved model ({MODEL_FILE} missing)")
    try:
        meta = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{path}: invalid JSON ({exc})") from None
    if not isinstance(meta, dict) or not {"model", "config", "n_items"} <= set(meta):
        raise CheckpointError(f"{path}: not a sessionrec model description")
    return meta
