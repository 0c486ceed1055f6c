"""Sessions in Redis, shared by every process and machine that serves the same model.

One Redis list per session (``{prefix}session:{id}``), items JSON-encoded so that
integer and string ids come back as they went in. Each click is one MULTI/EXEC
pipeline: RPUSH the click, LTRIM to the last ``max_length``, PEXPIRE the idle TTL,
LRANGE the result; the transaction keeps concurrent clicks on one session from
interleaving between the trim and the read.

The URL's credentials never leave this module: errors name the store by
:func:`~sessionrec.serving.redaction.redact_url` and pass the client's own message
through :func:`~sessionrec.serving.redaction.redact`.
"""

from __future__ import annotations

import json

from sessionrec.data.vocab import ExternalId
from sessionrec.errors import ConfigError
from sessionrec.serving.redaction import install_log_filter, redact, redact_url
from sessionrec.serving.stores import SessionStore, StoreError

try:
    import redis.asyncio as aioredis
    from redis.exceptions import RedisError
except ImportError:  # pragma: no cover - depends on the installed extras
    aioredis = None  # type: ignore[assignment]
    RedisError = Exception  # type: ignore[assignment,misc]


class RedisStore(SessionStore):
    def __init__(self, url: str, ttl: float, max_length: int, prefix: str = "sessionrec:") -> None:
        super().__init__(ttl, max_length)
        if aioredis is None:
            raise ConfigError(
                "the Redis session store needs the 'redis' package: pip install 'sessionrec[serve]'"
            )
        install_log_filter(url)
        self._url = url
        self.url = redact_url(url)  # what errors and logs show
        try:
            self._client = aioredis.Redis.from_url(url, socket_connect_timeout=2.0, socket_timeout=5.0)
        except ValueError as exc:
            raise ConfigError(f"invalid Redis URL {self.url}: {self._redact(exc)}") from None
        self.prefix = prefix
        self._ttl_ms = max(round(ttl * 1000), 1)

    def _redact(self, exc: BaseException) -> str:
        return redact(str(exc), self._url)

    def _failed(self, exc: BaseException) -> StoreError:
        return StoreError(f"session store {self.url} failed: {self._redact(exc)}")

    def _key(self, session_id: str) -> str:
        return f"{self.prefix}session:{session_id}"

    async def append(self, session_id: str, item: ExternalId) -> list[ExternalId]:
        key = self._key(session_id)
        try:
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.rpush(key, json.dumps(item))
                pipe.ltrim(key, -self.max_length, -1)
                pipe.pexpire(key, self._ttl_ms)
                pipe.lrange(key, 0, -1)
                *_, values = await pipe.execute()
        except RedisError as exc:
            raise self._failed(exc) from None
        return _decode(values, key)

    async def get(self, session_id: str) -> list[ExternalId] | None:
        key = self._key(session_id)
        try:
            values = await self._client.lrange(key, 0, -1)
        except RedisError as exc:
            raise self._failed(exc) from None
        return _decode(values, key) if values else None

    async def delete(self, session_id: str) -> bool:
        try:
            return bool(await self._client.delete(self._key(session_id)))
        except RedisError as exc:
            raise self._failed(exc) from None

    async def ping(self) -> bool:
        try:
            return bool(await self._client.ping())
        except (RedisError, OSError):
            return False

    async def close(self) -> None:
        await self._client.aclose()


def _decode(values: list[bytes], key: str) -> list[ExternalId]:
    try:
        items = [json.loads(value) for value in values]
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise StoreError(f"Redis key {key} holds values this service did not write") from None
    if not all(isinstance(item, (int, str)) and not isinstance(item, bool) for item in items):
        raise StoreError(f"Redis key {key} holds values this service did not write")
    return items
