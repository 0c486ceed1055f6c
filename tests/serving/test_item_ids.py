"""The item-id policy over HTTP: ids that do not parse as the catalogue's type are unknown items.

The tiny POP run has an integer catalogue 11..16 (``conftest.py``). Unicode digits,
signs and padding never become an item and never fail a request, a batch, or a
stored session (in memory or in Redis, across restarts).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from sessionrec.serving import ServeConfig, create_app

from .conftest import ClientFactory

HOSTILE = ["²", "--5", "٤٢٦٩", "١٢", " 12", "12 ", "+12", "1_2", "0x0c", "１２", "-", "12\n"]


@pytest.mark.parametrize("item", HOSTILE)
def test_ids_that_do_not_parse_are_unknown_not_errors(pop_client: TestClient, item: str) -> None:
    response = pop_client.post("/v1/recommend", json={"items": [12, item], "k": 2})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["unknown_items"] == [item] and body["fallback"] is False
    # 12 alone decides the answer: POP's two most clicked items
    assert body["items"] == [11, 12]


def test_canonical_ascii_digit_strings_are_the_integers(pop_client: TestClient) -> None:
    body = pop_client.post("/v1/recommend", json={"items": ["13", "-0", "016"], "k": 1}).json()
    assert body["unknown_items"] == ["-0"] and body["fallback"] is False  # "016" is 16, 0 is not an item


@pytest.mark.parametrize("item", ["²", "--5", "٤٢٦٩"])
def test_a_stored_hostile_click_keeps_the_session_working(pop_client: TestClient, item: str) -> None:
    first = pop_client.post("/v1/sessions/h1/events", json={"item": item})
    assert first.status_code == 200 and first.json()["unknown_items"] == [item]
    later = pop_client.post("/v1/sessions/h1/events", json={"item": 12, "k": 1})
    assert later.status_code == 200, later.text
    assert later.json()["session"]["items"][-2:] == [item, 12]
    assert later.json()["unknown_items"] == [item]
    pop_client.delete("/v1/sessions/h1")


def test_a_micro_batch_with_a_hostile_id_answers_every_request(pop_run: Path) -> None:
    """40 concurrent requests gathered into one batch (a 200 ms window), one of them holding "²"."""
    app = create_app(pop_run, ServeConfig(batch_wait_ms=200, max_batch_size=64))

    async def scenario() -> list[httpx.Response]:
        async with app.router.lifespan_context(app):
            state = app.state.service
            for _ in range(500):
                if state.batcher is not None:
                    break
                await asyncio.sleep(0.01)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                bodies = [{"items": [11 + i % 6], "k": 3} for i in range(40)]
                bodies[17] = {"items": ["²"], "k": 3}
                return await asyncio.gather(*(client.post("/v1/recommend", json=b) for b in bodies))

    responses = asyncio.run(scenario())
    assert [r.status_code for r in responses] == [200] * 40
    assert responses[17].json()["unknown_items"] == ["²"] and responses[17].json()["fallback"] is True
    assert all(r.json()["fallback"] is False for i, r in enumerate(responses) if i != 17)
    batches = app.state.metrics.batch_size.collect()[0].samples
    count = next(s.value for s in batches if s.name.endswith("_count"))
    assert count <= 2  # they really shared a batch (or two, if the window split them)


def test_hostile_clicks_stored_in_redis_survive_a_restart(
    serve: ClientFactory, pop_run: Path, redis_url: str
) -> None:
    first = serve(pop_run, store=redis_url, redis_prefix="ids-test:")
    assert first.post("/v1/sessions/r1/events", json={"item": "²"}).status_code == 200
    first.__exit__(None, None, None)  # the process goes away; Redis keeps the session
    second = serve(pop_run, store=redis_url, redis_prefix="ids-test:")
    later = second.post("/v1/sessions/r1/events", json={"item": 11, "k": 1})
    assert later.status_code == 200, later.text
    assert later.json()["session"]["items"] == ["²", 11] and later.json()["unknown_items"] == ["²"]
