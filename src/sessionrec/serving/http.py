"""Every error the API returns: one JSON shape, ``{"error": ..., "detail": ...}``, with a 4xx for bad input.

- invalid JSON -> 400; a body that does not match the schema, or a limit exceeded
  (``k``, session length, session id) -> 422 naming the field; unknown session or
  route -> 404; wrong method -> 405; body above ``max_body_bytes`` -> 413;
  model still loading or session store down -> 503.
- anything unexpected -> 500 with no internals leaked (and logged); tests fuzz the
  API to keep this path unreachable from client input.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sessionrec.serving.metrics import record_error
from sessionrec.serving.stores import StoreError

log = logging.getLogger("sessionrec.serving")


class ApiError(Exception):
    """Raised by handlers for a client error they detect themselves (limits, unknown ids)."""

    def __init__(self, status: int, error: str, detail: Any, kind: str = "invalid_request") -> None:
        super().__init__(error)
        self.status, self.error, self.detail, self.kind = status, error, detail, kind


def json_response(content: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """Compact JSON; ASCII-escaped so that any echoed input encodes safely."""
    body = json.dumps(content, separators=(",", ":"), allow_nan=False).encode()
    return Response(body, status, headers, media_type="application/json")


def error_response(
    request: Request, status: int, error: str, detail: Any, kind: str, **headers: str
) -> Response:
    app = request.app
    record_error(getattr(app.state, "metrics", None), request.scope, app.router.routes, kind)
    return json_response({"error": error, "detail": detail}, status, headers or None)


def _where(loc: tuple[Any, ...]) -> str:
    """``("body", "items", 0)`` -> ``items[0]``; ``("path", "session_id")`` -> ``path.session_id``."""
    parts = list(loc[1:] if loc and loc[0] == "body" else loc)
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "body"


async def _validation(request: Request, exc: RequestValidationError) -> Response:
    errors = exc.errors()
    bad_json = next((e for e in errors if e.get("type") == "json_invalid"), None)
    if bad_json is not None:
        reason = bad_json.get("ctx", {}).get("error", "malformed")
        position = bad_json["loc"][-1] if bad_json.get("loc") else "?"
        return error_response(
            request, 400, "invalid JSON", f"{reason} at character {position}", "invalid_json"
        )
    detail = [
        f"{_where(tuple(e.get('loc', ())))}: {e.get('msg', '').removeprefix('Value error, ')}" for e in errors
    ]
    return error_response(request, 422, "invalid request", detail, "invalid_request")


async def _api_error(request: Request, exc: ApiError) -> Response:
    return error_response(request, exc.status, exc.error, exc.detail, exc.kind)


async def _http_error(request: Request, exc: HTTPException) -> Response:
    kinds = {404: "not_found", 405: "method_not_allowed"}
    error = {404: "not found", 405: "method not allowed"}.get(exc.status_code, "request failed")
    headers = dict(exc.headers or {})
    return error_response(
        request, exc.status_code, error, exc.detail, kinds.get(exc.status_code, "http"), **headers
    )


async def _store_error(request: Request, exc: StoreError) -> Response:
    log.warning("session store error: %s", exc)
    return error_response(request, 503, "session store unavailable", str(exc), "store_unavailable")


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return error_response(request, 500, "internal error", "the error was logged on the server", "internal")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation)  # type: ignore[arg-type]
    app.add_exception_handler(ApiError, _api_error)  # type: ignore[arg-type]
    app.add_exception_handler(HTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(StoreError, _store_error)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _unexpected)


class BodyLimitMiddleware:
    """Refuse bodies above ``max_bytes`` with a 413, whether declared or streamed.

    The body is buffered here (it is small by construction) and replayed to the app,
    so a chunked upload without Content-Length cannot get past the limit either.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, on_reject: Callable[[Scope], None]) -> None:
        self.app, self.max_bytes, self.on_reject = app, max_bytes, on_reject

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", ())).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._reject(scope, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away before sending its body
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._reject(scope, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _reject(self, scope: Scope, send: Send) -> None:
        self.on_reject(scope)
        error = {"error": "request body too large", "detail": f"the limit is {self.max_bytes} bytes"}
        body = json.dumps(error, separators=(",", ":")).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send(
            {"type": "http.response.start", "status": 413, "headers": [*headers, (b"connection", b"close")]}
        )
        await send({"type": "http.response.body", "body": body})
