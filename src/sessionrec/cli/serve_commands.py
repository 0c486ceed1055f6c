"""``sessionrec serve RUN_DIR``: the HTTP service for a trained run (needs the ``serve`` extra)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sessionrec.cli.common import console, friendly_errors
from sessionrec.errors import CheckpointError, ConfigError


def register(app: typer.Typer) -> None:
    """Add this module's commands to the app."""
    app.command("serve")(serve)


@friendly_errors
def serve(
    run_dir: Annotated[Path, typer.Argument(help="A finished run directory (run.json + model/).")],
    host: Annotated[str, typer.Option(help="Interface to listen on (0.0.0.0 for every one).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    store: Annotated[str, typer.Option(help="Session store: memory, or redis://HOST:PORT/DB.")] = "memory",
    session_ttl: Annotated[
        float, typer.Option(help="Seconds a session lives after its last click.")
    ] = 1800.0,
    max_session_length: Annotated[
        int, typer.Option(help="Clicks kept per session (oldest drop); most items per request.")
    ] = 100,
    max_sessions: Annotated[int, typer.Option(help="Sessions the memory store keeps (LRU).")] = 100_000,
    max_k: Annotated[int, typer.Option(help="Largest k a request may ask for (422 above).")] = 100,
    max_body_bytes: Annotated[int, typer.Option(help="Largest request body (413 above).")] = 65_536,
    batch_wait_ms: Annotated[float, typer.Option(help="Micro-batching window in milliseconds.")] = 2.0,
    max_batch_size: Annotated[int, typer.Option(help="Most sessions scored in one model call.")] = 64,
    torch_threads: Annotated[int | None, typer.Option(help="torch.set_num_threads for scoring.")] = None,
    ann: Annotated[
        bool,
        typer.Option(
            "--ann",
            help="Approximate top-k from an item index (FAISS HNSW, the 'ann' extra): the one saved "
            "with the model, else one built at start-up. Inner-product models only.",
        ),
    ] = False,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
    access_log: Annotated[bool, typer.Option(help="Log every request.")] = True,
) -> None:
    """Serve recommendations for live sessions over HTTP (OpenAPI docs at /docs)."""
    try:
        import uvicorn

        from sessionrec.serving import ServeConfig, create_app
    except ImportError as exc:
        raise ConfigError(
            f"serving needs the 'serve' extra ({exc.name} is missing): pip install 'sessionrec[serve]'"
        ) from None
    config = ServeConfig(
        store=store,
        session_ttl=session_ttl,
        max_session_length=max_session_length,
        max_sessions=max_sessions,
        max_k=max_k,
        max_body_bytes=max_body_bytes,
        batch_wait_ms=batch_wait_ms,
        max_batch_size=max_batch_size,
        torch_threads=torch_threads,
        approximate=ann,
    )
    _check_run(run_dir, ann)
    if config.store != "memory":
        _check_redis(config.store)
    if not 0 <= port <= 65535:
        raise ConfigError(f"--port must be in 0..65535, got {port}")
    console.print(banner(run_dir, host, port, config.store), highlight=False)
    uvicorn.run(create_app(run_dir, config), host=host, port=port, log_level=log_level, access_log=access_log)


def banner(run_dir: Path, host: str, port: int, store: str) -> str:
    """The start-up line; the store URL is shown without its credentials."""
    from sessionrec.serving.redaction import redact_url

    return f"serving {run_dir} on http://{host}:{port} (docs at /docs, store: {redact_url(store)})"


def _check_run(run_dir: Path, ann: bool = False) -> None:
    """Fail before binding the port when the run cannot be served (the model itself loads later)."""
    from sessionrec.models.base import read_model_meta
    from sessionrec.runs import Run

    run = Run(run_dir)
    info = run.info()
    if info.get("status") != "finished":
        raise CheckpointError(f"{run_dir}: the run has not finished (status {info.get('status')!r})")
    meta = read_model_meta(run.model_dir)
    if ann:
        from sessionrec.ann import import_faiss, require_item_scoring
        from sessionrec.models.registry import model_classes

        cls = model_classes().get(meta["model"])
        if cls is not None:
            require_item_scoring(cls(cls.config_class.from_dict(meta["config"])))
        import_faiss()


def _check_redis(url: str) -> None:
    import redis
    from redis.exceptions import RedisError

    from sessionrec.serving.redaction import redact, redact_url

    try:
        redis.Redis.from_url(url, socket_connect_timeout=2.0, socket_timeout=2.0).ping()
    except (RedisError, ValueError) as exc:
        reason = redact(str(exc), url)
        raise ConfigError(f"--store {redact_url(url)}: cannot reach Redis ({reason})") from None
