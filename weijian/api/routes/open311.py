"""Open311 GeoReport v2 under ``/open311/v2/``, so 12345 hotline platforms can push reports
and poll their state: ``services``, ``requests`` (GET and POST), ``requests/{id}``, in JSON and
XML (the format is the path's suffix, as the standard has it).

Our detailed states map onto the standard's ``open`` / ``closed``; ``status_notes`` carries
the Chinese state, ``agency_responsible`` the department from the jurisdiction answer frozen at
intake, ``expected_datetime`` the site-visit deadline. Every call needs the ``api_key`` of a
registered client (``weijian apikey add``) and sees only the requests that client submitted:
violation reports name people and places, so they are not public. Errors have the standard's
shape, ``[{"code": 400, "description": "…"}]``, with the HTTP status in ``code``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from xml.etree import ElementTree as ET

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from weijian.api.dependencies import get_cases
from weijian.api.errors import status_for
from weijian.cases import users
from weijian.cases.scope import Principal
from weijian.cases.service import CaseService, Intake
from weijian.errors import InputError, NotAuthenticated, NotFoundError, WeijianError

router = APIRouter(prefix="/open311/v2", tags=["open311"])

SERVICES = [
    {
        "service_code": "illegal_construction_new",
        "service_name": "正在施工的违法建设",
        "description": "举报正在建设中的违法建设（新增、在建），执法部门1日内现场核查。",
        "metadata": False,
        "type": "realtime",
        "keywords": "违法建设,违建,在建,私搭乱建",
        "group": "违法建设",
        "track": "new",
    },
    {
        "service_code": "illegal_construction_backlog",
        "service_name": "已建成的违法建设",
        "description": "举报已经建成的违法建设（存量），纳入台账实行销号式管理。",
        "metadata": False,
        "type": "realtime",
        "keywords": "违法建设,违建,存量,私搭乱建",
        "group": "违法建设",
        "track": "backlog",
    },
]
SERVICE_BY_CODE = {s["service_code"]: s for s in SERVICES}
SERVICE_BY_TRACK = {s["track"]: s for s in SERVICES}
FORMATS = {"json": "application/json; charset=utf-8", "xml": "text/xml; charset=utf-8"}
MAX_REQUESTS = 1000
DEFAULT_DAYS = 90


# -- rendering ---------------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return (
        value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        if value
        else None
    )


def _xml(root: str, item: str, rows: list[dict]) -> bytes:
    top = ET.Element(root)
    for row in rows:
        element = ET.SubElement(top, item)
        for key, value in row.items():
            child = ET.SubElement(element, key)
            if value is None:
                continue
            child.text = str(value).lower() if isinstance(value, bool) else str(value)
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(top, encoding="utf-8")


def _render(fmt: str, root: str, item: str, rows: list[dict], status: int = 200) -> Response:
    if fmt == "xml":
        return Response(_xml(root, item, rows), status_code=status, media_type=FORMATS["xml"])
    return Response(orjson.dumps(rows), status_code=status, media_type=FORMATS["json"])


def _error(fmt: str, status: int, description: str) -> Response:
    return _render(
        fmt if fmt in FORMATS else "json",
        "errors",
        "error",
        [{"code": status, "description": description}],
        status=status,
    )


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise NotFoundError(f"format {fmt!r} is not served: use .json or .xml")


def _request_json(case: dict) -> dict[str, Any]:
    service = SERVICE_BY_TRACK.get(case["track"], SERVICES[0])
    department = case.get("department") or {}
    return {
        "service_request_id": case["number"],
        "status": case["category"] or "open",
        "status_notes": case["state_label"],
        "service_name": service["service_name"],
        "service_code": service["service_code"],
        "description": case["description"],
        "agency_responsible": department.get("name") or "待研判（无法按规则确定责任部门）",
        "service_notice": f"案件编号 {case['number']}",
        "requested_datetime": _iso(case["reported_at"]),
        "updated_datetime": _iso(case["updated_at"]),
        "expected_datetime": _iso(case["visit_due"]) if case["category"] == "open" else None,
        "address": case["address"],
        "address_id": None,
        "zipcode": None,
        "lat": case["lat"],
        "long": case["lon"],
        "media_url": None,
    }


# -- the calls ---------------------------------------------------------------------------


async def _params(request: Request) -> dict[str, str]:
    params = dict(request.query_params)
    if request.method == "POST":
        kind = request.headers.get("content-type", "")
        if kind.startswith("application/json"):
            try:
                body = await request.json()
            except ValueError:
                raise InputError("the body is not valid JSON") from None
            if not isinstance(body, dict):
                raise InputError("the JSON body must be an object of fields")
            params.update({k: str(v) for k, v in body.items() if v is not None})
        else:
            form = await request.form()
            params.update({k: v for k, v in form.items() if isinstance(v, str)})
    return params


def _client(cases: CaseService, params: dict[str, str]) -> Principal:
    key = params.get("api_key")
    if not key:
        raise NotAuthenticated(
            "api_key is required", hint="ask the platform's administrator for a key"
        )
    with cases.engine.connect() as conn:
        return users.principal_for_api_key(conn, key)


def _number(value: str | None, name: str) -> float | None:
    if value in (None, ""):
        return None
    try:
        return float(value)
    except ValueError:
        raise InputError(f"{name} must be a decimal number, got {value!r}") from None


def _date(value: str | None, name: str) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(f"{name} must be an ISO 8601 date-time, got {value!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _is_cjk(text: str) -> bool:
    return all("\u3400" <= ch <= "\u9fff" or ch == "·" for ch in text.strip())


def _post(cases: CaseService, params: dict[str, str]) -> list[dict]:
    client = _client(cases, params)
    code = params.get("service_code")
    if code not in SERVICE_BY_CODE:
        raise InputError(
            f"service_code {code!r} is not offered",
            hint="see services.json: " + ", ".join(SERVICE_BY_CODE),
        )
    lat, lon = _number(params.get("lat"), "lat"), _number(params.get("long"), "long")
    if lat is None or lon is None:
        raise InputError(
            "lat and long are required: this service locates reports by coordinates",
            hint="send lat and long in WGS84 decimal degrees",
        )
    parts = [p for p in (params.get("last_name"), params.get("first_name")) if p]
    # 王 + 小明 → 王小明; Latin names keep their space
    name = ("" if all(_is_cjk(p) for p in parts) else " ").join(parts)
    description = params.get("description") or ""
    if params.get("media_url"):
        description += f"\n照片：{params['media_url']}"
    case = cases.create(
        Intake(
            lon=lon,
            lat=lat,
            crs=params.get("crs") or "wgs84",
            description=description,
            track=SERVICE_BY_CODE[code]["track"],
            address=params.get("address_string"),
            reporter_name=name or None,
            reporter_phone=params.get("phone"),
            external_id=params.get("attribute[external_id]") or params.get("external_id"),
        ),
        client,
    )
    return [
        {
            "service_request_id": case["number"],
            "service_notice": (
                f"已受理，案件编号 {case['number']}，责任部门："
                f"{(case.get('department') or {}).get('name') or '待研判'}"
            ),
            "account_id": None,
        }
    ]


def _get(cases: CaseService, params: dict[str, str], ids: list[str] | None) -> list[dict]:
    client = _client(cases, params)
    ids = ids or [i for i in (params.get("service_request_id") or "").split(",") if i]
    if ids:
        out = []
        for number in ids[:MAX_REQUESTS]:
            try:
                out.append(_request_json(cases.get(client, number.strip())))
            except NotFoundError:
                continue
        return out
    given_end = _date(params.get("end_date"), "end_date")
    end = given_end or cases.clock.now()
    start = _date(params.get("start_date"), "start_date") or end - timedelta(days=DEFAULT_DAYS)
    # end_date is the latest moment to include; our times carry microseconds, the standard's
    # whole seconds: the whole second of end_date is in
    until = end.replace(microsecond=0) + timedelta(seconds=1) if given_end else None
    statuses = {s.strip() for s in (params.get("status") or "").split(",") if s.strip()}
    if statuses - {"open", "closed"}:
        raise InputError("status must be open, closed or both (comma-separated)")
    code = params.get("service_code")
    if code and code not in SERVICE_BY_CODE:
        raise InputError(f"service_code {code!r} is not offered")
    out: list[dict] = []
    cursor = None
    while len(out) < MAX_REQUESTS:
        page = cases.list(
            client,
            category=next(iter(statuses)) if len(statuses) == 1 else None,
            track=SERVICE_BY_CODE[code]["track"] if code else None,
            reported_from=start,
            reported_to=until,
            limit=min(500, MAX_REQUESTS - len(out)),
            cursor=cursor,
        )
        out.extend(_request_json(item) for item in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    return out


async def _answer(fmt: str, work) -> Response:
    try:
        _check_format(fmt)
        rows, root, item, status = await work()
        return _render(fmt, root, item, rows, status)
    except WeijianError as exc:
        description = exc.message + (f" ({exc.hint})" if exc.hint else "")
        return _error(fmt, status_for(exc), description)


@router.get("/services.{fmt}", summary="GeoReport v2: the services offered")
async def services(fmt: str) -> Response:
    async def work():
        rows = [{k: v for k, v in s.items() if k != "track"} for s in SERVICES]
        return rows, "services", "service", 200

    return await _answer(fmt, work)


@router.get("/services/{code}.{fmt}", summary="GeoReport v2: a service definition")
async def service_definition(code: str, fmt: str) -> Response:
    async def work():
        if code not in SERVICE_BY_CODE:
            raise NotFoundError(f"no service {code!r}")
        raise NotFoundError(f"the service {code} has no extra attributes (metadata is false)")

    return await _answer(fmt, work)


@router.post("/requests.{fmt}", summary="GeoReport v2: submit a service request")
async def post_request(request: Request, fmt: str) -> Response:
    cases = get_cases(request)

    async def work():
        params = await _params(request)
        rows = await run_in_threadpool(_post, cases, params)
        return rows, "service_requests", "request", 201

    return await _answer(fmt, work)


@router.get("/requests.{fmt}", summary="GeoReport v2: your service requests")
async def get_requests(request: Request, fmt: str) -> Response:
    cases = get_cases(request)

    async def work():
        params = await _params(request)
        rows = await run_in_threadpool(_get, cases, params, None)
        return rows, "service_requests", "request", 200

    return await _answer(fmt, work)


@router.get("/requests/{request_id}.{fmt}", summary="GeoReport v2: one service request")
async def get_request(request: Request, request_id: str, fmt: str) -> Response:
    cases = get_cases(request)

    async def work():
        params = await _params(request)
        rows = await run_in_threadpool(_get, cases, params, [request_id])
        if not rows:
            raise NotFoundError(f"no service request {request_id} of yours")
        return rows, "service_requests", "request", 200

    return await _answer(fmt, work)
