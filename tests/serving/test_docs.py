"""``/docs`` and ``/redoc`` load every asset from the service itself: they work offline."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient


def _references(html: str) -> list[str]:
    return re.findall(r"""(?:src|href)=["']([^"']+)["']""", html) + re.findall(r"url: *'([^']+)'", html)


def test_swagger_ui_names_only_local_assets(pop_client: TestClient) -> None:
    page = pop_client.get("/docs")
    assert page.status_code == 200 and "SwaggerUIBundle" in page.text
    refs = _references(page.text)
    assert "/docs-assets/swagger-ui-bundle.js" in refs and "/docs-assets/swagger-ui.css" in refs
    assert not [ref for ref in refs if "//" in ref], refs  # no CDN, no other host
    assert "'/openapi.json'" in page.text
    for ref in refs:
        asset = pop_client.get(ref)
        assert asset.status_code == 200 and len(asset.content) > 1000, ref
    assert pop_client.get("/openapi.json").json()["info"]["title"] == "sessionrec"


def test_redoc_names_only_local_assets(pop_client: TestClient) -> None:
    page = pop_client.get("/redoc")
    refs = _references(page.text)
    assert page.status_code == 200 and "/docs-assets/redoc.standalone.js" in refs
    assert not [ref for ref in refs if "//" in ref] and "fonts.googleapis" not in page.text
    script = pop_client.get("/docs-assets/redoc.standalone.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]


def test_unknown_asset_is_a_json_404(pop_client: TestClient) -> None:
    response = pop_client.get("/docs-assets/nothing.js")
    assert response.status_code == 404 and set(response.json()) == {"error", "detail"}
