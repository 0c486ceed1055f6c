"""Fixtures of the serving tests: tiny fitted runs, app clients, a throw-away redis-server.

The tiny catalogue has 6 items with external ids 11..16 (internal 1..6) and the
training sessions (internal) [1,2,3], [1,2], [1,4], [5,1], [2,3]. Click counts, the
scores POP serves: 11 -> 4, 12 -> 3, 13 -> 2, 14 -> 1, 15 -> 1, 16 -> 0.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

# starlette's TestClient warns, at import, that it prefers another HTTP client package
warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
from fastapi.testclient import TestClient  # noqa: E402

from sessionrec.data.dataset import Dataset  # noqa: E402
from sessionrec.data.sessions import Sessions  # noqa: E402
from sessionrec.data.vocab import ItemVocab  # noqa: E402
from sessionrec.models.registry import create  # noqa: E402
from sessionrec.runs import finish_run, start_run  # noqa: E402
from sessionrec.serving import ServeConfig, create_app  # noqa: E402

TINY_EXTERNAL = [11, 12, 13, 14, 15, 16]
TINY_TRAIN = [[1, 2, 3], [1, 2], [1, 4], [5, 1], [2, 3]]
TEST_METRICS = {"HR@20": 1.0, "MRR@20": 0.5}


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread() -> Iterator[None]:
    """Tiny models on a shared 2-core machine: several intra-op threads only spin and wait."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny() -> Dataset:
    vocab = ItemVocab(np.array(TINY_EXTERNAL, dtype=np.int64))
    sessions = Sessions.from_lists(TINY_TRAIN)
    return Dataset.from_sessions(sessions, sessions, vocab, {"source": "tiny"})


def save_run(directory: Path, name: str, dataset: Dataset, **overrides: Any) -> Path:
    """Fit ``name`` on the dataset and save it as a finished run directory."""
    model = create(name, **overrides).fit(dataset.train)
    run = start_run(directory, model, dataset.manifest)
    finish_run(run, model, test_metrics=TEST_METRICS)
    return directory


@pytest.fixture(name="save_run", scope="session")
def save_run_fixture() -> Callable[..., Path]:
    return save_run


@pytest.fixture(scope="session")
def pop_run(tmp_path_factory: pytest.TempPathFactory, tiny: Dataset) -> Path:
    return save_run(tmp_path_factory.mktemp("runs") / "pop", "pop", tiny)


@pytest.fixture(scope="session")
def sknn_run(tmp_path_factory: pytest.TempPathFactory, tiny: Dataset) -> Path:
    return save_run(tmp_path_factory.mktemp("runs") / "sknn", "sknn", tiny)


def wait_ready(client: TestClient, timeout: float = 10.0) -> None:
    """The model loads in the background: poll /ready until it answers 200."""
    deadline = time.monotonic() + timeout
    while client.get("/ready").status_code != 200:
        assert time.monotonic() < deadline, f"not ready: {client.get('/ready').json()}"
        time.sleep(0.01)


ClientFactory = Callable[..., TestClient]


@pytest.fixture
def serve() -> Iterator[ClientFactory]:
    """``serve(run_dir, **settings)`` -> a started, ready TestClient; all closed at teardown."""
    clients: list[TestClient] = []

    def start(run_dir: Path, **settings: Any) -> TestClient:
        client = TestClient(create_app(run_dir, ServeConfig(**settings)), raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        wait_ready(client)
        return client

    yield start
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def pop_client(serve: ClientFactory, pop_run: Path) -> TestClient:
    return serve(pop_run)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A redis-server of our own on a free loopback port, in a temp dir, without persistence."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    port = _free_port()
    workdir = tmp_path_factory.mktemp("redis")
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(workdir), "--save", ""]
    process = subprocess.Popen(
        [*args, "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    import redis

    client = redis.Redis(host="127.0.0.1", port=port)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.skip(f"redis-server did not start: {process.stderr.read() if process.stderr else ''}")
            time.sleep(0.02)
    client.close()
    yield f"redis://127.0.0.1:{port}/0"
    process.terminate()
    process.wait(timeout=10)
