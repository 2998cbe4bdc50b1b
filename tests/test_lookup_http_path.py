"""``GET /api/v1/jurisdiction`` on its lean path (``api/lookup_path.py``) against the FastAPI
route it stands in front of, over real HTTP on the hand-built city with its users: three
servers over one database — the app as served, the app without the lean path (the route
answers everything) and the app whose router is replaced by a refusal (what the lean path
answers by itself). For many points, public and as users in and out of the spot's scope,
valid and not, the served answer's status, bytes and headers are the route's."""

from __future__ import annotations

import re
from contextlib import ExitStack

import httpx
import numpy as np
import pytest
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse

from tests.casekit import PASSWORD, START, city_with_users, lonlat
from tests.conftest import login, serving
from weijian.api.app import create_app
from weijian.api.lookup_path import LookupPath, parse
from weijian.cases.clock import FixedClock
from weijian.settings import Settings

NONCE = re.compile(r"'nonce-[^']+'")
#: the headers that differ between any two answers: the time, the CSP's nonce
VARYING = {"date"}
ROUTER_REACHED = 599


class RouterReached:
    """Inside the lean path: whatever reaches the router is answered 599."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await PlainTextResponse("router", status_code=ROUTER_REACHED)(scope, receive, send)


def _app(engine, settings, clock, *, lean: bool = True, router: bool = True):
    app = create_app(engine, clock=clock, settings=settings)
    if not lean:
        app.user_middleware = [m for m in app.user_middleware if m.cls is not LookupPath]
    if not router:
        app.user_middleware.append(Middleware(RouterReached))  # the innermost
    return app


@pytest.fixture
def servers(engine, tmp_path):
    city_with_users(engine, tmp_path / "city")
    clock = FixedClock(START)
    settings = Settings(evidence_dir=tmp_path / "evidence", map_poll_seconds=0.2)
    with ExitStack() as stack:
        served = stack.enter_context(serving(_app(engine, settings, clock)))
        routed = stack.enter_context(serving(_app(engine, settings, clock, lean=False)))
        alone = stack.enter_context(serving(_app(engine, settings, clock, router=False)))
        yield served, routed, alone


def _token(url: str, who: str) -> dict:
    response = login(url, who, PASSWORD)
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def _headers(response: httpx.Response) -> list[tuple[str, str]]:
    return [
        (name, NONCE.sub("'nonce-…'", value))
        for name, value in response.headers.multi_items()
        if name not in VARYING
    ]


def _same(client: httpx.Client, served: str, routed: str, query: str, headers: dict) -> int:
    """The answer of the served app is the route's, byte for byte and header for header."""
    path = f"/api/v1/jurisdiction?{query}"
    ours = client.get(served + path, headers=headers)
    theirs = client.get(routed + path, headers=headers)
    assert ours.status_code == theirs.status_code, (query, ours.text, theirs.text)
    assert ours.content == theirs.content, query
    assert _headers(ours) == _headers(theirs), query
    nonces = [NONCE.findall(r.headers["content-security-policy"]) for r in (ours, theirs)]
    assert len(nonces[0]) == 1 and nonces[0] != nonces[1]  # one of its own per response
    return ours.status_code


def _spots() -> list[tuple[float, float]]:
    """A grid over the city and beyond it, with points on the zones' and grids' edges."""
    rng = np.random.default_rng(20261205)
    spots = [(x, y) for x in np.arange(-0.6, 6.2, 0.45) for y in np.arange(-0.6, 4.4, 0.45)]
    spots += [(x, y) for x in (0.0, 1.0, 2.0, 3.0, 4.0) for y in rng.uniform(-0.2, 3.2, 4)]
    spots += [(x, y) for y in (0.0, 1.0, 2.0, 3.0) for x in rng.uniform(-0.2, 5.2, 4)]
    return [(float(x), float(y)) for x, y in spots]


def test_every_point_answers_as_the_route_does(servers):
    served, routed, alone = servers
    people = {
        None: {},
        "town1": _token(served, "town1"),  # the spots of its town with their people
        "ue_jy": _token(served, "ue_jy"),  # another district: no person
        "admin": _token(served, "admin"),
    }
    statuses = []
    with httpx.Client(timeout=30) as client:
        for n, (x, y) in enumerate(_spots()):
            lon, lat = lonlat((x, y))
            query = f"lon={lon!r}&lat={lat!r}&crs=cgcs2000"
            if n % 3 == 0:
                query += f"&tolerance_m={(n % 7) * 3}"
            who = list(people)[n % len(people)]
            statuses.append(_same(client, served, routed, query, people[who]))
            # the lean path answered it by itself: its router never saw it
            alone_answer = client.get(f"{alone}/api/v1/jurisdiction?{query}", headers=people[who])
            assert alone_answer.status_code == 200, query
            assert (
                alone_answer.content
                == client.get(f"{routed}/api/v1/jurisdiction?{query}", headers=people[who]).content
            )
    assert set(statuses) == {200}


#: what the route refuses (4xx)
REFUSED = [
    "lat=41.9",
    "lon=126.4",
    "lon=&lat=41.9",
    "lon=abc&lat=41.9",
    "lon=nan&lat=41.9",
    "lon=inf&lat=41.9",
    "lon=1e400&lat=41.9",
    "lon=200&lat=41.9",
    "lon=41.9&lat=126.4",
    "lon=2.35&lat=48.85&crs=gcj02",
    "lon=126.4&lat=41.9&crs=mars",
    "lon=126.4&lat=41.9&crs=EPSG:5773",
    "lon=126.4&lat=41.9&tolerance_m=-1",
    "lon=126.4&lat=41.9&tolerance_m=1000.5",
    "lon=126.4&lat=41.9&tolerance_m=ten",
    "lon=126.4&lat=41.9&on=2026-02-30",
    "lon=126.4&lat=41.9&on=",
]
#: what the route reads (pydantic's leniency: spaces, the last of two, a date as seconds) and
#: the lean path leaves to it
ODD = [
    "lon=%20126.4&lat=41.9",
    "lon=126.4&lon=126.5&lat=41.9",
    "lon=126.4&lat=41.9&on=1772409600",
]


@pytest.mark.parametrize(
    "auth",
    [None, "Bearer not-a-token", "Basic dXNlcjpwYXNz", "Bearer", ""],
)
def test_refusals_and_odd_requests_answer_as_the_route_does(servers, auth):
    served, routed, _ = servers
    headers = {} if auth is None else {"Authorization": auth}
    with httpx.Client(timeout=30) as client:
        statuses = {q: _same(client, served, routed, q, headers) for q in REFUSED + ODD}
        lon, lat = lonlat((0.3, 0.3))
        for query in (
            f"lon={lon}&lat={lat}&crs=cgcs2000",
            f"lon={lon}&lat={lat}&crs=cgcs2000&on=2026-03-02&tolerance_m=0",
            f"lon={lon}&lat={lat}&crs=cgcs2000&unknown=1",
            f"lon=%2B{lon}&lat={lat}&crs=cgcs2000",
            f"lon={lon}&lat={lat}&crs=wgs84",
            f"lon={lon}&lat={lat}&crs=gcj02",
            f"lon={lon}&lat={lat}&crs=EPSG%3A4490",
            f"lon={lon}&lat={lat}&crs=",
        ):
            statuses[query] = _same(client, served, routed, query, headers)
    assert all(statuses[q] in (401, 422) for q in REFUSED), statuses
    assert all(s < 500 for s in statuses.values()), statuses
    body = httpx.get(f"{served}/api/v1/jurisdiction?lon=200&lat=41.9").json()
    assert body["code"] == "point.out_of_range" and "经度" in body["message"]


def test_what_the_lean_path_leaves_to_the_route(servers):
    _, _, alone = servers
    with httpx.Client(timeout=30) as client:
        for query in REFUSED + ODD:
            answer = client.get(f"{alone}/api/v1/jurisdiction?{query}")
            assert answer.status_code == ROUTER_REACHED, query
        lon, lat = lonlat((0.3, 0.3))
        # two Authorization headers, another method, a trailing slash: the router's
        plain = f"/api/v1/jurisdiction?lon={lon}&lat={lat}&crs=cgcs2000"
        twice = [("Authorization", "Bearer a"), ("Authorization", "Bearer b")]
        assert client.get(alone + plain, headers=twice).status_code == ROUTER_REACHED
        assert client.head(alone + plain).status_code == ROUTER_REACHED
        assert client.get(alone + plain.replace("?", "/?")).status_code == ROUTER_REACHED
        assert client.get(alone + plain).status_code == 200


def test_the_route_is_still_documented(servers):
    served, _, _ = servers
    spec = httpx.get(f"{served}/openapi.json", timeout=60).json()  # made on first request
    operation = spec["paths"]["/api/v1/jurisdiction"]["get"]
    names = {p["name"] for p in operation["parameters"]}
    assert {"lon", "lat", "crs", "tolerance_m", "on"} <= names
    assert "Answer" in str(operation["responses"]["200"])


@pytest.mark.parametrize(
    ("query", "taken"),
    [
        (b"lon=126.4&lat=41.9", {"lon": 126.4, "lat": 41.9, "crs": "wgs84", "tolerance_m": 10.0}),
        (b"lat=-41&lon=%2B1e2&crs=gcj02&tolerance_m=0", {"lon": 100.0, "lat": -41.0,
                                                         "crs": "gcj02", "tolerance_m": 0.0}),
        (b"lon=1&lat=2&on=2026-03-02&x=1&x=2", {"lon": 1.0, "lat": 2.0, "crs": "wgs84",
                                                "tolerance_m": 10.0}),
        (b"lon=1&lat=2&lat=3", None),
        (b"lon=1_0&lat=2", None),
        (b"lon=0x10&lat=2", None),
        (b"lon=1&lat=2&tolerance_m=1001", None),
        (b"lon=1&lat=2&on=2026-3-2", None),
        (b"lon=-1e999&lat=2", None),
    ],
)  # fmt: skip
def test_the_query_strings_the_lean_path_reads(query, taken):
    got = parse(query)
    if taken is None:
        assert got is None
        return
    got.pop("on", None)
    assert got == taken


def _finished(coroutine):
    """The value of a coroutine that never waits (run without an event loop: a test before
    may have left one running in this thread)."""
    try:
        coroutine.send(None)
    except StopIteration as stop:
        return stop.value
    raise AssertionError("the coroutine waited")


def test_security_headers_are_appended_or_replace_what_an_answer_set():
    from starlette.datastructures import MutableHeaders

    from weijian.api.headers import SecurityHeaders

    def answering(headers):
        async def app(scope, receive, send):
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": b"{}"})

        return app

    class App:
        state = type("State", (), {})()

    async def through(headers):
        sent = []

        async def send(message):
            sent.append(message)

        scope = {"type": "http", "app": App(), "headers": []}
        await SecurityHeaders(answering(headers))(scope, None, send)
        return sent[0]["headers"], scope["state"]["csp_nonce"]

    for given in (
        [(b"content-type", b"application/json")],
        [(b"x-frame-options", b"SAMEORIGIN"), (b"content-length", b"2"),
         (b"x-frame-options", b"ALLOW"), (b"content-security-policy", b"none")],
    ):  # fmt: skip
        got, nonce = _finished(through(list(given)))
        expected = MutableHeaders(raw=list(given))  # what the headers were set with before
        csp = dict(got)[b"content-security-policy"].decode()
        expected["Content-Security-Policy"] = csp
        expected["X-Content-Type-Options"] = "nosniff"
        expected["Referrer-Policy"] = "same-origin"
        expected["X-Frame-Options"] = "DENY"
        assert got == expected.raw
        assert f"'nonce-{nonce}'" in csp and "frame-ancestors 'none'" in csp
