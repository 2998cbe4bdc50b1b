"""The API's documentation pages (/docs, /redoc), served with their scripts and styles from
the app itself (fastapi-offline's files, no CDN) and their inline scripts carrying the
response's CSP nonce."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import fastapi_offline
from fastapi import APIRouter, Request, Response
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse

from weijian.api.headers import with_nonce

router = APIRouter(include_in_schema=False)
#: where fastapi-offline mounts its files
STATIC = "/static-offline-docs"
OAUTH2_REDIRECT = "/docs/oauth2-redirect"
#: ReDoc's bundle as this app serves it: the one outside address it loads, the logo of its side
#: menu's footer (any address ending in ``/logo-mini.svg``), pointed at the favicon served
#: beside it
REDOC_JS = "/docs-assets/redoc.standalone.js"
_REDOC_LOGO = re.compile(rb"https?://[^\s\"'`]*/logo-mini\.svg")


def _nonced(page: HTMLResponse, request: Request) -> HTMLResponse:
    return HTMLResponse(with_nonce(bytes(page.body).decode(), request))


@router.get("/docs")
def swagger(request: Request) -> HTMLResponse:
    app = request.app
    page = get_swagger_ui_html(
        openapi_url=app.openapi_url,
        title=app.title + " - Swagger UI",
        oauth2_redirect_url=OAUTH2_REDIRECT,
        swagger_js_url=f"{STATIC}/swagger-ui-bundle.js",
        swagger_css_url=f"{STATIC}/swagger-ui.css",
        swagger_favicon_url=f"{STATIC}/favicon.png",
        swagger_ui_parameters=app.swagger_ui_parameters,
    )
    return _nonced(page, request)


@router.get(OAUTH2_REDIRECT)
def swagger_redirect(request: Request) -> HTMLResponse:
    return _nonced(get_swagger_ui_oauth2_redirect_html(), request)


@router.get("/redoc")
def redoc(request: Request) -> HTMLResponse:
    app = request.app
    page = get_redoc_html(
        openapi_url=app.openapi_url,
        title=app.title + " - ReDoc",
        redoc_js_url=REDOC_JS,
        with_google_fonts=False,
        redoc_favicon_url=f"{STATIC}/favicon.png",
    )
    return _nonced(page, request)


@cache
def _redoc_bundle() -> bytes:
    bundle = Path(fastapi_offline.__file__).parent / "static" / "redoc.standalone.js"
    return _REDOC_LOGO.sub(f"{STATIC}/favicon.png".encode(), bundle.read_bytes())


@router.get(REDOC_JS)
def redoc_bundle() -> Response:
    return Response(
        _redoc_bundle(),
        media_type="text/javascript; charset=utf-8",
        headers={"Cache-Control": "public, max-age=86400"},
    )
