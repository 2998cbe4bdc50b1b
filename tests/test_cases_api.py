"""Cases over real HTTP on the hand-built city, with a clock the test moves: both whole
lifecycles, deadlines to the second, transfers, scope, duplicates and rebounds, citizens'
receipts, and bad input that changes nothing."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import httpx

from tests.casekit import (
    COMPOUND,
    FARMLAND,
    JIANGYUAN,
    NR_HJ,
    RED_FLAG,
    START,
    STREET,
    UE_HJ,
    lonlat,
)
from tests.test_evidence import PDF, jpeg_at
from weijian.cases import history
from weijian.cases.challenge import solve, solves


def states(case: dict) -> list[str]:
    return [e["to_state"] for e in case["events"] if e["from_state"] != e["to_state"]]


def deadline(case: dict, code: str) -> dict:
    return next(d for d in case["deadlines"] if d["code"] == code)


def when(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


# -- the two lifecycles ------------------------------------------------------------------


def test_new_violation_from_grid_report_to_sign_off(case_api, engine):
    api = case_api
    discovered = START - timedelta(hours=20)
    case = api.report(
        "gridder",
        COMPOUND,
        discovered_at=discovered.isoformat(),
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
    )
    number = case["number"]
    assert number == "HJ-2026-000001"
    assert case["state"] == "reported" and case["state_label"] == "已上报待核查"
    assert case["channel"] == "grid_worker" and case["channel_label"] == "网格员报告"
    assert case["department"]["code"] == UE_HJ
    assert case["grid"] == {
        "district": "220602",
        "town": "220602001",
        "community": "220602001001",
        "compound": "220602001001001",
    }
    assert abs(case["area_m2"] - 100.0) < 0.5  # 10 m × 10 m in Gauss-Krüger
    frozen = case["jurisdiction"]
    assert frozen["department"]["code"] == UE_HJ
    assert frozen["grid"]["compound"]["name"] == "江山花园"
    assert case["rule_version"] == 1 and case["layer_versions"]
    assert deadline(case, "report")["status"] == "met"  # 20 h after discovery
    visit = deadline(case, "site_visit")
    assert when(visit["due"]) == START + timedelta(days=1)
    assert visit["status"] == "pending"
    assert [a["action"] for a in api.case("ue_hj", number)["actions"]] == [
        "site_visit",
        "transfer",
    ]

    api.clock.advance(hours=5)
    photo = api.photo("ue_hj", number)
    case = api.act("ue_hj", number, "site_visit", evidence=[photo], note="现场确认在建")
    assert deadline(case, "site_visit")["status"] == "met"
    api.act("ue_hj", number, "confirm")
    notice = api.document("ue_hj", number)
    api.act("ue_hj", number, "stop_order", data={"compliance_days": 7}, evidence=[notice])
    api.clock.advance(days=2)
    seal_photo = api.photo("ue_hj", number, offset_m=20)
    seal_doc = api.document("ue_hj", number, "查封决定书")
    api.act("ue_hj", number, "seal", evidence=[seal_photo, seal_doc], note="拒不停止施工")
    api.act("ue_hj", number, "demolish_continued", data={"method": "forced"}, evidence=[seal_photo])
    # the town checks the site; a grid worker cannot sign the case off
    town_photo = api.photo("town1", number)
    api.act("town1", number, "verify", evidence=[town_photo])
    refused = api.act("gridder", number, "sign_off", expect=403)
    assert "grid_worker" in refused["detail"] and "sign_off" in refused["detail"]
    assert refused["code"] == "workflow.role_not_allowed"
    assert refused["message"].startswith("角色 grid_worker（网格员）无权执行“销号”（sign_off）")
    case = api.act("ue_hj", number, "sign_off", note="续建部分已拆除")

    assert case["state"] == "signed_off" and case["category"] == "closed"
    assert case["signed_off_at"] and case["closed_at"]
    assert states(case) == [
        "reported",
        "visited",
        "confirmed",
        "stop_ordered",
        "sealed",
        "demolished",
        "verified",
        "signed_off",
    ]
    assert [e["actor"]["role"] for e in case["events"]][-2:] == ["town", "urban_enforcement"]
    assert case["actions"] == [] or all(a["action"] != "sign_off" for a in case["actions"])
    result = history.verify(engine)
    assert result["ok"], result["problems"]
    assert result["events"] == case["event_count"]


def test_backlog_from_ledger_through_determination_to_sign_off(case_api, engine):
    api = case_api
    case = api.report("town1", STREET, track="backlog", channel="patrol", address="新建街道12号")
    number = case["number"]
    assert case["state"] == "ledgered" and case["track_label"] == "存量"
    # no 1-day site-visit clock for the backlog: its clock is the nature determination's
    assert [d["code"] for d in case["deadlines"]] == ["determination"]
    assert case["deadlines"][0]["status"] == "pending"
    # natural resources determine the nature though the city management holds the case
    assert case["department"]["code"] == UE_HJ
    api.act("ue_hj", number, "determine", expect=403)
    opinion = api.document("nr_hj", number, "违法建设性质认定书")
    missing = api.act("nr_hj", number, "determine", expect=422, evidence=[opinion], note="违建")
    assert "disposal" in missing["detail"]
    assert missing["code"] == "workflow.field_missing"
    assert missing["message"].startswith(
        "“性质认定并出具处置意见”需要填写“处置意见”（disposal），可选："
    )
    api.act(
        "nr_hj",
        number,
        "determine",
        data={"disposal": "demolish"},
        evidence=[opinion],
        note="未取得规划许可，应予拆除",
    )
    # demolition by agreement, by the department that holds the case
    api.act("nr_hj", number, "demolish", expect=403, data={"method": "agreed"})
    photo = api.photo("ue_hj", number)
    api.act("ue_hj", number, "demolish", data={"method": "agreed"}, evidence=[photo])
    after = api.photo("ue_hj", number)
    api.act("ue_hj", number, "verify", evidence=[after])
    case = api.act("ue_hj", number, "sign_off")
    assert states(case) == [
        "ledgered",
        "determined",
        "demolished",
        "verified",
        "signed_off",
    ]
    determine = next(e for e in case["events"] if e["action"] == "determine")
    assert determine["actor"]["role"] == "natural_resources"
    assert determine["data"] == {"disposal": "demolish"}
    assert determine["evidence"] == [opinion]
    assert history.verify(engine)["ok"]


def test_backlog_fine_and_confiscate_paths(case_api):
    api = case_api
    for action, data, label in (
        ("fine", {"amount_yuan": 20000}, "已罚款"),
        ("confiscate", {}, "已没收"),
    ):
        number = api.report("supervisor", FARMLAND, track="backlog", channel="media")["number"]
        doc = api.document("nr_hj", number)
        api.act("nr_hj", number, "determine", data={"disposal": action}, evidence=[doc], note="x")
        case = api.act("nr_hj", number, action, data=data, evidence=[doc])
        assert case["state_label"] == label
        assert case["department"]["code"] == NR_HJ


# -- deadlines at the boundary ------------------------------------------------------------


def test_site_visit_on_time_at_the_deadline_and_late_one_second_after(case_api):
    api = case_api
    on_time = api.report("gridder", COMPOUND)["number"]
    late = api.report("town1", STREET, channel="patrol")["number"]
    open_one = api.report("town1", STREET, channel="patrol", description="另一处")["number"]
    photo_a, photo_b = api.photo("ue_hj", on_time), api.photo("ue_hj", late)

    api.clock.set(START + timedelta(days=1))  # exactly the deadline
    case = api.act("ue_hj", on_time, "site_visit", evidence=[photo_a])
    assert deadline(case, "site_visit")["status"] == "met"
    pending = api.case("ue_hj", open_one)
    assert deadline(pending, "site_visit")["status"] == "pending" and not pending["overdue"]
    listed = api.get("/api/v1/cases", "ue_hj", overdue="true").json()
    assert listed["count"] == 0

    api.clock.set(START + timedelta(days=1, seconds=1))
    case = api.act("ue_hj", late, "site_visit", evidence=[photo_b])
    row = deadline(case, "site_visit")
    assert row["status"] == "late" and row["status_label"] == "超时完成"
    overdue = api.case("ue_hj", open_one)
    assert deadline(overdue, "site_visit")["status"] == "overdue" and overdue["overdue"]
    listed = api.get("/api/v1/cases", "ue_hj", overdue="true").json()
    assert [c["number"] for c in listed["items"]] == [open_one]


def test_report_deadline_from_discovery(case_api):
    api = case_api
    late = api.report(
        "property", COMPOUND, discovered_at=(START - timedelta(days=1, seconds=1)).isoformat()
    )
    assert late["channel"] == "property_company"
    assert deadline(late, "report")["status"] == "late"
    assert late["flags"]["late_report"] is True
    just = api.report("property", COMPOUND, discovered_at=(START - timedelta(days=1)).isoformat())
    assert deadline(just, "report")["status"] == "met"


# -- transfer ----------------------------------------------------------------------------


def test_transfer_is_seen_at_once_and_can_be_returned_or_accepted(case_api):
    api = case_api
    number = api.report("town1", STREET, channel="leadership")["number"]
    hidden = api.get(f"/api/v1/cases/{number}", "ue_jy")
    assert hidden.status_code == 404
    assert hidden.json()["code"] == "case.not_found"
    assert hidden.json()["message"].startswith(f"未找到案件 {number}（或不在您的权限范围内）")
    assert hidden.json()["detail"] == f"no case {number} within your scope"

    version = api.case("ue_hj", number)["version"]
    bad = api.post(
        f"/api/v1/cases/{number}/transfer",
        "ue_hj",
        json={
            "to_department": "nowhere",
            "reason": "outside_remit",
            "note": "x",
            "version": version,
        },
    )
    assert bad.status_code == 422 and "nowhere" in bad.json()["detail"]
    moved = api.post(
        f"/api/v1/cases/{number}/transfer",
        "ue_hj",
        json={
            "to_department": NR_HJ,
            "reason": "outside_remit",
            "note": "位于耕地，属自然资源部门",
            "version": version,
        },
    )
    assert moved.status_code == 200, moved.text
    case = moved.json()
    assert case["state"] == "transferred" and case["department"]["code"] == NR_HJ
    assert case["transfer"]["from_department"]["code"] == UE_HJ
    # the receiver sees it at once, in its list and in full
    listed = api.get("/api/v1/cases", "nr_hj", state="transferred").json()
    assert [c["number"] for c in listed["items"]] == [number]
    assert {a["action"] for a in api.case("nr_hj", number)["actions"]} == {
        "accept_transfer",
        "return_transfer",
    }
    api.act("ue_hj", number, "accept_transfer", expect=403)  # not the receiver
    api.act("nr_hj", number, "return_transfer", expect=422)  # a return needs a reason
    case = api.act("nr_hj", number, "return_transfer", note="位于城市化管理区域，退回")
    assert case["state"] == "reported" and case["department"]["code"] == UE_HJ
    assert case["transfer"] is None

    api.post(
        f"/api/v1/cases/{number}/transfer",
        "ue_hj",
        json={
            "to_department": NR_HJ,
            "reason": "not_illegal_construction",
            "note": "再次移交",
            "version": case["version"],
        },
    )
    case = api.act("nr_hj", number, "accept_transfer")
    assert case["state"] == "reported" and case["department"]["code"] == NR_HJ
    assert [e["action"] for e in case["events"]][1:] == [
        "transfer",
        "return_transfer",
        "transfer",
        "accept_transfer",
    ]


def test_reopen_a_signed_off_case(case_api):
    api = case_api
    number = api.report("town1", STREET, channel="patrol")["number"]
    photo = api.photo("ue_hj", number)
    api.act("ue_hj", number, "site_visit", evidence=[photo])
    api.act("ue_hj", number, "dismiss", note="临时搭建，已自行拆除")
    api.act(
        "gridder", number, "reopen", expect=404, version=1
    )  # outside the grid worker's compound
    api.act("town1", number, "reopen", expect=403, note="x")
    api.clock.advance(days=10)
    case = api.act("supervisor", number, "reopen", note="群众再次反映")
    assert case["state"] == "reported" and case["category"] == "open"
    assert case["closed_at"] is None
    visit = deadline(case, "site_visit")
    assert when(visit["start"]) == api.clock.now() and visit["status"] == "pending"


def test_the_routes_own_refusals_read_chinese_with_a_code(case_api):
    api = case_api
    anonymous = api.get("/api/v1/cases")
    assert anonymous.status_code == 401
    assert anonymous.json()["code"] == "auth.required"
    assert anonymous.json()["message"].startswith("请先登录")
    assert anonymous.json()["detail"] == "this needs a logged-in user"
    bad_box = api.get("/api/v1/cases", "supervisor", bbox="1,2")
    assert bad_box.status_code == 422 and bad_box.json()["code"] == "list.bbox_invalid"
    assert bad_box.json()["message"].startswith("范围 bbox“1,2”格式不正确")
    number = api.report("town1", STREET, channel="patrol")["number"]
    r = httpx.post(
        f"{api.url}/api/v1/cases/{number}/transitions",
        headers={**api.headers("ue_hj"), "If-Match": "latest"},
        json={"action": "site_visit"},
        timeout=60,
    )
    assert r.status_code == 422 and r.json()["code"] == "case.version_invalid"
    assert r.json()["message"] == "请求头 If-Match 的值“latest”不是案件版本号，应为整数，如 3"
    assert r.json()["detail"] == "If-Match 'latest' is not a case version number"
    refused = api.post("/api/v1/jurisdiction/refresh", "supervisor")
    assert refused.status_code == 403 and refused.json()["code"] == "permission.admin_required"
    assert refused.json()["message"].startswith("此操作仅限系统管理员；您当前是 supervisor")


# -- scope -------------------------------------------------------------------------------


def test_a_town_cannot_read_or_change_another_towns_case(case_api):
    api = case_api
    mine = api.report("town1", STREET, channel="patrol")["number"]
    theirs = api.report("town2", RED_FLAG, channel="patrol")["number"]
    assert api.get(f"/api/v1/cases/{theirs}", "town1").status_code == 404
    r = api.post(
        f"/api/v1/cases/{theirs}/transitions",
        "town1",
        json={"action": "site_visit", "version": 1},
    )
    assert r.status_code == 404
    r = api.post(
        f"/api/v1/cases/{theirs}/evidence",
        "town1",
        files={"file": ("a.jpg", jpeg_at(*lonlat(RED_FLAG)), "image/jpeg")},
    )
    assert r.status_code == 404
    assert [c["number"] for c in api.get("/api/v1/cases", "town1").json()["items"]] == [mine]
    assert [c["number"] for c in api.get("/api/v1/cases", "town2").json()["items"]] == [theirs]
    both = {c["number"] for c in api.get("/api/v1/cases", "supervisor").json()["items"]}
    assert both == {mine, theirs}
    # the unassigned case of 红旗街道 is read by the district's departments
    assert api.get(f"/api/v1/cases/{theirs}", "ue_hj").status_code == 200
    assert api.get(f"/api/v1/cases/{theirs}", "ue_jy").status_code == 404
    # a grid worker reports only inside its own grid
    r = api.post(
        "/api/v1/cases",
        "gridder",
        json={
            "lon": lonlat(RED_FLAG)[0],
            "lat": lonlat(RED_FLAG)[1],
            "crs": "cgcs2000",
            "description": "x",
        },
    )
    assert r.status_code == 403 and "grid" in r.json()["detail"]
    assert r.json()["code"] == "report.outside_your_grid"
    assert r.json()["message"].startswith("该位置不在您负责的网格")


def test_list_filters_and_paging(case_api):
    api = case_api
    numbers = []
    for i in range(7):
        api.clock.advance(minutes=1)
        numbers.append(
            api.report("town1", STREET, channel="patrol", description=f"第{i}处")["number"]
        )
    backlog = api.report("supervisor", FARMLAND, track="backlog", channel="media")["number"]
    jy = api.report("supervisor", JIANGYUAN, channel="hotline")["number"]
    page = api.get("/api/v1/cases", "supervisor", limit=4, with_total="true").json()
    assert page["total"] == 9 and page["count"] == 4
    seen = [c["number"] for c in page["items"]]
    while page["next_cursor"]:
        page = api.get("/api/v1/cases", "supervisor", limit=4, cursor=page["next_cursor"]).json()
        seen += [c["number"] for c in page["items"]]
    assert len(seen) == 9 and len(set(seen)) == 9
    assert seen[:2] == [jy, backlog]  # newest first
    assert {
        c["number"] for c in api.get("/api/v1/cases", "supervisor", grid="220605").json()["items"]
    } == {jy}
    assert [
        c["number"] for c in api.get("/api/v1/cases", "supervisor", track="backlog").json()["items"]
    ] == [backlog]
    x0, y0 = lonlat((4.1, 0.1))
    x1, y1 = lonlat((4.9, 0.9))
    inside = api.get("/api/v1/cases", "supervisor", bbox=f"{x0},{y0},{x1},{y1}").json()
    assert [c["number"] for c in inside["items"]] == [jy]
    period = api.get(
        "/api/v1/cases",
        "supervisor",
        **{
            "from": (START + timedelta(minutes=2)).isoformat(),
            "to": (START + timedelta(minutes=4)).isoformat(),
        },
    ).json()
    assert len(period["items"]) == 2
    assert (
        api.get("/api/v1/cases", "supervisor", q=numbers[3]).json()["items"][0]["number"]
        == (numbers[3])
    )
    # a part of a number, as people read them out (000054); % and _ are only characters
    tail = numbers[3].rsplit("-", 1)[1]
    found = api.get("/api/v1/cases", "supervisor", q=tail).json()["items"]
    assert numbers[3] in [c["number"] for c in found]
    assert all(tail in c["number"] or tail in (c["address"] or "") for c in found)
    assert api.get("/api/v1/cases", "supervisor", q="%").json()["items"] == []
    assert api.get("/api/v1/cases", "supervisor", q="_").json()["items"] == []
    for bad in (
        {"bbox": "1,2,3"},
        {"state": "nonsense"},
        {"cursor": "%%%"},
        {"limit": 0},
        {"grid": "999"},
    ):
        r = api.get("/api/v1/cases", "supervisor", **bad)
        assert 400 <= r.status_code < 500, (bad, r.status_code, r.text)
    # the person reads what is wrong in Chinese; a program keys on the code
    body = api.get("/api/v1/cases", "supervisor", cursor="%%%").json()
    assert body["code"] == "list.cursor_invalid"
    assert body["message"].startswith("翻页游标 cursor 无效")
    assert body["detail"] == "the cursor is not one this server gave out"
    body = api.get("/api/v1/cases", "supervisor", state="nonsense").json()
    assert body["code"] == "workflow.state_unknown"
    assert body["message"].startswith("案件状态“nonsense”不存在，可用的状态：")
    assert "reported（已上报待核查）" in body["message"]
    assert body["detail"] == "unknown state 'nonsense'"


# -- duplicates, merges and rebounds -----------------------------------------------------


def test_duplicates_offered_linked_and_merged(case_api, engine):
    api = case_api
    first = api.report("town1", STREET, channel="patrol")
    assert first["possible_duplicates"] == []
    x, y = STREET
    near = api.report("town1", (x + 0.02, y), channel="patrol")  # 20 m east
    assert [d["number"] for d in near["possible_duplicates"]] == [first["number"]]
    assert abs(near["possible_duplicates"][0]["distance_m"] - 20.0) < 0.5
    far = api.report("town1", (x - 0.04, y), channel="patrol")  # 40 m west: no duplicate
    assert far["possible_duplicates"] == []

    r = api.post(
        f"/api/v1/cases/{far['number']}/links",
        "ue_hj",
        json={"other": first["number"], "kind": "related", "note": "同一业主"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["links"][0]["number"] == first["number"]
    r = api.post(
        f"/api/v1/cases/{near['number']}/merge",
        "ue_hj",
        json={"into": first["number"], "version": near["version"], "note": "同一违建重复上报"},
    )
    assert r.status_code == 200, r.text
    merged = r.json()
    assert merged["state"] == "merged" and merged["merged_into"] == first["number"]
    kept = api.case("ue_hj", first["number"])
    assert kept["events"][-1]["action"] == "merged_from"
    assert kept["events"][-1]["data"] == {"from": near["number"]}
    assert (
        api.post(
            f"/api/v1/cases/{near['number']}/merge",
            "ue_hj",
            json={"into": first["number"], "version": merged["version"]},
        ).status_code
        == 409
    )
    assert history.verify(engine)["ok"]


def test_a_new_case_near_a_signed_off_one_is_a_rebound(case_api):
    api = case_api
    old = api.report("town1", STREET, channel="patrol")["number"]
    photo = api.photo("ue_hj", old)
    api.act("ue_hj", old, "site_visit", evidence=[photo])
    api.act("ue_hj", old, "confirm")
    api.act(
        "ue_hj",
        old,
        "stop_order",
        data={"compliance_days": 7},
        evidence=[api.document("ue_hj", old)],
    )
    api.act("ue_hj", old, "demolish_continued", data={"method": "self"}, evidence=[photo])
    api.act("ue_hj", old, "verify", evidence=[api.photo("ue_hj", old)])
    api.act("ue_hj", old, "sign_off")
    api.clock.advance(days=200)
    x, y = STREET
    again = api.report("town1", (x, y + 0.045), channel="patrol")  # 45 m north
    assert again["flags"]["rebound"]["of"] == old
    assert again["rebound_of"] == old
    assert again["possible_duplicates"] == []  # the old one is closed
    away = api.report("town1", (x, y + 0.06), channel="patrol")  # 60 m
    assert "rebound" not in away["flags"]
    api.clock.advance(days=200)  # more than 12 months after the sign-off
    late = api.report("town1", (x, y + 0.045), channel="patrol")
    assert "rebound" not in late["flags"]


# -- citizens ----------------------------------------------------------------------------


def test_citizen_reports_anonymously_and_reads_only_its_receipt(case_api):
    api = case_api
    lon, lat = lonlat(STREET)
    r = api.post(
        "/api/v1/cases",
        json={
            "lon": lon,
            "lat": lat,
            "crs": "cgcs2000",
            "description": "邻居院内在建房屋",
            "reporter_phone": "13700000000",
        },
    )
    assert r.status_code == 201, r.text
    case = r.json()
    assert case["channel"] == "citizen" and case["receipt"]
    assert case["reporter"] is None  # not echoed back to an anonymous caller
    receipt = api.get(f"/api/v1/receipts/{case['receipt']}").json()
    assert receipt == {
        "number": case["number"],
        "state": "reported",
        "state_label": "已上报待核查",
        "category": "open",
        "reported_at": receipt["reported_at"],
        "updated_at": receipt["updated_at"],
        "closed_at": None,
        "timeline": [
            {"at": receipt["reported_at"], "text": f"已受理您的举报，案件编号 {case['number']}"}
        ],
        "outcome": None,
        "outcome_at": None,
        "rating": None,
        "can_rate": False,
    }
    assert api.get(f"/api/v1/receipts/{case['receipt']}x").status_code == 404
    assert api.get(f"/api/v1/cases/{case['number']}").status_code == 401
    assert api.get("/api/v1/cases").status_code == 401
    r = api.post(
        "/api/v1/cases",
        json={"lon": lon, "lat": lat, "crs": "cgcs2000", "description": "x", "channel": "hotline"},
    )
    assert r.status_code == 403
    # three an hour from one address (this test's setting), then each needs a proof of work
    for _ in range(2):
        api.report(None, STREET)
    body = {"lon": lon, "lat": lat, "crs": "cgcs2000", "description": "x"}
    r = api.post("/api/v1/cases", json=body)
    assert r.status_code == 429 and "proof of work" in r.json()["detail"]
    assert r.json()["code"] == "report.challenge_required"
    assert "一小时内已提交 3 件匿名举报" in r.json()["message"]
    challenge = api.post("/api/v1/challenges").json()
    assert challenge["bits"] == api.settings.citizen_challenge_bits
    nonce = challenge["nonce"]
    answer = solve(nonce, challenge["bits"])
    wrong = next(
        n for n in range(answer + 1, answer + 10**6) if not solves(nonce, n, challenge["bits"])
    )
    unknown = nonce[:-1] + ("1" if nonce[-1] == "0" else "0")  # never the nonce itself
    for bad, why in ((f"{nonce}:{wrong}", "答案不正确"), (f"{unknown}:1", "已过期或不存在")):
        r = api.post("/api/v1/cases", json=body, headers={"X-Weijian-Challenge": bad})
        assert r.status_code == 422 and r.json()["code"] == "report.challenge_invalid", r.text
        assert why in r.json()["message"]
    solved = {"X-Weijian-Challenge": f"{nonce}:{answer}"}
    r = api.post("/api/v1/cases", json=body, headers=solved)
    assert r.status_code == 201, r.text
    r = api.post("/api/v1/cases", json=body, headers=solved)  # used once only
    assert r.status_code == 422 and "已使用过" in r.json()["message"]
    stale = api.post("/api/v1/challenges").json()
    api.clock.advance(minutes=11)
    late = f"{stale['nonce']}:{solve(stale['nonce'], stale['bits'])}"
    r = api.post("/api/v1/cases", json=body, headers={"X-Weijian-Challenge": late})
    assert r.status_code == 422 and "已过期" in r.json()["message"]
    api.clock.advance(hours=1, seconds=1)
    api.report(None, STREET)


def test_the_reporter_follows_the_case_reads_the_outcome_and_rates_it(case_api):
    """随手拍 · 大家评 · 政府查 over the API: the receipt's timeline in plain words (never a note,
    a name or evidence), the outcome an officer writes for the public, one rating once closed."""
    api = case_api
    made = api.report(None, STREET, description="邻居院内在建房屋", reporter_phone="13700000001")
    receipt, number = made["receipt"], made["number"]
    rate = f"/api/v1/receipts/{receipt}/rating"
    r = api.post(rate, json={"score": 5})
    assert r.status_code == 409 and r.json()["code"] == "rating.case_open"
    assert "办结后即可评价" in r.json()["message"]
    sha = api.photo("ue_hj", number)
    api.act("ue_hj", number, "site_visit", evidence=[sha], note="内部备注：当事人张某某")
    outcome = f"/api/v1/cases/{number}/public-outcome"
    r = api.send("PUT", outcome, "town1", json={"text": "已拆除"})
    assert r.status_code == 403 and r.json()["code"] == "public.outcome_not_allowed"
    r = api.send("PUT", outcome, "ue_hj", json={"text": "  "})
    assert r.status_code == 422 and r.json()["code"] == "public.outcome_missing"
    words = "经现场核查，该处为临时遮阳棚，当事人已自行拆除。感谢您的举报。"
    r = api.send("PUT", outcome, "ue_hj", json={"text": words})
    assert r.status_code == 200, r.text
    api.act("ue_hj", number, "dismiss", note="不构成违法建设（内部意见）")
    seen = api.get(f"/api/v1/receipts/{receipt}").json()
    assert [t["text"] for t in seen["timeline"]] == [
        f"已受理您的举报，案件编号 {number}",
        "执法人员已到现场核查",
        "办理部门公布了办理结果",
        "经核查，不构成违法建设",
    ]
    assert seen["outcome"] == words and seen["can_rate"] and seen["closed_at"]
    shown = json.dumps(seen, ensure_ascii=False)
    for private in ("内部", "张某某", "ue_hj", "13700000001", sha):
        assert private not in shown, private
    for bad in ({"score": 0}, {"score": 6}, {"score": "5"}, {"score": True}):
        r = api.post(rate, json=bad)
        assert r.status_code == 422, bad
    r = api.post(rate, json={"score": 4, "comment": "处理及时"})
    assert r.status_code == 200, r.text
    assert r.json()["rating"]["score"] == 4 and r.json()["can_rate"] is False
    r = api.post(rate, json={"score": 1})
    assert r.status_code == 409 and r.json()["code"] == "rating.already_given"
    assert api.get(f"/api/v1/receipts/{receipt}").json()["rating"]["comment"] == "处理及时"
    # the outcome is a step of the case's own history
    events = api.get(f"/api/v1/cases/{number}", "supervisor").json()["events"]
    assert [e["label"] for e in events if e["action"] == "public_outcome"] == ["公布办理结果"]


def test_login_tokens_expire_and_passwords_are_checked(case_api):
    api = case_api
    r = api.post("/api/v1/auth/login", json={"username": "ue_hj", "password": "wrong-one"})
    assert r.status_code == 401
    r = api.post("/api/v1/auth/login", json={"username": "nobody", "password": "wrong-one"})
    assert r.status_code == 401
    r = api.post("/api/v1/auth/token", data={"username": "ue_hj", "password": "test-password"})
    assert r.status_code == 200
    token = r.json()["access_token"]
    me = httpx.get(f"{api.url}/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert me.json()["department_code"] == UE_HJ and me.json()["grid_code"] == "220602"
    api.clock.advance(hours=api.settings.token_hours, seconds=1)
    me = httpx.get(f"{api.url}/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 401 and "expired" in me.json()["detail"]
    assert me.json()["code"] == "auth.token_expired"
    assert me.json()["message"] == "登录已过期，请重新登录"


# -- bad input changes nothing ------------------------------------------------------------


def _count(api) -> int:
    return api.get("/api/v1/cases", "supervisor", with_total="true").json()["total"]


def test_bad_reports_are_4xx_and_create_nothing(case_api):
    api = case_api
    lon, lat = lonlat(STREET)
    bad = [
        ({"description": "没有位置"}, 422, "no location"),
        ({"lon": 116.397, "lat": 39.909, "description": "北京"}, 422, "outside the city"),
        (
            {"lon": lon, "lat": lat, "crs": "cgcs2000", "description": "x", "channel": "fax"},
            422,
            "unknown source channel",
        ),
        ({"lon": lon, "lat": lat, "crs": "cgcs2000", "description": ""}, 422, "description"),
        ({"lon": lat, "lat": lon, "description": "x"}, 422, ""),
        (
            {
                "lon": lon,
                "lat": lat,
                "crs": "cgcs2000",
                "description": "x",
                "footprint": {"type": "Point", "coordinates": [lon, lat]},
            },
            422,
            "Polygon",
        ),
        (
            {
                "lon": lon,
                "lat": lat,
                "crs": "cgcs2000",
                "description": "x",
                "discovered_at": (START + timedelta(days=2)).isoformat(),
            },
            422,
            "discovered_at",
        ),
        ({"lon": lon, "lat": lat, "crs": "nonsense", "description": "x"}, 422, ""),
    ]
    for body, status, words in bad:
        r = api.post("/api/v1/cases", "supervisor", json={"channel": "patrol", **body})
        assert r.status_code == status, (body, r.text)
        assert words in r.json()["detail"] if isinstance(r.json()["detail"], str) else True
    assert _count(api) == 0


def test_bad_evidence_and_transitions_are_4xx_and_change_nothing(case_api, engine):
    api = case_api
    number = api.report("town1", STREET, channel="patrol")["number"]
    before = api.case("ue_hj", number)

    big = b"\xff\xd8\xff\xe0" + bytes(50 * 1024 * 1024)  # a 50 MB "photo"
    r = api.post(
        f"/api/v1/cases/{number}/evidence",
        "ue_hj",
        files={"file": ("big.jpg", big, "image/jpeg")},
        data={"kind": "photo"},
    )
    assert r.status_code == 413 and "MB" in r.json()["detail"]
    r = api.post(
        f"/api/v1/cases/{number}/evidence",
        "ue_hj",
        files={"file": ("照片.jpg", PDF, "image/jpeg")},
        data={"kind": "photo"},
    )
    assert r.status_code == 422 and "PDF" in r.json()["detail"]
    r = api.post(
        f"/api/v1/cases/{number}/evidence",
        "ue_hj",
        files={"file": ("x.exe", b"MZ" + bytes(100), "application/octet-stream")},
        data={"kind": "document"},
    )
    assert r.status_code == 422
    api.act("ue_hj", number, "confirm", expect=409, version=before["version"])  # not visited
    api.act("ue_hj", number, "site_visit", expect=422)  # no photo
    api.act("ue_hj", number, "site_visit", expect=422, evidence=["0" * 64])  # not uploaded
    api.act("ue_hj", number, "fly", expect=422)
    api.act("ue_hj", number, "site_visit", expect=422, version=None)  # no version
    api.act("gridder", number, "site_visit", expect=404, version=1)  # outside its compound
    after = api.case("ue_hj", number)
    assert after["version"] == before["version"]
    assert after["events"] == before["events"]
    assert after["evidence"] == []
    assert history.verify(engine)["ok"]


def test_far_photo_is_flagged(case_api):
    api = case_api
    number = api.report("town1", STREET, channel="patrol")["number"]
    lon, lat = lonlat(STREET)
    far = jpeg_at(lon, lat + 150 / 111_000)
    r = api.post(
        f"/api/v1/cases/{number}/evidence",
        "ue_hj",
        files={"file": ("far.jpg", far, "image/jpeg")},
        data={"kind": "photo"},
    )
    assert r.status_code == 201
    body = r.json()
    assert body["flagged"] and 140 < body["distance_m"] < 160
    assert "超过 100 米" in body["flag_reason"]
    near = api.post(
        f"/api/v1/cases/{number}/evidence",
        "ue_hj",
        files={"file": ("near.jpg", jpeg_at(lon, lat + 50 / 111_000), "image/jpeg")},
        data={"kind": "photo"},
    ).json()
    assert not near["flagged"]
    case = api.case("ue_hj", number)
    assert [e["flagged"] for e in case["evidence"]] == [True, False]
    download = api.get(f"/api/v1/cases/{number}/evidence/{body['sha256']}", "ue_hj")
    assert download.status_code == 200 and download.content == far
    assert api.get(f"/api/v1/cases/{number}/evidence/{body['sha256']}", "town2").status_code == 404


def test_assign_an_officer_of_the_holding_department(case_api):
    api = case_api
    case = api.report("town1", STREET, channel="patrol")
    number = case["number"]
    r = api.post(
        f"/api/v1/cases/{number}/assign",
        "ue_hj",
        json={"username": "ue_hj2", "version": case["version"]},
    )
    assert r.status_code == 200, r.text
    assigned = r.json()
    assert assigned["assignee_user_id"] is not None
    assert assigned["events"][-1]["action"] == "assign"
    assert assigned["events"][-1]["data"]["assignee_name"] == "ue_hj2-姓名"
    assert assigned["version"] == case["version"] + 1
    # another department's officer cannot be given the case; a town cannot assign
    r = api.post(
        f"/api/v1/cases/{number}/assign",
        "ue_hj",
        json={"username": "nr_hj", "version": assigned["version"]},
    )
    assert r.status_code == 422 and "does not belong" in r.json()["detail"]
    assert r.json()["code"] == "assign.not_in_department"
    assert r.json()["message"].startswith("nr_hj 不属于")
    r = api.post(
        f"/api/v1/cases/{number}/assign",
        "town1",
        json={"username": "ue_hj", "version": assigned["version"]},
    )
    assert r.status_code == 403
    r = api.post(
        f"/api/v1/cases/{number}/assign",
        "ue_hj",
        json={"username": "ue_hj", "version": case["version"]},
    )
    assert r.status_code == 409
