"""Assessment, clear-to-zero and responsibility tracing on a small history whose every figure
is worked out by hand below; and a property test: at every level, a unit's counts are the sum
of its children's, whatever the cases."""

from __future__ import annotations

import itertools
import random
from datetime import date, datetime, timedelta

import pytest
from openpyxl import load_workbook
from sqlalchemy import text

from tests import city
from tests.casekit import COMPOUND, GRID_CHAINS, RED_FLAG, START, STREET, TOWN1, TOWN2
from tests.test_ledger import send
from weijian.cases.clock import LOCAL, Clock
from weijian.errors import InputError
from weijian.oversight import indicators

MARCH_APRIL = {"from": "2026-03-01", "to": "2026-04-30"}
#: the counts made of cases; the towns' ledgers (LEDGER_COUNTS) are counted at the town and
#: summed above it, never below
CASE_KEYS = tuple(
    k
    for k in indicators.UNIT_COUNTS
    if k not in indicators.LEDGER_COUNTS and k not in indicators.PATROL_COUNTS
)
#: the counts a unit's parent sums (the period's length is every unit's own)
SUMMED = tuple(k for k in indicators.UNIT_COUNTS if k != "period_days")


@pytest.fixture
def history(case_api):
    """The hand-worked history (START is Monday 2026-03-02 09:00 Beijing time).

    新建街道 (town1):
      A  grid worker at the compound, found 20 h before: reported on time; visited after 5 h
         (on time); confirmed, stopped, demolished, verified and signed off on day 2
      B  property company at the compound, found 25 h before: reported late; never visited
      C  town patrol in the street: visited 25 h after the report (late)
      D  a citizen in the street, anonymous (not proactive): never visited
      F  town patrol 10 m from A on day 3: a rebound of A; visited after 2 h (on time)
    红旗街道 (town2):
      E  town patrol, no department decides there: never visited
    """
    api = case_api
    a = api.report("gridder", COMPOUND, discovered_at=(START - timedelta(hours=20)).isoformat())
    b = api.report("property", COMPOUND, discovered_at=(START - timedelta(hours=25)).isoformat())
    c = api.report("town1", STREET, channel="patrol")
    d = api.report(None, STREET)
    e = api.report("town2", RED_FLAG, channel="patrol")
    api.clock.advance(hours=5)
    api.act("ue_hj", a["number"], "site_visit", evidence=[api.photo("ue_hj", a["number"])])
    api.clock.set(START + timedelta(hours=25))
    api.act("ue_hj", c["number"], "site_visit", evidence=[api.photo("ue_hj", c["number"])])
    api.clock.set(START + timedelta(days=2))
    n = a["number"]
    api.act("ue_hj", n, "confirm")
    api.act(
        "ue_hj", n, "stop_order", data={"compliance_days": 7}, evidence=[api.document("ue_hj", n)]
    )
    photo = api.photo("ue_hj", n)
    api.act("ue_hj", n, "demolish_continued", data={"method": "self"}, evidence=[photo])
    api.act("ue_hj", n, "verify", evidence=[api.photo("ue_hj", n)])
    api.act("ue_hj", n, "sign_off")
    api.clock.set(START + timedelta(days=3))
    f = api.report("town1", (0.31, 0.3), channel="patrol")
    assert f["flags"]["rebound"]["of"] == n
    api.clock.advance(hours=2)
    api.act("ue_hj", f["number"], "site_visit", evidence=[api.photo("ue_hj", f["number"])])
    api.clock.set(datetime(2026, 5, 1, 10, 0, tzinfo=LOCAL))
    return {k: v["number"] for k, v in dict(a=a, b=b, c=c, d=d, e=e, f=f).items()}


def unit(result: dict, code) -> dict:
    return next(u for u in result["units"] if u["code"] == code)


def value(row: dict, code: str):
    return next(i["value"] for i in row["indicators"] if i["code"] == code)


def test_each_indicator_by_hand(case_api, history):
    # 新建街道 sent its March ledger on 3 April (on time: due by 5 April), never February's
    case_api.clock.set(datetime(2026, 4, 3, 10, 0, tzinfo=LOCAL))
    sent = send(case_api, f"/api/v1/ledger/{TOWN1}/2026-03/submission", "town1")
    assert sent.status_code == 201, sent.text
    case_api.clock.set(datetime(2026, 5, 1, 10, 0, tzinfo=LOCAL))
    r = case_api.get("/api/v1/assessment", "supervisor", level="town", **MARCH_APRIL)
    assert r.status_code == 200, r.text
    result = r.json()
    town1, town2 = unit(result, TOWN1), unit(result, TOWN2)
    assert town1["name"] == "新建街道" and town2["name"] == "红旗街道"
    assert town1["counts"] == {
        "reported": 5,  # A B C D F
        "proactive": 4,  # all but the citizen's D
        "reports_due": 2,  # A (grid worker) and B (property company)
        "reports_on_time": 1,  # A
        "visits_on_time": 2,  # A, F
        "visits_late": 1,  # C
        "visits_overdue": 2,  # B, D
        "disposals_on_time": 1,  # A signed off on day 2, due after 30 days
        "disposals_late": 0,
        "disposals_overdue": 4,  # B C D F: due in April, not signed off by its end
        "signed_off": 1,  # A
        "open_at_start": 0,
        "overdue_open": 2,  # B, D
        "rebounds": 1,  # F
        "transfers_out": 0,
        "transfers_in": 0,
        "urges": 0,  # urging: tests/test_inbox.py
        "urges_answered_on_time": 0,
        # the ledgers due in the period: February's (by 5 March) and March's (by 5 April);
        # April's is due in May, after it
        "ledgers_due": 2,
        "ledgers_on_time": 1,  # March's
        # patrols (tests/test_patrol_tracks.py): 江山花园, never patrolled; 61 days
        "compounds": 1,
        "compounds_patrolled": 0,
        "patrols": 0,
        "period_days": 61,
        # no reporter rated a case (tests/test_public_api.py rates one)
        "ratings": 0,
        "rating_points": 0,
        "rating_full": 0,
    }
    assert town2["counts"]["ledgers_due"] == 2 and town2["counts"]["ledgers_on_time"] == 0
    assert value(town1, "ledger_on_time") == pytest.approx(1 / 2)
    assert value(town1, "found") == 5
    assert value(town1, "proactive_share") == pytest.approx(4 / 5)
    assert value(town1, "report_on_time") == pytest.approx(1 / 2)
    assert value(town1, "visit_on_time") == pytest.approx(2 / 5)  # overdue ones count against
    assert value(town1, "disposal_on_time") == pytest.approx(1 / 5)
    assert value(town1, "sign_off_rate") == pytest.approx(1 / 5)
    assert value(town1, "overdue_open") == 2
    assert value(town1, "rebound_rate") == pytest.approx(1 / 5)
    assert value(town2, "report_on_time") is None  # no report had a deadline there
    assert value(town2, "visit_on_time") == 0
    # weighted score out of 100 (weights 10 15 10 20 15 15 5 10, 5 for answering urges and,
    # since the definitions' third version, 5 for the ledgers; counts scored between the
    # lowest and the highest unit; lower-is-better reversed; a rate over nothing — no urge, no
    # report due — scores in full: nothing was due, nothing missed):
    # town1: 10·1 + 15·0.8 + 10·0.5 + 20·0.4 + 15·0.2 + 15·0.2 + 5·0 + 10·0.8 + 5·1 + 5·0.5
    #        = 56.5 of 110
    # town2: 10·0 + 15·1 + 10·1 + 20·0 + 15·0 + 15·0 + 5·1 + 10·1 + 5·1 + 5·0 = 45 of 110
    assert town1["score"] == pytest.approx(51.36) and town2["score"] == pytest.approx(40.91)
    answered = next(i for i in town2["indicators"] if i["code"] == "report_on_time")
    assert answered["value"] is None and answered["score"] == 1.0 and answered["empty"] is True
    assert (town1["rank"], town2["rank"]) == (1, 2)

    companies = case_api.get(
        "/api/v1/assessment/property-companies", "supervisor", **MARCH_APRIL
    ).json()["companies"]
    assert [c["code"] for c in companies] == ["property"]
    assert companies[0]["counts"] == {
        "reports": 1,  # B
        "reports_due": 1,
        "reports_on_time": 0,  # B was late
        "found_by_others": 2,  # A (grid worker) and F (patrol) in its compound
    }
    assert companies[0]["compound"] == "江山花园"


def test_levels_add_up_and_grids_outside_lower_levels_are_their_own_child(case_api, history):
    levels = case_api.get("/api/v1/assessment/levels", "supervisor", **MARCH_APRIL).json()
    city_row = levels["city"][0]
    district = next(u for u in levels["district"] if u["code"] == "220602")
    assert city_row["counts"] == district["counts"]  # 江源区 has no case
    communities = [u for u in levels["community"] if u["chain"][:2] == ["220602", TOWN1]]
    assert {u["code"] for u in communities} == {"220602001001", None}  # C and D lie outside it
    assert next(u for u in communities if u["code"] is None)["name"] == "（未划入下级网格）"
    assert next(u for u in communities if u["code"] == "220602001001")["counts"]["reported"] == 3
    town1 = next(u for u in levels["town"] if u["code"] == TOWN1)
    for key in CASE_KEYS:
        assert town1["counts"][key] == sum(u["counts"][key] for u in communities)
    # the ledgers are the town's own: none below it, its district's the sum of its towns'
    assert town1["counts"]["ledgers_due"] == 2
    assert all(u["counts"]["ledgers_due"] == 0 for u in communities)
    towns = [u for u in levels["town"] if u["chain"][0] == "220602"]
    assert district["counts"]["ledgers_due"] == sum(u["counts"]["ledgers_due"] for u in towns)


def test_tracing_names_every_late_or_missing_step(case_api, history):
    r = case_api.get("/api/v1/assessment/tracing", "supervisor", grid=TOWN1, **MARCH_APRIL)
    assert r.status_code == 200, r.text
    problems = r.json()["problems"]
    found = {(p["case"], p["step"], p["status"]) for p in problems}
    h = history
    assert found == {
        (h["b"], "report", "late"),
        (h["b"], "site_visit", "missing"),
        (h["c"], "site_visit", "late"),
        (h["d"], "site_visit", "missing"),
        (h["b"], "disposal", "missing"),
        (h["c"], "disposal", "missing"),
        (h["d"], "disposal", "missing"),
        (h["f"], "disposal", "missing"),
        (None, "ledger", "missing"),  # March's ledger, due 6 April, never sent
    }
    late_report = next(p for p in problems if p["step"] == "report")
    assert late_report["unit"] == "物业公司报告" and "property-姓名" in late_report["person"]
    assert "周敏" in late_report["grid_people"]  # the compound's responsible person
    visit = next(p for p in problems if p["case"] == h["c"] and p["step"] == "site_visit")
    assert visit["unit"] == "浑江区城市管理行政执法局"
    assert visit["person"] == "未指派承办人" and "孙丽" in visit["grid_people"]
    ledger = next(p for p in problems if p["step"] == "ledger")
    assert ledger["unit"] == "新建街道" and "孙丽" in ledger["person"]
    assert (
        case_api.get("/api/v1/assessment/tracing", "town2", grid=TOWN1, **MARCH_APRIL).status_code
        == 404
    )


def test_assessment_xlsx_reads_back(case_api, history):
    import io

    r = case_api.get("/api/v1/assessment", "supervisor", level="town", format="xlsx", **MARCH_APRIL)
    assert r.status_code == 200
    book = load_workbook(io.BytesIO(r.content))
    sheet = book["镇（街道）考评"]
    headers = [c.value for c in sheet[1]]
    assert headers[:4] == ["排名", "编码", "名称", "综合得分"]
    assert "1日内现场核查率（%）" in headers and "发现违建数（件）" in headers
    assert sheet.freeze_panes == "A2" and sheet.auto_filter.ref.startswith("A1:")
    first = [c.value for c in sheet[2]]
    # 54 of 110: no ledger was sent (test_each_indicator_by_hand works the score out)
    assert first[:4] == [1, TOWN1, "新建街道", 49.09]
    assert first[headers.index("1日内现场核查率（%）")] == 40
    second = [c.value for c in sheet[3]]
    assert second[headers.index("1日内上报率（%）")] == "无应办事项"
    info = book["说明"]
    assert info["B1"].value == "2026-03-01 至 2026-04-30"
    # every indicator with its weight and its formula, and the rules of the score
    explained = {row[0]: row[1:] for row in info.iter_rows(values_only=True) if row[0]}
    assert "按无失分计" in explained["无应办事项"][0]
    assert explained["1日内现场核查率"][0] == 20
    assert explained["1日内现场核查率"][1].startswith(
        "（按时核查数）÷（按时核查数＋超时核查数＋超期未核查数），越高越好"
    )
    assert "最小值至最大值" in explained["发现违建数"][1]


def test_clear_to_zero_campaign(case_api, engine, tmp_path):
    api = case_api
    backlog = [
        api.report("town1", STREET, track="backlog", channel="patrol")["number"],
        api.report("town1", (1.2, 1.4), track="backlog", channel="patrol")["number"],
        api.report("town1", COMPOUND, track="backlog", channel="patrol")["number"],
        api.report("town2", RED_FLAG, track="backlog", channel="patrol")["number"],
    ]
    api.report("town1", STREET, channel="patrol")  # a new case: not in the baseline
    api.clock.set(START + timedelta(days=1))
    r = api.post(
        "/api/v1/campaigns",
        "supervisor",
        json={"name": "2026年存量违建清零行动", "start_date": "2026-03-03"},
    )
    assert r.status_code == 201, r.text
    campaign = r.json()
    assert campaign["baseline"] == 4

    api.clock.set(datetime(2026, 3, 20, 10, tzinfo=LOCAL))
    api.sign_off_backlog(backlog[2])  # the compound's, in March
    api.clock.set(datetime(2026, 4, 10, 10, tzinfo=LOCAL))
    api.sign_off_backlog(backlog[3])  # 红旗街道's, in April
    api.clock.set(datetime(2026, 4, 30, 18, tzinfo=LOCAL))

    progress = api.get(f"/api/v1/campaigns/{campaign['id']}/progress", "supervisor").json()
    levels = progress["levels"]
    city_row = levels["city"][0]
    assert (city_row["baseline"], city_row["signed_off"], city_row["remaining"]) == (4, 2, 2)
    assert city_row["percent"] == 50.0
    assert city_row["trend"] == [
        {"month": "2026-03", "signed_off": 1, "remaining": 3, "percent": 25.0},
        {"month": "2026-04", "signed_off": 2, "remaining": 2, "percent": 50.0},
    ]
    towns = {u["code"]: u for u in levels["town"]}
    assert (towns[TOWN1]["baseline"], towns[TOWN1]["signed_off"]) == (3, 1)
    assert (towns[TOWN2]["baseline"], towns[TOWN2]["signed_off"]) == (1, 1)
    assert towns[TOWN2]["percent"] == 100.0
    for lvl, lower in (
        ("city", "district"),
        ("district", "town"),
        ("town", "community"),
        ("community", "compound"),
    ):
        for row in levels[lvl]:
            children = [u for u in levels[lower] if u["chain"][:-1] == row["chain"]]
            for key in ("baseline", "signed_off", "remaining"):
                assert row[key] == sum(u[key] for u in children), (lvl, row["code"], key)

    # new boundaries do not rewrite history: 新建街道 grows to take in 红旗街道's west
    city.new_towns(
        engine,
        tmp_path / "towns3",
        [
            (TOWN1, "新建街道", "孙丽", city.box(0, 0, 3.5, 2)),
            (TOWN2, "红旗街道", "吴刚", city.box(3.5, 0, 4, 2)),
        ],
    )
    frozen = api.get(
        f"/api/v1/campaigns/{campaign['id']}/progress", "supervisor", level="town"
    ).json()["levels"]["town"]
    assert {u["code"]: u["baseline"] for u in frozen} == {TOWN1: 3, TOWN2: 1}
    current = api.get(
        f"/api/v1/campaigns/{campaign['id']}/progress", "supervisor", level="town", grids="current"
    ).json()["levels"]["town"]
    assert {u["code"]: u["baseline"] for u in current} == {TOWN1: 4}
    assert (
        api.post(
            "/api/v1/campaigns", "gridder", json={"name": "x", "start_date": "2026-03-03"}
        ).status_code
        == 403
    )
    assert (
        api.post(
            "/api/v1/campaigns", "supervisor", json={"name": "x", "start_date": "2027-01-01"}
        ).status_code
        == 422
    )
    missing = api.get("/api/v1/campaigns/999/progress", "supervisor")
    assert missing.status_code == 404
    assert missing.json()["code"] == "campaign.not_found"
    assert missing.json()["message"] == "没有编号为 999 的清零行动，请核对编号"


def test_definitions_are_data(case_api, history):
    api = case_api
    document = api.get("/api/v1/assessment/definitions", "supervisor").json()
    # the seeded third version counts the towns' ledgers, the fourth the patrol tracks, the
    # fifth the reporters' ratings
    assert document["version"] == 5
    document = {k: v for k, v in document.items() if k != "version"}
    document["indicators"] = [
        {
            "code": "visits",
            "name": "核查及时率",
            "numerator": ["visits_on_time"],
            "denominator": ["visits_on_time", "visits_late", "visits_overdue"],
            "direction": "higher",
            "weight": 1,
            "unit": "%",
        }
    ]
    bad = dict(
        document,
        indicators=[
            {
                "code": "x",
                "name": "x",
                "numerator": ["nonsense"],
                "denominator": [],
                "direction": "up",
                "weight": -1,
            }
        ],
    )
    r = api.post("/api/v1/assessment/definitions", "admin", json={"document": bad, "note": "x"})
    assert (
        r.status_code == 422
        and "nonsense" in r.json()["detail"]
        and "direction" in r.json()["detail"]
    )
    assert r.json()["code"] == "assessment.definitions_invalid"
    assert r.json()["message"].startswith("考评指标定义有误")
    assert "计数“nonsense”不存在" in r.json()["message"] and "direction" in r.json()["message"]
    r = api.post(
        "/api/v1/assessment/definitions",
        "supervisor",
        json={"document": document, "note": "只考核核查及时率"},
    )
    assert r.status_code == 403
    r = api.post(
        "/api/v1/assessment/definitions",
        "admin",
        json={"document": document, "note": "只考核核查及时率"},
    )
    assert r.status_code == 201 and r.json()["version"] == 6
    result = api.get("/api/v1/assessment", "supervisor", level="town", **MARCH_APRIL).json()
    assert [i["code"] for i in result["indicators"]] == ["visits"]
    assert unit(result, TOWN1)["score"] == 40.0 and unit(result, TOWN2)["score"] == 0.0


def test_scopes_and_bad_periods(case_api, history):
    api = case_api
    town = api.get("/api/v1/assessment", "town1", level="community", **MARCH_APRIL).json()
    assert {u["chain"][1] for u in town["units"]} == {TOWN1}
    refused = api.get("/api/v1/assessment", "gridder", **MARCH_APRIL)
    assert refused.status_code == 403
    assert refused.json()["code"] == "assessment.role_not_allowed"
    assert "网格员和物业公司无权查看" in refused.json()["message"]
    no_period = api.get("/api/v1/assessment", "supervisor")
    assert no_period.status_code == 422 and no_period.json()["code"] == "period.missing"
    assert no_period.json()["message"].startswith("请给出统计期间")
    assert api.get("/api/v1/assessment", "supervisor", month="2026-13").status_code == 422
    assert (
        api.get(
            "/api/v1/assessment", "supervisor", **{"from": "2026-05-01", "to": "2026-04-01"}
        ).status_code
        == 422
    )
    elsewhere = api.get("/api/v1/assessment", "ue_jy", district="220602", **MARCH_APRIL)
    assert elsewhere.status_code == 404
    assert elsewhere.json()["code"] == "district.not_found"
    assert elsewhere.json()["message"].startswith("未找到区县 220602")
    # a district without a case: zeros, not an error
    empty = api.get("/api/v1/assessment", "ue_jy", level="district", **MARCH_APRIL)
    assert empty.status_code == 200, empty.text
    assert [(u["code"], u["counts"]["reported"]) for u in empty.json()["units"]] == []
    levels = api.get("/api/v1/assessment/levels", "cg_jy", **MARCH_APRIL).json()
    city_counts = levels["city"][0]["counts"]
    assert city_counts == dict.fromkeys(indicators.UNIT_COUNTS, 0) | {
        "compounds": 0,  # 江山花园 lies in 浑江区, not in cg_jy's 江源区
        "period_days": 61,
    }
    march = api.get("/api/v1/assessment", "supervisor", month="2026-03", level="town").json()
    assert march["period"] == {"from": "2026-03-01", "to": "2026-03-31"}


def _random_cases(conn, rng: random.Random, count: int = 120) -> None:
    """Random cases — some outside the lower grids, random channels, deadlines, visits,
    sign-offs, closures, rebounds — over the first 150 days of 2026."""
    channels = ["patrol", "grid_worker", "property_company", "citizen", "hotline", "media"]
    base = datetime(2026, 1, 1, tzinfo=LOCAL)
    for i in range(count):
        d, t, m, k = rng.choice(GRID_CHAINS)
        reported = base + timedelta(hours=rng.randint(0, 24 * 150))
        visited = reported + timedelta(hours=rng.randint(1, 60)) if rng.random() < 0.6 else None
        closed = reported + timedelta(days=rng.randint(1, 90)) if rng.random() < 0.5 else None
        signed = closed if closed and rng.random() < 0.8 else None
        conn.execute(
            text(
                "INSERT INTO violation_case (number, district_code, year, seq, track, state, "
                "is_open, channel, description, reported_at, report_due, visit_due, "
                "visited_at, closed_at, signed_off_at, rebound_of, geom, jurisdiction, "
                "town_code, community_code, compound_code) VALUES (:n, :d, 2026, :i, :track, "
                ":state, :open, :ch, 'x', :rep, :rdue, :vdue, :vis, :closed, :signed, NULL, "
                "ST_SetSRID(ST_MakePoint(126.4, 41.9), 4490), '{}', :t, :m, :k)"
            ),
            {
                "n": f"P-{i}",
                "d": d,
                "i": i,
                "t": t,
                "m": m,
                "k": k,
                "track": rng.choice(["new", "backlog"]),
                "state": "signed_off" if signed else ("not_violation" if closed else "reported"),
                "open": closed is None,
                "ch": rng.choice(channels),
                "rep": reported,
                "rdue": reported + timedelta(hours=rng.randint(-30, 30))
                if rng.random() < 0.4
                else None,
                "vdue": reported + timedelta(days=1),
                "vis": visited,
                "closed": closed,
                "signed": signed,
            },
        )


def backlog_campaign(conn, campaign_id: int = 99) -> None:
    """A campaign from 2026-01-01 whose baseline is every backlog case, with its codes."""
    conn.execute(
        text(
            "INSERT INTO campaign (id, name, start_date, created_by) "
            "VALUES (:c, 'p', '2026-01-01', 't')"
        ),
        {"c": campaign_id},
    )
    conn.execute(
        text(
            "INSERT INTO campaign_baseline SELECT :c, id, district_code, town_code, "
            "community_code, compound_code FROM violation_case WHERE track = 'backlog'"
        ),
        {"c": campaign_id},
    )


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_level_is_the_sum_of_its_children(engine, case_api, seed):
    """Random cases — some outside the lower grids, random channels, deadlines, visits,
    sign-offs, closures, rebounds — and random periods: every count of every unit equals the
    sum over its children, at every level, for the assessment and for a campaign."""
    rng = random.Random(seed)
    with engine.begin() as conn:
        _random_cases(conn, rng)
        backlog_campaign(conn)
    first = date(2026, 1, 1) + timedelta(days=rng.randint(0, 60))
    last = first + timedelta(days=rng.randint(10, 90))
    levels = case_api.get(
        "/api/v1/assessment/levels",
        "supervisor",
        **{"from": first.isoformat(), "to": last.isoformat()},
    ).json()
    order = ["city", "district", "town", "community", "compound"]
    for upper, lower in itertools.pairwise(order):
        # the towns' ledgers are counted at the town and summed above it; below it, none
        keys = SUMMED if upper in ("city", "district") else CASE_KEYS
        for row in levels[upper]:
            children = [u for u in levels[lower] if u["chain"][:-1] == row["chain"]]
            if not children:  # a town without cases is there for its ledgers alone
                assert upper == "town" and not any(row["counts"][k] for k in CASE_KEYS)
                continue
            for key in keys:
                assert row["counts"][key] == sum(u["counts"][key] for u in children), (
                    upper,
                    row["chain"],
                    key,
                )
    progress = case_api.get(
        "/api/v1/campaigns/99/progress", "supervisor", as_of="2026-06-30"
    ).json()["levels"]
    for upper, lower in itertools.pairwise(order):
        for row in progress[upper]:
            children = [u for u in progress[lower] if u["chain"][:-1] == row["chain"]]
            for key in ("baseline", "signed_off", "remaining"):
                assert row[key] == sum(u[key] for u in children)
            for n, point in enumerate(row["trend"]):
                assert point["signed_off"] == sum(u["trend"][n]["signed_off"] for u in children)


def test_the_same_through_the_cli(case_api, history, cli, monkeypatch, tmp_path):
    import json

    # the commands read the real clock: here it is 7 May 2026, whatever today's date
    monkeypatch.setattr(Clock, "now", lambda self: datetime(2026, 5, 7, 9, tzinfo=LOCAL))
    xlsx = tmp_path / "考评.xlsx"
    result = cli(
        "assess", "run", "--from", "2026-03-01", "--to", "2026-04-30", "--xlsx", xlsx, "--json"
    )
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    over_http = case_api.get("/api/v1/assessment", "supervisor", level="town", **MARCH_APRIL).json()
    assert [(u["code"], u["score"]) for u in printed["units"]] == [
        (u["code"], u["score"]) for u in over_http["units"]
    ]
    assert load_workbook(xlsx)["镇（街道）考评"]["C2"].value == "新建街道"
    result = cli(
        "assess", "trace", "--grid", TOWN1, "--from", "2026-03-01", "--to", "2026-04-30", "--json"
    )
    assert result.exit_code == 0, result.output
    steps = [(p["case"], p["step"], p["status"]) for p in json.loads(result.stdout)["problems"]]
    # on 7 May, April's ledger (due 6 May) is missing too
    assert len(steps) == 10 and steps.count((None, "ledger", "missing")) == 2
    result = cli("campaign", "create", "--name", "清零", "--start", "2026-03-01")
    assert result.exit_code == 0, result.output
    result = cli("campaign", "progress", "1", "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)["levels"]["town"] == []
    no_period = cli("assess", "run")
    assert no_period.exit_code == 2
    assert "请给出统计期间：--month 年-月" in no_period.output
    assert "give --month YYYY-MM, or --from and --to" in no_period.output
    bad_start = cli("campaign", "create", "--name", "清零", "--start", "3/1")
    assert bad_start.exit_code == 2 and "--start“3/1”不是日期" in bad_start.output


def test_ranking_ties_and_ungridded_buckets():
    """Equal scores share a rank; the 未划入下级网格 bucket (code None) is no unit to assess:
    it sorts after the named units, with its values but neither a score nor a rank."""
    defs = indicators.default_definitions()
    counts = dict.fromkeys(indicators.UNIT_COUNTS, 0)
    counts.update(reported=2, proactive=1)
    units = [
        {"code": None, "name": "（未划入下级网格）", "chain": ["220602", None], "counts": counts},
        {
            "code": "220602002",
            "name": "红旗街道",
            "chain": ["220602", "220602002"],
            "counts": counts,
        },
        {
            "code": "220602001",
            "name": "新建街道",
            "chain": ["220602", "220602001"],
            "counts": counts,
        },
    ]
    ranked = indicators.rank(defs.indicators, units)
    assert [u["code"] for u in ranked] == ["220602001", "220602002", None]
    assert [u["rank"] for u in ranked] == [1, 1, None]
    assert ranked[2]["score"] is None
    assert [i["value"] for i in ranked[2]["indicators"]] == [
        i["value"] for i in ranked[0]["indicators"]
    ]


def _plain_scores(defs, units: list[dict], empty_rate: str) -> list[tuple]:
    """Each unit's score and its indicators' scores by the rule written out unit by unit (rank
    counts them for all units at once): a rate scores its value, a count its place between the
    assessed units' lowest and highest, lower-is-better turned over; a rate over nothing by
    ``empty_rate``."""
    values = [indicators.values(defs.indicators, u["counts"]) for u in units]
    assessed = [u["code"] is not None for u in units]
    out = []
    for unit_values, counted in zip(values, assessed, strict=True):
        if not counted:
            out.append((None, None))
            continue
        total = weights = 0.0
        parts: list = []
        for k, (ind, item) in enumerate(zip(defs.indicators, unit_values, strict=True)):
            empty = ind.is_rate and item["denominator"] == 0
            if ind.weight > 0 and empty and empty_rate == "nothing_wrong":
                total, weights = total + ind.weight, weights + ind.weight
                parts.append((1.0, True))
                continue
            if ind.weight <= 0 or item["value"] is None:
                parts.append((None, False))
                continue
            part = item["value"]
            if not ind.is_rate:
                seen = [
                    v[k]["value"]
                    for v, a in zip(values, assessed, strict=True)
                    if a and v[k]["value"] is not None
                ]
                low, high = min(seen), max(seen)
                part = 1.0 if high == low else (part - low) / (high - low)
            if ind.direction == "lower":
                part = 1.0 - part
            parts.append((round(part, 6), False))
            total, weights = total + ind.weight * part, weights + ind.weight
        out.append((round(100 * total / weights, 2) if weights else None, parts))
    return out


def test_ranking_many_units_at_once_gives_each_units_own_values():
    """rank counts every unit's values and scores in arrays: for random units (empty rates,
    zero days, the ungridded bucket, weights of 0, both empty-rate rules) each indicator's
    value, numerator and denominator are those of :func:`indicators.values` for the unit alone,
    the scores those of the rule written out unit by unit, and the short form (a table's) the
    same values, scores and ranks."""
    import dataclasses

    rng = random.Random(22)
    seeded = indicators.default_definitions()
    for trial in range(60):
        defs = seeded
        if trial % 3 == 0:
            changed = tuple(
                dataclasses.replace(
                    i, weight=rng.choice([0, 0.5, 3, 10]), direction=rng.choice(["higher", "lower"])
                )
                for i in seeded.indicators
            )
            defs = dataclasses.replace(seeded, indicators=changed)
        units = []
        for n in range(rng.randint(0, 30)):
            counts = {
                c: rng.choice([0, 0, 1, 2, 7, rng.randint(0, 10**6)])
                for c in indicators.UNIT_COUNTS
            }
            code = None if rng.random() < 0.15 else f"u{n:02d}"
            units.append({"code": code, "name": f"单位{n}", "chain": [code], "counts": counts})
        for rule in ("nothing_wrong", "left_out"):
            ranked = indicators.rank(defs.indicators, units, rule)
            by_name = {r["name"]: r for r in ranked}
            for unit in units:
                alone = indicators.values(defs.indicators, unit["counts"])
                got = by_name[unit["name"]]["indicators"]
                for mine, single in zip(got, alone, strict=True):
                    assert {k: mine[k] for k in single} == single
            plain = _plain_scores(defs, units, rule)
            got = [
                (
                    r["score"],
                    [(i["score"], i.get("empty", False)) for i in r["indicators"]]
                    if "score" in r["indicators"][0]
                    else None,
                )
                for r in (by_name[u["name"]] for u in units)
            ]
            assert got == plain
            short = indicators.rank(defs.indicators, units, rule, detail=False)
            assert [(r["name"], r["score"], r["rank"]) for r in short] == [
                (r["name"], r["score"], r["rank"]) for r in ranked
            ]
            assert [r["indicators"] for r in short] == [
                [
                    {"code": i["code"], "value": i["value"], "unit": i["unit"]}
                    for i in r["indicators"]
                ]
                for r in ranked
            ]


def _unit(code: str, **counts) -> dict:
    return {"code": code, "name": code, "counts": dict.fromkeys(indicators.UNIT_COUNTS, 0) | counts}


def test_a_unit_with_nothing_due_is_not_scored_below_one_that_missed_a_deadline():
    """A town without cases against a town whose one case is overdue: under the seeded rule a
    rate over nothing scores as nothing wrong; under ``left_out`` it leaves the score, which
    ranked the idle town below the late one."""
    seeded = indicators.default_definitions()
    assert seeded.empty_rate == "nothing_wrong"
    idle = _unit("idle")
    late = _unit("late", reported=1, proactive=1, visits_overdue=1, overdue_open=1)
    ranked = {
        u["code"]: u for u in indicators.rank(seeded.indicators, [idle, late], "nothing_wrong")
    }
    assert ranked["idle"]["score"] > ranked["late"]["score"]
    assert ranked["idle"]["rank"] == 1
    # the late town: its visit rate is 0 and the overdue count is the worst of the two
    visits = next(i for i in ranked["late"]["indicators"] if i["code"] == "visit_on_time")
    assert visits["value"] == 0 and visits["score"] == 0
    old = {u["code"]: u for u in indicators.rank(seeded.indicators, [idle, late], "left_out")}
    assert old["idle"]["score"] < old["late"]["score"]  # what the rule is there to prevent
    document = {**indicators.default_document(), "empty_rate": "ignore"}
    with pytest.raises(InputError) as refused:
        indicators.parse(document)
    assert "empty_rate" in refused.value.message and "nothing_wrong" in refused.value.message
    without = {k: v for k, v in indicators.default_document().items() if k != "empty_rate"}
    assert indicators.parse(without).empty_rate == "left_out"  # the first versions' meaning


def test_the_cases_left_out_of_a_periods_figures_count_nowhere(engine, case_api):
    """The figures read only the cases that can count in the period (``CONTRIBUTING``): for
    random cases — some rated, urged or moved long after they closed — and random periods,
    past, running and to come, and both grid modes, every count of every unit is the same as
    when every case is read."""
    from weijian.oversight import figures
    from weijian.oversight.assessment import active_definitions

    rng = random.Random(7)
    with engine.begin() as conn:
        _random_cases(conn, rng, 200)
        closed = [r[0] for r in conn.execute(text("SELECT id FROM violation_case "
                                                  "WHERE closed_at IS NOT NULL"))]  # fmt: skip
        for n, case_id in enumerate(rng.sample(closed, 30)):
            late = datetime(2026, 1, 1, tzinfo=LOCAL) + timedelta(days=rng.randint(0, 300))
            if n % 3 == 0:
                conn.execute(
                    text("INSERT INTO case_rating (case_id, score, rated_at) VALUES (:c, :s, :at)"),
                    {"c": case_id, "s": rng.randint(1, 5), "at": late},
                )
            elif n % 3 == 1:
                conn.execute(
                    text(
                        "INSERT INTO case_urge (case_id, urged_by_name, urged_by_role, note, "
                        "urged_at, reply_due, answered_at) VALUES (:c, 'x', 'supervisor', 'x', "
                        ":at, CAST(:at AS timestamptz) + interval '2 days', "
                        "CAST(:at AS timestamptz) + interval '1 day')"
                    ),
                    {"c": case_id, "at": late},
                )
            else:
                conn.execute(
                    text(
                        "INSERT INTO case_event (case_id, seq, action, to_state, actor_name, "
                        "actor_role, at, hash) SELECT :c, coalesce(max(seq), 0) + 1, :a, "
                        "'reported', 'x', 'supervisor', :at, md5(CAST(:c AS text)) FROM case_event "
                        "WHERE case_id = :c"
                    ),
                    {"c": case_id, "a": rng.choice(["transfer", "accept_transfer"]), "at": late},
                )
    now = datetime(2026, 4, 20, 9, tzinfo=LOCAL)
    periods = [
        (date(2026, 3, 1), date(2026, 4, 1)),
        (date(2026, 4, 1), date(2026, 5, 1)),
        (date(2026, 6, 1), date(2026, 7, 1)),
        (date(2025, 12, 1), date(2027, 1, 1)),
    ]
    periods += [
        (first, first + timedelta(days=rng.randint(1, 120)))
        for first in (date(2026, 1, 1) + timedelta(days=rng.randint(0, 200)) for _ in range(6))
    ]  # fmt: skip
    with engine.connect() as conn:
        _, definitions = active_definitions(conn)

        def figures_of(start, end, grids):
            lo = datetime.combine(start, datetime.min.time(), LOCAL)
            hi = datetime.combine(end, datetime.min.time(), LOCAL)
            return figures.unit_counts(conn, definitions, lo, hi, grids=grids, now=now)

        checked = 0
        for (start, end), grids in itertools.product(periods, ("frozen", "current")):
            read = figures_of(start, end, grids)
            kept = figures.CONTRIBUTING
            figures.CONTRIBUTING = "true"
            try:
                everything = figures_of(start, end, grids)
            finally:
                figures.CONTRIBUTING = kept
            assert read == everything, (start, end, grids)
            checked += sum(any(u["counts"].values()) for u in read.values())
    assert checked > 100  # the periods held figures to compare
