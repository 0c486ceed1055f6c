"""Every kind of bad input gets a 4xx with ``{"error", "detail"}`` naming the problem; none a 5xx."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

RECOMMEND = "/v1/recommend"
EVENTS = "/v1/sessions/s1/events"

# (path, JSON body, expected status, text the detail must contain)
BAD_BODIES: list[tuple[str, Any, int, str]] = [
    (RECOMMEND, {}, 422, "items: Field required"),
    (RECOMMEND, {"k": 5}, 422, "items: Field required"),
    (RECOMMEND, [], 422, "body"),  # not an object
    (RECOMMEND, "11", 422, "body"),
    (RECOMMEND, {"items": 11}, 422, "items: Input should be a valid list"),
    (RECOMMEND, {"items": []}, 422, "at least one item"),
    (
        RECOMMEND,
        {"items": [{"id": 11}]},
        422,
        "items[0]: item ids must be integers or strings, not an object",
    ),
    (RECOMMEND, {"items": [11, 1.5]}, 422, "items[1]: item ids must be integers or strings, not a number"),
    (RECOMMEND, {"items": [True]}, 422, "not a boolean"),
    (RECOMMEND, {"items": [None]}, 422, "not null"),
    (RECOMMEND, {"items": [[11]]}, 422, "not a list"),
    (RECOMMEND, {"items": [""]}, 422, "1 to 256 characters"),
    (RECOMMEND, {"items": ["x" * 257]}, 422, "1 to 256 characters"),
    (RECOMMEND, {"items": [11], "k": 0}, 422, "k: Input should be greater than or equal to 1"),
    (RECOMMEND, {"items": [11], "k": -3}, 422, "k: Input should be greater than or equal to 1"),
    (RECOMMEND, {"items": [11], "k": 101}, 422, "k: must be at most 100, got 101"),
    (RECOMMEND, {"items": [11], "k": 2.0}, 422, "k: Input should be a valid integer"),
    (RECOMMEND, {"items": [11], "k": "5"}, 422, "k: Input should be a valid integer"),
    (RECOMMEND, {"items": [11], "k": True}, 422, "k: Input should be a valid integer"),
    (RECOMMEND, {"items": [11], "exclude_seen": "yes"}, 422, "exclude_seen: Input should be a valid boolean"),
    (RECOMMEND, {"items": [11], "exlude_seen": True}, 422, "exlude_seen: Extra inputs are not permitted"),
    (RECOMMEND, {"items": list(range(101))}, 422, "at most 100 items per session, got 101"),
    (EVENTS, {}, 422, "item: Field required"),
    (EVENTS, {"item": [11]}, 422, "item: item ids must be integers or strings, not a list"),
    (EVENTS, {"item": 11, "k": 0}, 422, "k: Input should be greater than or equal to 1"),
    (EVENTS, {"item": 11, "k": 1000}, 422, "k: must be at most 100"),
]


@pytest.mark.parametrize(("path", "body", "status", "detail"), BAD_BODIES)
def test_bad_bodies(pop_client: TestClient, path: str, body: Any, status: int, detail: str) -> None:
    response = pop_client.post(path, json=body)
    assert response.status_code == status
    payload = response.json()
    assert set(payload) == {"error", "detail"}
    assert detail in " | ".join(payload["detail"])


def test_rejected_event_does_not_touch_the_session(pop_client: TestClient) -> None:
    pop_client.post(EVENTS, json={"item": 11})
    pop_client.post(EVENTS, json={"item": 12, "k": 0})  # refused before the store is touched
    assert pop_client.get("/v1/sessions/s1").json()["items"] == [11]


@pytest.mark.parametrize(
    "raw",
    [b"{", b'{"items": [11,]}', b"not json", b'{"items": [1e]}', b"\xff\xfe", b'{"items": "\\ud800"'],
)
def test_malformed_json_is_400(pop_client: TestClient, raw: bytes) -> None:
    response = pop_client.post(RECOMMEND, content=raw, headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid JSON"


def test_nan_and_lone_surrogates_are_refused_not_crashed(pop_client: TestClient) -> None:
    # Python's JSON parser accepts NaN and lone surrogates; both must end in a 422
    for raw in (b'{"items": [NaN]}', b'{"items": ["\\ud800"]}', b'{"items": [11], "k": Infinity}'):
        response = pop_client.post(RECOMMEND, content=raw, headers={"content-type": "application/json"})
        assert response.status_code == 422, raw


def test_body_without_json_content_type_is_422(pop_client: TestClient) -> None:
    response = pop_client.post(RECOMMEND, content=b'{"items": [11]}', headers={"content-type": "text/plain"})
    assert response.status_code == 422


def test_oversized_body_is_413_declared_or_streamed(serve: Any, pop_run: Path) -> None:
    client = serve(pop_run, max_body_bytes=1024)
    big = b'{"items": [' + b"11," * 600 + b"11]}"
    declared = client.post(RECOMMEND, content=big, headers={"content-type": "application/json"})
    assert declared.status_code == 413 and "1024 bytes" in declared.json()["detail"]

    def chunks() -> Any:  # no Content-Length: the limit must hold on the streamed bytes
        for start in range(0, len(big), 100):
            yield big[start : start + 100]

    streamed = client.post(RECOMMEND, content=chunks(), headers={"content-type": "application/json"})
    assert streamed.status_code == 413
    assert 'kind="too_large",route="/v1/recommend"} 2.0' in client.get("/metrics").text


@pytest.mark.parametrize("session_id", ["a b", "x" * 129, "a/b", "é", "%00"])
def test_invalid_session_ids_are_422_or_404(pop_client: TestClient, session_id: str) -> None:
    response = pop_client.post(f"/v1/sessions/{session_id}/events", json={"item": 11})
    assert response.status_code in (404, 422)  # "a/b" does not even match the route
    assert set(response.json()) == {"error", "detail"}


def test_unknown_route_and_wrong_method(pop_client: TestClient) -> None:
    assert pop_client.get("/v2/nothing").status_code == 404
    wrong = pop_client.get(RECOMMEND)
    assert wrong.status_code == 405 and wrong.json()["error"] == "method not allowed"
    assert "POST" in wrong.headers["allow"]
