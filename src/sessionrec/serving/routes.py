"""The HTTP routes. Handlers validate limits, then hand sessions to the micro-batcher."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import FastAPI, Path, Request
from starlette.responses import Response

from sessionrec.runtime import numerics
from sessionrec.serving.batcher import Result
from sessionrec.serving.http import ApiError, json_response
from sessionrec.serving.schemas import (
    SESSION_ID_PATTERN,
    ErrorBody,
    EventRequest,
    EventResponse,
    ModelInfo,
    RecommendRequest,
    RecommendResponse,
    SessionView,
)

if TYPE_CHECKING:
    from sessionrec.serving.app import ServiceState

SessionId = Annotated[
    str, Path(pattern=SESSION_ID_PATTERN, description="Client-chosen id, 1-128 of [A-Za-z0-9._:~-].")
]
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody, "description": text}
    for code, text in {
        400: "Malformed JSON.",
        413: "Request body too large.",
        422: "Body or path does not match the schema or exceeds a limit.",
        503: "Model not loaded yet, or session store unreachable.",
    }.items()
}


def _state(request: Request) -> ServiceState:
    return request.app.state.service


def _ready_state(request: Request) -> ServiceState:
    state = _state(request)
    if state.batcher is None or state.model is None:
        raise ApiError(503, "model not loaded", state.load_error or "the model is still loading", "not_ready")
    return state


def _check(state: ServiceState, n_items: int, k: int) -> None:
    config = state.config
    if k > config.max_k:
        raise ApiError(422, "invalid request", [f"k: must be at most {config.max_k}, got {k}"])
    if n_items == 0:
        raise ApiError(422, "invalid request", ["items: the session must hold at least one item"])
    if n_items > config.max_session_length:
        raise ApiError(
            422,
            "invalid request",
            [f"items: at most {config.max_session_length} items per session, got {n_items}"],
        )


def _answer(state: ServiceState, result: Result, **extra: Any) -> Response:
    assert state.model is not None
    body = {
        "items": result.items,
        "scores": result.scores,
        "unknown_items": result.unknown_items,
        "fallback": result.fallback,
        "model": state.model.name,
        **extra,
    }
    return json_response(body)


async def health() -> dict[str, str]:
    """The process is up (it may still be loading its model)."""
    return {"status": "ok"}


async def ready(request: Request) -> Response:
    """200 once the model is loaded and the session store answers; 503 before."""
    state = _ready_state(request)
    if state.store is None or not await state.store.ping():
        raise ApiError(503, "not ready", "the session store does not answer", "not_ready")
    return json_response({"status": "ready", "model": state.model.name if state.model else None})


async def metrics(request: Request) -> Response:
    """Prometheus text exposition."""
    service_metrics = _state(request).metrics
    return Response(service_metrics.render(), media_type=service_metrics.content_type)


async def model_info(request: Request) -> Response:
    """The served model: name, preset, config, catalogue size, training data, test metrics."""
    state = _ready_state(request)
    model = state.model
    assert model is not None
    info = state.run_info
    return json_response(
        {
            "name": model.name,
            "preset": model.preset,
            "config": model.config.to_dict(),
            "n_items": model.n_items,
            "data": info.get("data"),
            "test_metrics": info.get("test_metrics"),
            "numerics": numerics.status(),  # the floating-point mode of the serving threads
        }
    )


async def recommend(request: Request, body: RecommendRequest) -> Response:
    """Stateless: the top-k next items for the session sent in the body."""
    state = _ready_state(request)
    _check(state, len(body.items), body.k)
    assert state.batcher is not None
    result = await state.batcher.recommend(body.items, body.k, body.exclude_seen)
    return _answer(state, result)


async def add_event(request: Request, session_id: SessionId, body: EventRequest) -> Response:
    """Append a click to a stored session (created on first click) and recommend for it."""
    state = _ready_state(request)
    _check(state, 1, body.k)
    assert state.store is not None and state.batcher is not None
    items = await state.store.append(session_id, body.item)
    result = await state.batcher.recommend(items, body.k, body.exclude_seen)
    return _answer(state, result, session={"session_id": session_id, "items": items})


async def get_session(request: Request, session_id: SessionId) -> Response:
    """The stored clicks of a session, oldest first."""
    state = _state(request)
    assert state.store is not None
    items = await state.store.get(session_id)
    if items is None:
        raise ApiError(
            404, "unknown session", f"no session {session_id!r} (never seen or expired)", "not_found"
        )
    return json_response({"session_id": session_id, "items": items})


async def delete_session(request: Request, session_id: SessionId) -> Response:
    """Forget a session."""
    state = _state(request)
    assert state.store is not None
    if not await state.store.delete(session_id):
        raise ApiError(
            404, "unknown session", f"no session {session_id!r} (never seen or expired)", "not_found"
        )
    return Response(status_code=204)


def install_routes(app: FastAPI) -> None:
    """Register the routes on the app itself (route templates then label the metrics)."""
    app.add_api_route("/health", health, methods=["GET"], tags=["operations"])
    app.add_api_route("/ready", ready, methods=["GET"], tags=["operations"], responses={503: ERRORS[503]})
    app.add_api_route("/metrics", metrics, methods=["GET"], tags=["operations"], response_class=Response)
    app.add_api_route(
        "/v1/model",
        model_info,
        methods=["GET"],
        response_model=ModelInfo,
        tags=["model"],
        responses={503: ERRORS[503]},
    )
    app.add_api_route(
        "/v1/recommend",
        recommend,
        methods=["POST"],
        response_model=RecommendResponse,
        tags=["recommend"],
        responses=ERRORS,
    )
    app.add_api_route(
        "/v1/sessions/{session_id}/events",
        add_event,
        methods=["POST"],
        response_model=EventResponse,
        tags=["sessions"],
        responses=ERRORS,
    )
    app.add_api_route(
        "/v1/sessions/{session_id}",
        get_session,
        methods=["GET"],
        response_model=SessionView,
        tags=["sessions"],
        responses={404: {"model": ErrorBody, "description": "Unknown or expired session."}, **ERRORS},
    )
    app.add_api_route(
        "/v1/sessions/{session_id}",
        delete_session,
        methods=["DELETE"],
        status_code=204,
        tags=["sessions"],
        responses={404: {"model": ErrorBody, "description": "Unknown or expired session."}, **ERRORS},
    )
