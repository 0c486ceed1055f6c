"""Hypothesis against the service's own OpenAPI spec, with hostile item ids.

Request bodies and path parameters are generated from ``/openapi.json`` (each
schema's types, bounds, patterns and required keys), item ids drawn from integers,
canonical digit strings and strings of Unicode digits, signs and spaces. Every
answer must be < 500; a 200 must match its response schema's required keys, and
its ``unknown_items`` must be exactly the ids the item-id policy rejects (the tiny
POP run's integer catalogue is 11..16).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sessionrec.serving import ServeConfig, create_app

CATALOGUE = range(11, 17)
TRICKY = st.characters(categories=("Nd", "No", "Pd", "Sm", "Zs"), include_characters="0123456789-+")
item_ids = (
    st.integers(-20, 40)
    | st.integers()
    | st.integers(0, 30).map(str)
    | st.text(TRICKY, min_size=1, max_size=5)
    | st.sampled_from(["²", "--5", "٤٢٦٩", "-12", "012", "12 "])
)


def known(item: Any) -> bool:
    """The policy: an int, or a canonical ASCII integer string, that names a catalogue item."""
    if isinstance(item, str):
        return re.fullmatch(r"-?[0-9]+", item) is not None and int(item) in CATALOGUE
    return item in CATALOGUE


class Spec:
    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document

    def resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema:
            schema = self.document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
        return schema

    def strategy(self, schema: dict[str, Any], name: str = "") -> st.SearchStrategy[Any]:
        schema = self.resolve(schema)
        if (name in ("item", "items") and schema.get("type") != "array") or "anyOf" in schema:
            return item_ids  # an item id wherever the spec says integer-or-string
        kind = schema.get("type")
        if kind == "integer":
            low = int(schema.get("minimum", -(2**40)))
            return st.integers(low - 2, 150)  # in and just out of range
        if kind == "boolean":
            return st.booleans()
        if kind == "string":
            pattern = schema.get("pattern")
            return st.from_regex(pattern, fullmatch=True) if pattern else st.text(max_size=10)
        if kind == "array":
            return st.lists(self.strategy(schema["items"], name), max_size=5)
        if kind == "object":
            properties = schema.get("properties", {})
            required = set(schema.get("required", ()))
            return st.fixed_dictionaries(
                {key: self.strategy(value, key) for key, value in properties.items() if key in required},
                optional={k: self.strategy(v, k) for k, v in properties.items() if k not in required},
            )
        return st.none()

    def operations(self) -> Iterator[tuple[str, str, dict[str, Any]]]:
        for path, methods in self.document["paths"].items():
            for method, operation in methods.items():
                yield path, method.upper(), operation


@pytest.fixture(scope="module")
def client(pop_run: Path) -> Iterator[TestClient]:
    with TestClient(create_app(pop_run, ServeConfig()), raise_server_exceptions=False) as c:
        for _ in range(1000):
            if c.get("/ready").status_code == 200:
                break
        yield c


@pytest.fixture(scope="module")
def spec(client: TestClient) -> Spec:
    return Spec(client.get("/openapi.json").json())


def check_schema(spec: Spec, schema: dict[str, Any], value: Any) -> None:
    """Required keys and JSON types of a response, recursively through objects."""
    schema = spec.resolve(schema)
    if schema.get("type") == "object":
        assert isinstance(value, dict)
        assert set(schema.get("required", ())) <= set(value), (schema.get("title"), value)
        for key, sub in schema.get("properties", {}).items():
            if key in value and value[key] is not None:
                check_schema(spec, sub, value[key])
    elif schema.get("type") == "array":
        assert isinstance(value, list)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_every_operation_of_the_spec_never_5xx(client: TestClient, spec: Spec, data: st.DataObject) -> None:
    path, method, operation = data.draw(st.sampled_from(list(spec.operations())))
    for parameter in operation.get("parameters", []):
        value = data.draw(spec.strategy(parameter["schema"]) | st.text(max_size=8), parameter["name"])
        path = path.replace("{" + parameter["name"] + "}", quote(str(value), safe="") or "x")
    body = None
    content = operation.get("requestBody", {}).get("content", {}).get("application/json")
    if content is not None:
        body = data.draw(spec.strategy(content["schema"]), "body")
    response = client.request(method, path, json=body)
    assert response.status_code < 500, (method, path, body, response.text)
    if response.status_code >= 400:
        assert set(response.json()) == {"error", "detail"}
        return
    schema = operation["responses"].get(str(response.status_code), {}).get("content", {})
    if "application/json" in schema and schema["application/json"].get("schema"):
        check_schema(spec, schema["application/json"]["schema"], response.json())
    if response.status_code == 200 and isinstance(body, dict) and path == "/v1/recommend":
        answer = response.json()
        assert answer["unknown_items"] == [i for i in body["items"] if not known(i)]
        assert answer["fallback"] == (not any(known(i) for i in body["items"]))
