"""Fuzzing: no body, path or method a client can send makes the service answer 5xx.

Hypothesis drives arbitrary JSON (huge ints, NaN, unicode, nesting), raw bytes and
session ids through every route; each answer must be < 500, JSON, and, for errors,
of the ``{"error", "detail"}`` shape. Successful recommendations must satisfy the
response invariants (at most k items, scores sorted, unknown items from the input).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sessionrec.serving import ServeConfig, create_app

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# sessionrec flushes subnormal floats on its threads (runtime.numerics): none can be drawn
scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_subnormal=False) | st.text(max_size=20)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
# Unicode digits (superscripts, Arabic-Indic, full-width), signs and spaces: never an error
tricky_digits = st.text(st.characters(categories=("Nd", "No", "Pd", "Sm", "Zs")), min_size=1, max_size=4)
item_like = (
    st.integers(-5, 30)
    | st.sampled_from(["11", "12", "x", "", "é", "11.0", "²", "--5", "٤٢٦٩", "-12", " 12"])
    | tricky_digits
    | scalars
)
recommend_bodies = st.fixed_dictionaries(
    {},
    optional={
        "items": st.lists(item_like, max_size=6) | json_values,
        "k": st.integers(-3, 200) | json_values,
        "exclude_seen": st.booleans() | json_values,
        "extra": json_values,
    },
)
event_bodies = st.fixed_dictionaries(
    {},
    optional={
        "item": item_like | json_values,
        "k": st.integers(-3, 200) | json_values,
        "exclude_seen": st.booleans(),
    },
)
session_ids = st.text(min_size=0, max_size=140) | st.sampled_from(["s1", "a.b:c~d-e_f", "x" * 128])


@pytest.fixture(scope="module")
def client(pop_run: Path) -> Iterator[TestClient]:
    with TestClient(
        create_app(pop_run, ServeConfig(max_body_bytes=4096)), raise_server_exceptions=False
    ) as c:
        for _ in range(1000):
            if c.get("/ready").status_code == 200:
                break
        yield c


def post_json(client: TestClient, path: str, body: Any) -> Any:
    """json.dumps writes NaN and Infinity, which Python's parser on the server accepts too."""
    return client.post(path, content=json.dumps(body).encode(), headers={"content-type": "application/json"})


def check(response: Any) -> dict[str, Any] | None:
    assert response.status_code < 500, response.text
    if response.status_code == 204:
        return None
    body = response.json()
    if response.status_code >= 400:
        assert set(body) == {"error", "detail"}, body
    return body


def check_recommendation(body: dict[str, Any] | None, sent: dict[str, Any]) -> None:
    if body is None or "error" in body:
        return
    assert len(body["items"]) == len(body["scores"]) <= sent.get("k", 20)
    assert body["scores"] == sorted(body["scores"], reverse=True)
    assert body["fallback"] == (len(body["unknown_items"]) == len(sent.get("items", [sent.get("item")])))


@FUZZ
@given(body=recommend_bodies)
def test_recommend_never_5xx(client: TestClient, body: dict[str, Any]) -> None:
    check_recommendation(check(post_json(client, "/v1/recommend", body)), body)


@FUZZ
@given(body=json_values)
def test_recommend_any_json_never_5xx(client: TestClient, body: Any) -> None:
    check(post_json(client, "/v1/recommend", body))


@FUZZ
@given(
    raw=st.binary(max_size=300),
    content_type=st.sampled_from(["application/json", "text/plain", "", "application/x+json"]),
)
def test_raw_bytes_never_5xx(client: TestClient, raw: bytes, content_type: str) -> None:
    headers = {"content-type": content_type} if content_type else {}
    check(client.post("/v1/recommend", content=raw, headers=headers))


@FUZZ
@given(
    session_id=session_ids,
    body=event_bodies,
    method=st.sampled_from(["GET", "POST", "DELETE", "PUT", "PATCH"]),
)
def test_session_routes_never_5xx(
    client: TestClient, session_id: str, body: dict[str, Any], method: str
) -> None:
    path = f"/v1/sessions/{quote(session_id, safe='')}"
    if method == "POST":
        path += "/events"
    content = json.dumps(body).encode()
    response = client.request(method, path, content=content, headers={"content-type": "application/json"})
    result = check(response)
    if method == "POST" and response.status_code == 200:
        assert result is not None and result["session"]["items"][-1] == body["item"]
        check_recommendation(result, {"k": body.get("k", 20), "items": result["session"]["items"]})


@FUZZ
@given(path=st.text(max_size=30), method=st.sampled_from(["GET", "POST", "DELETE", "HEAD", "OPTIONS"]))
def test_any_path_never_5xx(client: TestClient, path: str, method: str) -> None:
    response = client.request(method, "/" + quote(path, safe="/"))
    assert response.status_code < 500
