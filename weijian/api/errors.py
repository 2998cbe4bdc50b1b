"""One table from the core's exceptions to HTTP status codes."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError

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


def install(app: FastAPI) -> None:
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
