"""The workbench's API: 待办 / 已办 / 督办 / 关注, dispatch by a department's leader, urging and
its answer, the stage deadlines that order the inbox — on the hand-built city with two
districts (tests/casekit.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.casekit import JIANGYUAN, PASSWORD, RED_FLAG, START, STREET


def _add_leader(api, username="lead_hj", district="220602", kind="urban_enforcement"):
    r = api.post(
        "/api/v1/users",
        "admin",
        json={
            "username": username,
            "password": PASSWORD,
            "role": "department_leader",
            "grid_code": district,
            "department_type": kind,
            "display_name": "王队长",
        },
    )
    assert r.status_code == 201, r.text
    return r.json()


def inbox(api, who, **params) -> dict:
    r = api.get("/api/v1/inbox", who, **params)
    assert r.status_code == 200, r.text
    return r.json()


def numbers(page: dict) -> list[str]:
    return [i["number"] for i in page["items"]]


def test_todo_is_the_next_step_of_my_department_and_my_grid_only(case_api):
    api = case_api
    street = api.report("town1", STREET, channel="patrol")["number"]  # 浑江区 城管
    red = api.report("town2", RED_FLAG, channel="patrol")["number"]  # 红旗街道, no department
    jiangyuan = api.report("cg_jy", JIANGYUAN, channel="patrol")["number"]  # 江源区 区县政府
    backlog = api.report("town1", STREET, channel="patrol", track="backlog")["number"]

    ue = inbox(api, "ue_hj")
    assert numbers(ue) == [street]  # the backlog case waits for natural resources
    item = ue["items"][0]
    assert item["stage"]["code"] == "site_visit" and item["stage"]["label"] == "上报后1日内现场核查"
    assert item["stage"]["due"].startswith("2026-03-03T01:00")  # a day after the report
    assert item["stage"]["overdue"] is False and item["assignee"] is None
    assert item["last_event"]["label"] == "上报立案"
    assert ue["counts"] == {"todo": 1, "done": 0, "urged": 0, "followed": 0}

    # natural resources determines the backlog case another department holds
    assert numbers(inbox(api, "nr_hj")) == [backlog]
    # the other district's department, and the towns, see only theirs
    assert numbers(inbox(api, "cg_jy")) == [jiangyuan]
    assert set(numbers(inbox(api, "town1"))) == {street}
    assert numbers(inbox(api, "town2")) == [red]
    # grid workers report; supervisors watch: no 待办
    assert inbox(api, "gridder")["items"] == [] and inbox(api, "supervisor")["items"] == []
    # another district's case is not even readable by the department here
    assert api.get(f"/api/v1/cases/{jiangyuan}", "ue_hj").status_code == 404


def test_a_leader_dispatches_and_the_officer_sees_his_case(case_api):
    api = case_api
    leader = _add_leader(api)
    assert leader["role"] == "department_leader"
    number = api.report("town1", STREET, channel="patrol")["number"]
    assert number in numbers(inbox(api, "lead_hj"))  # unassigned: his to dispatch
    officers = api.get("/api/v1/officers", "lead_hj").json()
    assert {"ue_hj", "ue_hj2", "lead_hj"} <= {o["username"] for o in officers}
    # a supervisor, of no department, names the case's; a town lists nobody's officers
    department = api.case("supervisor", number)["department"]["code"]
    listed = api.get("/api/v1/officers", "supervisor", department=department).json()
    assert {o["username"] for o in listed} == {o["username"] for o in officers}
    refused = api.get("/api/v1/officers", "supervisor")
    assert refused.status_code == 403 and refused.json()["code"] == "officers.not_allowed"
    assert api.get("/api/v1/officers", "town1", department=department).status_code == 403
    other = api.get("/api/v1/officers", "lead_hj", department="220605-urban_enforcement")
    assert other.status_code == 403  # a leader lists his own department only

    version = api.case("lead_hj", number)["version"]
    r = api.post(
        f"/api/v1/cases/{number}/assign", "lead_hj", json={"username": "ue_hj2", "version": version}
    )
    assert r.status_code == 200, r.text
    assert r.json()["events"][-1]["data"]["assignee_name"] == "ue_hj2-姓名"
    assert number not in numbers(inbox(api, "ue_hj"))  # assigned to a colleague
    assert number not in numbers(inbox(api, "lead_hj"))
    mine = inbox(api, "ue_hj2", mine="true")
    assert numbers(mine) == [number] and mine["items"][0]["assignee"]["name"] == "ue_hj2-姓名"

    # the leader acts as his department's officers may, and takes the case back
    photo = api.photo("lead_hj", number)
    api.act("lead_hj", number, "site_visit", evidence=[photo])
    version = api.case("lead_hj", number)["version"]
    r = api.post(
        f"/api/v1/cases/{number}/assign", "lead_hj", json={"username": None, "version": version}
    )
    assert r.status_code == 200 and r.json()["assignee_user_id"] is None
    assert number in numbers(inbox(api, "lead_hj", tab="done"))
    # a leader of natural resources may not determine what is not his type's… nor may an
    # urban-enforcement leader take natural resources' step
    assert not any(a["action"] == "determine" for a in api.case("lead_hj", number)["actions"])


def test_stage_deadlines_follow_the_workflow(case_api):
    api = case_api
    number = api.report("town1", STREET, channel="patrol")["number"]
    api.act("ue_hj", number, "site_visit", evidence=[api.photo("ue_hj", number)])
    api.act("ue_hj", number, "confirm")
    api.clock.advance(hours=2)
    doc = api.document("ue_hj", number)
    case = api.act("ue_hj", number, "stop_order", data={"compliance_days": 5}, evidence=[doc])
    deadlines = {d["code"]: d for d in case["deadlines"]}
    assert deadlines["site_visit"]["status"] == "met"
    assert deadlines["compliance"]["label"] == "责令停止整改期限"
    stop_at = START + timedelta(hours=2)
    assert deadlines["compliance"]["due"].startswith(
        (stop_at + timedelta(days=5)).strftime("%Y-%m-%dT%H")
    )
    item = next(i for i in inbox(api, "ue_hj")["items"] if i["number"] == number)
    assert item["stage"]["code"] == "compliance"  # before the 30-day disposal deadline

    # the order is served two days later: the period runs from the day of service
    api.clock.advance(days=2)
    served = api.document("ue_hj", number, text="送达回证")
    case = api.act(
        "ue_hj",
        number,
        "record_service",
        data={"served_on": "2026-03-04", "service_method": "direct"},
        evidence=[served],
    )
    assert case["state"] == "stop_ordered"  # the service changes no state
    compliance = next(d for d in case["deadlines"] if d["code"] == "compliance")
    assert compliance["start"].startswith("2026-03-03T16:00:00Z")  # 4 March 00:00 Beijing
    assert compliance["due"].startswith("2026-03-08T16:00:00Z")

    # missed: overdue in the inbox, and 30 days without a step: stalled
    api.clock.advance(days=31)
    item = next(i for i in inbox(api, "ue_hj")["items"] if i["number"] == number)
    assert item["stage"]["overdue"] is True and item["stage"]["stalled"] is True
    assert number in numbers(inbox(api, "ue_hj", stalled="true"))
    assert numbers(inbox(api, "ue_hj", overdue="false")) == []


def test_the_inbox_is_sorted_by_urgency_and_paged(case_api):
    api = case_api
    made = []
    for hours in range(5):
        api.clock.set(START + timedelta(hours=hours))
        made.append(api.report("town1", STREET, channel="patrol")["number"])
    first = inbox(api, "ue_hj", limit=2)
    assert numbers(first) == made[:2] and first["counts"]["todo"] == 5
    second = inbox(api, "ue_hj", limit=2, cursor=first["next_cursor"])
    third = inbox(api, "ue_hj", limit=2, cursor=second["next_cursor"])
    assert numbers(second) == made[2:4] and numbers(third) == made[4:]
    assert third["next_cursor"] is None
    assert numbers(inbox(api, "ue_hj", q=made[3][-6:])) == [made[3]]
    bad = api.get("/api/v1/inbox", "ue_hj", cursor="nonsense")
    assert bad.status_code == 422 and bad.json()["code"] == "inbox.cursor_invalid"
    bad = api.get("/api/v1/inbox", "ue_hj", tab="later")
    assert bad.status_code == 422 and "请求有误" in bad.json()["message"]


def test_urging_is_answered_by_the_holder_and_recorded(case_api):
    api = case_api
    _add_leader(api)
    number = api.report("town1", STREET, channel="patrol")["number"]
    version = api.case("ue_hj", number)["version"]
    api.post(
        f"/api/v1/cases/{number}/assign", "ue_hj", json={"username": "ue_hj2", "version": version}
    )
    due = (START + timedelta(hours=4)).isoformat()
    r = api.post(
        f"/api/v1/cases/{number}/urges",
        "supervisor",
        json={"note": "请今日内完成现场核查", "reply_due": due},
    )
    assert r.status_code == 201, r.text
    urge_id = r.json()["id"]
    # the officer it is assigned to, and his department, see it first in 督办
    urged = inbox(api, "ue_hj2", tab="urged")
    assert (
        numbers(urged) == [number] and urged["items"][0]["urge"]["note"] == "请今日内完成现场核查"
    )
    assert numbers(inbox(api, "ue_hj", tab="urged")) == [number]
    assert inbox(api, "nr_hj", tab="urged")["items"] == []
    # nobody else answers; the urge is not the town's to give
    other = api.post(f"/api/v1/urges/{urge_id}/answer", "nr_hj", json={"note": "x"})
    assert other.status_code == 403 and other.json()["code"] == "urge.not_addressed"
    r = api.post(f"/api/v1/cases/{number}/urges", "town1", json={"note": "x", "reply_due": due})
    assert r.status_code == 403 and r.json()["code"] == "urge.not_allowed"
    api.clock.advance(hours=1)
    r = api.post(
        f"/api/v1/urges/{urge_id}/answer", "ue_hj2", json={"note": "已安排今日下午到场核查"}
    )
    assert r.status_code == 200, r.text
    assert r.json()["on_time"] is True
    assert inbox(api, "ue_hj2", tab="urged")["items"] == []
    case = api.case("supervisor", number)
    assert [e["label"] for e in case["events"]][-2:] == ["督办", "答复督办"]
    urges = api.get(f"/api/v1/cases/{number}/urges", "supervisor").json()
    assert urges[0]["answer"] == "已安排今日下午到场核查"
    again = api.post(f"/api/v1/urges/{urge_id}/answer", "ue_hj2", json={"note": "再答"})
    assert again.status_code == 409 and again.json()["code"] == "urge.already_answered"


def test_a_grid_s_overdue_cases_are_urged_at_once(case_api):
    api = case_api
    late = [api.report("town1", STREET, channel="patrol")["number"] for _ in range(2)]
    api.clock.advance(days=2)  # their site visits are overdue
    fresh = api.report("town1", STREET, channel="patrol")["number"]
    r = api.post(
        "/api/v1/urges",
        "supervisor",
        json={
            "grid": "220602001",
            "note": "新建街道超期案件，请于明日前处置",
            "reply_due": (START + timedelta(days=3)).isoformat(),
        },
    )
    assert r.status_code == 201, r.text
    assert sorted(r.json()["cases"]) == sorted(late) and fresh not in r.json()["cases"]
    assert set(numbers(inbox(api, "ue_hj", tab="urged"))) == set(late)


@pytest.mark.parametrize("who", ["supervisor", "ue_hj", "town1"])
def test_following_a_case(case_api, who):
    api = case_api
    number = api.report("town1", STREET, channel="patrol")["number"]
    assert api.send("PUT", f"/api/v1/cases/{number}/follow", who).status_code == 200
    page = inbox(api, who, tab="followed")
    assert numbers(page) == [number] and page["items"][0]["followed"] is True
    assert api.case(who, number)["followed"] is True  # the case page shows it
    assert api.send("DELETE", f"/api/v1/cases/{number}/follow", who).status_code == 200
    assert inbox(api, who, tab="followed")["items"] == []
    assert api.case(who, number)["followed"] is False


def test_urges_count_in_the_assessment_and_in_tracing(case_api):
    api = case_api
    answered, ignored = (api.report("town1", STREET, channel="patrol")["number"] for _ in range(2))
    due = (START + timedelta(hours=4)).isoformat()
    ids = {
        n: api.post(
            f"/api/v1/cases/{n}/urges", "supervisor", json={"note": "请尽快处置", "reply_due": due}
        ).json()["id"]
        for n in (answered, ignored)
    }
    api.clock.advance(hours=1)
    api.post(f"/api/v1/urges/{ids[answered]}/answer", "ue_hj", json={"note": "已处置"})
    api.clock.advance(days=2)

    result = api.get("/api/v1/assessment", "supervisor", month="2026-03", level="town").json()
    town = next(u for u in result["units"] if u["code"] == "220602001")
    assert town["counts"]["urges"] == 2 and town["counts"]["urges_answered_on_time"] == 1
    rate = next(i for i in town["indicators"] if i["code"] == "urge_answer_on_time")
    assert rate["value"] == 0.5

    traced = api.get(
        "/api/v1/assessment/tracing", "supervisor", grid="220602001", month="2026-03"
    ).json()["problems"]
    urge_problems = [p for p in traced if p["step"] == "urge"]
    assert [p["case"] for p in urge_problems] == [ignored]
    assert urge_problems[0]["status_label"] == "未答复督办（已超期）"
    assert urge_problems[0]["unit"] == "浑江区城市管理行政执法局"


def test_restage_sets_the_stage_of_the_cases_there_are(case_api, cli, engine):
    from sqlalchemy import text

    number = case_api.report("town1", STREET, channel="patrol")["number"]
    with engine.begin() as conn:  # as after an upgrade: the stage not yet known
        conn.execute(text("UPDATE violation_case SET stage_code = NULL, stage_due = NULL"))
    assert inbox(case_api, "ue_hj")["items"][0]["stage"]["code"] is None
    result = cli("cases", "restage")
    assert result.exit_code == 0, result.output
    assert "1 open cases" in result.output
    item = inbox(case_api, "ue_hj")["items"][0]
    assert item["number"] == number and item["stage"]["code"] == "site_visit"


def test_the_server_stages_the_open_cases_an_upgrade_left_without_one(case_api, engine):
    """A database upgraded from before stages were kept: the server gives every open case its
    stage on start, so nothing waits for an administrator to remember `cases restage`."""
    from sqlalchemy import text

    from tests.conftest import serving
    from weijian.api.app import create_app

    number = case_api.report("town1", STREET, channel="patrol")["number"]
    with engine.begin() as conn:
        conn.execute(text("UPDATE violation_case SET stage_code = NULL, stage_due = NULL"))
    app = create_app(engine, clock=case_api.clock, settings=case_api.settings)
    with serving(app):
        app.state.staging.join(timeout=30)
        with engine.connect() as conn:
            code, due = conn.execute(
                text("SELECT stage_code, stage_due FROM violation_case WHERE number = :n"),
                {"n": number},
            ).one()
    assert code == "site_visit" and due is not None
    assert inbox(case_api, "ue_hj")["items"][0]["stage"]["code"] == "site_visit"
