"""Open311 GeoReport v2 under /open311/v2/: a 12345 hotline platform lists the services, submits
service requests (form-encoded, JSON or XML answers), polls them back with every field of the
standard and sees only its own requests with its key; anyone reads the public's requests
without a key, without people in them; errors have the standard's statuses (403, 404, 400) and
shape in JSON and XML; XML stays well-formed whatever characters a request carries. Over real
HTTP against the hand-built city of tests/casekit.py, on the test's clock."""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import io
import json
import re
import threading
from datetime import datetime, timedelta
from xml.etree import ElementTree as ET

import httpx
import pytest
from PIL import Image

from tests import casekit
from tests.casekit import (
    COMPOUND,
    FARMLAND,
    JIANGYUAN,
    RED_FLAG,
    START,
    STREET,
)
from weijian.api.routes import open311
from weijian.cases import users
from weijian.cases.scope import PUBLIC_READER, scope_sql
from weijian.cases.workflow import default_workflow
from weijian.errors import InputError, NotFoundError

V2 = "/open311/v2"
NEW = "illegal_construction_new"
BACKLOG = "illegal_construction_backlog"
SERVICE_FIELDS = {
    "service_code": str,
    "service_name": str,
    "description": str,
    "metadata": bool,
    "type": str,
    "keywords": str,
    "group": str,
}
REQUEST_FIELDS = {
    "service_request_id",
    "status",
    "status_notes",
    "service_name",
    "service_code",
    "description",
    "agency_responsible",
    "service_notice",
    "requested_datetime",
    "updated_datetime",
    "expected_datetime",
    "address",
    "address_id",
    "zipcode",
    "lat",
    "long",
    "media_url",
}
PUBLIC_FIELDS = {
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
}
NUMBER = re.compile(r"^[A-Z]+-2026-\d{6}$")
PHONE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
DEPARTMENTS = [
    (COMPOUND, "浑江区城市管理行政执法局", "220602-urban_enforcement"),
    (STREET, "浑江区城市管理行政执法局", "220602-urban_enforcement"),
    (FARMLAND, "浑江区自然资源局", "220602-natural_resources"),
    (JIANGYUAN, "江源区人民政府", "220605-county_government"),
]


# -- helpers -----------------------------------------------------------------------------------


def register(engine, name: str = "12345") -> str:
    """A new API client of the hotline channel: its key."""
    with engine.begin() as conn:
        return users.add_api_client(conn, default_workflow(), name, "hotline")


@pytest.fixture
def key(engine, case_api) -> str:
    return register(engine)


def form(key: str | None, spot=COMPOUND, **extra) -> dict:
    lon, lat = casekit.lonlat(spot)
    data = {
        "service_code": NEW,
        "lat": f"{lat:.8f}",
        "long": f"{lon:.8f}",
        "description": "小区楼顶正在加盖彩钢板房",
        "address_string": "江山花园3栋楼顶",
        "first_name": "小明",
        "last_name": "王",
        "phone": "13912345678",
    }
    if key is not None:
        data["api_key"] = key
    data.update(extra)
    return {k: v for k, v in data.items() if v is not None}


def post(api, data: dict, fmt: str = "json") -> httpx.Response:
    return httpx.post(f"{api.url}{V2}/requests.{fmt}", data=data, timeout=60)


def get(api, path: str, **params) -> httpx.Response:
    return httpx.get(f"{api.url}{V2}/{path}", params=params, timeout=30)


def submit(api, key: str, spot=COMPOUND, **extra) -> str:
    """POST a request as JSON; its service_request_id."""
    r = post(api, form(key, spot, **extra))
    assert r.status_code == 201, r.text
    return r.json()[0]["service_request_id"]


def one(api, key: str, number: str) -> dict:
    r = get(api, f"requests/{number}.json", api_key=key)
    assert r.status_code == 200, r.text
    body = r.json()
    assert isinstance(body, list) and len(body) == 1
    return body[0]


def ids(api, key: str | None, **params) -> list[str]:
    """The ids listed, with ``key`` or (None) without one."""
    if key is not None:
        params["api_key"] = key
    r = get(api, "requests.json", **params)
    assert r.status_code == 200, r.text
    body = r.json()
    assert isinstance(body, list)
    return [item["service_request_id"] for item in body]


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def parse_time(value: str) -> datetime:
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    assert moment.tzinfo is not None, f"{value} has no time zone"
    return moment


CJK = re.compile("[\u4e00-\u9fff]")


def assert_error(response: httpx.Response, status: int, fmt: str = "json") -> str:
    """The standard's error answer in ``fmt``, one error with a Chinese description: that."""
    assert response.status_code == status, response.text
    if fmt == "xml":
        assert response.headers["content-type"].startswith("text/xml")
        root = ET.fromstring(response.content)
        assert root.tag == "errors"
        errors = root.findall("error")
        assert len(errors) == 1, response.text
        assert [child.tag for child in errors[0]] == ["code", "description"]
        assert errors[0].findtext("code") == str(status)
        description = errors[0].findtext("description")
    else:
        assert response.headers["content-type"].startswith("application/json")
        body = response.json()
        assert isinstance(body, list) and len(body) == 1, body
        assert set(body[0]) == {"code", "description"}, body
        assert body[0]["code"] == status
        description = body[0]["description"]
    assert isinstance(description, str) and CJK.search(description), description
    return description


def case_count(api) -> int:
    r = api.get("/api/v1/cases", "admin")
    assert r.status_code == 200, r.text
    return r.json()["count"]


def department_at(api, spot) -> dict:
    lon, lat = casekit.lonlat(spot)
    r = api.get("/api/v1/jurisdiction", lon=lon, lat=lat, crs="cgcs2000")
    assert r.status_code == 200, r.text
    return r.json()["department"]


# -- services ----------------------------------------------------------------------------------


def test_services_have_exactly_the_georeport_fields_in_json_and_xml(server):
    r = httpx.get(f"{server}{V2}/services.json", timeout=30)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json")
    services = r.json()
    assert isinstance(services, list) and services
    for service in services:
        assert set(service) == set(SERVICE_FIELDS), service
        for name, kind in SERVICE_FIELDS.items():
            assert isinstance(service[name], kind), (name, service[name])
        assert service["type"] == "realtime"
        assert service["metadata"] is False
    codes = [s["service_code"] for s in services]
    assert set(codes) == {NEW, BACKLOG}
    assert len(codes) == len(set(codes))

    r = httpx.get(f"{server}{V2}/services.xml", timeout=30)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/xml")
    root = ET.fromstring(r.content)
    assert root.tag == "services"
    items = root.findall("service")
    assert [item.findtext("service_code") for item in items] == codes
    for item in items:
        assert {child.tag for child in item} == set(SERVICE_FIELDS)
        assert item.findtext("metadata") == "false"
        assert item.findtext("type") == "realtime"
    assert_error(httpx.get(f"{server}{V2}/services.csv", timeout=30), 404)


# -- submitting and reading back ---------------------------------------------------------------


def test_a_submitted_request_reads_back_with_every_georeport_field(case_api, key):
    lon, lat = casekit.lonlat(COMPOUND)
    r = post(case_api, form(key))
    assert r.status_code == 201, r.text
    assert r.headers["content-type"].startswith("application/json")
    answer = r.json()
    assert isinstance(answer, list) and len(answer) == 1
    assert set(answer[0]) == {"service_request_id", "service_notice", "account_id"}
    number = answer[0]["service_request_id"]
    assert number == "HJ-2026-000001"
    assert isinstance(answer[0]["service_notice"], str) and number in answer[0]["service_notice"]
    assert answer[0]["account_id"] is None

    request = one(case_api, key, number)
    assert set(request) == REQUEST_FIELDS, set(request) ^ REQUEST_FIELDS
    assert request["service_request_id"] == number
    assert request["status"] == "open"
    assert request["status_notes"] == "已上报待核查"
    assert request["service_code"] == NEW
    assert request["service_name"] == "正在施工的违法建设"
    assert request["description"] == "小区楼顶正在加盖彩钢板房"
    assert request["agency_responsible"] == "浑江区城市管理行政执法局"
    assert isinstance(request["service_notice"], str) and number in request["service_notice"]
    assert request["address"] == "江山花园3栋楼顶"
    assert request["address_id"] is None
    assert request["zipcode"] is None
    assert request["media_url"] is None
    assert isinstance(request["lat"], float) and isinstance(request["long"], float)
    assert request["lat"] == pytest.approx(lat, abs=1e-6)
    assert request["long"] == pytest.approx(lon, abs=1e-6)
    requested = parse_time(request["requested_datetime"])
    updated = parse_time(request["updated_datetime"])
    expected = parse_time(request["expected_datetime"])
    assert requested == START
    assert updated == START
    assert START < expected <= START + timedelta(days=7)  # the site-visit deadline

    # the same case, as the platform's own users see it
    case = case_api.case("admin", number)
    assert case["channel"] == "hotline"
    assert case["track"] == "new"
    assert case["department"]["code"] == "220602-urban_enforcement"
    assert case["department"]["name"] == request["agency_responsible"]
    assert case["reporter"]["phone"] == "13912345678"
    assert "王" in case["reporter"]["name"] and "小明" in case["reporter"]["name"]
    assert parse_time(case["visit_due"]) == expected

    # a JSON body is accepted as well; the backlog service ledgers the building at once
    r = httpx.post(
        f"{case_api.url}{V2}/requests.json", json=form(key, service_code=BACKLOG), timeout=60
    )
    assert r.status_code == 201, r.text
    backlog = one(case_api, key, r.json()[0]["service_request_id"])
    assert backlog["service_request_id"] == "HJ-2026-000002"
    assert backlog["service_code"] == BACKLOG
    assert backlog["service_name"] == "已建成的违法建设"
    assert backlog["status"] == "open"
    assert backlog["status_notes"] == "已建台账"
    assert case_api.case("admin", backlog["service_request_id"])["track"] == "backlog"


def test_agency_responsible_is_the_department_the_jurisdiction_answer_names(
    case_api,
    key,
):
    for spot, name, code in DEPARTMENTS:
        department = department_at(case_api, spot)
        assert department["name"] == name
        assert department["code"] == code
        number = submit(case_api, key, spot)
        assert NUMBER.match(number), number
        assert one(case_api, key, number)["agency_responsible"] == name
        case = case_api.case("admin", number)
        assert case["department"]["code"] == code
        assert case["channel"] == "hotline"
    # 江源区's cases are numbered in their own district's series
    assert case["number"] == "JY-2026-000001"
    # where no rule names a department, the request is still taken, awaiting a decision
    assert department_at(case_api, RED_FLAG) is None
    number = submit(case_api, key, RED_FLAG)
    agency = one(case_api, key, number)["agency_responsible"]
    assert isinstance(agency, str) and "待研判" in agency
    assert case_api.case("admin", number)["department"] is None


def test_xml_post_get_and_errors(case_api, key):
    r = post(case_api, form(key), fmt="xml")
    assert r.status_code == 201, r.text
    assert r.headers["content-type"].startswith("text/xml")
    root = ET.fromstring(r.content)
    assert root.tag == "service_requests"
    number = root.findtext("request/service_request_id")
    assert number == "HJ-2026-000001"
    assert number in root.findtext("request/service_notice")

    r = get(case_api, f"requests/{number}.xml", api_key=key)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/xml")
    root = ET.fromstring(r.content)
    assert root.tag == "service_requests"
    requests = root.findall("request")
    assert len(requests) == 1
    request = requests[0]
    assert {child.tag for child in request} == REQUEST_FIELDS
    assert request.findtext("service_request_id") == number
    assert request.findtext("status") == "open"
    assert request.findtext("agency_responsible") == "浑江区城市管理行政执法局"
    lon, lat = casekit.lonlat(COMPOUND)
    assert float(request.findtext("lat")) == pytest.approx(lat, abs=1e-6)
    assert float(request.findtext("long")) == pytest.approx(lon, abs=1e-6)
    assert parse_time(request.findtext("requested_datetime")) == START
    assert not request.findtext("media_url")  # an empty element for null

    case_api.clock.advance(minutes=5)
    r = get(case_api, "requests.xml", api_key=key)
    assert r.status_code == 200, r.text
    listed = ET.fromstring(r.content)
    assert [e.findtext("service_request_id") for e in listed.findall("request")] == [number]

    for response, status in (
        (post(case_api, form(None), fmt="xml"), 403),
        (post(case_api, form(key, service_code="pothole"), fmt="xml"), 404),
        (post(case_api, form(key, lat="39.9", long="116.4"), fmt="xml"), 400),
        (get(case_api, "requests/HJ-2026-999999.xml", api_key=key), 404),
    ):
        assert_error(response, status, "xml")
    assert case_count(case_api) == 1


# -- listing -----------------------------------------------------------------------------------


def dismiss(api, number: str) -> None:
    """Drive a case to not_violation as the urban enforcement of 浑江区."""
    sha = api.photo("ue_hj", number)
    api.act("ue_hj", number, "site_visit", evidence=[sha])
    api.act("ue_hj", number, "dismiss", note="现场核查为临时遮阳棚，已拆除，不构成违法建设")


def test_listing_filters_by_status_service_code_and_dates(case_api, key):
    first = submit(case_api, key, COMPOUND)
    case_api.clock.advance(days=2)
    second = submit(case_api, key, FARMLAND)
    third = submit(case_api, key, STREET, service_code=BACKLOG)
    case_api.clock.advance(hours=1)

    assert set(ids(case_api, key)) == {first, second, third}
    assert set(ids(case_api, key, status="open")) == {first, second, third}
    assert ids(case_api, key, status="closed") == []

    dismiss(case_api, first)
    closed = one(case_api, key, first)
    assert closed["status"] == "closed"
    assert closed["status_notes"] == "不构成违建"
    assert closed["expected_datetime"] is None
    assert parse_time(closed["updated_datetime"]) == START + timedelta(days=2, hours=1)
    assert parse_time(closed["requested_datetime"]) == START

    assert set(ids(case_api, key, status="open")) == {second, third}
    assert ids(case_api, key, status="closed") == [first]
    assert set(ids(case_api, key, status="open,closed")) == {first, second, third}

    assert set(ids(case_api, key, service_code=NEW)) == {first, second}
    assert ids(case_api, key, service_code=BACKLOG) == [third]
    assert ids(case_api, key, service_code=NEW, status="open") == [second]

    middle = iso(START + timedelta(days=1))
    assert set(ids(case_api, key, start_date=middle)) == {second, third}
    assert ids(case_api, key, end_date=middle) == [first]
    earlier = iso(START - timedelta(days=10))
    assert ids(case_api, key, start_date=earlier, end_date=middle) == [first]
    assert ids(case_api, key, end_date=iso(START - timedelta(days=1))) == []

    # several ids at once; an unknown one is left out
    listed = ids(case_api, key, service_request_id=f"{first},{second},HJ-2026-999999")
    assert sorted(listed) == sorted([first, second])


def test_end_date_includes_a_request_made_at_that_moment(case_api, key):
    """GeoReport v2: end_date is the "latest datetime to include in search"."""
    number = submit(case_api, key)
    requested = one(case_api, key, number)["requested_datetime"]
    case_api.clock.advance(minutes=5)
    assert ids(case_api, key) == [number]
    assert ids(case_api, key, end_date=requested) == [number]
    assert ids(case_api, key, start_date=requested, end_date=requested) == [number]


def test_another_client_sees_none_of_the_first_clients_requests(
    engine,
    case_api,
    key,
):
    number = submit(case_api, key)
    case_api.clock.advance(minutes=5)
    other = register(engine, "区政务热线")
    assert ids(case_api, key) == [number]
    assert ids(case_api, other) == []
    assert ids(case_api, other, status="open") == []
    assert ids(case_api, other, service_request_id=number) == []
    assert_error(get(case_api, f"requests/{number}.json", api_key=other), 404)
    mine = submit(case_api, other, FARMLAND)
    case_api.clock.advance(minutes=5)
    assert ids(case_api, other) == [mine]
    assert ids(case_api, key) == [number]


# -- reading without a key ---------------------------------------------------------------------


def requests_in(response: httpx.Response, fmt: str) -> list[dict]:
    """The requests of a 200 answer, as dicts of field → value (text in XML)."""
    assert response.status_code == 200, response.text
    if fmt == "json":
        body = response.json()
        assert isinstance(body, list)
        return body
    root = ET.fromstring(response.content)
    assert root.tag == "service_requests"
    return [{child.tag: child.text for child in item} for item in root.findall("request")]


def people_in(value, inside: bool = False) -> set[str]:
    """Every text under a key that names people (responsible persons, phones, reporters)."""
    if isinstance(value, dict):
        found: set[str] = set()
        for name, inner in value.items():
            found |= people_in(inner, inside or name in ("responsible", "phone", "reporter"))
        return found
    if isinstance(value, list):
        return set().union(*(people_in(inner, inside) for inner in value))
    return {value} if inside and isinstance(value, str) and value else set()


def test_anyone_reads_the_publics_requests_without_people_in_them(case_api, key):
    api = case_api
    hotline = submit(
        api, key, COMPOUND, description="来电人王小明反映邻居楼顶加盖，联系电话13912345678"
    )
    citizen = api.report(
        None, STREET, address="新建街道88号", reporter_name="李四", reporter_phone="13700000000"
    )["number"]
    gridder = api.report("gridder", COMPOUND)["number"]  # the city's own finds are not public
    patrol = api.report("town1", STREET, channel="patrol")["number"]
    api.clock.advance(hours=1)
    dismiss(api, hotline)  # officers act on it: their names are in its history
    api.clock.advance(minutes=5)

    # what is stored about people: reporters, the grids' responsible people, the staff
    secrets = {"王小明", "13912345678", "李四", "13700000000", "13800000000"}
    secrets |= {f"{who}-姓名" for who in ("ue_hj", "gridder", "town1")}
    for number in (hotline, citizen, gridder, patrol):
        secrets |= people_in(api.case("admin", number))
    assert {"孙丽", "13904390003"} <= secrets  # 新建街道's responsible person and phone
    public = {hotline, citizen}

    for fmt in ("json", "xml"):
        bodies = []
        r = get(api, f"requests.{fmt}")
        listed = {item["service_request_id"]: item for item in requests_in(r, fmt)}
        bodies.append(r.text)
        assert set(listed) == public
        for item in listed.values():
            assert set(item) == PUBLIC_FIELDS, set(item) ^ PUBLIC_FIELDS
        assert listed[hotline]["status"] == "closed"
        assert listed[hotline]["status_notes"] == "不构成违建"
        assert listed[hotline]["agency_responsible"] == "浑江区城市管理行政执法局"
        assert listed[hotline]["address"] == "江山花园3栋楼顶"
        assert listed[citizen]["status"] == "open"
        assert listed[citizen]["address"] == "新建街道88号"
        assert parse_time(listed[citizen]["requested_datetime"]) == START
        for number in public:
            r = get(api, f"requests/{number}.{fmt}")
            assert [item["service_request_id"] for item in requests_in(r, fmt)] == [number]
            bodies.append(r.text)
        for number in (gridder, patrol, "HJ-2026-999999"):
            bodies.append(assert_error(get(api, f"requests/{number}.{fmt}"), 404, fmt))
        everything = ",".join([gridder, hotline, patrol, citizen])
        r = get(api, f"requests.{fmt}", service_request_id=everything)
        assert {item["service_request_id"] for item in requests_in(r, fmt)} == public
        bodies.append(r.text)
        for params in ({"status": "closed"}, {"status": "open", "service_code": NEW}):
            r = get(api, f"requests.{fmt}", **params)
            bodies.append(r.text)
            expected = [hotline] if params["status"] == "closed" else [citizen]
            assert [item["service_request_id"] for item in requests_in(r, fmt)] == expected
        for body in bodies:
            for secret in secrets:
                assert secret not in body, (secret, body)
            assert not PHONE.search(body), body
            assert "description" not in body and "姓名" not in body

    # the key holder still reads its own request in full, and only its own
    mine = one(api, key, hotline)
    assert set(mine) == REQUEST_FIELDS
    assert "13912345678" in mine["description"]
    assert ids(api, key) == [hotline]
    assert_error(get(api, f"requests/{citizen}.json", api_key=key), 404)

    # without a key: the last 90 days by default, older ones by start_date
    assert set(ids(api, None)) == public
    api.clock.advance(days=91)
    assert ids(api, None) == []
    assert set(ids(api, None, start_date=iso(START - timedelta(days=1)))) == public
    assert set(ids(api, None, service_request_id=hotline)) == {hotline}


def test_the_public_reads_by_channel_never_by_place():
    assert PUBLIC_READER.can_read({"channel": "hotline"})
    assert PUBLIC_READER.can_read({"channel": "citizen"})
    for channel in ("grid_worker", "patrol", "property_company", "leadership", None):
        assert not PUBLIC_READER.can_read({"channel": channel, "district_code": "220602"})
    assert not PUBLIC_READER.city_wide  # whatever reads "city-wide" never lets the public in
    condition, params = scope_sql(PUBLIC_READER)
    assert condition == "c.channel = ANY(:scope_channels)"
    assert params == {"scope_channels": ["citizen", "hotline"]}


# -- characters XML cannot hold ----------------------------------------------------------------

#: every C0 control, lone surrogates, the noncharacters U+FFFE and U+FFFF, tab, LF and CR
HOSTILE = "彩钢\x07板房" + "".join(map(chr, range(0x20))) + "\udfff\ud800\ufffe\uffff末尾😀"


def test_xml_stays_well_formed_whatever_characters_a_request_carries(case_api, key):
    # a NUL or a lone surrogate is refused, never replaced (weijian/text.py)
    for bad in (HOSTILE, "彩钢\x00板房", "彩钢\ud800板房"):
        body = json.dumps({**form(key), "description": bad})
        r = httpx.post(
            f"{case_api.url}{V2}/requests.xml",
            content=body.encode("ascii"),  # the lone surrogates travel as \ud800 escapes
            headers={"content-type": "application/json"},
            timeout=60,
        )
        assert "description" in assert_error(r, 400, "xml")
    # control characters are dropped at intake; what the case holds is XML-safe
    address = "江山\x07花园\x1b3栋"
    storable = HOSTILE.replace("\x00", "").replace("\udfff", "").replace("\ud800", "")
    body = json.dumps({**form(key), "description": storable, "address_string": address})
    r = httpx.post(
        f"{case_api.url}{V2}/requests.xml",
        content=body.encode("ascii"),
        headers={"content-type": "application/json"},
        timeout=60,
    )
    assert r.status_code == 201, r.text
    number = ET.fromstring(r.content).findtext("request/service_request_id")
    case_api.clock.advance(minutes=5)
    for path, params in (
        (f"requests/{number}.xml", {"api_key": key}),
        ("requests.xml", {"api_key": key}),
        (f"requests/{number}.xml", {}),
        ("requests.xml", {}),
    ):
        r = get(case_api, path, **params)
        assert r.status_code == 200, r.text
        root = ET.fromstring(r.content)  # well-formed
        (request,) = root.findall("request")
        assert request.findtext("address") == "江山花园3栋"
        if params:
            description = request.findtext("description")
            assert description.startswith("彩钢板房") and description.endswith("末尾😀")
            assert "\t" in description and "\n" in description
            assert not open311.NOT_XML.search(description)
    description = one(case_api, key, number)["description"]
    assert "\x07" not in description and "\ufffe" not in description
    # an error description that repeats the caller's characters
    r = post(case_api, form(key, service_code="坏\x07码\x1f"), fmt="xml")
    assert "坏\ufffd码\ufffd" in assert_error(r, 404, "xml")


def test_every_xml_answer_replaces_what_xml_1_0_cannot_hold():
    document = open311._document("errors", [{"code": 400, "description": HOSTILE}], "error")
    text = ET.fromstring(document).findtext("error/description")
    assert not open311.NOT_XML.search(text)
    # 29 controls (all of C0 but tab, LF, CR) and the bell, 2 surrogates, 2 noncharacters
    assert text.count("\ufffd") == 29 + 1 + 2 + 2
    assert text.startswith("彩钢\ufffd板房") and text.endswith("末尾😀") and "\t\n" in text
    # JSON cannot carry a lone surrogate in UTF-8 either
    assert json.loads(open311._json(["a\ud800b"])) == ["a\ufffdb"]


# -- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_errors_have_the_standard_status_and_shape(case_api, key, fmt):
    """GeoReport v2: 403 for the api_key, 404 for an unknown service or request, 400 for the
    rest, FastAPI's own validation included; the same in JSON and XML."""

    def posted(data: dict, status: int) -> str:
        return assert_error(post(case_api, data, fmt=fmt), status, fmt)

    def got(path: str, expect: int, **params) -> str:
        return assert_error(get(case_api, f"{path}.{fmt}", **params), expect, fmt)

    # who is asking: a key is needed to submit, a wrong key is refused everywhere
    text = posted(form(None), 403)
    assert "api_key" in text
    assert "api_key" in posted(form(""), 403)
    assert "无效" in posted(form("not-a-key"), 403)
    got("requests", 403, api_key="not-a-key")
    got("requests/HJ-2026-000001", 403, api_key="not-a-key")
    # unknown services and requests
    assert "pothole" in posted(form(key, service_code="pothole"), 404)
    assert "pothole" in got("requests", 404, api_key=key, service_code="pothole")
    assert "pothole" in got("requests", 404, service_code="pothole")
    assert "pothole" in got("services/pothole", 404)
    got("requests/HJ-2026-000001", 404, api_key=key)
    got("requests/HJ-2026-000001", 404)
    # missing and malformed parameters
    assert "缺少必填参数 service_code" in posted(form(key, service_code=None), 400)
    text = posted(form(key, lat=None), 400)
    assert "缺少必填参数 lat" in text and "missing lat" in text
    assert "缺少必填参数 long" in posted(form(key, long=""), 400)
    assert "缺少必填参数 lat" in posted(form(key, lat=None, long=None), 400)
    assert "lat" in posted(form(key, lat="北纬41度"), 400)
    assert "lat" in posted(form(key, lat="41.9x"), 400)
    assert "诉求内容" in posted(form(key, description=""), 400)
    assert "status" in got("requests", 400, api_key=key, status="pending")
    # FastAPI's own validation of the declared parameters: 400 in the standard's shape
    for params in ({"api_key": key}, {}):
        text = got("requests", 400, start_date="yesterday", **params)
        assert "start_date" in text and "参数" in text
        assert "end_date" in got("requests", 400, end_date="2026-13-45", **params)
    # a place outside the city (Beijing) is refused, and no case is created
    text = posted(form(key, lat="39.9", long="116.4"), 400)
    assert "不在" in text
    # a body that is not JSON
    r = httpx.post(
        f"{case_api.url}{V2}/requests.{fmt}",
        content=b"{not json",
        headers={"content-type": "application/json"},
        timeout=30,
    )
    assert "JSON" in assert_error(r, 400, fmt)
    # paths and methods the standard does not have
    assert_error(httpx.get(f"{case_api.url}{V2}/nothing.{fmt}", timeout=30), 404, fmt)
    assert_error(httpx.get(f"{case_api.url}{V2}/requests/a/b.{fmt}", timeout=30), 404, fmt)
    r = httpx.put(f"{case_api.url}{V2}/requests.{fmt}", data=form(key), timeout=30)
    assert "PUT" in assert_error(r, 400, fmt)
    r = httpx.delete(f"{case_api.url}{V2}/services.{fmt}", timeout=30)
    assert "DELETE" in assert_error(r, 400, fmt)
    # none of it created a case
    assert case_count(case_api) == 0
    case_api.clock.advance(minutes=5)
    assert ids(case_api, key) == []


def test_formats_that_are_not_served_are_404(case_api, key):
    for response in (
        post(case_api, form(key), fmt="csv"),
        get(case_api, "requests.csv", api_key=key),
        get(case_api, "requests.csv"),
        get(case_api, "services.csv"),
        get(case_api, f"services/{NEW}.csv"),
    ):
        assert_error(response, 404)
    assert case_count(case_api) == 0


def test_refusals_carry_a_code_and_read_chinese():
    with pytest.raises(NotFoundError) as caught:
        open311._service("pothole", required=True)
    assert caught.value.code == "open311.service_unknown"
    assert caught.value.message.startswith("没有服务 pothole，可用的服务代码：")
    assert caught.value.detail == "service_code 'pothole' is not offered"
    with pytest.raises(InputError) as caught:
        open311._number("北纬41度", "lat")
    assert caught.value.code == "open311.number_invalid"
    assert caught.value.message == "参数 lat 应为十进制度数（如 41.94），收到“北纬41度”"
    status, descriptions, _ = open311.failure(caught.value)
    assert status == 400
    assert descriptions == [
        "参数 lat 应为十进制度数（如 41.94），收到“北纬41度”"
        "（lat must be a decimal number, got '北纬41度'）"
    ]
    with pytest.raises(NotFoundError) as caught:
        open311._check_format("csv")
    assert caught.value.code == "open311.format_unsupported"
    assert caught.value.message == "不支持 csv 格式，请使用 .json 或 .xml"


def test_a_service_definition_has_no_extra_attributes(server):
    r = httpx.get(f"{server}{V2}/services/{NEW}.json", timeout=30)
    assert r.status_code == 200, r.text
    assert r.json() == {"service_code": NEW, "attributes": []}
    r = httpx.get(f"{server}{V2}/services/{BACKLOG}.xml", timeout=30)
    assert r.status_code == 200, r.text
    root = ET.fromstring(r.content)
    assert root.tag == "service_definition"
    assert root.findtext("service_code") == BACKLOG
    assert root.find("attributes") is not None and len(root.find("attributes")) == 0


def test_the_rest_of_the_api_keeps_its_own_error_format(case_api):
    """Only /open311/v2/ answers in the standard's format."""
    r = httpx.get(f"{case_api.url}/api/v1/cases", timeout=30)
    assert r.status_code == 401
    assert r.json()["error"] == "NotAuthenticated"
    r = case_api.get("/api/v1/cases", "admin", limit="many")
    assert r.status_code == 422
    assert isinstance(r.json()["detail"], list)
    r = httpx.get(f"{case_api.url}/api/v1/nothing", timeout=30)
    assert r.status_code == 404
    assert r.json()["code"] == "http.not_found" and r.json()["detail"] == "Not Found"


def test_the_database_out_of_reach_is_503_in_the_standards_shape():
    from sqlalchemy.exc import OperationalError

    status, descriptions, headers = open311.failure(
        OperationalError("SELECT 1", {}, Exception("connection refused"))
    )
    assert status == 503 and headers == {"Retry-After": "5"}
    assert "数据库" in descriptions[0]


def test_the_same_external_id_is_one_case(case_api, key):
    first = post(case_api, form(key, **{"attribute[external_id]": "GD-1"}))
    assert first.status_code == 201, first.text
    number = first.json()[0]["service_request_id"]
    again = post(case_api, form(key, **{"attribute[external_id]": "GD-1"}))
    text = assert_error(again, 400)  # a conflict is among the standard's "other errors"
    assert number in text
    assert case_count(case_api) == 1
    assert case_api.case("admin", number)["external_id"] == "GD-1"
    other = post(case_api, form(key, **{"attribute[external_id]": "GD-2"}))
    assert other.status_code == 201, other.text
    assert case_count(case_api) == 2


# -- media_url ---------------------------------------------------------------------------------


@contextlib.contextmanager
def media_server(files: dict[str, tuple[str, bytes]]):
    """A local image server: path → (content type, bytes); /moved redirects to /photo.jpg."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path == "/moved":
                self.send_response(302)
                self.send_header("Location", "/photo.jpg")
                self.end_headers()
                return
            if self.path not in files:
                self.send_error(404)
                return
            kind, body = files[self.path]
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def jpeg(size: tuple[int, int], noise: bool = False) -> bytes:
    out = io.BytesIO()
    image = Image.effect_noise(size, 90).convert("RGB") if noise else Image.new("RGB", size, "teal")
    image.save(out, "JPEG", quality=95)
    return out.getvalue()


def test_media_url_is_fetched_as_the_photo_within_limits(case_api, key):
    api = case_api
    photo, big = jpeg((800, 600)), jpeg((1600, 1600), noise=True)
    files = {
        "/photo.jpg": ("image/jpeg", photo),
        "/big.jpg": ("image/jpeg", big),
        "/page.html": ("text/html", "<html>不是图片</html>".encode()),
    }
    with media_server(files) as host:
        base = f"http://{host}"
        # no host allowed (the default): refused, no case made
        before = case_count(api)
        text_ = assert_error(post(api, form(key, media_url=f"{base}/photo.jpg")), 400)
        assert "WEIJIAN_OPEN311_MEDIA_HOSTS" in text_
        api.settings.open311_media_hosts = [host]
        api.settings.open311_media_max_mb = 0.5
        try:
            assert len(big) > 0.5 * 1024 * 1024
            refusals = {
                f"http://localhost:{host.split(':')[1]}/photo.jpg": "不在允许的图片服务器之列",
                f"{base}/big.jpg": "超过 0.5 MB",
                f"{base}/page.html": "不是可用的照片",
                f"{base}/missing.jpg": "HTTP 404",
                f"{base}/moved": "HTTP 302",
                f"ftp://{host}/photo.jpg": "应为 http:// 或 https:// 开头",
            }
            for url, says in refusals.items():
                assert says in assert_error(post(api, form(key, media_url=url)), 400), url
            assert case_count(api) == before  # a refused photo makes no case
            number = submit(api, key, media_url=f"{base}/photo.jpg")
        finally:
            api.settings.open311_media_hosts = []
    case = api.get(f"/api/v1/cases/{number}", "supervisor").json()
    photos = [e for e in case["evidence"] if e["kind"] == "photo"]
    shapes = [(p["media_type"], p["width"], p["height"]) for p in photos]
    assert shapes == [("image/jpeg", 800, 600)]
    assert photos[0]["sha256"] == hashlib.sha256(photo).hexdigest()
    assert "http" not in case["description"]  # kept as a photo, not pasted into the text
