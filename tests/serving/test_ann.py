"""``sessionrec serve --ann``: approximate top-k behind the same API, refused for other models."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from sessionrec.cli import app
from sessionrec.data.dataset import Dataset
from sessionrec.models.registry import load_run_model
from tests.serving.conftest import ClientFactory, save_run

pytest.importorskip("faiss")


@pytest.fixture(scope="module")
def srgnn_run(tmp_path_factory: pytest.TempPathFactory, tiny: Dataset) -> Path:
    return save_run(tmp_path_factory.mktemp("runs") / "srgnn", "srgnn", tiny, embedding_dim=8, epochs=1)


def test_serve_ann_refuses_a_model_without_inner_product_scoring(pop_run: Path) -> None:
    result = CliRunner().invoke(app, ["serve", str(pop_run), "--ann"])
    assert result.exit_code == 2 and "does not score items by an inner product" in result.output


def test_approximate_serving_answers_as_exact_scoring_on_a_small_catalogue(
    serve: ClientFactory, srgnn_run: Path
) -> None:
    exact = load_run_model(srgnn_run)
    client = serve(srgnn_run, approximate=True)  # no index saved: built at load (ef_search >= N)
    for items, exclude in (([11, 12], True), ([13, 999], False), (["nope"], False)):
        body = client.post("/v1/recommend", json={"items": items, "k": 6, "exclude_seen": exclude}).json()
        expected = exact.recommend([items], k=6, exclude_seen=exclude)
        assert body["items"] == expected.items[0]
        assert body["unknown_items"] == expected.unknown_items[0]
        assert body["fallback"] == expected.fallback[0]
        if exclude:
            assert not set(items) & set(body["items"])
