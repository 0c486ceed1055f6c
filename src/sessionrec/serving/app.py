"""The app factory: ``create_app(run_dir)`` -> a FastAPI app serving that run's model.

Start-up order: the session store opens, the server starts answering (``/health``
is 200 at once), and the model loads on a worker thread; ``/ready`` and the ``/v1``
routes answer 503 until it is loaded, so an orchestrator can route traffic only to
ready replicas. Tests and benchmarks may pass an already loaded ``model`` instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from fastapi import FastAPI

from sessionrec import __version__
from sessionrec.models.base import Recommender
from sessionrec.models.registry import load_run_model
from sessionrec.runs import Run
from sessionrec.runtime.memory import retain_freed_buffers
from sessionrec.serving.batcher import MicroBatcher
from sessionrec.serving.docs import install_docs
from sessionrec.serving.http import BodyLimitMiddleware, install_error_handlers
from sessionrec.serving.metrics import MetricsMiddleware, ServiceMetrics, record_error
from sessionrec.serving.routes import install_routes
from sessionrec.serving.settings import ServeConfig
from sessionrec.serving.stores import SessionStore, open_store

log = logging.getLogger("sessionrec.serving")


@dataclass
class ServiceState:
    """What the routes need; ``model`` and ``batcher`` stay None until the model is loaded."""

    config: ServeConfig
    metrics: ServiceMetrics
    run_dir: Path | None = None
    run_info: dict[str, Any] = field(default_factory=dict)
    model: Recommender | None = None
    batcher: MicroBatcher | None = None
    store: SessionStore | None = None
    load_error: str | None = None


def create_app(
    run_dir: str | Path | None = None,
    config: ServeConfig | None = None,
    model: Recommender | None = None,
    run_info: dict[str, Any] | None = None,
) -> FastAPI:
    """Build the service for the run in ``run_dir`` (or for an already fitted ``model``)."""
    if (run_dir is None) == (model is None):
        raise ValueError("pass exactly one of run_dir and model")
    config = config or ServeConfig()
    metrics = ServiceMetrics()
    state = ServiceState(
        config, metrics, Path(run_dir) if run_dir is not None else None, dict(run_info or {})
    )
    state.model = model

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if config.torch_threads is not None:
            torch.set_num_threads(config.torch_threads)
        retain_freed_buffers()  # score buffers are reused, not page-faulted per request
        state.store = open_store(
            config.store,
            config.session_ttl,
            config.max_session_length,
            config.max_sessions,
            config.redis_prefix,
        )
        loading: asyncio.Task[None] | None = None
        if state.model is not None:
            if config.approximate:
                ensure_index(state.model)
            _start_batcher(state)
        else:
            loading = asyncio.get_running_loop().create_task(_load(state))
        try:
            yield
        finally:
            if loading is not None:
                loading.cancel()
            if state.batcher is not None:
                await state.batcher.close()
                state.batcher = None
            await state.store.close()

    app = FastAPI(
        title="sessionrec",
        version=__version__,
        summary="Next-item recommendations for anonymous sessions.",
        lifespan=lifespan,
        docs_url=None,  # served by install_docs, from local assets
        redoc_url=None,
    )
    app.state.service = state
    app.state.metrics = metrics
    install_error_handlers(app)
    install_routes(app)
    install_docs(app)

    def count_too_large(scope: Any) -> None:
        record_error(metrics, scope, app.router.routes, "too_large")

    app.add_middleware(BodyLimitMiddleware, max_bytes=config.max_body_bytes, on_reject=count_too_large)
    app.add_middleware(MetricsMiddleware, metrics=metrics, routes=lambda: app.router.routes)
    return app


async def _load(state: ServiceState) -> None:
    """Load the run's model off the event loop, then start batching."""
    assert state.run_dir is not None
    run = Run(state.run_dir)
    try:
        state.run_info = await asyncio.to_thread(run.info)
        model = await asyncio.to_thread(load_run_model, state.run_dir)
        if state.config.approximate:
            await asyncio.to_thread(ensure_index, model)
        state.model = model
    except Exception as exc:  # reported by /ready; the process stays up for inspection
        state.load_error = f"{type(exc).__name__}: {exc}"
        log.error("could not load the model of %s: %s", state.run_dir, state.load_error)
        return
    _start_batcher(state)
    log.info("model %s loaded from %s", state.model.name, state.run_dir)


def ensure_index(model: Recommender) -> None:
    """The approximate item index of ``approximate`` serving: the saved one, else built now."""
    if model.item_index_ is None:
        log.info("building an approximate item index over %d items", model.n_items)
        model.build_index()


def _start_batcher(state: ServiceState) -> None:
    assert state.model is not None
    config = state.config
    batcher = MicroBatcher(
        state.model,
        config.batch_wait_ms / 1000.0,
        config.max_batch_size,
        state.metrics,
        config.torch_threads,
        config.approximate,
    )
    batcher.start()
    state.batcher = batcher
    state.metrics.ready.set(1)
