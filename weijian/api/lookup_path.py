"""``GET /api/v1/jurisdiction`` answered before FastAPI's router (pure ASGI), on the lean path:
the query string is read here and the route's own :func:`~weijian.api.routes.jurisdiction.answer`
is called, so the answer's bytes, status and headers are the route's. The router's matching,
the dependencies' resolution and the parameters' validation — most of a look-up's time over
HTTP — are left out.

The middleware sits inside every other one (security headers, compression, body limits…), so
what they add to an answer they add to this one. It answers only what it parses beyond doubt:
``lon`` and ``lat`` plain decimal numbers, ``tolerance_m`` one within its bounds, ``on`` a
calendar date written ``YYYY-MM-DD``, no parameter twice, at most one ``Authorization`` header.
Everything else — a missing or malformed parameter, a point the core refuses, a token that is
not valid, a database away — goes on to FastAPI, whose route answers it (and words its errors)
as it always has. The route stays declared: the API's documentation describes it."""

from __future__ import annotations

import math
import re
from datetime import date
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Receive, Scope, Send

from weijian.api.routes.jurisdiction import MAX_TOLERANCE_M, MIN_TOLERANCE_M, answer
from weijian.jurisdiction.engine import DEFAULT_TOLERANCE_M

PATH = "/api/v1/jurisdiction"
PARAMETERS = frozenset({"lon", "lat", "crs", "tolerance_m", "on"})
#: a number as pydantic and float() both read it, to the same value
NUMBER = re.compile(r"[+-]?(?:\d{1,20}(?:\.\d{0,20})?|\.\d{1,20})(?:[eE][+-]?\d{1,3})?")
DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def _number(text: str) -> float | None:
    if not NUMBER.fullmatch(text):
        return None
    value = float(text)
    return value if math.isfinite(value) else None


def _day(text: str) -> date | None:
    if not DAY.fullmatch(text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def parse(query_string: bytes) -> dict | None:
    """The look-up's parameters (as the route's arguments), or None for anything the route
    itself must read: read as Starlette reads a query string."""
    given: dict[str, str] = {}
    for name, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
        if name in PARAMETERS:
            if name in given:
                return None
            given[name] = value
    lon = _number(given.get("lon", ""))
    lat = _number(given.get("lat", ""))
    if lon is None or lat is None:
        return None
    args: dict = {"lon": lon, "lat": lat, "crs": given.get("crs", "wgs84")}
    if "tolerance_m" in given:
        tolerance = _number(given["tolerance_m"])
        if tolerance is None or not MIN_TOLERANCE_M <= tolerance <= MAX_TOLERANCE_M:
            return None
        args["tolerance_m"] = tolerance
    else:
        args["tolerance_m"] = DEFAULT_TOLERANCE_M
    if "on" in given:
        args["on"] = _day(given["on"])
        if args["on"] is None:
            return None
    return args


def authorization(scope: Scope) -> tuple[bool, str | None]:
    """(whether the headers are plain enough, the ``Authorization`` header's value)."""
    found = [value for name, value in scope["headers"] if name == b"authorization"]
    if len(found) > 1:
        return False, None
    return True, found[0].decode("latin-1") if found else None


class LookupPath:
    """The ASGI middleware: see the module's account."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["path"] == PATH
            and scope["method"] == "GET"
            and not scope.get("root_path")
        ):
            response = await self._answer(scope)
            if response is not None:
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)

    @staticmethod
    async def _answer(scope: Scope):
        state = scope["app"].state
        holder = getattr(state, "jurisdiction", None)
        cases = getattr(state, "cases", None)
        args = parse(scope["query_string"]) if holder is not None and cases is not None else None
        plain, token = authorization(scope)
        if args is None or not plain:
            return None
        try:
            return await answer(holder, cases, authorization=token, **args)
        except Exception:  # refused or failed: the route answers it, its errors worded there
            return None
