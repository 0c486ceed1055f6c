"""The contract every model obeys (DESIGN.md), tested once for all of them.

``tests/models/test_contract.py`` runs these tests for every registered model and preset.
Each model's test module declares its small configuration in a module-level dict::

    CONTRACT = {"pop": {"overrides": {}, "synthetic": {}, "pattern_metric": None}}

(``overrides``: a small, fast config; ``synthetic``: ``synthetic_dataset()`` arguments;
``pattern_metric``: None when the model cannot learn the next-item rule; also
``pattern_threshold`` and ``ties``). A preset uses its base model's entry unless it has
its own. The model is fitted once per class on the synthetic data of ``tests/conftest.py``
(item k is usually followed by item k + 1).
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any, ClassVar

import numpy as np
import pytest
import torch

from sessionrec.data.batching import make_batch
from sessionrec.data.dataset import Dataset
from sessionrec.errors import ConfigError
from sessionrec.evaluation import TieMode
from sessionrec.models.base import Recommender
from sessionrec.models.neural import NeuralRecommender
from sessionrec.models.prepared import PREPARED_FILE, decode_prepared, same_prepared
from sessionrec.models.registry import create, load_model, resolve
from sessionrec.workflow import train_and_evaluate
from tests.conftest import synthetic_dataset

UNKNOWN = "no-such-item"


class ContractTests:
    model_name: ClassVar[str]
    overrides: ClassVar[dict[str, Any]] = {}
    synthetic: ClassVar[dict[str, Any]] = {}
    pattern_metric: ClassVar[str | None] = "HR@5"  # None: the model cannot learn the rule
    pattern_threshold: ClassVar[float] = 80.0  # percent, on the synthetic test prefixes
    ties: ClassVar[TieMode] = "conservative"  # heuristics tie a lot: never let ties help

    # -- fixtures ------------------------------------------------------------------------
    @pytest.fixture(scope="class")
    @classmethod
    def data(cls) -> Dataset:
        return synthetic_dataset(**cls.synthetic)

    @pytest.fixture(scope="class")
    @classmethod
    def model(cls, data: Dataset) -> Recommender:
        return cls.make().fit(data.train)

    @pytest.fixture(scope="class")
    @classmethod
    def sessions(cls, data: Dataset) -> list[list[object]]:
        """External-id test prefixes of assorted lengths."""
        test = data.test
        return [data.vocab.decode(test.prefix(i)) for i in range(0, len(test), max(len(test) // 12, 1))]

    @classmethod
    def make(cls, **extra: Any) -> Recommender:
        return create(cls.model_name, **{**cls.overrides, **extra})

    # -- learning ------------------------------------------------------------------------
    def test_learns_the_known_next_item_rule(self, model: Recommender, data: Dataset) -> None:
        if self.pattern_metric is None:
            pytest.skip(f"{self.model_name} cannot learn a next-item rule (its own tests cover it)")
        metrics = model.evaluate(data.test, ties=self.ties).metrics()
        assert metrics[self.pattern_metric] >= self.pattern_threshold, metrics

    def test_score_shape_finite_and_no_padding_column(self, model: Recommender, data: Dataset) -> None:
        batch = make_batch(data.test, np.arange(13), model.batch_spec)
        scores = model.score(batch)
        # column j scores item j + 1: N columns, none for the padding index 0
        assert scores.shape == (13, data.n_items)
        assert scores.dtype.is_floating_point and torch.isfinite(scores).all()

    def test_full_ranking_returns_each_item_once_never_padding(
        self, model: Recommender, data: Dataset, sessions: list[list[object]]
    ) -> None:
        recs = model.recommend(sessions[:3], k=data.n_items)
        for items in recs.items:
            assert sorted(items) == sorted(data.vocab.external.tolist())

    # -- recommend -----------------------------------------------------------------------
    def test_unknown_items_are_dropped_and_reported(
        self, model: Recommender, sessions: list[list[object]]
    ) -> None:
        session = sessions[1]
        noisy = [UNKNOWN, *session, 10**9]
        clean, dirty = model.recommend([session], k=10), model.recommend([noisy], k=10)
        assert dirty.unknown_items == [[UNKNOWN, 10**9]] and clean.unknown_items == [[]]
        assert dirty.items == clean.items and dirty.scores == clean.scores
        assert dirty.fallback == [False]

    def test_session_without_known_item_falls_back_to_popularity(self, model: Recommender) -> None:
        recs = model.recommend([[UNKNOWN], []], k=5)
        assert recs.fallback == [True, True]
        assert model.popularity_ is not None
        counts = np.sort(model.popularity_[1:])[::-1][:5]
        # documented fallback: the most clicked training items, scored by their click counts
        assert recs.scores[0] == counts.astype(float).tolist() == recs.scores[1]
        vocab = model.vocab_
        assert vocab is not None
        assert [model.popularity_[vocab.lookup(i)] for i in recs.items[0]] == counts.tolist()

    def test_k_larger_than_catalogue_is_capped(
        self, model: Recommender, data: Dataset, sessions: list[list[object]]
    ) -> None:
        recs = model.recommend(sessions[:2], k=data.n_items + 50)
        assert [len(items) for items in recs.items] == [data.n_items, data.n_items]
        unseen = model.recommend(sessions[:1], k=data.n_items + 50, exclude_seen=True)
        assert len(unseen.items[0]) == data.n_items - len(set(sessions[0]))
        assert not set(unseen.items[0]) & set(sessions[0])

    @pytest.mark.parametrize("k", [0, -3, 2.5, True])
    def test_non_positive_or_non_integer_k_is_rejected(
        self, model: Recommender, sessions: list[list[object]], k: Any
    ) -> None:
        with pytest.raises(ValueError, match="k must be a positive integer"):
            model.recommend(sessions[:1], k=k)

    def test_batch_output_equals_single_session_output(
        self, model: Recommender, data: Dataset, sessions: list[list[object]]
    ) -> None:
        together = model.recommend(sessions, k=10)
        for row, session in enumerate(sessions):
            alone = model.recommend([session], k=10)
            assert alone.items[0] == together.items[row]
            np.testing.assert_allclose(alone.scores[0], together.scores[row], rtol=1e-5, atol=1e-6)
        whole = model.score(make_batch(data.test, np.arange(9), model.batch_spec))
        rows = [model.score(make_batch(data.test, np.array([i]), model.batch_spec)) for i in range(9)]
        torch.testing.assert_close(whole, torch.cat(rows), rtol=1e-5, atol=1e-6)

    # -- evaluation ----------------------------------------------------------------------
    def test_evaluation_independent_of_batch_size_and_order(self, model: Recommender, data: Dataset) -> None:
        reference = model.evaluate(data.test, batch_size=len(data.test), ties=self.ties)
        small = model.evaluate(data.test, batch_size=7, ties=self.ties)
        np.testing.assert_array_equal(small.ranks, reference.ranks)
        order = np.random.default_rng(1).permutation(len(data.test))
        shuffled = model.evaluate(data.test.select(order), batch_size=11, ties=self.ties)
        np.testing.assert_array_equal(shuffled.ranks, reference.ranks[order])

    # -- persistence and determinism -----------------------------------------------------
    def test_save_load_round_trip_gives_identical_scores(
        self, model: Recommender, data: Dataset, sessions: list[list[object]], tmp_path: Any
    ) -> None:
        model.save(tmp_path / "model")
        loaded = load_model(tmp_path / "model")
        assert type(loaded) is type(model) and loaded.config == model.config
        assert loaded.vocab_ is not None and np.array_equal(loaded.vocab_.external, data.vocab.external)
        batch = make_batch(data.test, np.arange(len(data.test)), model.batch_spec)
        assert torch.equal(loaded.score(batch), model.score(batch))
        assert loaded.recommend(sessions, k=7) == model.recommend(sessions, k=7)

    def test_prepared_structures_round_trip(self, model: Recommender, tmp_path: Any) -> None:
        model.save(tmp_path / "model")
        loaded = load_model(tmp_path / "model")
        assert same_prepared(loaded.prepared_, model.prepared_)
        assert loaded.train_fingerprint_ == model.train_fingerprint_ is not None

    def test_selection_and_refit_prepare_like_a_plain_fit(self, data: Dataset, tmp_path: Any) -> None:
        """What the workflow's selection and refit prepared equals ``prepare_fit`` on the same sessions."""
        fresh = self.make()
        if not isinstance(fresh, NeuralRecommender):
            pytest.skip(f"{self.model_name} is fitted, not trained through the workflow")
        fresh = self.make(epochs=1, patience=1)
        assert isinstance(fresh, NeuralRecommender)
        result = train_and_evaluate(fresh, data, tmp_path / "run", refit=True)
        selection_part, _ = data.validation_split(0.1, "last", fresh.config.seed)
        selected, _ = decode_prepared(result.run.directory / PREPARED_FILE, data.n_items)
        reference = self.make()
        reference.prepare_fit(selection_part)
        assert same_prepared(selected, reference.prepared_)
        refit = load_model(result.run.model_dir)
        reference.prepare_fit(data.train)
        assert same_prepared(refit.prepared_, reference.prepared_)
        assert refit.train_fingerprint_ == reference.train_fingerprint_

    def test_same_seed_same_result(self, model: Recommender, data: Dataset) -> None:
        again = self.make().fit(data.train)
        batch = make_batch(data.test, np.arange(len(data.test)), model.batch_spec)
        assert torch.equal(again.score(batch), model.score(batch))

    # -- configuration -------------------------------------------------------------------
    def test_unknown_config_key_lists_the_valid_ones(self) -> None:
        cls, _ = resolve(self.model_name)
        with pytest.raises(ConfigError, match="no_such_key") as caught:
            self.make(no_such_key=1)
        assert "valid keys" in str(caught.value)
        for name in cls.config_class.field_names():
            assert name in str(caught.value)

    def test_wrong_type_value_is_rejected(self) -> None:
        cls, _ = resolve(self.model_name)
        wrong: dict[Any, object] = {int: "many", float: "much", bool: "perhaps", str: 3}
        hints = typing.get_type_hints(cls.config_class)
        checked = 0
        for field in dataclasses.fields(cls.config_class):
            hint = hints[field.name]
            value = "not-an-option" if typing.get_origin(hint) is typing.Literal else wrong.get(hint)
            if value is not None:
                with pytest.raises(ConfigError, match=field.name):
                    self.make(**{field.name: value})
                checked += 1
        if checked == 0:
            pytest.skip(f"{cls.config_class.__name__} has no plainly typed field")
