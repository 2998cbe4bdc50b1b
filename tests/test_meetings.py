"""The joint meeting (联席会议) over real HTTP on the hand-built city: each key rule flags the
case built for it and not its control; a meeting of 浑江区 gathers them; its agenda PDF, read
back, lists them and not 江源区's, in Chinese with its fonts embedded; a decision on each case
is in its timeline and becomes its stage deadline, due at the end of the day in Beijing; the
responsible unit reports it done; bad input, unknown cases and other roles get a 4xx. The rules
file is checked with Chinese messages, and a city's own copy wins."""

from __future__ import annotations

import json
import subprocess
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from tests.casekit import JIANGYUAN, NR_HJ, served_city
from tests.test_projects import km_polygon
from weijian.cases.clock import LOCAL
from weijian.cases.workflow import default_workflow
from weijian.enforcement import key_rules
from weijian.errors import InputError
from weijian.settings import get_settings

ARTIFACTS = get_settings().home / "artifacts"

HJ, JY = "220602", "220605"
# spots in 浑江区's urban area (城管执法 holds them), km from the city's corner
OVERDUE, LARGE, SMALL = (1.3, 1.3), (1.2, 0.4), (1.6, 0.4)
REBOUND, SINGLE = (1.2, 1.7), (1.7, 1.7)
STOP, STOP_OK = (1.8, 1.2), (1.8, 0.8)
DISPUTE, TRANSFERRED = (1.4, 0.9), (1.1, 1.1)
#: the rules of the shipped file, in its order
ORDER = ["large_area", "repeated_rebound", "refused_stop_order", "cross_department", "long_overdue"]
RULES = {
    "overdue": "long_overdue",
    "large": "large_area",
    "rebound": "repeated_rebound",
    "stop": "refused_stop_order",
    "dispute": "cross_department",
}


def _signed_off(api, spot) -> str:
    """A backlog case at ``spot`` taken to its sign-off."""
    number = api.report("ue_hj", spot, track="backlog", channel="patrol")["number"]
    api.sign_off_backlog(number)
    return number


def _stop_ordered(api, spot, days: int) -> str:
    number = api.report("ue_hj", spot, channel="patrol")["number"]
    api.act("ue_hj", number, "site_visit", evidence=[api.photo("ue_hj", number)])
    api.act("ue_hj", number, "confirm")
    notice = api.document("ue_hj", number)
    api.act("ue_hj", number, "stop_order", data={"compliance_days": days}, evidence=[notice])
    return number


def _transferred(api, spot, then: str) -> str:
    number = api.report("ue_hj", spot, channel="patrol")["number"]
    api.act(
        "ue_hj",
        number,
        "transfer",
        data={"to_department": NR_HJ, "reason": "outside_remit"},
        note="位于基本农田",
    )
    api.act(
        "nr_hj",
        number,
        then,
        note="位于城市化管理区域，退回" if then != "accept_transfer" else None,
    )
    return number


@pytest.fixture(scope="module")
def town(tmp_path_factory):
    """The city with a case for each rule and a control beside it (numbers by name)."""
    with served_city(tmp_path_factory.mktemp("meetings")) as (api, engine):
        made = {"overdue": api.report("ue_hj", OVERDUE, channel="patrol")["number"]}
        api.clock.advance(days=45)  # its site visit now 44 days overdue; the rest come fresh
        made["large"] = api.report(
            "ue_hj", LARGE, channel="patrol", footprint=km_polygon(1.19, 0.39, 1.22, 0.41)
        )["number"]  # 30 m × 20 m
        made["small"] = api.report(
            "ue_hj", SMALL, channel="patrol", footprint=km_polygon(1.595, 0.395, 1.605, 0.405)
        )["number"]
        made["signed"] = [_signed_off(api, REBOUND), _signed_off(api, (1.2, 1.71))]
        made["rebound"] = api.report("ue_hj", REBOUND, channel="patrol")["number"]
        made["single_signed"] = _signed_off(api, SINGLE)
        made["single"] = api.report("ue_hj", SINGLE, channel="patrol")["number"]
        made["stop"] = _stop_ordered(api, STOP, 3)
        made["stop_ok"] = _stop_ordered(api, STOP_OK, 30)
        made["dispute"] = _transferred(api, DISPUTE, "return_transfer")
        made["transferred"] = _transferred(api, TRANSFERRED, "accept_transfer")
        made["jiangyuan"] = api.report(
            "cg_jy", JIANGYUAN, channel="patrol", footprint=km_polygon(4.49, 0.49, 4.52, 0.51)
        )["number"]
        api.clock.advance(days=5)  # the 3-day stop order has run out; the 30-day one has not
        yield api, engine, made


def test_each_rule_flags_its_case_and_not_its_control(town):
    api, _, made = town
    started = time.perf_counter()
    r = api.get("/api/v1/meetings/key-cases", "supervisor", district=HJ)
    took = time.perf_counter() - started
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["district"] == {"code": HJ, "name": "浑江区"}
    flagged = {c["number"]: {x["code"] for x in c["reasons"]} for c in answer["cases"]}
    assert flagged == {made[name]: {code} for name, code in RULES.items()}, flagged
    assert answer["total"] == 5 and took < 5
    by_number = {c["number"]: c for c in answer["cases"]}
    overdue = by_number[made["overdue"]]
    assert overdue["days_overdue"] == 49 and "超期 49 日" in overdue["reasons"][0]["detail"]
    assert by_number[made["large"]]["area_m2"] == pytest.approx(600, abs=1)
    assert "600 平方米" in by_number[made["large"]]["reasons"][0]["detail"]
    rebound = by_number[made["rebound"]]["reasons"][0]["detail"]
    assert "已销号 2 次" in rebound and made["signed"][0] in rebound
    assert (
        "逾期 2 日仍未查封施工现场或拆除续建部分" in by_number[made["stop"]]["reasons"][0]["detail"]
    )
    assert "被退回 1 次" in by_number[made["dispute"]]["reasons"][0]["detail"]
    assert [r["code"] for r in answer["rules"]] == ORDER
    # the longest overdue first among cases of one reason each
    assert answer["cases"][0]["number"] == made["overdue"]
    # 江源区's own list holds its large case; its government sees only its district
    r = api.get("/api/v1/meetings/key-cases", "cg_jy")
    assert r.status_code == 200 and [c["number"] for c in r.json()["cases"]] == [made["jiangyuan"]]
    r = api.get("/api/v1/meetings/key-cases", "cg_jy", district=HJ)
    assert r.status_code == 404 and r.json()["code"] == "meeting.district_not_found"
    for who in ("gridder", "town1", "community"):
        r = api.get("/api/v1/meetings/key-cases", who, district=HJ)
        assert r.status_code == 403 and "督导人员" in r.json()["message"]
    r = api.get("/api/v1/meetings/key-cases", "supervisor")
    assert r.status_code == 422 and r.json()["code"] == "meeting.district_missing"


def _pdf_text(content: bytes, name: str) -> tuple[str, str]:
    """The PDF's text (in reading order) and its fonts, as poppler reads them; the file kept
    in the artifacts."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    path.write_bytes(content)
    words = subprocess.run(
        ["pdftotext", "-raw", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout
    fonts = subprocess.run(
        ["pdffonts", str(path)], capture_output=True, text=True, check=True
    ).stdout
    return words, fonts


def test_the_meeting_and_its_agenda(town):
    api, _, made = town
    day = api.clock.now().astimezone(LOCAL).date() + timedelta(days=2)
    r = api.post("/api/v1/meetings", "ue_hj", json={"district": HJ, "held_on": day.isoformat()})
    assert r.status_code == 403 and r.json()["code"] == "meeting.role_not_allowed"
    for bad in ("2026-02-30", "明天", ""):
        r = api.post("/api/v1/meetings", "supervisor", json={"district": HJ, "held_on": bad})
        assert r.status_code == 422 and r.json()["code"] == "meeting.date_invalid", r.text
        assert "会议日期" in r.json()["message"]
    r = api.post("/api/v1/meetings", "supervisor", json={"district": HJ, "held_on": "2031-01-01"})
    assert r.status_code == 422 and r.json()["code"] == "meeting.date_out_of_range"
    r = api.post(
        "/api/v1/meetings",
        "supervisor",
        json={"district": HJ, "held_on": day.isoformat(), "cases": [made["small"]]},
    )
    assert r.status_code == 422 and r.json()["code"] == "meeting.case_not_key"
    r = api.post(
        "/api/v1/meetings", "supervisor", json={"district": HJ, "held_on": day.isoformat()}
    )
    assert r.status_code == 201, r.text
    meeting = r.json()
    assert (
        meeting["title"] == "浑江区违法建设治理联席会议" and meeting["held_on"] == day.isoformat()
    )
    assert [c["position"] for c in meeting["cases"]] == [1, 2, 3, 4, 5]
    assert {c["number"] for c in meeting["cases"]} == {made[n] for n in RULES}
    r = api.post(
        "/api/v1/meetings", "supervisor", json={"district": HJ, "held_on": day.isoformat()}
    )
    assert r.status_code == 409 and r.json()["code"] == "meeting.exists"
    listed = api.get("/api/v1/meetings", "cg_hj").json()
    assert [m["id"] for m in listed["meetings"]] == [meeting["id"]]
    assert listed["meetings"][0]["cases"] == 5 and listed["districts"] == [
        {"code": HJ, "name": "浑江区"}
    ]
    assert api.get("/api/v1/meetings", "cg_jy").json()["meetings"] == []
    assert api.get(f"/api/v1/meetings/{meeting['id']}", "cg_jy").status_code == 404

    started = time.perf_counter()
    r = api.get(f"/api/v1/meetings/{meeting['id']}/agenda.pdf", "cg_hj")
    took = time.perf_counter() - started
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    assert r.content.startswith(b"%PDF") and took < 30
    words, fonts = _pdf_text(r.content, "meeting-agenda.pdf")
    flat = words.replace(" ", "")
    assert "浑江区违法建设治理联席会议议程" in flat
    assert "二〇二六年" in flat and "列为重点案件的原因" in flat
    for name in RULES:
        assert made[name] in words, name
    for name in ("small", "single", "stop_ok", "transferred", "jiangyuan"):
        assert made[name] not in words, name
    assert "长期超期" in flat and "违建面积大" in flat
    rows = [line for line in fonts.splitlines()[2:] if line.strip()]
    assert rows and all(" yes " in line for line in rows), fonts  # every font embedded
    assert any("CJK" in line for line in rows)


def _meeting(api) -> dict:
    return api.get("/api/v1/meetings", "supervisor").json()["meetings"][0]


def test_decisions_reach_each_case_timeline_and_deadline(town):
    api, engine, made = town
    meeting = _meeting(api)
    ref = meeting["id"]
    due = api.clock.now().astimezone(LOCAL).date() + timedelta(days=20)
    body = {
        "decision": "限期自行拆除，逾期由区城管执法局组织强制拆除",
        "assignee": "浑江区城管执法局",
    }
    r = api.post(
        f"/api/v1/meetings/{ref}/decisions",
        "supervisor",
        json={**body, "case": made["small"], "decided_due": due.isoformat()},
    )
    assert r.status_code == 422 and r.json()["code"] == "meeting.case_not_listed"
    r = api.post(
        f"/api/v1/meetings/{ref}/decisions",
        "supervisor",
        json={**body, "case": "HJ-2026-999999", "decided_due": due.isoformat()},
    )
    assert r.status_code == 404
    r = api.post(
        f"/api/v1/meetings/{ref}/decisions",
        "supervisor",
        json={**body, "case": made["large"], "decided_due": "2026-13-01"},
    )
    assert r.status_code == 422 and "办结期限" in r.json()["message"]
    r = api.post(
        f"/api/v1/meetings/{ref}/decisions",
        "supervisor",
        json={**body, "case": made["large"], "decided_due": "2026-01-01"},
    )
    assert r.status_code == 422 and r.json()["code"] == "meeting.due_in_past"
    r = api.post(
        f"/api/v1/meetings/{ref}/decisions",
        "ue_hj",
        json={**body, "case": made["large"], "decided_due": due.isoformat()},
    )
    assert r.status_code == 403
    r = api.post(
        f"/api/v1/meetings/{ref}/decisions",
        "supervisor",
        json={**body, "case": made["large"], "decided_due": due.isoformat(), "decision": " "},
    )
    assert r.status_code == 422 and r.json()["code"] == "meeting.decision_missing"
    # the ordinary transition refuses the meeting's step
    r = api.post(
        f"/api/v1/cases/{made['large']}/transitions",
        "supervisor",
        json={
            "action": "meeting_decision",
            "version": api.case("supervisor", made["large"])["version"],
        },
    )
    assert r.status_code == 422 and r.json()["code"] == "workflow.taken_elsewhere"

    end = datetime.combine(due + timedelta(days=1), datetime.min.time(), tzinfo=LOCAL)
    for name in RULES:
        r = api.post(
            f"/api/v1/meetings/{ref}/decisions",
            "supervisor",
            json={**body, "case": made[name], "decided_due": due.isoformat()},
        )
        assert r.status_code == 200, r.text
        case = api.case("ue_hj", made[name])
        event = case["events"][-1]
        assert event["action"] == "meeting_decision" and event["label"] == "联席会议决定"
        assert event["note"] == body["decision"]
        assert event["data"]["assignee"] == "浑江区城管执法局"
        assert event["data"]["decided_due"] == due.isoformat()
        assert event["data"]["meeting"]["id"] == ref
        deadline = next(d for d in case["deadlines"] if d["code"] == "meeting")
        assert datetime.fromisoformat(deadline["due"]) == end and deadline["status"] == "pending"
        with engine.connect() as conn:
            code, stage_due = conn.execute(
                text("SELECT stage_code, stage_due FROM violation_case WHERE number = :n"),
                {"n": made[name]},
            ).one()
        assert code == "meeting" and stage_due == end.astimezone(UTC), name
    shown = r.json()
    assert shown["decided"] == 5 and all(
        c["decided_due"] == due.isoformat() for c in shown["cases"]
    )
    # the agenda now prints the decisions
    pdf = api.get(f"/api/v1/meetings/{ref}/agenda.pdf", "supervisor").content
    words, _ = _pdf_text(pdf, "meeting-agenda-decided.pdf")
    assert "责任单位：浑江区城管执法局" in words.replace(" ", "").replace("\n", "")

    # the case's own account of it, and the report that it was carried out
    number = made["large"]
    seen = api.get(f"/api/v1/cases/{number}/meeting", "ue_hj").json()
    assert seen["decision"]["assignee"] == "浑江区城管执法局" and seen["may_report"] is True
    assert api.get(f"/api/v1/cases/{number}/meeting", "nr_hj").json()["may_report"] is False
    r = api.post(f"/api/v1/cases/{number}/meeting-done", "nr_hj", json={"note": "已拆除"})
    assert r.status_code == 403 and r.json()["code"] == "meeting.not_responsible"
    r = api.post(f"/api/v1/cases/{made['small']}/meeting-done", "ue_hj", json={"note": "已拆除"})
    assert r.status_code == 409 and r.json()["code"] == "meeting.no_decision"
    r = api.post(f"/api/v1/cases/{number}/meeting-done", "ue_hj", json={"note": ""})
    assert r.status_code == 422
    r = api.post(f"/api/v1/cases/{number}/meeting-done", "ue_hj", json={"note": "违建已全部拆除"})
    assert r.status_code == 200, r.text
    assert r.json()["decision"]["done"]["note"] == "违建已全部拆除"
    case = api.case("ue_hj", number)
    assert case["events"][-1]["action"] == "meeting_done"
    assert next(d for d in case["deadlines"] if d["code"] == "meeting")["status"] == "met"
    with engine.connect() as conn:
        code = conn.execute(
            text("SELECT stage_code FROM violation_case WHERE number = :n"), {"n": number}
        ).scalar()
    assert code == "site_visit"  # the deadlines beside the decision's are the stage again
    r = api.post(f"/api/v1/cases/{number}/meeting-done", "ue_hj", json={"note": "再报"})
    assert r.status_code == 409 and r.json()["code"] == "meeting.already_reported"
    detail = api.get(f"/api/v1/meetings/{ref}", "supervisor").json()
    done = next(c for c in detail["cases"] if c["number"] == number)["done"]
    assert done["note"] == "违建已全部拆除"


def test_the_rules_file_is_checked_in_chinese(tmp_path):
    deadlines = {d.code for d in default_workflow().deadlines}
    spec = json.loads(key_rules.DEFAULT.read_text(encoding="utf-8"))
    rules = key_rules.parse(spec, "key_rules.json", deadlines)
    assert [r.code for r in rules.rules] == ORDER

    def refused(change) -> str:
        bad = json.loads(json.dumps(spec))
        change(bad)
        with pytest.raises(InputError) as caught:
            key_rules.parse(bad, "key_rules.json", deadlines)
        assert caught.value.code == "meeting.rules_invalid"
        return caught.value.message

    assert "min_area_m2" in refused(lambda s: s["rules"][0].update(min_area_m2=-5))
    assert "应为大于 0 的数" in refused(lambda s: s["rules"][0].update(min_area_m2="大"))
    assert "不认识的项“min_area”" in refused(lambda s: s["rules"][0].update(min_area=1))
    assert "种类“huge”无效" in refused(lambda s: s["rules"][0].update(code="huge"))
    assert "缺少参数“min_days”" in refused(lambda s: s["rules"][4].pop("min_days"))
    assert "办理时限代码" in refused(lambda s: s["rules"][2].update(deadline="nothing"))
    assert "应为不小于 1 的整数" in refused(lambda s: s["rules"][1].update(min_rebounds=1.5))
    assert "出现了两次" in refused(lambda s: s["rules"].append(s["rules"][0]))
    assert "缺少名称" in refused(lambda s: s["rules"][3].update(label=""))
    # switched off; a city's own file wins, and is read again when it changes
    spec["rules"][0]["enabled"] = False
    (tmp_path / "key_rules.json").write_text(json.dumps(spec, ensure_ascii=False), "utf-8")
    own = key_rules.load(tmp_path, deadlines)
    assert own.get("large_area") is None and own.source.startswith(str(tmp_path))
    (tmp_path / "key_rules.json").write_text("{", "utf-8")
    with pytest.raises(InputError) as caught:
        key_rules.load(tmp_path, deadlines)
    assert "不是有效的 JSON" in caught.value.message
