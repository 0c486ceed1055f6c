"""Session stores: cap, idle TTL, LRU bound (memory); the same contract on a real redis-server."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from sessionrec.errors import ConfigError
from sessionrec.serving import ServeConfig, create_app
from sessionrec.serving.redis_store import RedisStore
from sessionrec.serving.stores import MemoryStore, SessionStore, StoreError


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


def test_memory_store_caps_length_keeping_the_latest_clicks() -> None:
    store = MemoryStore(ttl=60, max_length=3, max_sessions=10)
    for item in (1, "b", 3, 4):
        items = run(store.append("s", item))
    assert items == ["b", 3, 4] and run(store.get("s")) == ["b", 3, 4]


def test_memory_store_expires_idle_sessions_counting_from_the_last_click() -> None:
    clock = Clock()
    store = MemoryStore(ttl=10, max_length=5, max_sessions=10, clock=clock)
    run(store.append("s", 1))
    clock.now += 9
    run(store.append("s", 2))  # a click resets the idle time
    clock.now += 9
    assert run(store.get("s")) == [1, 2]  # 9 s idle < 10 s
    clock.now += 1
    assert run(store.get("s")) is None  # 10 s idle: gone
    assert run(store.delete("s")) is False


def test_memory_store_sweeps_expired_sessions_on_write() -> None:
    clock = Clock()
    store = MemoryStore(ttl=10, max_length=5, max_sessions=100, clock=clock)
    for name in "abc":
        run(store.append(name, 1))
    clock.now += 20
    run(store.append("d", 1))
    assert len(store) == 1  # a, b and c were swept, not just hidden


def test_memory_store_evicts_the_least_recently_clicked() -> None:
    store = MemoryStore(ttl=60, max_length=5, max_sessions=2)
    run(store.append("a", 1))
    run(store.append("b", 1))
    run(store.append("a", 2))  # a is now the most recent
    run(store.append("c", 1))  # over the bound: b goes
    assert run(store.get("b")) is None and run(store.get("a")) == [1, 2] and len(store) == 2


def test_memory_store_is_safe_under_concurrent_clicks() -> None:
    store = MemoryStore(ttl=60, max_length=1000, max_sessions=10)

    async def clicks() -> None:
        await asyncio.gather(*(store.append("s", i) for i in range(500)))

    run(clicks())
    assert sorted(run(store.get("s"))) == list(range(500))


# -- Redis -------------------------------------------------------------------------------


def redis_store(url: str, ttl: float = 60, max_length: int = 3) -> RedisStore:
    return RedisStore(url, ttl, max_length, prefix=f"test-{uuid.uuid4().hex}:")


def test_redis_store_keeps_types_caps_and_deletes(redis_url: str) -> None:
    async def scenario(store: SessionStore) -> None:
        for item in (1, "b", 3, "4"):
            items = await store.append("s", item)
        assert items == ["b", 3, "4"]  # capped; ints stay ints, strings stay strings
        assert await store.get("s") == ["b", 3, "4"]
        assert await store.delete("s") is True and await store.get("s") is None
        assert await store.delete("s") is False
        await store.close()

    run(scenario(redis_store(redis_url)))


def test_redis_store_expires_after_the_idle_ttl(redis_url: str) -> None:
    async def scenario() -> None:
        store = redis_store(redis_url, ttl=0.3)
        await store.append("s", 1)
        await asyncio.sleep(0.2)
        await store.append("s", 2)  # refreshes the TTL
        await asyncio.sleep(0.2)
        assert await store.get("s") == [1, 2]
        await asyncio.sleep(0.3)
        assert await store.get("s") is None
        await store.close()

    run(scenario())


def test_redis_concurrent_clicks_lose_nothing(redis_url: str) -> None:
    async def scenario() -> list[Any]:
        store = redis_store(redis_url, max_length=1000)
        await asyncio.gather(*(store.append("s", i) for i in range(200)))
        items = await store.get("s")
        await store.close()
        return items or []

    assert sorted(run(scenario())) == list(range(200))


def test_sessions_survive_a_service_restart_over_redis(redis_url: str, pop_run: Path, serve: Any) -> None:
    prefix = f"restart-{uuid.uuid4().hex}:"
    first = serve(pop_run, store=redis_url, redis_prefix=prefix)
    for item in (11, 12):
        first.post("/v1/sessions/kept/events", json={"item": item})
    first.__exit__(None, None, None)  # the first instance stops

    second = serve(pop_run, store=redis_url, redis_prefix=prefix)
    assert second.get("/v1/sessions/kept").json() == {"session_id": "kept", "items": [11, 12]}
    body = second.post("/v1/sessions/kept/events", json={"item": 13, "k": 1, "exclude_seen": True}).json()
    assert body["session"]["items"] == [11, 12, 13]
    assert body["items"] in ([14], [15])  # 11-13 excluded: the tied 14 and 15 (1 click each) lead


def test_two_instances_share_sessions_over_redis(redis_url: str, pop_run: Path, serve: Any) -> None:
    prefix = f"shared-{uuid.uuid4().hex}:"
    a, b = (
        serve(pop_run, store=redis_url, redis_prefix=prefix),
        serve(pop_run, store=redis_url, redis_prefix=prefix),
    )
    a.post("/v1/sessions/x/events", json={"item": 11})
    b.post("/v1/sessions/x/events", json={"item": 12})
    assert a.get("/v1/sessions/x").json()["items"] == [11, 12]
    assert b.delete("/v1/sessions/x").status_code == 204
    assert a.get("/v1/sessions/x").status_code == 404


def test_unreachable_redis_is_503_not_500(pop_run: Path) -> None:
    # nothing listens on port 1 of loopback
    config = ServeConfig(store="redis://127.0.0.1:1/0")
    with TestClient(create_app(pop_run, config), raise_server_exceptions=False) as client:
        for _ in range(500):
            ready = client.get("/ready")
            if ready.json().get("detail") == "the session store does not answer":
                break
            time.sleep(0.01)
        assert ready.status_code == 503
        event = client.post("/v1/sessions/s/events", json={"item": 11})
        assert event.status_code == 503 and event.json()["error"] == "session store unavailable"
        assert client.post("/v1/recommend", json={"items": [11]}).status_code == 200  # stateless still works


def test_foreign_data_under_a_session_key_is_503(redis_url: str) -> None:
    import redis

    store = redis_store(redis_url)
    redis.Redis.from_url(redis_url).rpush(f"{store.prefix}session:bad", b"\x00not json")
    with pytest.raises(StoreError, match="did not write"):
        run(store.get("bad"))


def test_bad_redis_url_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="Redis URL"):
        ServeConfig(store="http://localhost:6379")
    with pytest.raises(ConfigError, match="invalid Redis URL"):
        RedisStore("redis://host:notaport/0", 60, 3)
