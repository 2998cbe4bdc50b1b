"""Open311 GeoReport v2 under ``/open311/v2/``, so 12345 hotline platforms can push reports
and poll their state: ``services``, ``services/{code}``, ``requests`` (GET and POST),
``requests/{id}``, in JSON and XML (the format is the path's suffix, as the standard has it).

Our detailed states map onto the standard's ``open`` / ``closed``; ``status_notes`` carries
the Chinese state, ``agency_responsible`` the department from the jurisdiction answer frozen at
intake, ``expected_datetime`` the site-visit deadline.

Who sees what: submitting (POST) needs the ``api_key`` of a registered client
(``weijian apikey add``). Reading (GET) needs no key, as the standard allows: anyone reads the
requests the public made (by the citizen and hotline channels: ``scope.PUBLIC_CHANNELS``) in
their public form — state, service, department, times, place — without the description
(callers name themselves and their neighbours in it), the reporter, the staff or any internal
field. With its key a client reads its own requests, in full.

Errors follow the standard: 403 for a missing (on POST) or wrong ``api_key``, 404 for an
unknown service, request, format or path, 400 for every other mistake of the caller — FastAPI's own
validation of parameters included — and 503 while the database cannot be reached; the body is
a list of ``{code, description}`` in the request's format, the descriptions in Chinese with the
English detail. A ``media_url`` on POST is fetched by the server as the report's photo
(:mod:`weijian.api.media`: allowed hosts only, size and type checked; refused with a clear
message and no case made), never pasted into the description. Every XML answer goes through
:func:`_document`, which replaces what XML 1.0 cannot hold (control characters, lone
surrogates, U+FFFE/U+FFFF) so the answer always parses.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from xml.etree import ElementTree as ET

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.routing import APIRoute
from pydantic import BaseModel
from sqlalchemy.exc import DataError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from weijian.api.dependencies import cases_of
from weijian.api.errors import (
    DATABASE_TROUBLE,
    ERROR_RESPONSES,
    RETRY_AFTER_S,
    status_for,
    trouble_kind,
)
from weijian.api.media import fetch_photo
from weijian.cases import users
from weijian.cases.scope import PUBLIC_READER, Principal
from weijian.cases.service import CaseService, Intake
from weijian.errors import InputError, NotAuthenticated, NotFoundError, WeijianError
from weijian.text import check_storable

PREFIX = "/open311/v2"

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
#: what anyone may read of a request (GET without a key); a key holder reads every field
PUBLIC_FIELDS = (
    "service_request_id",
    "status",
    "status_notes",
    "service_name",
    "service_code",
    "agency_responsible",
    "requested_datetime",
    "updated_datetime",
    "address",
    "lat",
    "long",
    "media_url",
)
#: the Chinese opening of an error description that has no Chinese text of its own
OPENING = {400: "请求有误", 403: "无权访问", 404: "未找到", 503: "服务暂时不可用"}


# -- rendering ---------------------------------------------------------------------------

#: what XML 1.0 does not allow in a document: C0 controls but tab, LF and CR; lone
#: surrogates; U+FFFE and U+FFFF
NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
SURROGATE = re.compile("[\ud800-\udfff]")
REPLACEMENT = "\ufffd"


def xml_text(value: str) -> str:
    """``value`` with every character XML 1.0 cannot hold replaced by U+FFFD."""
    return NOT_XML.sub(REPLACEMENT, value)


def _iso(value: datetime | None) -> str | None:
    return (
        value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        if value
        else None
    )


def _fill(element: ET.Element, value: Any, item: str) -> None:
    """``value`` as the content of ``element``: a dict's keys as children, a list's entries as
    ``item`` children, anything else as text (nothing for null)."""
    if isinstance(value, dict):
        for key, inner in value.items():
            _fill(ET.SubElement(element, key), inner, item)
    elif isinstance(value, list):
        for inner in value:
            _fill(ET.SubElement(element, item), inner, item)
    elif value is not None:
        element.text = str(value).lower() if isinstance(value, bool) else str(value)


def _document(root: str, value: Any, item: str) -> bytes:
    """The one way out for XML: every text and attribute is made XML-safe here."""
    top = ET.Element(root)
    _fill(top, value, item)
    for element in top.iter():
        if element.text:
            element.text = xml_text(element.text)
        for name, attribute in element.attrib.items():
            element.attrib[name] = xml_text(attribute)
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(top, encoding="utf-8")


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return SURROGATE.sub(REPLACEMENT, value)
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    return value


def _json(value: Any) -> bytes:
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError:  # a lone surrogate cannot be written as UTF-8
        return orjson.dumps(_scrub(value))


def _render(
    fmt: str,
    root: str,
    item: str,
    value: Any,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    """Every answer of these routes, errors included."""
    if fmt == "xml":
        content = _document(root, value, item)
    else:
        fmt, content = "json", _json(value)
    return Response(content, status_code=status, media_type=FORMATS[fmt], headers=headers)


def _format_of(request: Request) -> str:
    """The format the caller asked for: the path's suffix (JSON for anything unknown)."""
    suffix = request.url.path.rpartition(".")[2]
    return suffix if suffix in FORMATS else "json"


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise NotFoundError(
            f"不支持 {fmt} 格式，请使用 .json 或 .xml",
            code="open311.format_unsupported",
            detail=f"format {fmt!r} is not served: use .json or .xml",
        )


def _request_json(case: dict, full: bool) -> dict[str, Any]:
    service = SERVICE_BY_TRACK.get(case["track"], SERVICES[0])
    department = case.get("department") or {}
    request = {
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
    return request if full else {name: request[name] for name in PUBLIC_FIELDS}


# -- errors ------------------------------------------------------------------------------


def _open311_status(status: int) -> int:
    """The standard's status for one of ours: 403, 404, 400 for the rest of the caller's
    mistakes; the server's own trouble (5xx) stays what it is."""
    if status in (401, 403):
        return 403
    if status == 404 or status >= 500:
        return status
    return 400


def _describe(status: int, english: str, zh: str | None = None, hint: str | None = None) -> str:
    detail = english + (f"; {hint}" if hint else "")
    return f"{zh}（{detail}）" if zh else f"{OPENING.get(status, '请求有误')}：{detail}"


def _validation(exc: RequestValidationError) -> list[str]:
    """FastAPI's complaints about the parameters, one description each."""
    out = []
    for error in exc.errors():
        loc = [str(p) for p in error.get("loc", ()) if p not in ("query", "path", "body", "form")]
        name = ".".join(loc) or "请求"
        if error.get("type") == "missing":
            out.append(f"缺少必填参数 {name}（missing {name}）")
        else:
            out.append(f"参数 {name} 的值无效（{name}: {error.get('msg')}）")
    return out or ["请求参数有误（invalid parameters）"]


def failure(exc: Exception) -> tuple[int, list[str], dict[str, str] | None] | None:
    """The answer to ``exc`` in the standard's terms: status, descriptions, headers; ``None``
    for what is no failure of the request (a bug: the server logs it, the client gets 500)."""
    if isinstance(exc, RequestValidationError):
        return 400, _validation(exc), None
    if isinstance(exc, WeijianError):
        status = _open311_status(status_for(exc))
        return status, [_describe(status, exc.en, exc.zh, exc.hint)], None
    if isinstance(exc, OperationalError | InterfaceError | PoolTimeout):
        zh, english = DATABASE_TROUBLE[trouble_kind(exc)]
        description = _describe(503, english, zh, f"send the request again in {RETRY_AFTER_S} s")
        return 503, [description], {"Retry-After": str(RETRY_AFTER_S)}
    if isinstance(exc, DataError):
        english = f"a value is out of range or malformed: {exc.orig}"
        return 400, [_describe(400, english, "参数值超出范围或格式不正确")], None
    if isinstance(exc, HTTPException):
        status = _open311_status(exc.status_code)
        return status, [_describe(status, str(exc.detail))], None
    return None


def error_response(
    request: Request, status: int, descriptions: list[str], headers: dict | None = None
) -> Response:
    errors = [{"code": status, "description": d} for d in descriptions]
    return _render(_format_of(request), "errors", "error", errors, status, headers)


class Open311Route(APIRoute):
    """A route whose every failure — ours, FastAPI's validation of the parameters, the
    database's — is answered in the standard's error format, status and request format."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def answer(request: Request) -> Response:
            try:
                return await handler(request)
            except Exception as exc:
                found = failure(exc)
                if found is None:
                    raise
                return error_response(request, *found)

        return answer


class Open311Error(BaseModel):
    """One error as GeoReport v2 gives it (a list of these; in XML, ``<errors>``)."""

    code: int
    description: str


#: the errors of every call, in the standard's shape rather than the rest of the API's
OPEN311_ERRORS: dict[int | str, dict] = {
    status: {"model": list[Open311Error], "description": spec["description"]}
    for status, spec in ERROR_RESPONSES.items()
}

router = APIRouter(
    prefix=PREFIX, tags=["open311"], route_class=Open311Route, responses=OPEN311_ERRORS
)


# -- the calls ---------------------------------------------------------------------------


def _storable(name: str, value: str) -> str:
    """What PostgreSQL can hold: a NUL or a lone surrogate is refused (400), never replaced."""
    check_storable(value, name)
    return value


async def _params(request: Request) -> dict[str, str]:
    params = dict(request.query_params)
    kind = request.headers.get("content-type", "")
    if kind.startswith("application/json"):
        try:
            body = await request.json()
        except ValueError:
            raise InputError(
                "请求体不是有效的 JSON，请检查格式后重新提交",
                code="open311.body_not_json",
                detail="the body is not valid JSON",
            ) from None
        if not isinstance(body, dict):
            raise InputError(
                'JSON 请求体应为字段对象，如 {"service_code": "...", "lat": ...}',
                code="open311.body_not_object",
                detail="the JSON body must be an object of fields",
            )
        params.update({k: str(v) for k, v in body.items() if v is not None})
    else:
        form = await request.form()
        params.update({k: v for k, v in form.items() if isinstance(v, str)})
    return {k: _storable(k, v) for k, v in params.items()}


def _client(cases: CaseService, key: str | None, required: bool) -> Principal | None:
    """The client ``key`` belongs to; ``None`` (the public) without a key where none is
    required. A wrong key is refused everywhere."""
    if not key:
        if not required:
            return None
        raise NotAuthenticated(
            "缺少接口密钥 api_key，提交诉求需要密钥，请向平台管理员申请",
            code="auth.api_key_missing",
            detail="api_key is required to submit a request",
            hint="ask the platform's administrator for a key",
        )
    with cases.engine.connect() as conn:
        return users.principal_for_api_key(conn, key)


def _number(value: str | None, name: str) -> float:
    if value in (None, ""):
        raise InputError(
            f"缺少必填参数 {name}：诉求的位置以 WGS84 十进制度数的 lat（纬度）和 long（经度）给出",
            code="open311.parameter_missing",
            detail=f"missing {name}",
            hint="this service locates reports by lat and long in WGS84 decimal degrees",
        )
    try:
        return float(value)
    except ValueError:
        raise InputError(
            f"参数 {name} 应为十进制度数（如 41.94），收到“{value}”",
            code="open311.number_invalid",
            detail=f"{name} must be a decimal number, got {value!r}",
        ) from None


def _service(code: str | None, required: bool) -> dict | None:
    if not code:
        if not required:
            return None
        raise InputError(
            "缺少必填参数 service_code，可用的服务见 services.json",
            code="open311.parameter_missing",
            detail="missing service_code",
            hint="see services.json",
        )
    if code not in SERVICE_BY_CODE:
        raise NotFoundError(
            f"没有服务 {code}，可用的服务代码：{'、'.join(SERVICE_BY_CODE)}",
            code="open311.service_unknown",
            detail=f"service_code {code!r} is not offered",
            hint="see services.json: " + ", ".join(SERVICE_BY_CODE),
        )
    return SERVICE_BY_CODE[code]


def _is_cjk(text: str) -> bool:
    return all("\u3400" <= ch <= "\u9fff" or ch == "·" for ch in text.strip())


def _post(cases: CaseService, params: dict[str, str]) -> list[dict]:
    client = _client(cases, params.get("api_key"), required=True)
    service = _service(params.get("service_code"), required=True)
    lat, lon = _number(params.get("lat"), "lat"), _number(params.get("long"), "long")
    parts = [p for p in (params.get("last_name"), params.get("first_name")) if p]
    # 王 + 小明 → 王小明; Latin names keep their space
    name = ("" if all(_is_cjk(p) for p in parts) else " ").join(parts)
    description = params.get("description") or ""
    # the photo first: a media_url refused makes no case
    photo = fetch_photo(params["media_url"], cases.settings) if params.get("media_url") else None
    case = cases.create(
        Intake(
            lon=lon,
            lat=lat,
            crs=params.get("crs") or "wgs84",
            description=description,
            track=service["track"],
            address=params.get("address_string"),
            reporter_name=name or None,
            reporter_phone=params.get("phone"),
            external_id=params.get("attribute[external_id]") or params.get("external_id"),
        ),
        client,
    )
    if photo is not None:
        content, name = photo
        cases.add_evidence(client, case["number"], io.BytesIO(content), name, "photo")
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


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _get(
    cases: CaseService,
    key: str | None,
    ids: list[str],
    service_code: str | None = None,
    start_date: datetime | None = None,
    end_date: datetime | None = None,
    status: str | None = None,
) -> list[dict]:
    """With a key, the client's own requests in full; without, the public's requests in their
    public form."""
    client = _client(cases, key, required=False)
    reader, full = (client, True) if client else (PUBLIC_READER, False)
    if ids:  # the standard: ids override every other argument
        out = []
        for number in ids[:MAX_REQUESTS]:
            try:
                out.append(_request_json(cases.get(reader, number.strip()), full))
            except NotFoundError:
                continue
        return out
    end = _utc(end_date) or cases.clock.now()
    start = _utc(start_date) or end - timedelta(days=DEFAULT_DAYS)
    # end_date is the latest moment to include; our times carry microseconds, the standard's
    # whole seconds: the whole second of end_date is in
    until = end.replace(microsecond=0) + timedelta(seconds=1) if end_date else None
    statuses = {s.strip() for s in (status or "").split(",") if s.strip()}
    if statuses - {"open", "closed"}:
        raise InputError(
            f"参数 status 只能是 open、closed 或两者（逗号分隔），收到“{status}”",
            code="open311.status_invalid",
            detail=f"status must be open, closed or both (comma-separated), got {status!r}",
        )
    service = _service(service_code, required=False)
    out: list[dict] = []
    cursor = None
    while len(out) < MAX_REQUESTS:
        page = cases.list(
            reader,
            category=next(iter(statuses)) if len(statuses) == 1 else None,
            track=service["track"] if service else None,
            reported_from=start,
            reported_to=until,
            limit=min(500, MAX_REQUESTS - len(out)),
            cursor=cursor,
        )
        out.extend(_request_json(item, full) for item in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    return out


ApiKey = Annotated[
    str | None,
    Query(description="the client's key: its own requests, in full (none: public requests)"),
]


@router.get("/services.{fmt}", summary="GeoReport v2: the services offered")
async def services(fmt: str) -> Response:
    _check_format(fmt)
    rows = [{k: v for k, v in s.items() if k != "track"} for s in SERVICES]
    return _render(fmt, "services", "service", rows)


@router.get("/services/{code}.{fmt}", summary="GeoReport v2: a service definition")
async def service_definition(code: str, fmt: str) -> Response:
    _check_format(fmt)
    _service(code, required=True)
    # no service asks for extra attributes (metadata is false)
    definition = {"service_code": code, "attributes": []}
    return _render(fmt, "service_definition", "attribute", definition)


@router.post("/requests.{fmt}", summary="GeoReport v2: submit a service request (api_key)")
async def post_request(request: Request, fmt: str) -> Response:
    _check_format(fmt)
    params = await _params(request)
    rows = await run_in_threadpool(_post, cases_of(request), params)
    return _render(fmt, "service_requests", "request", rows, 201)


@router.get(
    "/requests.{fmt}",
    summary="GeoReport v2: service requests (public ones without a key, your own with it)",
)
def get_requests(
    request: Request,
    fmt: str,
    api_key: ApiKey = None,
    service_request_id: Annotated[
        str | None, Query(description="comma-separated ids; overrides every other parameter")
    ] = None,
    service_code: str | None = None,
    start_date: Annotated[
        datetime | None, Query(description="earliest requested_datetime (ISO 8601)")
    ] = None,
    end_date: Annotated[
        datetime | None, Query(description="latest requested_datetime (ISO 8601)")
    ] = None,
    status: Annotated[str | None, Query(description="open, closed or open,closed")] = None,
) -> Response:
    _check_format(fmt)
    ids = [i for i in (service_request_id or "").split(",") if i.strip()]
    rows = _get(cases_of(request), api_key, ids, service_code, start_date, end_date, status)
    return _render(fmt, "service_requests", "request", rows)


@router.get(
    "/requests/{request_id}.{fmt}",
    summary="GeoReport v2: one service request (public without a key, in full with yours)",
)
def get_request(request: Request, request_id: str, fmt: str, api_key: ApiKey = None) -> Response:
    _check_format(fmt)
    rows = _get(cases_of(request), api_key, [request_id])
    if not rows:
        raise NotFoundError(
            f"没有诉求 {request_id}"
            f"{'（或不是贵单位提交的）' if api_key else '（或不在公开的诉求中）'}，请核对诉求编号",
            code="open311.request_not_found",
            detail=f"no service request {request_id}"
            + (" of yours" if api_key else " among the public requests"),
        )
    return _render(fmt, "service_requests", "request", rows)


METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


@router.api_route("/{path:path}", methods=METHODS, include_in_schema=False)
async def elsewhere(request: Request, path: str) -> Response:
    """Anything else under the prefix, answered in the standard's error format: a method the
    path does not take (400), a path that is not there (404)."""
    allowed = sorted(
        {
            method
            for route in router.routes
            if isinstance(route, APIRoute)
            and route.endpoint is not elsewhere
            and route.path_regex.match(request.url.path)
            for method in route.methods
        }
    )
    if allowed:
        raise InputError(
            f"此接口不支持 {request.method} 请求，请使用 {'、'.join(allowed)}",
            code="http.method_not_allowed",
            detail=f"{request.method} is not allowed here; use {' or '.join(allowed)}",
        )
    raise NotFoundError(
        f"没有这个接口：{request.url.path}，可用的接口为 services.json、requests.json "
        "和 requests/{编号}.json",
        code="http.not_found",
        detail=f"no Open311 resource {request.url.path}",
        hint="see services.json, requests.json and requests/{id}.json",
    )
