"""``sessionrec serve``: clear errors before binding a port, and a real server end to end."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from sessionrec.cli import app

runner = CliRunner()


def _serve(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["serve", *args])
    return result.exit_code, result.output


def test_missing_run_is_one_error_line(tmp_path: Path) -> None:
    code, output = _serve(str(tmp_path / "nothing"))
    assert code == 2 and "error:" in output and "run.json missing" in output


def test_unfinished_run_is_refused(tmp_path: Path) -> None:
    (tmp_path / "run.json").write_text(json.dumps({"status": "running"}))
    code, output = _serve(str(tmp_path))
    assert code == 2 and "has not finished" in output


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--store", "postgres://x"], "Redis URL"),
        (["--session-ttl", "0"], "session_ttl must be > 0"),
        (["--max-k", "0"], "max_k must be >= 1"),
        (["--port", "70000"], "--port must be in 0..65535"),
        (["--store", "redis://127.0.0.1:1/0"], "cannot reach Redis"),
    ],
)
def test_bad_options_are_refused_before_serving(pop_run: Path, option: list[str], message: str) -> None:
    code, output = _serve(str(pop_run), *option)
    assert code == 2 and message in output


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow  # a real server process: imports torch and loads the run (several seconds)
def test_serve_end_to_end(pop_run: Path) -> None:
    port = _free_port()
    command = [
        sys.executable,
        "-m",
        "sessionrec",
        "serve",
        str(pop_run),
        "--port",
        str(port),
        "--no-access-log",
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env={**os.environ})
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, process.stdout.read().decode() if process.stdout else ""
            assert time.monotonic() < deadline, "the server did not become ready"
            time.sleep(0.1)
        body = httpx.post(f"{base}/v1/recommend", json={"items": [12], "k": 2}).json()
        assert body["items"] == [11, 12] and body["scores"] == [4.0, 3.0]  # POP's click counts
        bad = httpx.post(f"{base}/v1/recommend", content=b"{", headers={"content-type": "application/json"})
        assert bad.status_code == 400
        metrics = httpx.get(f"{base}/metrics").text
        assert 'route="/v1/recommend",status="400"' in metrics
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=15)
    assert process.returncode == 0
