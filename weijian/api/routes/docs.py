"""The API's documentation pages (/docs, /redoc), served with their scripts and styles from
the app itself (fastapi-offline's files, no CDN) and their inline scripts carrying the
response's CSP nonce."""

from __future__ import annotations

from fastapi import APIRouter, Request
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
        redoc_js_url=f"{STATIC}/redoc.standalone.js",
        with_google_fonts=False,
        redoc_favicon_url=f"{STATIC}/favicon.png",
    )
    return _nonced(page, request)
