"""The dashboard's API (统计, GET /api/v1/stats): totals equal the sum of the ranking rows and
the assessment's and the campaign's own answers; a district sees only its district; periods
and bad input; a ranking table as a workbook; the inbox filtered by a grid."""

from __future__ import annotations

import io

from openpyxl import load_workbook

from tests.casekit import HJ, JY, TOWN1, TOWN2

SUMMED = ("reported", "signed_off", "backlog_open", "overdue", "stalled", "urges_open")


def check_totals_add_up_and_match_the_assessment_and_the_campaign(city):
    api = city.api
    r = api.get("/api/v1/stats", "supervisor", period="2026-03")
    assert r.status_code == 200, r.text
    s = r.json()
    assert s["scope"]["name"] == "全市" and s["period"]["label"] == "2026年3月"
    assert api.get("/api/v1/stats", "supervisor").json()["period"] == s["period"]  # this month
    t = s["totals"]
    # six cases reported in March (five in 浑江区, one in 江源区); one backlog case signed off
    assert (t["reported"], t["signed_off"], t["backlog_open"]) == (7, 1, 3)
    assert t["clear_baseline"] == 4 and t["clear_signed_off"] == 1 and t["clear_percent"] == 25.0
    assert t["overdue"] == sum(t["overdue_by_stage"].values()) > 0
    for level in ("district", "town", "community"):
        rows = s["tables"][level]
        for key in SUMMED:
            assert sum(r[key] for r in rows) == t[key], (level, key)
    towns = {r["code"]: r for r in s["tables"]["town"]}
    assert towns[TOWN1]["clear_signed_off"] == 1 and towns[TOWN2]["clear_percent"] == 0.0
    # the scores and ranks are the assessment's
    a = api.get("/api/v1/assessment", "supervisor", month="2026-03", level="town").json()
    assert {u["code"]: (u["score"], u["rank"]) for u in a["units"]} == {
        code: (r["score"], r["rank"]) for code, r in towns.items()
    }
    # 清零 is the campaign's progress
    p = api.get(f"/api/v1/campaigns/{city.campaign}/progress", "supervisor", as_of="2026-03-24")
    city_row = p.json()["levels"]["city"][0]
    assert (city_row["baseline"], city_row["percent"]) == (t["clear_baseline"], t["clear_percent"])
    assert s["trend"]["campaign"][-1]["signed_off"] == 1
    assert [m["month"] for m in s["trend"]["monthly"]] == ["2026-03"]
    assert s["trend"]["monthly"][0]["reported"] == t["reported"]
    # a quarter and a custom range give the same figures here
    q = api.get("/api/v1/stats", "supervisor", period="2026-Q1").json()
    assert q["period"]["from"] == "2026-01-01" and q["totals"]["reported"] == 7
    assert [m["month"] for m in q["trend"]["monthly"]] == ["2026-01", "2026-02", "2026-03"]
    c = api.get("/api/v1/stats", "supervisor", **{"from": "2026-03-01", "to": "2026-03-31"}).json()
    assert c["totals"] == t


def check_a_district_sees_only_its_district(city):
    s = city.api.get("/api/v1/stats", "cg_jy", period="2026").json()
    assert s["scope"] == {"level": "district", "code": JY, "name": "江源区", "label": "区县"}
    assert "district" not in s["tables"]
    assert {r["chain"][0] for r in s["tables"]["town"]} == {JY}
    assert s["totals"]["reported"] == 1 and s["totals"]["backlog_open"] == 0
    hj = city.api.get("/api/v1/stats", "cg_hj", period="2026").json()
    assert hj["totals"]["reported"] == 6 and hj["scope"]["code"] == HJ


def check_bad_input_is_a_422_in_chinese(city):
    api = city.api
    for query, code in (
        ({"from": "2026-03-01"}, "period.missing"),
        ({"period": "2026-13"}, "stats.period_invalid"),
        ({"period": "2026-Q5"}, "stats.period_invalid"),
        ({"from": "2026-03-05", "to": "2026-03-01"}, "period.reversed"),
        ({"period": "2026-03", "format": "xlsx", "table": "street"}, "stats.table_invalid"),
    ):
        r = api.get("/api/v1/stats", "supervisor", **query)
        assert r.status_code == 422, (query, r.text)
        assert r.json()["code"] == code
    r = api.get("/api/v1/stats", "gridder", period="2026-03")
    assert r.status_code == 403 and "网格员" in r.json()["message"]


def check_a_ranking_table_as_a_workbook(city):
    api = city.api
    s = api.get("/api/v1/stats", "supervisor", period="2026-03").json()
    r = api.get(
        "/api/v1/stats", "supervisor", period="2026-03", format="xlsx", table="town", sort="clear"
    )
    assert r.status_code == 200
    book = load_workbook(io.BytesIO(r.content))
    sheet = book.worksheets[0]
    assert sheet.title == "镇（街道）排名"
    assert "全市" in sheet["A1"].value and "2026年3月" in sheet["A1"].value
    assert "导出日期" in sheet["A2"].value and "2026-03-01 至 2026-03-31" in sheet["A2"].value
    headers = [c.value for c in sheet[3]]
    assert headers[:6] == ["综合排名", "清零排名", "编码", "名称", "新增", "办结销号"]
    body = list(sheet.iter_rows(min_row=4, values_only=True))
    assert body[-1][0] == "合计" and body[-1][headers.index("新增")] == s["totals"]["reported"]
    assert [row[1] for row in body[:-1] if row[1] is not None] == sorted(
        row[1] for row in body[:-1] if row[1] is not None
    )
    assert book["指标说明"]["A1"].value == "新增"


def check_the_inbox_takes_a_grid(city):
    """The dashboard's links to a grid's cases on the workbench: ?grid=CODE at any level."""
    api = city.api

    def inbox(**query):
        return api.get("/api/v1/inbox", "nr_hj", **query).json()["items"]

    everything = inbox(overdue="true")
    by_town = {
        town: [
            i["number"]
            for i in api.get("/api/v1/inbox", "nr_hj", grid=town, overdue="true").json()["items"]
        ]
        for town in (TOWN1, TOWN2)
    }
    assert by_town[TOWN2] == [city.numbers["red_flag_backlog"]]
    assert sorted(by_town[TOWN1] + by_town[TOWN2]) == sorted(i["number"] for i in everything)
    assert inbox(grid=HJ, overdue="true") == everything


def test_the_dashboard_api(city):
    """One city built for all the checks (each build takes seconds)."""
    check_totals_add_up_and_match_the_assessment_and_the_campaign(city)
    check_a_district_sees_only_its_district(city)
    check_bad_input_is_a_422_in_chinese(city)
    check_a_ranking_table_as_a_workbook(city)
    check_the_inbox_takes_a_grid(city)


def test_a_city_without_cases_has_a_dashboard_of_zeros(case_api):
    r = case_api.get("/api/v1/stats", "supervisor", period="2026-03")
    assert r.status_code == 200, r.text
    totals = r.json()["totals"]
    assert totals is not None and not any(totals[key] for key in SUMMED)
    town = case_api.get("/api/v1/stats", "town1", period="2026-03")
    assert town.status_code == 200, town.text
