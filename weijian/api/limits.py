"""Request bodies refused before they are read (pure ASGI, outside FastAPI, which parses a form
before any dependency runs):

- a ``Content-Length`` above the limit of the request's class is answered 413 at once, and a
  body sent without a length is counted as it arrives and cut off at the limit;
- a multipart upload (or a recorder's video) to an endpoint that needs a login is answered 401
  before its body is read when the bearer token is missing or not valid.

The classes: uploads (``WEIJIAN_MAX_UPLOAD_MB``); a recorder's video streamed to a case
(``WEIJIAN_MAX_FOOTAGE_MB``); the anonymous reports of citizens and of the
12345 hotline (Open311), with their photos, and a citizen's photo sent with his receipt; the
jurisdiction batch, streamed to disk by its
route with its own limit; everything else — JSON and small forms — ``WEIJIAN_MAX_JSON_MB``."""

from __future__ import annotations

from anyio import to_thread
from fastapi import HTTPException
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from weijian.api.errors import body_of, status_for
from weijian.api.routes.jurisdiction import MAX_BATCH_BYTES
from weijian.cases import users
from weijian.errors import NotAuthenticated, WeijianError
from weijian.settings import Settings

MB = 1024 * 1024
#: photos a report without a login may carry
REPORT_PHOTOS = 4
#: anonymous endpoints taking a body larger than JSON: a citizen's report, Open311's requests
REPORT_PATHS = ("/api/v1/cases", "/open311/")
#: a citizen's photo of his own report, sent with its receipt: one photo, no login
RECEIPT_PREFIX, PHOTOS_SUFFIX = "/api/v1/receipts/", "/photos"
BATCH_PATH = "/api/v1/jurisdiction/batch"
#: a recorder's video streamed to a case (routes/footage.py): its own limit, a login first
CASES_PREFIX, FOOTAGE_SUFFIX = "/api/v1/cases/", "/footage"
#: forms that are not uploads: the OAuth2 login form
LOGIN_PREFIX = "/api/v1/auth/"
BODY_METHODS = ("POST", "PUT", "PATCH", "DELETE")


class BodyTooLarge(HTTPException):
    """Raised while a body without ``Content-Length`` is read past its limit (an
    HTTPException, so FastAPI's body parsing lets it through as it is)."""

    def __init__(self, limit: int):
        super().__init__(status_code=413, detail=f"the request body is larger than {_mb(limit)}")
        self.limit = limit


def _mb(limit: int) -> str:
    return f"{limit / MB:g} MB"


def body_class(method: str, path: str, content_type: str, settings: Settings) -> tuple[int, bool]:
    """The largest body the request may send, and whether a login must come first."""
    if path == BATCH_PATH:
        return MAX_BATCH_BYTES, False
    if (
        method == "POST"
        and path.startswith(CASES_PREFIX)
        and path.endswith(FOOTAGE_SUFFIX)
        and "json" not in content_type  # a JSON body is parsed whole: never a video's size
    ):
        return int(settings.max_footage_mb * MB), True
    if (method == "POST" and path == REPORT_PATHS[0]) or path.startswith(REPORT_PATHS[1]):
        return int((settings.max_evidence_mb * REPORT_PHOTOS + settings.max_json_mb) * MB), False
    if path.startswith(RECEIPT_PREFIX) and path.endswith(PHOTOS_SUFFIX):
        return int((settings.public_photo_max_mb + 1) * MB), False
    if content_type.startswith("multipart/form-data") and not path.startswith(LOGIN_PREFIX):
        return settings.max_upload_mb * MB, True
    return int(settings.max_json_mb * MB), False


def too_large(limit: int) -> JSONResponse:
    return JSONResponse(
        status_code=413,
        headers={"Connection": "close"},
        content={
            "code": "upload.too_large",
            "message": f"提交的内容过大：此处最多接受 {_mb(limit)}，请压缩或拆分后重试",
            "detail": f"the request body is larger than {_mb(limit)}; it was not read",
            "hint": f"send at most {_mb(limit)}",
            "error": "TooLarge",
        },
    )


def refused(exc: WeijianError) -> JSONResponse:
    return JSONResponse(
        status_code=status_for(exc), headers={"Connection": "close"}, content=body_of(exc)
    )


def _check_token(cases, authorization: str) -> None:
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise NotAuthenticated(
            "请先登录：上传文件需要登录用户，请登录后在请求头中携带登录凭证",
            code="auth.required",
            detail="an upload needs a logged-in user; the body was not read",
            hint="log in with POST /api/v1/auth/login and send Authorization: Bearer <token>",
        )
    with cases.engine.connect() as conn:
        users.principal_for_token(conn, token.strip(), cases.clock.now())


class BodyLimits:
    """The ASGI middleware: see the module's account."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        cases = getattr(scope["app"].state, "cases", None)  # None: before the lifespan ran
        if scope["type"] != "http" or scope["method"] not in BODY_METHODS or cases is None:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        limit, needs_login = body_class(
            scope["method"], scope["path"], headers.get("content-type", ""), cases.settings
        )
        length = headers.get("content-length")
        if length is not None and length.strip().isdigit() and int(length) > limit:
            await too_large(limit)(scope, receive, send)
            return
        if needs_login:
            try:
                await to_thread.run_sync(_check_token, cases, headers.get("authorization", ""))
            except WeijianError as exc:
                await refused(exc)(scope, receive, send)
                return
        await self._counted(scope, receive, send, limit)

    async def _counted(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        read = 0
        started = False

        async def counting() -> Message:
            nonlocal read
            message = await receive()
            if message["type"] == "http.request":
                read += len(message.get("body", b""))
                if read > limit:
                    raise BodyTooLarge(limit)
            return message

        async def sending(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting, sending)
        except BodyTooLarge:
            if started:
                raise
            await too_large(limit)(scope, receive, send)
