"""Every registered model serves: the HTTP answer equals the loaded model's own ``recommend``.

Each model is fitted on a small synthetic log (neural ones with a tiny config and one
epoch), saved as a run, served from the run directory, and queried statelessly and
through a stored session.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from sessionrec.data.dataset import Dataset
from sessionrec.models import registry
from sessionrec.models.registry import load_run_model

TINY_NEURAL = {"epochs": 1, "embedding_dim": 8, "batch_size": 64}


def _base_models() -> list[object]:
    """Each registered model once (presets share their base's code); neural ones train, so are slow."""
    presets = registry.presets()
    names = [name for name in registry.available() if name not in presets]
    trains = {name for name in names if "epochs" in registry.resolve(name)[0].config_class.field_names()}
    return [pytest.param(name, marks=pytest.mark.slow) if name in trains else name for name in names]


@pytest.fixture(scope="module")
def log() -> Dataset:
    synthetic = pytest.importorskip("sessionrec.data.synthetic")
    return synthetic.synthetic_dataset(n_sessions=300, n_items=40, seed=0)


@pytest.mark.parametrize("name", _base_models())
def test_every_model_serves_what_it_recommends(
    name: str, log: Dataset, tmp_path: Path, serve: Callable[..., TestClient], save_run: Callable[..., Path]
) -> None:
    cls, _ = registry.resolve(name)
    fields = set(cls.config_class.field_names())
    overrides = {key: value for key, value in TINY_NEURAL.items() if key in fields}
    run_dir = save_run(tmp_path / name, name, log, **overrides)
    model = load_run_model(run_dir)
    client = serve(run_dir)

    external = log.vocab.external.tolist()
    sessions: list[list[Any]] = [external[:1], external[2:6], [external[3], "unknown", external[3]]]
    expected = model.recommend(sessions, k=10, exclude_seen=True)
    for row, session in enumerate(sessions):
        body = client.post("/v1/recommend", json={"items": session, "k": 10, "exclude_seen": True}).json()
        assert body["model"] == name
        assert body["items"] == expected.items[row]
        assert body["scores"] == pytest.approx(expected.scores[row], rel=1e-5, abs=1e-6)
        assert body["unknown_items"] == expected.unknown_items[row]

    for item in sessions[1]:
        event = client.post("/v1/sessions/live/events", json={"item": item, "k": 5}).json()
    direct = model.recommend([sessions[1]], k=5)
    assert event["session"]["items"] == sessions[1]
    assert event["items"] == direct.items[0]
