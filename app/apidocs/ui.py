"""Interactive API documentation served entirely by the service (no CDN).

Swagger UI and ReDoc assets come from the ``fastapi-offline`` package; the pages
load them and a small init script from ``/docs-static`` (no inline script), so they
keep working offline and under ``Content-Security-Policy: default-src 'self'``.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from fastapi_offline import core as offline_core

STATIC_URL = "/docs-static"
_ASSETS = Path(offline_core.__file__).parent / "static"
_INIT_SCRIPTS = Path(__file__).parent / "static"

_SWAGGER_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title} - Swagger UI</title>
<link rel="icon" href="{static}/assets/favicon.png">
<link rel="stylesheet" href="{static}/assets/swagger-ui.css"></head>
<body><div id="swagger-ui" data-openapi-url="{openapi}" data-oauth2-redirect-url="{redirect}"></div>
<script src="{static}/assets/swagger-ui-bundle.js"></script>
<script src="{static}/swagger-init.js"></script></body></html>"""

_REDOC_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title} - ReDoc</title>
<link rel="icon" href="{static}/assets/favicon.png"></head>
<body><div id="redoc" data-openapi-url="{openapi}"></div>
<script src="{static}/assets/redoc.standalone.js"></script>
<script src="{static}/redoc-init.js"></script></body></html>"""


def mount_docs(app: FastAPI, *, title: str) -> None:
    """Serve ``/docs``, ``/docs/oauth2-redirect``, ``/redoc`` and their assets."""
    app.mount(f"{STATIC_URL}/assets", StaticFiles(directory=_ASSETS), name="docs-assets")
    app.mount(STATIC_URL, StaticFiles(directory=_INIT_SCRIPTS), name="docs-init")
    page_args = {
        "title": title,
        "static": STATIC_URL,
        "openapi": app.openapi_url or "/openapi.json",
        "redirect": "/docs/oauth2-redirect",
    }

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return HTMLResponse(_SWAGGER_PAGE.format(**page_args))

    @app.get("/docs/oauth2-redirect", include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        from fastapi.openapi.docs import get_swagger_ui_oauth2_redirect_html

        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return HTMLResponse(_REDOC_PAGE.format(**page_args))
