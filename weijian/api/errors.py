"""One table from the core's exceptions to HTTP status codes."""

from __future__ import annotations

import contextlib
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from sqlalchemy.exc import DataError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException

from weijian.errors import (
    ConflictError,
    EnvironmentProblem,
    InputError,
    NotAuthenticated,
    NotFoundError,
    PermissionDenied,
    RateLimited,
    TooLarge,
    WeijianError,
)

STATUS = {
    InputError: 422,
    NotFoundError: 404,
    ConflictError: 409,
    NotAuthenticated: 401,
    PermissionDenied: 403,
    TooLarge: 413,
    RateLimited: 429,
    EnvironmentProblem: 503,
}


class ErrorOut(BaseModel):
    """Every error answer: a stable ``code``, the Chinese ``message`` a person reads, the
    English ``detail`` (for a request that does not parse: the list of what is wrong) and
    ``hint``, the kind of ``error``; some errors add context (a conflict: the case)."""

    model_config = ConfigDict(extra="allow")

    code: str
    message: str
    detail: object = None
    hint: str | None = None
    error: str


#: the errors any operation may answer, documented on every one of them (OpenAPI)
ERROR_RESPONSES: dict[int | str, dict] = {
    status: {"model": ErrorOut, "description": text}
    for status, text in (
        (400, "请求有误 (bad request)"),
        (401, "未登录或登录已失效 (not authenticated)"),
        (403, "无权限 (not allowed)"),
        (404, "未找到 (not found, or outside your scope)"),
        (405, "不支持的请求方法 (method not allowed)"),
        (409, "与当前状态冲突 (conflict)"),
        (413, "内容过大 (too large)"),
        (422, "内容无效 (invalid input)"),
        (429, "请求过于频繁 (rate limited)"),
        (503, "服务暂不可用，稍后重试 (unavailable; see Retry-After)"),
    )
}


def status_for(exc: WeijianError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 400


#: seconds a client is asked to wait while the database is unreachable
RETRY_AFTER_S = 5


#: what a failure of the database means to the client, by the class of its SQLSTATE
#: (no SQLSTATE: the connection itself failed)
DATABASE_TROUBLE = {
    "unavailable": (
        "数据库暂时无法连接，本次操作未保存，请稍后重试",
        "the database cannot be reached right now; nothing was written",
    ),
    "busy": (
        "数据库繁忙（与其他操作冲突），本次操作未保存，请重试",
        "the transaction met a concurrent one (serialization failure or deadlock); "
        "nothing was written",
    ),
    "timeout": (
        "数据库处理超时，本次操作未保存，请稍后重试",
        "the statement took too long and was cancelled; nothing was written",
    ),
}


def trouble_kind(exc: Exception) -> str:
    state = getattr(getattr(exc, "orig", None), "sqlstate", None) or ""
    if state.startswith("40"):
        return "busy"
    if state == "57014":
        return "timeout"
    return "unavailable"


def database_unavailable(kind: str = "unavailable") -> JSONResponse:
    """503 while PostgreSQL cannot be reached (restarting, failing over) or cannot finish the
    transaction: nothing was written, the request can be sent again; the pool reconnects by
    itself when the database returns."""
    message, detail = DATABASE_TROUBLE[kind]
    return JSONResponse(
        status_code=503,
        headers={"Retry-After": str(RETRY_AFTER_S)},
        content={
            "code": f"database.{kind}",
            "message": message,
            "detail": detail,
            "hint": f"send the request again in {RETRY_AFTER_S} s",
            "error": "DatabaseUnavailable",
        },
    )


#: FastAPI's own checks of a request's parameters, in words: pydantic's error type → Chinese
VALIDATION_WORDS = {
    "missing": "缺少必填项",
    "greater_than_equal": "应不小于 {ge}",
    "greater_than": "应大于 {gt}",
    "less_than_equal": "应不大于 {le}",
    "less_than": "应小于 {lt}",
    "string_too_long": "最多 {max_length} 个字符",
    "string_too_short": "至少 {min_length} 个字符",
    "too_long": "最多 {max_length} 项",
    "too_short": "至少 {min_length} 项",
    "literal_error": "应为以下之一：{expected}",
    "enum": "应为以下之一：{expected}",
    "json_invalid": "不是有效的 JSON",
    "string_pattern_mismatch": "格式不正确",
    "string_unicode": "含有无效的字符（不成对的代理码位），请检查文字的编码",
}
LOCATIONS = {
    "query": "参数",
    "path": "路径中的",
    "body": "字段",
    "header": "请求头",
    "form": "表单项",
}
HTTP_WORDS = {
    404: ("http.not_found", "找不到该地址，请检查网址"),
    405: ("http.method_not_allowed", "该地址不支持此请求方式"),
    413: ("upload.too_large", "上传的内容过大"),
}


def validation_message(errors: list[dict]) -> str:
    """“请求有误：参数 lon 缺少必填项；参数 tolerance_m 应不大于 1000”."""
    parts = []
    for error in errors:
        loc = [str(x) for x in error.get("loc", ())]
        where = LOCATIONS.get(loc[0], "") if loc else ""
        name = ".".join(loc[1:]) or (loc[0] if loc else "")
        kind = error.get("type", "")
        words = VALIDATION_WORDS.get(kind)
        if words is None:
            words = "格式不正确" if kind.endswith(("_parsing", "_type")) else "取值无效"
        with contextlib.suppress(KeyError, IndexError):  # a context the words don't use
            words = words.format(**(error.get("ctx") or {}))
        parts.append(f"{where} {name} {words}".strip())
    return "请求有误：" + "；".join(parts or ["内容无效"])


#: how much of a refused value an error gives back
ECHO_CHARS, ECHO_ITEMS, ECHO_DEPTH = 200, 20, 4


def echo(value: Any, depth: int = 0) -> Any:
    """A refused value as an error may give it back: text cut to :data:`ECHO_CHARS` with
    lone surrogates replaced (JSON cannot carry them), containers cut short and shallow — a
    21 MB description is not sent back whole."""
    if isinstance(value, str):
        cut = value[:ECHO_CHARS] + ("…" if len(value) > ECHO_CHARS else "")
        return cut.encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, bytes):
        return echo(value.decode("utf-8", "replace"), depth)
    if isinstance(value, dict):
        if depth >= ECHO_DEPTH:
            return "…"
        items = list(value.items())[:ECHO_ITEMS]
        return {echo(str(k), depth + 1): echo(v, depth + 1) for k, v in items}
    if isinstance(value, list | tuple):
        if depth >= ECHO_DEPTH:
            return "…"
        return [echo(v, depth + 1) for v in value[:ECHO_ITEMS]]
    if value is None or isinstance(value, bool | int | float):
        return value
    return echo(str(value), depth)


def install(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = jsonable_encoder(echo(list(exc.errors())))
        return JSONResponse(
            status_code=422,
            content={
                "code": "request.invalid",
                "message": validation_message(errors),
                "detail": errors,
                "hint": None,
                "error": "RequestValidationError",
            },
        )

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        code, message = HTTP_WORDS.get(exc.status_code, (f"http.{exc.status_code}", "请求未能完成"))
        return JSONResponse(
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
            content={
                "code": code,
                "message": message,
                "detail": exc.detail,
                "hint": None,
                "error": "HTTPException",
            },
        )

    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    @app.exception_handler(PoolTimeout)
    async def unreachable(_: Request, exc: Exception) -> JSONResponse:
        return database_unavailable(trouble_kind(exc))

    @app.exception_handler(DataError)
    async def data_error(_: Request, exc: DataError) -> JSONResponse:
        # a value the database cannot hold (e.g. a number out of range) is the caller's error
        return JSONResponse(
            status_code=422,
            content={
                "code": "input.out_of_range",
                "message": "请求中的数值或日期超出允许范围，请检查后重试",
                "detail": f"a value is out of range or malformed: {exc.orig}",
                "hint": "check the numbers and dates in the request",
                "error": "InputError",
            },
        )

    @app.exception_handler(WeijianError)
    async def weijian_error(_: Request, exc: WeijianError) -> JSONResponse:
        wait = getattr(exc, "retry_after", None)
        headers = {"Retry-After": str(wait)} if wait is not None else None
        return JSONResponse(status_code=status_for(exc), content=body_of(exc), headers=headers)


def body_of(exc: WeijianError) -> dict:
    """The error as every API answer gives it: a stable ``code``, the Chinese ``message`` a
    person reads, the English ``detail`` and ``hint`` existing clients read; and what the
    error's ``context`` adds (a version conflict: the case as it stands)."""
    return {
        **(exc.context or {}),
        "code": exc.code,
        "message": exc.readable,
        "detail": exc.en,
        "hint": exc.hint,
        "error": type(exc).__name__,
    }
