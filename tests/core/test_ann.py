"""The approximate item index (``sessionrec.ann``, the ``ann`` extra) behind ``recommend``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from sessionrec.data.batching import batch_from_lists
from sessionrec.data.sessions import Sessions, Split
from sessionrec.data.vocab import ItemVocab
from sessionrec.errors import CheckpointError, ConfigError
from sessionrec.models import registry
from sessionrec.models.registry import create
from sessionrec.models.srgnn import SRGNN
from tests.conftest import synthetic_dataset
from tests.models.test_contract import CONTRACT

faiss = pytest.importorskip("faiss")

N_ITEMS = 2000


def _catalogue_model(name: str = "srgnn", n_items: int = N_ITEMS, seed: int = 0) -> SRGNN:
    """SR-GNN (d = 16, seeded initial weights) over ``n_items`` items with external ids 1..N."""
    rng = np.random.default_rng(seed)
    sessions = [list(rng.integers(1, n_items + 1, 4)) for _ in range(50)]
    train = Split.augmented(Sessions.from_lists(sessions), ItemVocab.identity(n_items))
    model = create(name, embedding_dim=16)
    model.setup(train).eval()
    return model


def _sessions(n: int, n_items: int = N_ITEMS, seed: int = 1) -> list[list[object]]:
    rng = np.random.default_rng(seed)
    vocab = ItemVocab.identity(n_items)
    return [list(vocab.decode(rng.integers(1, n_items + 1, int(rng.integers(1, 8))))) for _ in range(n)]


def _declared() -> list[str]:
    return [n for n in registry.available() if registry.model_classes()[registry.base_name(n)].item_scoring]


@pytest.mark.parametrize("name", _declared())
def test_a_declared_model_scores_exactly_its_session_vectors_against_its_item_table(name: str) -> None:
    """The declaration the index relies on: score(batch) == session_vectors(batch) @ table[1:]^T."""
    entry = CONTRACT.get(name, CONTRACT.get(registry.base_name(name), {}))
    data = synthetic_dataset()
    model = create(name, **{**entry.get("overrides", {}), "bf16_scoring": False})
    model.setup(data.train).eval()
    sessions = [[int(i) for i in data.test.prefix(j)] for j in range(0, 40, 3)]
    batch = batch_from_lists(sessions, model.batch_spec)
    with torch.inference_mode():
        scores = model.score(batch)
        products = model.session_vectors(batch) @ model.item_table()[1:].T
    torch.testing.assert_close(scores, products, rtol=1e-5, atol=1e-5)


def test_recall_is_one_on_a_small_catalogue_with_generous_search_settings() -> None:
    model = _catalogue_model()
    model.build_index(m=32, ef_construction=400, ef_search=N_ITEMS)
    sessions = _sessions(200)
    exact = model.recommend(sessions, k=20)
    approximate = model.recommend(sessions, k=20, approximate=True)
    assert approximate.items == exact.items  # same items in the same order, for every session
    np.testing.assert_allclose(np.array(approximate.scores), np.array(exact.scores), rtol=1e-5, atol=1e-6)


def test_an_index_saved_and_loaded_with_the_model_gives_identical_results(tmp_path: Path) -> None:
    model = _catalogue_model()
    model.build_index(m=8, ef_construction=20, ef_search=20)  # small: results depend on the graph
    sessions = _sessions(100)
    before = model.recommend(sessions, k=20, approximate=True, exclude_seen=True)
    loaded = SRGNN.load(model.save(tmp_path / "m"))
    assert loaded.item_index_ is not None and loaded.item_index_.config == model.item_index_.config
    after = loaded.recommend(sessions, k=20, approximate=True, exclude_seen=True)
    assert after.items == before.items and after.scores == before.scores


def test_an_index_is_refused_next_to_other_weights(tmp_path: Path) -> None:
    from sessionrec.ann import ItemIndex

    model = _catalogue_model()
    model.build_index(m=8, ef_construction=20)
    directory = model.save(tmp_path / "m")
    other = SRGNN.load(directory)
    assert other.module_ is not None
    with torch.no_grad():
        other.module_.embedding.weight[5] += 1.0
    with pytest.raises(CheckpointError, match="another item table"):
        ItemIndex.load(directory, other)


@pytest.mark.parametrize("name", ["tagnn", "sknn", "pop"])
def test_a_model_without_inner_product_scoring_is_refused_with_one_clear_error(name: str) -> None:
    data = synthetic_dataset()
    model = create(name, **CONTRACT.get(name, {}).get("overrides", {}))
    if hasattr(model, "setup"):
        model.setup(data.train)
    else:
        model.fit(data.train)
    with pytest.raises(ConfigError, match="does not score items by an inner product"):
        model.build_index()
    with pytest.raises(ConfigError, match="needs an item index"):
        model.recommend([[data.vocab.decode(np.array([1]))[0]]], approximate=True)


def test_excluded_unknown_and_padding_items_never_appear_and_fallback_matches_exact() -> None:
    n_items = 60
    model = _catalogue_model(n_items=n_items)
    model.build_index(m=16, ef_construction=100, ef_search=n_items)
    sessions = [list(s) for s in _sessions(40, n_items)]
    sessions += [["not-an-item", "nor-this"], [], [*sessions[0], "unknown"]]
    exact = model.recommend(sessions, k=n_items, exclude_seen=True)
    approximate = model.recommend(sessions, k=n_items, exclude_seen=True, approximate=True)
    for session, items in zip(sessions, approximate.items, strict=True):
        known = {i for i in session if i != "unknown" and not str(i).startswith("no")}
        assert not known & set(items)  # the session's own items are excluded
        assert len(items) == n_items - len(known)  # every other item, once; never padding 0
        assert len(set(items)) == len(items) and set(items) <= set(range(1, n_items + 1))
    assert approximate.unknown_items == exact.unknown_items
    assert approximate.fallback == exact.fallback == [False] * 40 + [True, True, False]
    assert approximate.items[40:42] == exact.items[40:42]  # popularity, as the exact path
    assert approximate.items == exact.items  # ef_search = N: the whole graph is searched


def test_k_is_capped_at_the_catalogue() -> None:
    model = _catalogue_model(n_items=30)
    model.build_index(ef_search=30)
    items = model.recommend(_sessions(3, 30), k=500, approximate=True).items
    assert [len(i) for i in items] == [30, 30, 30]
