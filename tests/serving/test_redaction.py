"""Store credentials never reach a client, a log line or the banner."""

from __future__ import annotations

import logging
import socket
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from sessionrec.cli import app as cli
from sessionrec.cli.serve_commands import banner
from sessionrec.serving import ServeConfig, create_app
from sessionrec.serving.redaction import SecretFilter, redact, redact_url

SECRET = "s3cret-pa55"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (f"redis://alice:{SECRET}@cache.local:6379/2", "redis://***@cache.local:6379/2"),
        (f"redis://:{SECRET}@10.1.2.3:6380/0", "redis://***@10.1.2.3:6380/0"),
        ("redis://tok%40en@h:1/0", "redis://***@h:1/0"),
        (f"rediss://h:6379/0?password={SECRET}&db=1", "rediss://h:6379/0?password=***&db=1"),
        (f"unix://u:{SECRET}@/run/redis.sock?db=0", "unix://***@/run/redis.sock?db=0"),
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
        ("memory", "memory"),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_redact_masks_the_url_and_the_bare_password() -> None:
    url = f"redis://alice:{SECRET}@h:1/0"
    text = f"cannot connect to {url}; AUTH {SECRET} refused for alice"
    assert redact(text, url) == "cannot connect to redis://***@h:1/0; AUTH *** refused for alice"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # nothing listens once the socket closes


def test_503_body_and_logs_hold_no_password(pop_run: Path, caplog: pytest.LogCaptureFixture) -> None:
    port = _closed_port()
    url = f"redis://alice:{SECRET}@127.0.0.1:{port}/0"
    caplog.set_level(logging.DEBUG)
    client = TestClient(create_app(pop_run, ServeConfig(store=url)), raise_server_exceptions=False)
    with client:
        for _ in range(500):  # the model loads in the background; the store is down
            if client.app.state.service.model is not None:  # type: ignore[attr-defined]
                break
        response = client.post("/v1/sessions/s1/events", json={"item": 11})
        assert response.status_code == 503
        assert response.json()["error"] == "session store unavailable"
        assert f"redis://***@127.0.0.1:{port}/0" in response.json()["detail"]
        assert client.get("/ready").status_code == 503
    assert SECRET not in response.text
    logged = caplog.text + "".join(str(r.__dict__) for r in caplog.records)
    assert "session store error" in caplog.text and SECRET not in logged


def test_log_filter_masks_messages_arguments_and_tracebacks() -> None:
    url = f"redis://:{SECRET}@h:1/0"
    secret_filter = SecretFilter()
    secret_filter.register(url)
    try:
        raise ConnectionError(f"lost {url}")
    except ConnectionError:
        record = logging.LogRecord("sessionrec.serving", 40, __file__, 1, "oops %s", (SECRET,), True)
        record.exc_info = sys.exc_info()
    assert secret_filter.filter(record)
    assert record.getMessage() == "oops ***" and record.exc_text is not None
    assert SECRET not in record.exc_text and "lost redis://***@h:1/0" in record.exc_text


def test_banner_config_repr_and_cli_errors_hold_no_password(pop_run: Path) -> None:
    url = f"redis://alice:{SECRET}@127.0.0.1:{_closed_port()}/0"
    line = banner(pop_run, "127.0.0.1", 8000, url)
    assert SECRET not in line and "store: redis://***@127.0.0.1:" in line
    assert SECRET not in repr(ServeConfig(store=url)) and "redis://***@" in repr(ServeConfig(store=url))
    result = CliRunner().invoke(cli, ["serve", str(pop_run), "--store", url])
    assert result.exit_code == 2 and "cannot reach Redis" in result.output
    assert SECRET not in result.output and "redis://***@127.0.0.1:" in result.output
    with pytest.raises(Exception) as error:
        ServeConfig(store=f"http://alice:{SECRET}@h/")
    assert SECRET not in str(error.value)
