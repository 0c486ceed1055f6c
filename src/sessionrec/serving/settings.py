"""Settings of the HTTP service: limits, session store, micro-batching, threads.

One frozen config (the same typed, validated base as the models') so that the CLI,
tests and benchmarks build a service the same way, and bad values fail at start-up
with a message naming the setting, not on the first request.
"""

from __future__ import annotations

from dataclasses import dataclass

from sessionrec.config import Config, check
from sessionrec.serving.redaction import redact_url

STORE_SCHEMES = ("redis://", "rediss://", "unix://")


@dataclass(frozen=True, repr=False)
class ServeConfig(Config):
    """Every limit the service enforces, with defaults sized for a catalogue of ~10^5 items.

    - ``store``: ``memory`` (one process) or a Redis URL ``redis://HOST:PORT/DB``.
    - ``session_ttl``: seconds a stored session lives after its last click.
    - ``max_session_length``: clicks kept per stored session (the oldest drop) and the
      most items a stateless request may send (more is a 422).
    - ``max_sessions``: sessions the in-memory store keeps (least recently clicked evicted).
    - ``max_k``: the largest ``k`` accepted (a 422 above it); a ``k`` above the catalogue
      but within ``max_k`` returns the whole catalogue.
    - ``max_body_bytes``: request bodies above this get a 413.
    - ``batch_wait_ms`` / ``max_batch_size``: the micro-batcher's gathering window and
      batch cap (``batch_wait_ms=0`` still batches requests already queued).
    - ``torch_threads``: ``torch.set_num_threads`` for scoring (None leaves torch's default).
    - ``approximate``: take each top-k from the model's approximate item index
      (``sessionrec.ann``, the ``ann`` extra) instead of scoring every item: the index
      saved with the model, or one built with default settings while the model loads.
      Only for models that declare inner-product item scoring (refused otherwise).
    """

    store: str = "memory"
    session_ttl: float = 1800.0
    max_session_length: int = 100
    max_sessions: int = 100_000
    max_k: int = 100
    max_body_bytes: int = 65_536
    batch_wait_ms: float = 2.0
    max_batch_size: int = 64
    torch_threads: int | None = None
    approximate: bool = False
    redis_prefix: str = "sessionrec:"

    def __repr__(self) -> str:  # the store URL may hold a password: never print it
        shown = {**self.to_dict(), "store": redact_url(self.store)}
        return f"ServeConfig({', '.join(f'{k}={v!r}' for k, v in shown.items())})"

    def validate(self) -> None:
        check(
            self.store == "memory" or self.store.startswith(STORE_SCHEMES),
            f"store must be 'memory' or a Redis URL (redis://HOST:PORT/DB), got {redact_url(self.store)!r}",
        )
        check(self.session_ttl > 0, f"session_ttl must be > 0 seconds, got {self.session_ttl}")
        check(self.max_session_length >= 1, f"max_session_length must be >= 1, got {self.max_session_length}")
        check(self.max_sessions >= 1, f"max_sessions must be >= 1, got {self.max_sessions}")
        check(self.max_k >= 1, f"max_k must be >= 1, got {self.max_k}")
        check(self.max_body_bytes >= 256, f"max_body_bytes must be >= 256, got {self.max_body_bytes}")
        check(
            0 <= self.batch_wait_ms <= 1000, f"batch_wait_ms must be in [0, 1000], got {self.batch_wait_ms}"
        )
        check(self.max_batch_size >= 1, f"max_batch_size must be >= 1, got {self.max_batch_size}")
        check(
            self.torch_threads is None or self.torch_threads >= 1,
            f"torch_threads must be >= 1, got {self.torch_threads}",
        )
