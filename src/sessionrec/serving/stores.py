"""Where live sessions are kept between clicks: one interface, two implementations.

- :class:`MemoryStore` (default): a bounded dict in this process, least recently
  clicked evicted first, idle sessions expired after the TTL. Lost on restart and not
  shared between processes.
- :class:`~sessionrec.serving.redis_store.RedisStore`: Redis lists, for several
  processes or machines and restarts.

A session is the list of external item ids clicked, oldest first, capped at
``max_length`` (the oldest clicks drop). Its idle time counts from its last click:
reading a session does not keep it alive.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from sessionrec.data.vocab import ExternalId
from sessionrec.errors import SessionRecError


class StoreError(SessionRecError):
    """The session store cannot be reached or holds foreign data (served as a 503)."""


class SessionStore(ABC):
    """Async so that a networked store never blocks the event loop."""

    def __init__(self, ttl: float, max_length: int) -> None:
        self.ttl = ttl
        self.max_length = max_length

    @abstractmethod
    async def append(self, session_id: str, item: ExternalId) -> list[ExternalId]:
        """Add a click, refresh the TTL, and return the (capped) session."""

    @abstractmethod
    async def get(self, session_id: str) -> list[ExternalId] | None:
        """The session's clicks, or None when it is unknown or expired."""

    @abstractmethod
    async def delete(self, session_id: str) -> bool:
        """Forget a session; False when there was none."""

    async def ping(self) -> bool:
        """Whether the store can serve requests (for ``/ready``)."""
        return True

    async def close(self) -> None:  # noqa: B027 - optional hook, nothing to release by default
        """Release connections."""


@dataclass
class _Entry:
    items: deque[ExternalId]
    expires: float = field(default=0.0)


class MemoryStore(SessionStore):
    """In-process store: LRU-bounded, TTL-expired, guarded by a lock for thread safety.

    The dict is kept in order of last click, so expired sessions are always at its
    front and the sweep on each write only touches the ones it removes.
    """

    def __init__(
        self,
        ttl: float,
        max_length: int,
        max_sessions: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(ttl, max_length)
        self.max_sessions = max_sessions
        self._clock = clock
        self._sessions: OrderedDict[str, _Entry] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._sessions)

    async def append(self, session_id: str, item: ExternalId) -> list[ExternalId]:
        now = self._clock()
        with self._lock:
            self._sweep(now)
            entry = self._sessions.pop(session_id, None)
            if entry is None:
                entry = _Entry(deque(maxlen=self.max_length))
            entry.items.append(item)
            entry.expires = now + self.ttl
            self._sessions[session_id] = entry  # re-inserted last: most recently clicked
            while len(self._sessions) > self.max_sessions:
                self._sessions.popitem(last=False)
            return list(entry.items)

    async def get(self, session_id: str) -> list[ExternalId] | None:
        with self._lock:
            entry = self._sessions.get(session_id)
            if entry is None:
                return None
            if entry.expires <= self._clock():
                del self._sessions[session_id]
                return None
            return list(entry.items)

    async def delete(self, session_id: str) -> bool:
        with self._lock:
            entry = self._sessions.pop(session_id, None)
            return entry is not None and entry.expires > self._clock()

    def _sweep(self, now: float) -> None:
        while self._sessions:
            oldest = next(iter(self._sessions.values()))
            if oldest.expires > now:
                break
            self._sessions.popitem(last=False)


def open_store(url: str, ttl: float, max_length: int, max_sessions: int, prefix: str) -> SessionStore:
    """``memory`` or a Redis URL (``redis://HOST:PORT/DB``); Redis is imported only if used."""
    if url == "memory":
        return MemoryStore(ttl, max_length, max_sessions)
    from sessionrec.serving.redis_store import RedisStore

    return RedisStore(url, ttl, max_length, prefix)
