"""Prometheus metrics of the service, exposed at ``GET /metrics`` in the text format.

Each app gets its own registry (several apps in one process, as in tests, never
share counters). Requests are counted by route *template* (``/v1/sessions/{session_id}``,
not the raw path) so that session ids cannot blow up the number of series.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
UNMATCHED = "unmatched"


class ServiceMetrics:
    """Request counts, latencies, errors by kind, micro-batch sizes, readiness."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "sessionrec_http_requests",
            "HTTP requests by route template, method and status code.",
            ("route", "method", "status"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "sessionrec_http_request_duration_seconds",
            "Time from receiving a request to sending its last byte.",
            ("route",),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.errors = Counter(
            "sessionrec_http_errors",
            "Error responses by kind (invalid_json, invalid_request, not_found, too_large, ...).",
            ("route", "kind"),
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "sessionrec_batch_size",
            "Sessions scored together in one model call by the micro-batcher.",
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )
        self.ready = Gauge("sessionrec_model_ready", "1 once the model is loaded.", registry=self.registry)

    def render(self) -> bytes:
        return generate_latest(self.registry)


def route_label(scope: Scope, routes: Iterable[BaseRoute]) -> str:
    """The route template of a request: from routing if it ran, else by matching the path."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path
    for candidate in routes:
        match, _ = candidate.matches(scope)
        if match is not Match.NONE:
            return getattr(candidate, "path", UNMATCHED)
    return UNMATCHED


class MetricsMiddleware:
    """Pure ASGI (no per-request task), outermost, so it also times 413s and 500s."""

    def __init__(
        self, app: ASGIApp, metrics: ServiceMetrics, routes: Callable[[], Iterable[BaseRoute]]
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500  # what the server sends if the app dies before answering

        async def send_and_record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        finally:
            route = route_label(scope, self.routes())
            self.metrics.requests.labels(route, scope.get("method", "?"), str(status)).inc()
            self.metrics.latency.labels(route).observe(time.perf_counter() - start)


def record_error(metrics: Any, scope: Scope, routes: Iterable[BaseRoute], kind: str) -> None:
    """Count one error response of ``kind`` against its route."""
    if isinstance(metrics, ServiceMetrics):
        metrics.errors.labels(route_label(scope, routes), kind).inc()
