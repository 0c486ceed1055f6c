"""The API docs pages, with their assets served by the service itself.

FastAPI's default ``/docs`` and ``/redoc`` load Swagger UI and ReDoc from a CDN, so
they stay blank on a machine that cannot reach it. The same assets ship in the
``fastapi-offline`` package (a dependency of the ``serve`` extra); only its static
files are used, mounted at :data:`ASSETS`, and the pages name nothing outside the
service.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from starlette.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

from sessionrec.errors import ConfigError

ASSETS = "/docs-assets"
FILES = ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js", "favicon.png")


def assets_directory() -> Path:
    """Where the installed ``fastapi-offline`` keeps Swagger UI and ReDoc."""
    try:
        directory = Path(str(files("fastapi_offline") / "static"))
    except ModuleNotFoundError:
        raise ConfigError(
            "the API docs need the 'fastapi-offline' package: pip install 'sessionrec[serve]'"
        ) from None
    missing = [name for name in FILES if not (directory / name).is_file()]
    if missing:
        raise ConfigError(f"{directory}: the docs assets {', '.join(missing)} are missing")
    return directory


def install_docs(app: FastAPI) -> None:
    """``/docs`` (Swagger UI), ``/redoc`` and the assets they load, all from this service."""
    app.mount(ASSETS, StaticFiles(directory=assets_directory()), name="docs-assets")
    title = f"{app.title} {app.version}"
    openapi_url = app.openapi_url or "/openapi.json"
    redirect = "/docs/oauth2-redirect"

    async def swagger() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=title,
            swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS}/favicon.png",
            oauth2_redirect_url=redirect,
        )

    async def oauth2_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    async def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=openapi_url,
            title=title,
            redoc_js_url=f"{ASSETS}/redoc.standalone.js",
            redoc_favicon_url=f"{ASSETS}/favicon.png",
            with_google_fonts=False,
        )

    for path, endpoint in (("/docs", swagger), (redirect, oauth2_redirect), ("/redoc", redoc)):
        app.add_api_route(path, endpoint, methods=["GET"], include_in_schema=False)
