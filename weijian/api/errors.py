"""One table from the core's exceptions to HTTP status codes."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

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


def install(app: FastAPI) -> None:
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
                "detail": f"a value is out of range or malformed: {exc.orig}",
                "hint": "check the numbers and dates in the request",
                "error": "InputError",
            },
        )

    @app.exception_handler(WeijianError)
    async def weijian_error(_: Request, exc: WeijianError) -> JSONResponse:
        return JSONResponse(
            status_code=status_for(exc),
            content={"detail": exc.message, "hint": exc.hint, "error": type(exc).__name__},
        )
