"""Text that cannot hurt: hostile strings — formulas, a DDE call, control characters, a byte
order mark, NUL, a lone surrogate, mathtext, a 21 MB description, ``%`` and ``_`` — put into
every text field of a case (address, description, a step's note and fields, an urge, a hotline
row), then every export opened: the ledger's workbook and CSV, the assessment workbook, the
patrol maps, the exported map and Open311's XML. Footprints bounded, odd dates and deep JSON
answered 4xx, and the anonymous-report limit exact under parallel reports and behind a proxy.
Over real HTTP on the hand-built city of tests/casekit.py."""

from __future__ import annotations

import csv
import io
import json
import threading
from xml.etree import ElementTree as ET

import httpx
import openpyxl
import pytest
from pypdf import PdfReader

from tests import casekit
from tests.casekit import COMPOUND, COMPOUND_CODE, HJ, TOWN1
from tests.test_ledger import send
from weijian import text
from weijian.cases import users
from weijian.cases.workflow import default_workflow
from weijian.errors import InputError

#: what a spreadsheet would run, and what a careless renderer chokes on
FORMULAS = [
    '=HYPERLINK("http://evil.example/x","点我")',
    "=cmd|' /C calc'!A0",
    "+1",
    "-1",
    "@SUM(1+1)",
    "\t=1",
]
MATH = "$x^2$ 楼顶"
MARKUP = "<img src=x onerror=alert(1)>江山花园"
WILD = "100%_折扣"


def raw_post(api, body: str | bytes) -> httpx.Response:
    """A JSON body as written, by a logged-in grid worker of the town."""
    headers = {**api.headers("town1"), "Content-Type": "application/json"}
    return httpx.post(f"{api.url}/api/v1/cases", content=body, headers=headers, timeout=60)


def assert_error(r: httpx.Response, status: int, code: str | None = None) -> dict:
    assert r.status_code == status, r.text
    body = r.json()
    assert any("\u4e00" <= ch <= "\u9fff" for ch in body["message"]), body
    if code:
        assert body["code"] == code, body
    return body


# -- the rules, pure ---------------------------------------------------------------------------


def test_clean_cell_and_plain():
    assert text.clean("江山\x07花园\ufeff3栋", "地址", "address") == "江山花园3栋"
    assert text.clean(" 第一行\r\n第二行\t完 ", "说明", "note", multiline=True) == (
        "第一行\n第二行\t完"
    )
    assert text.clean("第一行\n第二行", "地址", "address") == "第一行 第二行"
    assert text.clean("  ", "地址", "address") is None
    assert text.clean("江山\u202e花园", "地址", "address") == "江山花园"  # no bidi override
    for bad, code in (("a\x00b", "text.nul"), ("a\ud800b", "text.invalid"), (3, "text.invalid")):
        with pytest.raises(InputError) as caught:
            text.clean(bad, "地址", "address")
        assert caught.value.code == code and "地址" in caught.value.message
    with pytest.raises(InputError) as caught:
        text.clean("长" * 201, "地址", "address")
    assert caught.value.code == "text.too_long" and "200" in caught.value.message
    assert text.clean("长" * 200, "地址", "address") == "长" * 200

    for formula in FORMULAS:
        assert text.cell(formula) == "'" + formula
    assert text.cell("\r=1") == "'\r=1"
    assert text.cell("响铃\x07\ufeff") == "响铃"
    assert (
        text.cell("江山花园") == "江山花园" and text.cell(-1.5) == -1.5 and text.cell(None) is None
    )
    assert text.plain(MATH) == r"\$x^2\$ 楼顶"
    assert text.plain("a\ufeff\x07b\nc") == "ab c"
    assert text.json_depth_exceeded(b"[" * 65 + b"]" * 65)
    assert not text.json_depth_exceeded(b"[" * 64 + b"]" * 64)
    assert not text.json_depth_exceeded(b'{"a": "' + b"[" * 500 + b'"}')


# -- one case of each hostile string, and every export -----------------------------------------


def _spot(i: int) -> tuple[float, float]:
    """Spots 35 m apart inside 江山花园 (0.2–0.4 km of the city's corner)."""
    return (0.21 + 0.035 * (i % 5), 0.21 + 0.045 * (i // 5))


@pytest.fixture
def hostile(case_api, engine):
    """Cases of the compound whose address is each hostile string, one with a party (a step's
    field), a note and an urge in formulas; a hotline row with a formula for its address."""
    api = case_api
    addresses = [*FORMULAS, "江山花园\x07响铃", "\ufeff江山花园8栋", MATH, WILD, MARKUP]
    numbers = []
    for i, address in enumerate(addresses):
        case = api.report(
            "town1",
            _spot(i),
            channel="patrol",
            address=address,
            description=f"第一行{address}\n第二行{FORMULAS[i % len(FORMULAS)]}",
        )
        numbers.append(case["number"])
    first = numbers[0]
    photo = api.photo("town1", first)
    api.act(
        "town1",
        first,
        "site_visit",
        evidence=[photo],
        note="=cmd|' /C calc'!A0\x07",
        data={"party": '=HYPERLINK("http://evil.example")\ufeff', "structure_type": "steel"},
    )
    reply_due = "2026-03-09T09:00:00+08:00"
    r = api.post(
        f"/api/v1/cases/{numbers[1]}/urges",
        "supervisor",
        json={"note": "@SUM(1+1)\x07 请尽快", "reply_due": reply_due},
    )
    assert r.status_code == 201, r.text
    assert r.json()["note"] == "@SUM(1+1) 请尽快"
    lon, lat = casekit.lonlat(_spot(13))
    rows = io.StringIO()
    writer = csv.writer(rows)
    writer.writerow(["工单编号", "受理时间", "诉求内容", "事发地址", "经度", "纬度"])
    writer.writerow(["=1+2", "2026-03-01 08:00", "+楼顶加盖", "=cmd|' /C calc'!A0", lon, lat])
    r = api.post(
        "/api/v1/cases/imports/hotline",
        "admin",
        files={"file": ("12345.csv", rows.getvalue().encode("utf-8"), "text/csv")},
        data={"crs": "cgcs2000"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["created"] == 1, r.json()
    numbers.append(r.json()["report"][0]["case_number"])
    return {"numbers": numbers, "addresses": addresses}


def test_hostile_text_is_stored_clean_and_every_export_writes_it_as_text(case_api, engine, hostile):
    api, numbers = case_api, hostile["numbers"]
    # stored without the control characters and the byte order mark
    bell, bom = api.case("admin", numbers[6]), api.case("admin", numbers[7])
    assert bell["address"] == "江山花园响铃" and bom["address"] == "江山花园8栋"
    visited = api.case("admin", numbers[0])
    assert visited["events"][-1]["note"] == "=cmd|' /C calc'!A0"

    # the ledger: every user text is a string, never a formula
    r = api.get(f"/api/v1/ledger/{TOWN1}/2026-03", "town1", format="xlsx")
    assert r.status_code == 200, r.text
    book = openpyxl.load_workbook(io.BytesIO(r.content))
    cells = [c for sheet in book.worksheets for row in sheet.iter_rows() for c in row]
    assert all(c.data_type != "f" for c in cells), [c.value for c in cells if c.data_type == "f"]
    values = {c.value for c in cells if isinstance(c.value, str)}
    for formula in FORMULAS:  # stored stripped: "\t=1" is "=1"
        assert "'" + formula.strip() in values, formula
    assert '\'=HYPERLINK("http://evil.example")' in values  # the party, a step's field
    assert "江山花园响铃" in values and MATH in values and WILD in values
    r = api.get(f"/api/v1/ledger/{TOWN1}/2026-03", "town1", format="csv")
    assert r.status_code == 200, r.text
    table = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    for row in table[1:]:
        assert all(not value.startswith(text.FORMULA_START) for value in row), row
    assert any("'=cmd|' /C calc'!A0" in row for row in table)  # the hotline row's address
    api.clock.advance(days=31)  # a month's ledger is submitted once the month is over
    r = send(api, f"/api/v1/ledger/{TOWN1}/2026-03/submission", "town1", note="=1+1\x07")
    assert r.status_code == 201, r.text
    assert r.json()["note"] == "=1+1"  # the bell dropped, the formula kept as typed text

    # the assessment workbook
    r = api.get("/api/v1/assessment", "admin", month="2026-03", level="compound", format="xlsx")
    assert r.status_code == 200, r.text
    book = openpyxl.load_workbook(io.BytesIO(r.content))
    assert all(c.data_type != "f" for s in book.worksheets for row in s.iter_rows() for c in row)

    # the patrol maps of the compound and the district's atlas of its towns: 200, readable,
    # the addresses printed as typed ($ never mathematics, no byte order mark)
    pages = {}
    for path in (f"grids/{COMPOUND_CODE}.pdf", f"districts/{HJ}.pdf?level=town"):
        r = api.get(f"/api/v1/patrol-maps/{path}", "admin")
        assert r.status_code == 200, (path, r.text)
        reader = PdfReader(io.BytesIO(r.content))
        pages[path] = "\n".join(p.extract_text() for p in reader.pages)
    compound = pages[f"grids/{COMPOUND_CODE}.pdf"]
    assert MATH in compound and "江山花园8栋" in compound and "江山花园响铃" in compound
    assert "\ufeff" not in compound

    # the exported map: every text escaped
    x0, y0 = casekit.lonlat((-0.5, -0.5))
    x1, y1 = casekit.lonlat((5.5, 5.5))
    r = api.get("/api/v1/map/export.html", "supervisor", bbox=f"{x0},{y0},{x1},{y1}", level="town")
    assert r.status_code == 200, r.text
    assert "<img src=x" not in r.text and "&lt;img src=x onerror=alert(1)&gt;" in r.text
    assert "\x07" not in r.text and "\ufeff" not in r.text

    # Open311's XML parses, with the formulas as plain text
    with engine.begin() as conn:
        key = users.add_api_client(conn, default_workflow(), "12345", "hotline")
    r = httpx.get(f"{api.url}/open311/v2/requests.xml", params={"api_key": key}, timeout=30)
    assert r.status_code == 200, r.text
    ET.fromstring(r.content)

    # the search boxes: the case list (also the map's search) and the inbox take % and _
    # literally
    for who, path in (("admin", "/api/v1/cases"), ("ue_hj", "/api/v1/inbox")):
        found = api.get(path, who, q="%_折扣").json()["items"]
        assert [c["address"] for c in found] == [WILD], found
        for wildcard in ("%", "_"):
            found = api.get(path, who, q=wildcard).json()["items"]
            assert found, (path, wildcard)
            assert all(wildcard in json.dumps(c, ensure_ascii=False) for c in found)
            assert len(found) < len(numbers)


# -- limits: lengths, NUL, surrogates, footprints, dates, deep JSON, the citizens' limit ---------


def test_text_footprints_dates_and_depth_are_refused_with_4xx(case_api):
    api = case_api
    lon, lat = casekit.lonlat(COMPOUND)
    base = {"lon": lon, "lat": lat, "crs": "cgcs2000", "channel": "patrol"}

    def report(**fields) -> httpx.Response:
        return api.post("/api/v1/cases", "town1", json={**base, **fields})

    assert_error(report(description="楼顶\x00加盖"), 422, "text.nul")
    raw = json.dumps({**base, "description": "x"}).replace('"x"', '"\\ud800楼顶"')
    r = raw_post(api, raw)
    assert "description 含有无效的字符" in assert_error(r, 422, "request.invalid")["message"]
    assert_error(report(description="长" * 2001), 422, "request.invalid")
    assert_error(report(description="楼顶", address="长" * 201), 422, "request.invalid")
    # 21 MB of description: refused by its length before a byte of it is read
    big = report(description="违" * (21 * 1024 * 1024))
    assert "最多接受" in assert_error(big, 413, "upload.too_large")["message"]
    # within the body's limit, still far over the field's
    long = report(description="违" * 200_000)
    assert "最多 2000 个字符" in assert_error(long, 422, "request.invalid")["message"]
    r = api.post("/api/v1/cases/HJ-2026-000001/urges", "supervisor", json={"note": "长" * 2001})
    assert r.status_code == 422
    # the limits are in the OpenAPI document
    schema = api.get("/openapi.json").json()["components"]["schemas"]["CaseIn"]["properties"]
    assert schema["address"]["anyOf"][0]["maxLength"] == text.LIMITS["address"]
    assert schema["description"]["maxLength"] == text.LIMITS["description"]

    # a footprint is one building's lot: all of China, or 1.2 km square, is refused
    china = [[73.5, 18.0], [135.0, 18.0], [135.0, 53.5], [73.5, 53.5], [73.5, 18.0]]
    r = report(description="楼顶", footprint={"type": "Polygon", "coordinates": [china]})
    assert_error(r, 422, "report.footprint_too_wide")
    d = 600 / 111_000
    square = [[lon - d, lat - d], [lon + d, lat - d], [lon + d, lat + d], [lon - d, lat + d]]
    r = report(
        description="楼顶", footprint={"type": "Polygon", "coordinates": [[*square, square[0]]]}
    )
    assert_error(r, 422, "report.footprint_too_large")
    d = 10 / 111_000
    small = [[lon - d, lat - d], [lon + d, lat - d], [lon + d, lat + d], [lon - d, lat + d]]
    r = report(
        description="楼顶", footprint={"type": "Polygon", "coordinates": [[*small, small[0]]]}
    )
    assert r.status_code == 201, r.text
    assert 250 < r.json()["area_m2"] < 450  # 20 m north-south, about 15 m east-west

    # dates far off: the map's filters, campaigns and their progress
    x0, y0 = casekit.lonlat((-0.5, -0.5))
    x1, y1 = casekit.lonlat((5.5, 5.5))
    for day in ("9999-12-31", "0001-01-01"):
        r = api.get(
            "/api/v1/map/cells", "supervisor", bbox=f"{x0},{y0},{x1},{y1}", zoom=14, **{"from": day}
        )
        assert_error(r, 422, "period.out_of_range")
    r = api.post(
        "/api/v1/campaigns", "supervisor", json={"name": "清零", "start_date": "0001-01-01"}
    )
    assert_error(r, 422, "period.out_of_range")
    r = api.post(
        "/api/v1/campaigns", "supervisor", json={"name": "清零", "start_date": "2026-03-01"}
    )
    assert r.status_code == 201, r.text
    r = api.get(f"/api/v1/campaigns/{r.json()['id']}/progress", "supervisor", as_of="9999-12-31")
    assert_error(r, 422, "period.out_of_range")
    assert_error(
        api.get("/api/v1/assessment", "admin", **{"from": "2026-03-01", "to": "9999-12-31"}), 422
    )

    # JSON nested 100,000 deep
    for body in (b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 100_000 + b"1" + b"}" * 100_000):
        assert_error(raw_post(api, body), 400, "body.too_deep")


def test_the_citizens_limit_is_exact_in_parallel_and_believes_only_trusted_proxies(case_api):
    """Three anonymous reports an hour per address (the fixture's setting): ten at once give
    three cases; behind a trusted proxy the forwarded address is the key."""
    api = case_api
    lon, lat = casekit.lonlat(COMPOUND)
    body = {"lon": lon, "lat": lat, "crs": "cgcs2000", "description": "楼顶加盖"}
    answers: list[int] = []

    def send(headers: dict | None = None) -> int:
        r = httpx.post(f"{api.url}/api/v1/cases", json=body, headers=headers or {}, timeout=60)
        return r.status_code

    threads = [threading.Thread(target=lambda: answers.append(send())) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(answers) == [201] * 3 + [429] * 7

    # the peer is not trusted: a forwarded address is not believed
    assert send({"X-Forwarded-For": "203.0.113.7"}) == 429
    api.settings.trusted_proxies = ["127.0.0.1/32", "10.0.0.0/8"]
    try:
        assert [send({"X-Forwarded-For": "203.0.113.7"}) for _ in range(4)] == [201] * 3 + [429]
        # what the client wrote on the left is not read: the right-most untrusted hop is
        spoofed = {"X-Forwarded-For": "198.51.100.1, 203.0.113.7, 10.1.2.3"}
        assert send(spoofed) == 429
        assert send({"X-Forwarded-For": "198.51.100.1, 10.1.2.3"}) == 201
    finally:
        api.settings.trusted_proxies = []
