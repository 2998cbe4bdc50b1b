"""The monthly ledger (台账) of a town over real HTTP on the hand-built city, with a clock the test
moves from February to April 2026: which cases a month's ledger holds, their state as of the
month's end, the workbook and the CSV read back cell by cell, submissions on time, late and
missing, who may read and submit, and the ``weijian ledger`` commands."""

from __future__ import annotations

import csv
import io
import json
import threading
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import openpyxl
import pytest
from openpyxl.utils import get_column_letter
from sqlalchemy import text

from tests.casekit import (
    COMPOUND,
    HJ,
    RED_FLAG,
    START,
    STREET,
    TOWN1,
    TOWN2,
    Api,
    add_users,
    build_city,
    lonlat,
)
from tests.conftest import serving
from tests.test_evidence import PDF
from weijian.cases.clock import LOCAL, Clock, FixedClock
from weijian.cases.workflow import default_workflow
from weijian.errors import InputError
from weijian.oversight import ledger, periods
from weijian.settings import Settings

HEADERS = [
    "序号",
    "案件编号",
    "当事人",
    "地点",
    "经度",
    "纬度",
    "所属社区",
    "所属小区",
    "来源",
    "类型",
    "责任部门",
    "面积（平方米）",
    "结构类型",
    "月末状态",
    "发现时间",
    "上报时间",
    "现场核查时间",
    "认定时间",
    "处置措施",
    "整改期限",
    "验收时间",
    "销号时间",
    "是否超期",
]
SIGNED_OFF_MEASURES = (
    "现场核查；认定为违法建设；责令停止违法建设（7天）；查封施工现场；"
    "拆除续建部分（强制拆除）；验收；销号"
)
MARCH = f"/api/v1/ledger/{TOWN1}/2026-03"


#: a signed and stamped ledger, scanned
SCAN = PDF + "新建街道2026年3月违法建设台账（已签字盖章）".encode()


def send(api: Api, path: str, who: str, submitter: str | None = "张建国", **fields):
    """A submission as the page sends it: a form with the person's name and the signed scan."""
    scan = fields.pop("scan", ("台账扫描件.pdf", SCAN, "application/pdf"))
    data = {k: v for k, v in {"submitter": submitter, **fields}.items() if v is not None}
    return api.post(path, who, data=data, files={"scan": scan} if scan else None)


def beijing(month: int, day: int, hour: int = 9, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, second, tzinfo=LOCAL)


@pytest.fixture
def ledger_api(engine, tmp_path):
    """``case_api`` with the ledger's routes: the app on the hand-built city, a user per role
    and a clock the test moves."""
    from weijian.api.app import create_app
    from weijian.api.routes import ledger as ledger_routes

    build_city(engine, tmp_path / "city")
    add_users(engine)
    clock = FixedClock(START)
    settings = Settings(evidence_dir=tmp_path / "evidence", max_evidence_mb=2)
    app = create_app(engine, clock=clock, settings=settings)
    if not any(getattr(r, "path", "").startswith("/api/v1/ledger") for r in app.routes):
        app.include_router(ledger_routes.router)
    with serving(app) as url:
        yield Api(url, clock, settings)


def build_history(api: Api) -> dict[str, str]:
    """February to the 25th of March; the case numbers by role in the story."""
    clock = api.clock
    # February: a case dismissed (closed) in February, and a backlog building still open
    clock.set(beijing(2, 10))
    dismissed = api.report("town1", STREET, channel="patrol", address="新建街道8号院")["number"]
    photo = api.photo("ue_hj", dismissed)
    api.act("ue_hj", dismissed, "site_visit", evidence=[photo])
    api.act("ue_hj", dismissed, "dismiss", note="临时施工围挡，不构成违建")
    clock.set(beijing(2, 20))
    backlog = api.report(
        "town1", COMPOUND, track="backlog", channel="patrol", address="江山花园5号楼东侧"
    )["number"]

    # March: a new building from the grid worker's report to sign-off within the month
    clock.set(START)
    signed = api.report(
        "gridder",
        COMPOUND,
        discovered_at=(START - timedelta(hours=20)).isoformat(),
        address="江山花园3号楼楼顶",
        footprint={
            "type": "Polygon",
            "coordinates": [
                [
                    list(lonlat((0.30, 0.30))),
                    list(lonlat((0.31, 0.30))),
                    list(lonlat((0.31, 0.31))),
                    list(lonlat((0.30, 0.31))),
                    list(lonlat((0.30, 0.30))),
                ]
            ],
        },
    )["number"]
    clock.advance(hours=5)
    photo = api.photo("ue_hj", signed)
    # the officer notes the party and the kind of structure on site (optional fields)
    api.act(
        "ue_hj",
        signed,
        "site_visit",
        evidence=[photo],
        data={"party": "王某某", "structure_type": "steel"},
    )
    api.act("ue_hj", signed, "confirm")
    api.act(
        "ue_hj",
        signed,
        "stop_order",
        data={"compliance_days": 7},
        evidence=[api.document("ue_hj", signed)],
    )
    clock.advance(days=2)
    seal_photo = api.photo("ue_hj", signed)
    seal_doc = api.document("ue_hj", signed, "查封决定书")
    api.act("ue_hj", signed, "seal", evidence=[seal_photo, seal_doc], note="拒不停止施工")
    api.act("ue_hj", signed, "demolish_continued", data={"method": "forced"}, evidence=[photo])
    api.act("town1", signed, "verify", evidence=[api.photo("town1", signed)])
    api.act("ue_hj", signed, "sign_off")

    # natural resources determine the backlog building
    clock.set(beijing(3, 5, 10))
    opinion = api.document("nr_hj", backlog, "违法建设性质认定书")
    api.act(
        "nr_hj",
        backlog,
        "determine",
        data={"disposal": "demolish", "party": "李某"},
        evidence=[opinion],
        note="未取得规划许可，应予拆除",
    )
    # reported, never visited: overdue by the month's end
    clock.set(beijing(3, 10))
    overdue = api.report("town1", STREET, channel="patrol", address="新建街道12号楼顶")["number"]
    # the other street's case
    clock.set(beijing(3, 12))
    red_flag = api.report("town2", RED_FLAG, channel="patrol", description="院内私建仓房")["number"]
    # visited in March; confirmed only in April
    clock.set(beijing(3, 20))
    visited = api.report("town1", STREET, channel="leadership", address="新建街道20号")["number"]
    api.act("ue_hj", visited, "site_visit", evidence=[api.photo("ue_hj", visited)])
    clock.set(beijing(3, 25))
    return {
        "dismissed": dismissed,
        "backlog": backlog,
        "signed": signed,
        "overdue": overdue,
        "red_flag": red_flag,
        "visited": visited,
    }


def april(api: Api, cases: dict[str, str]) -> None:
    """On 3 April 10:00: a new report, the visited case confirmed, the dismissed one reopened."""
    api.clock.set(beijing(4, 3, 10))
    cases["april"] = api.report("town1", STREET, channel="patrol", address="新建街道30号")["number"]
    api.act("ue_hj", cases["visited"], "confirm")
    api.act("supervisor", cases["dismissed"], "reopen", note="群众再次反映")


def by_number(rows: list[dict]) -> dict[str, dict]:
    return {r["案件编号"]: r for r in rows}


# -- pure parts --------------------------------------------------------------------------


def test_months_and_due_moments():
    assert periods.parse_month("2026-03").isoformat() == "2026-03-01"
    assert periods.parse_month("2026-3").month == 3
    for bad in ("2026-13", "2026-00", "march", "", "2026/03", "26-03"):
        with pytest.raises(InputError, match="not a month"):
            periods.parse_month(bad)
    with pytest.raises(InputError) as caught:
        periods.parse_month("3/2026")
    assert caught.value.code == "period.month_invalid"
    assert caught.value.message == "月份“3/2026”格式不正确，应为“年-月”，如 2026-03"
    assert caught.value.detail == "'3/2026' is not a month"
    start, end = periods.month_bounds(periods.parse_month("2026-12"))
    assert start == datetime(2026, 12, 1, tzinfo=LOCAL) and start.utcoffset() == timedelta(hours=8)
    assert end == datetime(2027, 1, 1, tzinfo=LOCAL)
    assert end.astimezone(UTC) == datetime(2026, 12, 31, 16, tzinfo=UTC)
    due = periods.due_moment(periods.parse_month("2026-03"), 5)
    assert due == datetime(2026, 4, 6, tzinfo=LOCAL)
    assert periods.due_date(periods.parse_month("2026-03"), 5).isoformat() == "2026-04-05"
    assert ledger.display_width("江山花园3号楼") == 13


def test_measures_say_what_their_fields_say_and_an_empty_ledger_exports():
    wf = default_workflow()
    assert ledger._measure(wf, "demolish", {"method": "self"}) == "拆除（业主自拆）"
    assert ledger._measure(wf, "fine", {"amount_yuan": 20000}) == "罚款（20000元）"
    assert ledger._measure(wf, "fine", {"amount_yuan": 1234.5}) == "罚款（1234.5元）"
    transfer = {"to_department": "x", "to_department_name": "浑江区自然资源局"}
    assert (
        ledger._measure(wf, "transfer", {**transfer, "reason": "outside_remit"})
        == "移交其他部门（浑江区自然资源局，不属本部门管辖）"
    )
    assert ledger._measure(wf, "merge", None) == "合并至其他案件"
    book = openpyxl.load_workbook(
        io.BytesIO(ledger.export_xlsx([], "红旗街道", periods.parse_month("2026-02")))
    )
    assert book.sheetnames == ["新增违建", "存量违建", "说明"]
    for title in ("新增违建", "存量违建"):
        assert book[title]["A1"].value == f"红旗街道{title}台账（2026年2月）"
        assert [c.value for c in book[title][2]] == HEADERS
        assert book[title].auto_filter.ref == "A2:W2"
        assert book[title]["A4"].value == "填报单位（盖章）：红旗街道"  # the sign block
    assert book["说明"]["B3"].value == 0
    assert ledger.export_csv([]).decode("utf-8-sig").splitlines() == [",".join(HEADERS)]


# -- the ledger's content ----------------------------------------------------------------


def test_march_ledger_as_it_stood_at_the_months_end(ledger_api):
    api = ledger_api
    cases = build_history(api)
    # mid-month: a ledger is read, not yet submitted
    early = send(api, f"{MARCH}/submission", "town1")
    assert early.status_code == 409, early.text
    assert early.json()["code"] == "ledger.month_not_over"
    assert early.json()["message"].startswith("2026-03 的台账须在当月结束后报送")
    assert early.json()["detail"] == "the ledger of 2026-03 is sent once the month is over"
    april(api, cases)

    r = api.get(MARCH, "town1")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["town"] == TOWN1 and body["town_name"] == "新建街道" and body["month"] == "2026-03"
    rows = body["rows"]
    # the other street's case, the case closed in February (though reopened in April) and the
    # April report are not in March's ledger
    assert body["count"] == 4
    assert [r["案件编号"] for r in rows] == [
        cases["backlog"],
        cases["signed"],
        cases["overdue"],
        cases["visited"],
    ]
    assert [r["序号"] for r in rows] == [1, 2, 3, 4]
    assert body["counts"] == {"total": 4, "new": 3, "backlog": 1, "overdue": 1}
    row = by_number(rows)

    signed = row[cases["signed"]]
    detail = api.case("ue_hj", cases["signed"])
    assert signed["地点"] == "江山花园3号楼楼顶"
    assert signed["经度"] == round(detail["lon"], 6) and signed["纬度"] == round(detail["lat"], 6)
    assert signed["所属社区"] == "东山社区" and signed["所属小区"] == "江山花园"
    assert signed["来源"] == "网格员报告" and signed["类型"] == "新增"
    assert signed["责任部门"] == detail["department"]["name"] and signed["责任部门"]
    assert abs(signed["面积（平方米）"] - 100.0) < 0.5
    assert signed["月末状态"] == "已销号" and signed["state"] == "signed_off"
    assert signed["发现时间"] == "2026-03-01 13:00"
    assert signed["上报时间"] == "2026-03-02 09:00"
    assert signed["现场核查时间"] == "2026-03-02 14:00"
    assert signed["认定时间"] == "2026-03-02 14:00"
    assert signed["处置措施"] == SIGNED_OFF_MEASURES
    assert signed["验收时间"] == "2026-03-04 14:00"
    assert signed["销号时间"] == "2026-03-04 14:00"
    assert signed["是否超期"] == "否" and signed["overdue"] is False
    assert signed["当事人"] == "王某某" and signed["结构类型"] == "钢结构（彩钢板）"
    assert signed["整改期限"] == "2026-03-09"  # the stop order's 7 days from 2 March

    backlog = row[cases["backlog"]]
    assert backlog["类型"] == "存量" and backlog["track"] == "backlog"
    assert backlog["月末状态"] == "已性质认定"
    assert backlog["处置措施"] == "性质认定并出具处置意见（拆除）"
    assert backlog["认定时间"] == "2026-03-05 10:00"
    assert backlog["上报时间"] == "2026-02-20 09:00" and backlog["发现时间"] == ""
    assert backlog["现场核查时间"] == "" and backlog["是否超期"] == "否"
    assert backlog["当事人"] == "李某" and backlog["结构类型"] == "" and backlog["整改期限"] == ""
    assert backlog["所属小区"] == "江山花园" and backlog["面积（平方米）"] == ""

    overdue = row[cases["overdue"]]
    assert overdue["月末状态"] == "已上报待核查" and overdue["处置措施"] == ""
    assert overdue["是否超期"] == "是" and overdue["overdue"] is True
    assert overdue["来源"] == "巡查发现" and overdue["地点"] == "新建街道12号楼顶"

    # the state at the month's end, not the state now
    visited = row[cases["visited"]]
    assert visited["月末状态"] == "已现场核查" and visited["state"] == "visited"
    assert visited["current_state"] == "confirmed"
    assert api.case("ue_hj", cases["visited"])["state_label"] == "已认定违建"
    assert visited["处置措施"] == "现场核查" and visited["认定时间"] == ""
    assert visited["来源"] == "领导批示" and visited["是否超期"] == "否"
    assert visited["所属社区"] == "" and visited["所属小区"] == ""  # the street only

    # April so far: the reopened case is back, the signed-off one is gone, states are today's
    now = api.get(f"/api/v1/ledger/{TOWN1}/2026-04", "town1").json()
    assert [r["案件编号"] for r in now["rows"]] == [
        cases["dismissed"],
        cases["backlog"],
        cases["overdue"],
        cases["visited"],
        cases["april"],
    ]
    april_rows = by_number(now["rows"])
    assert april_rows[cases["visited"]]["月末状态"] == "已认定违建"
    assert april_rows[cases["dismissed"]]["月末状态"] == "已上报待核查"
    assert "认定不构成违法建设；重新立案" in april_rows[cases["dismissed"]]["处置措施"]
    assert april_rows[cases["dismissed"]]["现场核查时间"] == ""  # a new round after reopening
    # not visited a day after 3 April 10:00 — but the month is not over: not overdue yet
    assert april_rows[cases["april"]]["是否超期"] == "否"
    assert april_rows[cases["overdue"]]["是否超期"] == "是"

    # the other street's ledger holds its own case, unassigned
    red = api.get(f"/api/v1/ledger/{TOWN2}/2026-03", "town2").json()
    assert [r["案件编号"] for r in red["rows"]] == [cases["red_flag"]]
    assert red["rows"][0]["责任部门"] == "待研判" and red["rows"][0]["地点"] == "院内私建仓房"
    # January: nothing yet, but an answer
    empty = api.get(f"/api/v1/ledger/{TOWN1}/2026-01", "town1").json()
    assert empty["count"] == 0 and empty["rows"] == []

    # -- the workbook, cell by cell
    r = api.get(MARCH, "town1", format="xlsx")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    disposition = r.headers["content-disposition"]
    assert disposition.startswith("attachment;")
    assert f"filename*=UTF-8''{quote('台账-新建街道-2026-03.xlsx')}" in disposition
    assert f'filename="ledger-{TOWN1}-2026-03.xlsx"' in disposition
    book = openpyxl.load_workbook(io.BytesIO(r.content))
    assert book.sheetnames == ["新增违建", "存量违建", "说明"]
    new, old, info = book["新增违建"], book["存量违建"], book["说明"]
    col = {h: i for i, h in enumerate(HEADERS)}
    for sheet, title, count in ((new, "新增违建", 3), (old, "存量违建", 1)):
        # the title, then the bold header, frozen and repeated on every printed page
        assert sheet["A1"].value == f"新建街道{title}台账（2026年3月）"
        assert "A1:W1" in {str(r) for r in sheet.merged_cells.ranges}
        assert [c.value for c in sheet[2]] == HEADERS
        assert all(c.font.b for c in sheet[2])
        assert sheet.freeze_panes == "A3"
        assert sheet.auto_filter.ref == f"A2:W{count + 2}"
        assert sheet.print_title_rows == "$1:$2"
        # printed landscape, fitted to the page's width, as many pages down as it takes
        assert sheet.page_setup.orientation == "landscape"
        assert sheet.sheet_properties.pageSetUpPr.fitToPage is True
        assert (sheet.page_setup.fitToWidth, sheet.page_setup.fitToHeight) == (1, 0)
        assert sheet.max_column == 23
        # no blank 是否超期: 是 or 否 on every row
        assert {sheet.cell(r, col["是否超期"] + 1).value for r in range(3, count + 3)} <= {
            "是",
            "否",
        }
        # the block the town signs and stamps, under the table
        block = [c.value for c in sheet[count + 4] if c.value]
        assert block == [
            "填报单位（盖章）：新建街道",
            "填报人：",
            "审核人：",
            "填报日期：　　年　　月　　日",
        ]
        widths = {
            get_column_letter(i): sheet.column_dimensions[get_column_letter(i)].width
            for i in range(1, 24)
        }
        assert all(w and w > 0 for w in widths.values()), widths
        assert all(w <= 60 for w in widths.values()), widths
    # 处置措施 is the widest column of the new track: capped, yet wider than the address
    measures = get_column_letter(col["处置措施"] + 1)
    place = get_column_letter(col["地点"] + 1)
    assert new.column_dimensions[measures].width == 60
    assert new.column_dimensions[measures].width > new.column_dimensions[place].width
    # the signed-off case: the first row of the new track's sheet, numbered from 1
    values = [c.value for c in new[3]]
    assert values[:4] == [1, cases["signed"], "王某某", "江山花园3号楼楼顶"]
    assert values[col["经度"]] == pytest.approx(signed["经度"], abs=1e-9)
    assert values[col["纬度"]] == pytest.approx(signed["纬度"], abs=1e-9)
    lon = get_column_letter(col["经度"] + 1)
    area = get_column_letter(col["面积（平方米）"] + 1)
    assert new[f"{lon}3"].number_format == "0.000000"
    assert new[f"{area}3"].number_format == "0.00"
    assert values[col["所属社区"] : col["责任部门"] + 1] == [
        "东山社区",
        "江山花园",
        "网格员报告",
        "新增",
        signed["责任部门"],
    ]
    assert values[col["面积（平方米）"]] == pytest.approx(signed["面积（平方米）"])
    assert values[col["结构类型"] :] == [
        "钢结构（彩钢板）",
        "已销号",
        "2026-03-01 13:00",
        "2026-03-02 09:00",
        "2026-03-02 14:00",
        "2026-03-02 14:00",
        SIGNED_OFF_MEASURES,
        "2026-03-09",
        "2026-03-04 14:00",
        "2026-03-04 14:00",
        "否",
    ]
    assert [new.cell(r, 2).value for r in (3, 4, 5)] == [
        cases["signed"],
        cases["overdue"],
        cases["visited"],
    ]
    assert new.cell(4, col["是否超期"] + 1).value == "是"
    assert new.cell(5, col["月末状态"] + 1).value == "已现场核查"
    assert [c.value for c in old[3]][:2] == [1, cases["backlog"]]
    assert old.cell(3, col["类型"] + 1).value == "存量"
    assert old.cell(3, col["面积（平方米）"] + 1).value is None
    notes = {row[0].value: row[1].value for row in info.iter_rows(min_row=1, max_col=2)}
    assert notes["镇（街道）"] == "新建街道" and notes["月份"] == "2026-03"
    assert (notes["案件总数"], notes["新增"], notes["存量"], notes["超期"]) == (4, 3, 1, 1)
    assert notes["生成时间"] == "2026-04-03 10:00"
    assert "当前环节" in notes["是否超期"]

    # -- the CSV: one file for both tracks, with a BOM for Excel
    r = api.get(MARCH, "town1", format="csv")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv") and "utf-8" in r.headers["content-type"]
    assert quote("台账-新建街道-2026-03.csv") in r.headers["content-disposition"]
    assert r.content.startswith(b"\xef\xbb\xbf")
    table = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert table[0] == HEADERS
    assert len(table) == 5
    assert [line[1] for line in table[1:]] == [r["案件编号"] for r in rows]
    col = {h: i for i, h in enumerate(HEADERS)}
    assert [line[col["类型"]] for line in table[1:]] == ["存量", "新增", "新增", "新增"]
    assert table[2][col["处置措施"]] == SIGNED_OFF_MEASURES and table[3][col["是否超期"]] == "是"
    area = col["面积（平方米）"]
    assert table[1][area] == "" and float(table[2][area]) == pytest.approx(signed["面积（平方米）"])


def test_a_large_towns_events_are_read_a_chunk_at_a_time(ledger_api, engine, monkeypatch):
    """A town of more than ``EVENT_CHUNK`` cases has its events queried a chunk of cases at a
    time by a second thread on the same connection: the same ledger, whatever the chunk; and a
    ledger that fails half-way stops that thread before the connection is used again."""
    api = ledger_api
    cases = build_history(api)
    april(api, cases)
    whole = api.get(MARCH, "town1").json()
    workbook = api.get(MARCH, "town1", format="xlsx").content
    monkeypatch.setattr(ledger, "EVENT_CHUNK", 1)  # every case a chunk of its own
    chunked = api.get(MARCH, "town1").json()
    assert chunked["count"] == whole["count"] == 4
    assert chunked["rows"] == whole["rows"]
    sheets = openpyxl.load_workbook(io.BytesIO(workbook))
    again = openpyxl.load_workbook(io.BytesIO(api.get(MARCH, "town1", format="xlsx").content))
    for title in ("新增违建", "存量违建"):
        values = [[c.value for c in row] for row in sheets[title].iter_rows()]
        assert [[c.value for c in row] for row in again[title].iter_rows()] == values

    replayed = []

    def fail_at_the_third(wf, c, evs, start, labels):
        replayed.append(c.number)
        if len(replayed) == 3:
            raise RuntimeError("a case that cannot be replayed")
        return replay(wf, c, evs, start, labels)

    replay = ledger._replay
    monkeypatch.setattr(ledger, "_replay", fail_at_the_third)
    with engine.connect() as conn:
        with pytest.raises(RuntimeError, match="cannot be replayed"):
            ledger.ledger_rows(conn, default_workflow(), TOWN1, periods.parse_month("2026-03"))
        assert not [t for t in threading.enumerate() if t.name.startswith("ledger-events")]
        # the connection answers at once: no query of the thread left on it
        assert conn.execute(text("SELECT count(*) FROM case_event")).scalar() > 0
    assert len(replayed) == 3


def test_who_reads_a_ledger_and_bad_requests(ledger_api):
    api = ledger_api
    api.report("town1", STREET, channel="patrol")
    for who, status in (
        ("town1", 200),
        ("supervisor", 200),
        ("admin", 200),
        ("ue_hj", 200),  # the district's department
        ("nr_hj", 200),
        ("town2", 404),  # another street
        ("ue_jy", 404),  # another district's department
        ("community", 404),
        ("gridder", 404),
        ("property", 404),
    ):
        r = api.get(f"/api/v1/ledger/{TOWN1}/2026-03", who)
        assert r.status_code == status, (who, r.text)
    assert api.get(f"/api/v1/ledger/{TOWN1}/2026-03").status_code == 401
    for month in ("2026-13", "202603", "march"):
        r = api.get(f"/api/v1/ledger/{TOWN1}/{month}", "supervisor")
        assert r.status_code == 422, r.text
        assert "YYYY-MM" in r.json()["hint"]
        assert r.json()["code"] == "period.month_invalid"
        assert r.json()["message"] == f"月份“{month}”格式不正确，应为“年-月”，如 2026-03"
    assert api.get(f"/api/v1/ledger/{TOWN1}/2026-03", "supervisor", format="pdf").status_code == (
        422
    )
    for code in ("220602999", HJ, "220602001001"):  # unknown; a district; a community
        assert api.get(f"/api/v1/ledger/{code}/2026-03", "supervisor").status_code == 404


# -- submissions -------------------------------------------------------------------------


def statuses(api: Api, who: str = "supervisor") -> dict[str, tuple[str, str]]:
    r = api.get("/api/v1/ledger/submissions", who, district=HJ, month="2026-03")
    assert r.status_code == 200, r.text
    return {i["town_name"]: (i["status"], i["status_label"]) for i in r.json()["items"]}


def test_submissions_on_time_late_and_missing_and_the_cli(ledger_api, cli, tmp_path, monkeypatch):
    api = ledger_api
    # the commands read the real clock: here it is the test's, whatever today's date
    monkeypatch.setattr(Clock, "now", lambda self: api.clock.now())
    cases = build_history(api)

    api.clock.set(beijing(4, 2, 10))
    assert statuses(api) == {
        "新建街道": ("pending", "待报送"),
        "红旗街道": ("pending", "待报送"),
    }

    api.clock.set(beijing(4, 3, 10))
    for who, status in (("town2", 404), ("gridder", 404), ("community", 404), ("ue_hj", 403)):
        r = send(api, f"{MARCH}/submission", who)
        assert r.status_code == status, (who, r.text)
    r = send(api, f"{MARCH}/submission", "town1", note="3月台账")
    assert r.status_code == 201, r.text
    record = r.json()
    assert record["town_code"] == TOWN1 and record["month"] == "2026-03"
    assert record["case_count"] == 4 and len(record["sha256"]) == 64
    assert record["submitter"] == "张建国" and record["note"] == "3月台账"
    assert record["status"] == "on_time" and record["status_label"] == "按时报送"
    assert record["due_date"] == "2026-04-05"
    assert send(api, "/api/v1/ledger/220602999/2026-03/submission", "admin").status_code == 404
    assert send(api, f"/api/v1/ledger/{TOWN1}/2026-13/submission", "admin").status_code == 422

    # the last second of the due day: the other street is still on time
    api.clock.set(beijing(4, 5, 23, 59, 59))
    assert statuses(api) == {
        "新建街道": ("on_time", "按时报送"),
        "红旗街道": ("pending", "待报送"),
    }
    api.clock.set(beijing(4, 6, 0, 0, 0))
    assert statuses(api) == {
        "新建街道": ("on_time", "按时报送"),
        "红旗街道": ("missing", "未报送（已逾期）"),
    }
    listed = api.get("/api/v1/ledger/submissions", "ue_hj", district=HJ, month="2026-03").json()
    assert listed["district_name"] == "浑江区" and listed["due_date"] == "2026-04-05"
    assert listed["counts"] == {"on_time": 1, "late": 0, "missing": 1, "pending": 0}
    first = listed["items"][0]
    assert first["town_code"] == TOWN1 and first["case_count"] == 4
    assert first["submitter"] == "张建国" and first["times"] == 1
    assert datetime.fromisoformat(first["submitted_at"]) == beijing(4, 3, 10)
    assert listed["items"][1]["submitted_at"] is None and listed["items"][1]["times"] == 0

    # the CLI sees the same, on the same clock
    missing = "未报送（已逾期）"
    result = cli("ledger", "submissions", "--district", HJ, "--month", "2026-03", "--json")
    assert result.exit_code == 0, result.output
    by_cli = {i["town_code"]: i["status_label"] for i in json.loads(result.stdout)}
    assert by_cli == {TOWN1: "按时报送", TOWN2: missing}
    result = cli("ledger", "submissions", "--district", HJ, "--month", "2026-03")
    assert result.exit_code == 0, result.output
    assert "按时报送" in result.stdout and missing in result.stdout
    assert "新建街道" in result.stdout and "红旗街道" in result.stdout

    # a late submission, and a correction that does not make an on-time one late
    api.clock.set(beijing(4, 8, 15))
    r = send(api, f"/api/v1/ledger/{TOWN2}/2026-03/submission", "town2", submitter="李秀英")
    assert r.status_code == 201, r.text
    assert r.json()["status_label"] == "逾期报送" and r.json()["case_count"] == 1
    r = send(api, f"{MARCH}/submission", "admin", submitter="王科长", note="更正")
    assert r.status_code == 201 and r.json()["submitter"] == "王科长"
    assert statuses(api) == {
        "新建街道": ("on_time", "按时报送"),
        "红旗街道": ("late", "逾期报送"),
    }
    latest = api.get("/api/v1/ledger/submissions", "admin", district=HJ, month="2026-03").json()
    assert latest["items"][0]["times"] == 2 and latest["items"][0]["note"] == "更正"
    assert datetime.fromisoformat(latest["items"][0]["first_submitted_at"]) == beijing(4, 3, 10)

    # who sees the list: the district and the city; a town its own row; nobody else
    assert [i["town_code"] for i in statuses_items(api, "town1")] == [TOWN1]
    for who in ("gridder", "ue_jy", "community"):
        r = api.get("/api/v1/ledger/submissions", who, district=HJ, month="2026-03")
        assert r.status_code == 404, (who, r.text)
        assert r.json()["code"] == "district.not_found"
        assert r.json()["message"].startswith(f"未找到区县 {HJ}（或不在您的权限范围内）")
    assert (
        api.get(
            "/api/v1/ledger/submissions", "supervisor", district="999", month="2026-03"
        ).status_code
        == 404
    )
    assert (
        api.get("/api/v1/ledger/submissions", "supervisor", district=HJ, month="3/2026").status_code
        == 422
    )

    # -- the CLI shows the ledger and writes the workbook and the CSV
    xlsx, csv_path = tmp_path / "台账.xlsx", tmp_path / "台账.csv"
    result = cli(
        "ledger", "show", "--town", TOWN1, "--month", "2026-03", "--xlsx", str(xlsx),
        "--csv", str(csv_path),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert cases["signed"] in result.stdout and "已销号" in result.stdout
    book = openpyxl.load_workbook(xlsx)
    assert book.sheetnames == ["新增违建", "存量违建", "说明"]
    assert book["新增违建"]["B3"].value == cases["signed"]  # under the title and the header
    assert book["存量违建"]["B3"].value == cases["backlog"]
    assert csv_path.read_bytes().startswith(b"\xef\xbb\xbf")
    shown = json.loads(
        cli("ledger", "show", "--town", TOWN1, "--month", "2026-03", "--json").stdout
    )
    assert shown["count"] == 4
    assert by_number(shown["rows"])[cases["visited"]]["月末状态"] == "已现场核查"
    assert cli("ledger", "show", "--town", "999", "--month", "2026-03").exit_code == 3
    assert cli("ledger", "show", "--town", TOWN1, "--month", "2026-13").exit_code == 2
    # the operator at the terminal submits February for the other street on April 8: late
    result = cli("ledger", "submit", "--town", TOWN2, "--month", "2026-02", "--by", "王科长")
    assert result.exit_code == 0, result.output
    assert "逾期报送" in result.output
    feb = api.get("/api/v1/ledger/submissions", "admin", district=HJ, month="2026-02").json()
    assert feb["items"][1]["submitter"] == "王科长" and feb["items"][1]["case_count"] == 0


def statuses_items(api: Api, who: str) -> list[dict]:
    r = api.get("/api/v1/ledger/submissions", who, district=HJ, month="2026-03")
    assert r.status_code == 200, r.text
    return r.json()["items"]


def test_sheet_rows_drop_what_xml_forbids_and_keep_spaces():
    from weijian.oversight import xlsx_rows

    row = ["a\x01b", " \x02c<", 3, True, None, 2.5]
    xml = xlsx_rows.columns_xml([[value] for value in row], 5, {4: 7})
    assert "\x01" not in xml and "\x02" not in xml
    assert '<c r="A5" t="inlineStr"><is><t>ab</t></is></c>' in xml
    assert '<t xml:space="preserve"> c&lt;</t>' in xml
    assert '<c r="C5" t="n"><v>3</v></c><c r="D5" t="b"><v>1</v></c><c r="E5" s="7"/>' in xml
    assert '<c r="F5" t="n"><v>2.5</v></c></row>' in xml


def test_sheet_rows_written_by_column_read_back_cell_by_cell():
    """Texts that repeat, are empty, need escaping or keep their spaces; a column of several
    kinds; numbers; a styled column with empty cells: every cell where it belongs."""
    from xml.etree import ElementTree

    from weijian.oversight import xlsx_rows

    columns = [
        ["东山社区", "东山社区", "", None, "A&B<C>"],
        ["2026-03-01 09:00", "尾部空格 ", "\u3000全角空格", "z", "=1+1"],
        [1.5, None, "", 2, True],
        [0.1, 0.2, 126.123456, 1e-07, -3],
        [None, "甲", None, "乙", None],
    ]
    xml = xlsx_rows.columns_xml(columns, 3, {4: 9})
    ns = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    root = ElementTree.fromstring(f'<sheetData xmlns="{ns}">{xml}</sheetData>')
    assert [row.get("r") for row in root] == ["3", "4", "5", "6", "7"]
    cells = {}
    for row in root:
        for c in row:
            assert c.get("r").endswith(row.get("r"))
            text = c.find(f"{{{ns}}}is/{{{ns}}}t")
            value = c.find(f"{{{ns}}}v")
            shown = text.text if text is not None else value.text if value is not None else None
            cells[c.get("r")] = (c.get("t"), shown, c.get("s"))
    assert cells == {
        "A3": ("inlineStr", "东山社区", None),
        "A4": ("inlineStr", "东山社区", None),
        "A7": ("inlineStr", "A&B<C>", None),
        "B3": ("inlineStr", "2026-03-01 09:00", None),
        "B4": ("inlineStr", "尾部空格 ", None),
        "B5": ("inlineStr", "\u3000全角空格", None),
        "B6": ("inlineStr", "z", None),
        "B7": ("inlineStr", "=1+1", None),  # a text, never a formula (no <f>)
        "C3": ("n", "1.5", None),
        "C6": ("n", "2", None),
        "C7": ("b", "1", None),
        "D3": ("n", "0.1", None),
        "D4": ("n", "0.2", None),
        "D5": ("n", "126.123456", None),
        "D6": ("n", "1e-07", None),
        "D7": ("n", "-3", None),
        "E3": (None, None, "9"),
        "E4": ("inlineStr", "甲", "9"),
        "E5": (None, None, "9"),
        "E6": ("inlineStr", "乙", "9"),
        "E7": (None, None, "9"),
    }
    assert '<t xml:space="preserve">尾部空格 </t>' in xml
    with pytest.raises(ValueError, match="column 1 has 1 values, not 2"):
        xlsx_rows.columns_xml([[1, 2], [3]], 1, {})


def test_cell_changes_finds_the_few_texts_a_workbook_must_not_take_as_they_are():
    from weijian.text import cell, cell_changes

    plain = ["东山社区", "2026-03-01 09:00", "a-b", "x=1", "多行\n文字", ""]
    assert cell_changes(plain) == {}
    risky = [
        "=1+1",
        "+86",
        "-3",
        "@a",
        "\tx",
        "\rx",
        "a\x07b",
        "\ufeffa",
        "好\n=不是开头",
        "\ud800",
    ]
    assert (
        cell_changes(plain + risky)
        == {t: cell(t) for t in risky if cell(t) != t}
        == {
            "=1+1": "'=1+1",
            "+86": "'+86",
            "-3": "'-3",
            "@a": "'@a",
            "\tx": "'\tx",
            "\rx": "'\rx",
            "a\x07b": "ab",
            "\ufeffa": "a",
            "\ud800": "",
        }
    )
