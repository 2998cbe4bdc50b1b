"""Recorder footage (执法记录仪) of a case over HTTP: a video streamed in as the raw body of a
request (never whole in memory: piece by piece from the socket to the evidence store's file, in
a worker thread), the case's videos with their playback links, and playback by HTTP ranges
read from disk in pieces. The limit of a body is ``WEIJIAN_MAX_FOOTAGE_MB`` (``limits.py``
answers a larger ``Content-Length`` 413 before reading it, and a login comes first); the rest
is :mod:`weijian.cases.footage`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated
from urllib.parse import quote, urlencode

from anyio import CapacityLimiter, from_thread, to_thread
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

from weijian.api.dependencies import CasesDep, Credentials, CurrentUser, OptionalUser
from weijian.cases.footage import too_large
from weijian.errors import InputError, NotAuthenticated
from weijian.text import LIMITS

router = APIRouter(prefix="/api/v1", tags=["footage"])

#: what the socket's pieces are gathered into before they cross to the store's thread
BATCH = 1 << 20
#: what playback reads from disk at a time
CHUNK = 1 << 20
#: the longest file name a client may give
MAX_FILENAME = 255
#: uploads at once: each holds a thread of its own while its body arrives (minutes for a
#: recorder's file), never one of the pool the rest of the API runs in; more wait their turn
UPLOADS_AT_ONCE = 32


def _upload_threads(request: Request) -> CapacityLimiter:
    """The app's own limiter of upload threads, made in its event loop on the first upload."""
    state = request.app.state
    if getattr(state, "footage_uploads", None) is None:
        state.footage_uploads = CapacityLimiter(UPLOADS_AT_ONCE)
    return state.footage_uploads


RAW_BODY = {
    "requestBody": {
        "required": True,
        "description": "the video file itself as the raw body (not a form), e.g. "
        "Content-Type: video/mp4",
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }
}


def _token(credentials) -> str | None:
    return credentials.credentials if credentials is not None else None


def _pieces(request: Request) -> Iterator[bytes]:
    """The request's body as the store's thread reads it: pieces of about :data:`BATCH`
    bytes fetched from the event loop, each as it is asked for."""
    stream = request.stream().__aiter__()

    async def batch() -> bytes:
        parts: list[bytes] = []
        size = 0
        while size < BATCH:
            try:
                chunk = await stream.__anext__()
            except StopAsyncIteration:
                break
            parts.append(chunk)
            size += len(chunk)
        return b"".join(parts)

    while piece := from_thread.run(batch):
        yield piece


def _play_url(number: str, item: dict) -> str | None:
    link = item.get("playback")
    if not link:
        return None
    return f"/api/v1/cases/{quote(number, safe='')}/footage/{item['sha256']}?{urlencode(link)}"


def _with_urls(number: str, item: dict) -> dict:
    return {**item, "play_url": _play_url(number, item)}


@router.post(
    "/cases/{ref}/footage",
    status_code=201,
    summary="Attach a law-enforcement recorder's video to a step of a case (streamed body)",
    openapi_extra=RAW_BODY,
)
async def upload_footage(
    ref: str,
    request: Request,
    cases: CasesDep,
    user: CurrentUser,
    credentials: Credentials,
    filename: Annotated[
        str, Query(max_length=MAX_FILENAME, description="the file's name on the recorder")
    ],
    event: Annotated[
        int, Query(ge=1, le=2**31 - 1, description="seq of the case's event (step) it belongs to")
    ],
) -> dict:
    pieces = _pieces(request)
    token = _token(credentials)
    try:
        answer = await to_thread.run_sync(
            lambda: cases.add_footage(user, ref, pieces, filename, event, token),
            limiter=_upload_threads(request),
        )
    except ClientDisconnect:  # the officer's browser went away: nothing was kept
        return JSONResponse(
            status_code=400,
            content={
                "code": "footage.upload_cancelled",
                "message": "视频上传已中断，未予保存，请重新上传",
                "detail": "the client went away before the whole video arrived; nothing was kept",
                "hint": "send the video again",
                "error": "ClientDisconnect",
            },
        )
    except HTTPException as exc:  # limits.py counted a body without a length past the limit
        if exc.status_code != 413:
            raise
        raise too_large(cases.footage_max_bytes, filename) from None
    return _with_urls(answer["case"], answer)


@router.get("/cases/{ref}/footage", summary="A case's recorder videos, with playback links")
def list_footage(ref: str, cases: CasesDep, user: CurrentUser, credentials: Credentials) -> dict:
    answer = cases.footage(user, ref, _token(credentials))
    answer["footage"] = [_with_urls(answer["case"], item) for item in answer["footage"]]
    return answer


def _range(header: str | None, size: int) -> tuple[int, int] | None:
    """The first and last byte a ``Range`` header asks for; None to send the whole file (no
    header, another unit, several ranges or one that does not parse: RFC 9110 lets a server
    ignore those); :class:`ValueError` when the range lies wholly outside the file."""
    if not header:
        return None
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    if not dash or not (first.isdigit() or first == "") or not (last.isdigit() or last == ""):
        return None
    if first == "":  # the last n bytes
        if last == "" or int(last) == 0 or size == 0:
            raise ValueError("an empty suffix range")
        return max(0, size - int(last)), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if last and int(last) < start:
        return None
    if start >= size:
        raise ValueError("the range starts past the end")
    return start, end


def _read(path, start: int, length: int) -> Iterator[bytes]:
    with open(path, "rb") as handle:
        handle.seek(start)
        left = length
        while left > 0:
            data = handle.read(min(CHUNK, left))
            if not data:
                return
            left -= len(data)
            yield data


def _unsatisfiable(size: int) -> JSONResponse:
    return JSONResponse(
        status_code=416,
        headers={"Content-Range": f"bytes */{size}", "Accept-Ranges": "bytes"},
        content={
            "code": "footage.range_unsatisfiable",
            "message": f"请求的视频片段超出文件范围（文件共 {size} 字节），请刷新后重新播放",
            "detail": f"the range lies outside the file of {size} bytes",
            "hint": f"ask for bytes within 0-{max(size - 1, 0)}",
            "error": "RangeNotSatisfiable",
        },
    )


@router.get(
    "/cases/{ref}/footage/{sha256}",
    summary="Play back a recorder's video (HTTP ranges; a playback link or a bearer token)",
    response_class=Response,
    responses={206: {"description": "the bytes of the range asked"}, 416: {}},
)
def play_footage(
    ref: str,
    sha256: str,
    request: Request,
    cases: CasesDep,
    user: OptionalUser,
    u: Annotated[
        int | None, Query(description="playback link: the user", ge=1, le=2**31 - 1)
    ] = None,
    exp: Annotated[
        int | None, Query(description="playback link: its expiry (Unix time)", ge=0, le=2**62)
    ] = None,
    sig: Annotated[str | None, Query(max_length=LIMITS["code"], description="signature")] = None,
    download: Annotated[bool, Query(description="as an attachment, to save")] = False,
) -> Response:
    if sig is not None or u is not None or exp is not None:
        if sig is None or u is None or exp is None:
            raise InputError(
                "播放链接不完整，请刷新案件页后重新播放",
                code="footage.link_incomplete",
                detail="a playback link has u, exp and sig",
            )
        user = cases.playback_user(ref, sha256, u, exp, sig)
    if user is None:
        raise NotAuthenticated(
            "请先登录：播放执法记录仪视频需要登录，或使用案件页给出的播放链接",
            code="auth.required",
            detail="this needs a logged-in user or a playback link",
            hint="send Authorization: Bearer <token>, or list the footage for a playback link",
        )
    meta = cases.footage_file(user, ref, sha256)
    size = meta["size"]
    tag = f'"{sha256}"'
    disposition = "attachment" if download else "inline"
    headers = {
        "Accept-Ranges": "bytes",
        "ETag": tag,
        "Cache-Control": "private, max-age=3600",
        "Content-Disposition": f"{disposition}; filename*=UTF-8''{quote(meta['filename'])}",
    }
    if tag in [t.strip() for t in request.headers.get("if-none-match", "").split(",")]:
        return Response(status_code=304, headers=headers)
    asked = request.headers.get("range")
    if_range = request.headers.get("if-range")
    if if_range is not None and if_range.strip() != tag:
        asked = None  # the client holds other bytes: the whole file
    try:
        span = _range(asked, size)
    except ValueError:
        return _unsatisfiable(size)
    start, end = span if span is not None else (0, size - 1)
    length = max(0, end - start + 1)
    headers["Content-Length"] = str(length)
    status = 200
    if span is not None:
        status = 206
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    return StreamingResponse(
        _read(meta["path"], start, length),
        status_code=status,
        media_type=meta["media_type"],
        headers=headers,
    )
