"""Security headers on every answer (pure ASGI): a Content-Security-Policy that allows scripts
from the server itself and inline scripts only with this response's nonce, styles from the
server and in attributes (the pages set them), images from the server and the basemap's tile
servers, nothing framing the pages; ``X-Content-Type-Options``, ``Referrer-Policy`` and
``X-Frame-Options`` for older browsers.

A page with an inline script puts :func:`nonce` of its request on it (``<script nonce=…>``);
:func:`with_nonce` does that for the generated HTML of the API's documentation."""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from weijian.errors import WeijianError
from weijian.settings import Settings
from weijian.web_map.basemaps import basemap_config

STATE_KEY = "csp_nonce"
#: the headers set on every answer; the policy's first, then these, in this order
FIXED = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
]
CSP = b"content-security-policy"
NAMES = frozenset({CSP, *(name for name, _ in FIXED)})


def tile_sources(settings: Settings) -> list[str]:
    """The CSP sources of the basemap's tiles: ``https://*.tianditu.gov.cn`` for
    ``https://t{s}.tianditu.gov.cn/…`` (a subdomain placeholder becomes a wildcard)."""
    try:
        layers = basemap_config(settings)["layers"]
    except WeijianError:  # a basemap misconfigured: the map page says so; no tiles drawn
        return []
    sources = []
    for layer in layers:
        parts = urlsplit(layer["url"])
        if not parts.scheme or not parts.netloc:
            continue  # the server's own path: 'self'
        host = parts.netloc
        if "{" in host:
            labels = host.split(".")
            host = ".".join(["*", *(label for label in labels[1:] if "{" not in label)])
        source = f"{parts.scheme}://{host}"
        if source not in sources:
            sources.append(source)
    return sources


def policy(nonce: str, tiles: list[str]) -> str:
    images = " ".join(["'self'", "data:", "blob:", *tiles])
    return "; ".join(
        [
            "default-src 'self'",
            f"script-src 'self' 'nonce-{nonce}'",
            "style-src 'self' 'unsafe-inline'",
            f"img-src {images}",
            "connect-src 'self'",
            "font-src 'self'",
            "worker-src 'self' blob:",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def nonce(request: Request) -> str:
    """The nonce of this response's inline scripts."""
    return request.scope.get("state", {}).get(STATE_KEY, "")


def with_nonce(html: str, request: Request) -> str:
    """The inline scripts of a page the server generates itself given this response's nonce
    (``<script>`` → ``<script nonce="…">``)."""
    return html.replace("<script>", f'<script nonce="{nonce(request)}">')


class SecurityHeaders:
    """The ASGI middleware: see the module's account."""

    def __init__(self, app: ASGIApp):
        self.app = app
        self._tiles: list[str] | None = None
        self._policy: tuple[str, str] = ("", "")  # the policy before and after the nonce

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self._tiles is None:
            cases = getattr(scope["app"].state, "cases", None)
            self._tiles = tile_sources(cases.settings) if cases is not None else []
            before, after = policy("\0", self._tiles).split("\0")
            self._policy = (before, after)
        value = secrets.token_urlsafe(16)
        scope.setdefault("state", {})[STATE_KEY] = value
        before, after = self._policy
        csp = before + value + after

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                raw = list(message.get("headers", ()))
                if any(name in NAMES for name, _ in raw):  # set by the answer: replaced
                    headers = MutableHeaders(raw=raw)
                    headers["Content-Security-Policy"] = csp
                    for name, fixed in FIXED:
                        headers[name.decode()] = fixed.decode()
                else:  # appended, as MutableHeaders would, without its search per header
                    raw += [(CSP, csp.encode("latin-1")), *FIXED]
                message["headers"] = raw
            await send(message)

        await self.app(scope, receive, sending)
