"""Open311 GeoReport v2 under /open311/v2/: a 12345 hotline platform lists the services, submits
service requests (form-encoded, JSON or XML answers), polls them back with every field of the
standard, sees only its own requests, and gets errors in the standard's shape. Over real HTTP
against the hand-built city of tests/casekit.py, on the test's clock."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from xml.etree import ElementTree as ET

import httpx
import pytest

from tests import casekit
from tests.casekit import (
    COMPOUND,
    FARMLAND,
    JIANGYUAN,
    RED_FLAG,
    START,
    STREET,
)
from weijian.cases import users
from weijian.cases.workflow import default_workflow

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
NUMBER = re.compile(r"^[A-Z]+-2026-\d{6}$")
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


def ids(api, key: str, **params) -> list[str]:
    r = get(api, "requests.json", api_key=key, **params)
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


def assert_error(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert isinstance(body, list) and len(body) == 1, body
    assert set(body[0]) == {"code", "description"}, body
    assert body[0]["code"] == status
    assert isinstance(body[0]["description"], str) and body[0]["description"]
    return body[0]["description"]


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
        (post(case_api, form(None), fmt="xml"), 401),
        (post(case_api, form(key, service_code="pothole"), fmt="xml"), 422),
        (post(case_api, form(key, lat="39.9", long="116.4"), fmt="xml"), 422),
        (get(case_api, "requests/HJ-2026-999999.xml", api_key=key), 404),
    ):
        assert response.status_code == status, response.text
        assert response.headers["content-type"].startswith("text/xml")
        root = ET.fromstring(response.content)
        assert root.tag == "errors"
        errors = root.findall("error")
        assert len(errors) == 1
        assert [child.tag for child in errors[0]] == ["code", "description"]
        assert errors[0].findtext("code") == str(status)
        assert errors[0].findtext("description")
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


# -- errors ------------------------------------------------------------------------------------


def test_errors_have_the_standard_shape_and_status(case_api, key):
    # who is asking
    assert_error(post(case_api, form(None)), 401)
    assert_error(post(case_api, form("not-a-key")), 401)
    assert_error(get(case_api, "requests.json"), 401)
    assert_error(get(case_api, "requests.json", api_key="not-a-key"), 401)
    assert_error(get(case_api, "requests/HJ-2026-000001.json"), 401)
    # what is asked for
    text = assert_error(post(case_api, form(key, service_code="pothole")), 422)
    assert "pothole" in text
    assert_error(post(case_api, form(key, service_code=None)), 422)
    assert_error(post(case_api, form(key, lat=None, long=None)), 422)
    assert_error(post(case_api, form(key, lat=None)), 422)
    assert_error(post(case_api, form(key, long="")), 422)
    assert_error(post(case_api, form(key, lat="北纬41度")), 422)
    assert_error(post(case_api, form(key, lat="41.9x")), 422)
    assert_error(post(case_api, form(key, description="")), 422)
    assert_error(get(case_api, "requests.json", api_key=key, status="pending"), 422)
    assert_error(get(case_api, "requests.json", api_key=key, start_date="yesterday"), 422)
    assert_error(get(case_api, "requests.json", api_key=key, service_code="pothole"), 422)
    # a place outside the city (Beijing) is refused, and no case is created
    text = assert_error(post(case_api, form(key, lat="39.9", long="116.4")), 422)
    assert "outside" in text or "不在" in text
    # formats that are not served, requests that do not exist
    assert_error(post(case_api, form(key), fmt="csv"), 404)
    assert_error(get(case_api, "requests.csv", api_key=key), 404)
    assert_error(get(case_api, "requests/HJ-2026-000001.json", api_key=key), 404)
    # none of it created a case
    assert case_count(case_api) == 0
    case_api.clock.advance(minutes=5)
    assert ids(case_api, key) == []


def test_the_same_external_id_is_one_case(case_api, key):
    first = post(case_api, form(key, **{"attribute[external_id]": "GD-1"}))
    assert first.status_code == 201, first.text
    number = first.json()[0]["service_request_id"]
    again = post(case_api, form(key, **{"attribute[external_id]": "GD-1"}))
    text = assert_error(again, 409)
    assert number in text
    assert case_count(case_api) == 1
    assert case_api.case("admin", number)["external_id"] == "GD-1"
    other = post(case_api, form(key, **{"attribute[external_id]": "GD-2"}))
    assert other.status_code == 201, other.text
    assert case_count(case_api) == 2
