"""Start-up: /health at once, /ready and the model routes 503 until the model is loaded."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from sessionrec.models.registry import load_run_model
from sessionrec.serving import ServeConfig, create_app


def test_ready_is_503_until_the_model_is_loaded(pop_run: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()
    import sessionrec.serving.app as app_module

    def slow_load(directory: Path):  # type: ignore[no-untyped-def]
        release.wait(10)
        return load_run_model(directory)

    monkeypatch.setattr(app_module, "load_run_model", slow_load)
    with TestClient(create_app(pop_run)) as client:
        assert client.get("/health").status_code == 200
        waiting = client.get("/ready")
        assert waiting.status_code == 503 and waiting.json()["detail"] == "the model is still loading"
        assert client.post("/v1/recommend", json={"items": [11]}).status_code == 503
        assert client.get("/v1/model").status_code == 503
        assert "sessionrec_model_ready 0.0" in client.get("/metrics").text
        release.set()
        for _ in range(500):
            if client.get("/ready").status_code == 200:
                break
            time.sleep(0.01)
        assert client.post("/v1/recommend", json={"items": [11], "k": 1}).json()["items"] == [11]


def test_a_broken_run_keeps_the_process_up_and_says_why(pop_run: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(pop_run, broken)
    (broken / "model" / "popularity.npy").write_bytes(b"not numpy")
    with TestClient(create_app(broken)) as client:
        for _ in range(500):
            detail = client.get("/ready").json().get("detail", "")
            if "CheckpointError" in detail:
                break
            time.sleep(0.01)
        assert "CheckpointError" in detail and str(broken) in detail
        assert client.get("/health").status_code == 200
        assert client.post("/v1/recommend", json={"items": [11]}).status_code == 503


def test_create_app_needs_exactly_one_model_source(pop_run: Path) -> None:
    model = load_run_model(pop_run)
    with pytest.raises(ValueError, match="exactly one"):
        create_app(pop_run, model=model)
    with pytest.raises(ValueError, match="exactly one"):
        create_app()


def test_prefitted_model_is_ready_immediately(pop_run: Path) -> None:
    model = load_run_model(pop_run)
    app = create_app(model=model, config=ServeConfig(max_k=5), run_info={"data": {"source": "x"}})
    with TestClient(app) as client:
        assert client.get("/ready").status_code == 200
        assert client.get("/v1/model").json()["data"] == {"source": "x"}
        assert client.post("/v1/recommend", json={"items": [11], "k": 6}).status_code == 422
