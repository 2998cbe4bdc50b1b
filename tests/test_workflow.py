"""The domain core of case handling, without a database or HTTP: the enforcement workflow as data
(``weijian.cases.workflow`` and its seed ``workflow.json``), deadlines on calendar and working
days (``weijian.cases.deadlines``) and what a principal may read (``weijian.cases.scope``), in
Python and as the SQL condition that must say the same thing.

Every expected value below was worked out by hand from the seed document and the 2026 calendar
(2026-03-02 is a Monday).
"""

from __future__ import annotations

import copy
import json
import re
import sqlite3
from collections import Counter, deque
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from weijian.cases.deadlines import WorkCalendar, evaluate, load_calendar, status_of
from weijian.cases.scope import Principal, scope_sql
from weijian.cases.workflow import (
    ADMIN,
    BEFORE_TRANSFER,
    INITIAL,
    default_document,
    default_workflow,
    parse,
)
from weijian.errors import ConflictError, InputError, PermissionDenied

BEIJING = timezone(timedelta(hours=8))
WF = default_workflow()
#: the first seeded workflow (a report and a site-visit deadline only): the deadline engine
#: keeps answering for the documents cities have in force
WF_V1 = parse(
    json.loads(
        (
            Path(__file__).resolve().parent.parent
            / "weijian/db/migrations/versions/0003_workflow.json"
        ).read_text(encoding="utf-8")
    )
)


def at(day: str, clock: str = "09:00:00", tz=BEIJING) -> datetime:
    return datetime.fromisoformat(f"{day}T{clock}").replace(tzinfo=tz)


# -- 1. the seed workflow ------------------------------------------------------------------


def test_default_workflow_parses_with_chinese_labels():
    assert WF.name.startswith("违法建设查处流程")
    assert len(WF.states) == 15
    for state in WF.states.values():
        assert state.label != state.code
        assert any("\u4e00" <= ch <= "\u9fff" for ch in state.label), state
    for transition in WF.transitions.values():
        assert any("\u4e00" <= ch <= "\u9fff" for ch in transition.label), transition


def test_closed_and_open_states():
    assert sorted(WF.closed_states) == ["merged", "not_violation", "signed_off"]
    assert sorted(WF.open_states) == sorted(
        set(WF.states) - {"merged", "not_violation", "signed_off"}
    )
    assert WF.is_open("reported") and not WF.is_open("signed_off")
    with pytest.raises(InputError, match="unknown state 'nowhere'"):
        WF.is_open("nowhere")


def test_tracks_and_initial_states():
    assert WF.initial("new") == "reported"
    assert WF.initial("backlog") == "ledgered"
    assert all(WF.tracks[t]["initial"] in WF.states for t in WF.tracks)
    with pytest.raises(InputError, match="unknown track 'old'"):
        WF.initial("old")


def _expand(target: str) -> set[str]:
    """The concrete states a transition's target can stand for."""
    if target == BEFORE_TRANSFER:
        return set(WF.transitions["transfer"].sources)
    if target == INITIAL:
        return {spec["initial"] for spec in WF.tracks.values()}
    return {target}


def test_every_state_but_the_initial_ones_is_reached_by_a_transition():
    reached = set().union(*(_expand(t.target) for t in WF.transitions.values()))
    initial = {spec["initial"] for spec in WF.tracks.values()}
    # 'merged' is set by the merge operation (CaseService.merge), not by a transition.
    assert set(WF.states) - initial - reached == {"merged"}


def _reachable(start: str) -> set[str]:
    seen, queue = {start}, deque([start])
    while queue:
        state = queue.popleft()
        for t in WF.transitions.values():
            if state in t.sources:
                for nxt in _expand(t.target) - seen:
                    seen.add(nxt)
                    queue.append(nxt)
    return seen


@pytest.mark.parametrize("state", WF.open_states)
def test_every_open_state_can_reach_signed_off(state):
    assert "signed_off" in _reachable(state)


def _walk(steps: list[str]) -> None:
    """``steps`` alternate state, action, state, …: each action goes from the one to the next."""
    for i in range(0, len(steps) - 2, 2):
        source, action, target = steps[i : i + 3]
        t = WF.transitions[action]
        assert source in t.sources, (action, source)
        assert t.target == target, (action, t.target, target)


def test_new_track_sequence():
    _walk(
        [
            "reported",
            "site_visit",
            "visited",
            "confirm",
            "confirmed",
            "stop_order",
            "stop_ordered",
            "seal",
            "sealed",
            "demolish_continued",
            "demolished",
            "verify",
            "verified",
            "sign_off",
            "signed_off",
        ]
    )


@pytest.mark.parametrize(
    ("action", "outcome"),
    [("demolish", "demolished"), ("fine", "fined"), ("confiscate", "confiscated")],
)
def test_backlog_track_sequence(action, outcome):
    _walk(
        [
            "ledgered",
            "determine",
            "determined",
            action,
            outcome,
            "verify",
            "verified",
            "sign_off",
            "signed_off",
        ]
    )


@pytest.mark.parametrize("role", sorted(WF.roles))
def test_determine_only_by_natural_resources(role):
    determine = WF.transitions["determine"]
    assert determine.roles == ("natural_resources",)
    expected = role in ("natural_resources", ADMIN)
    assert WF.may(determine, role, is_holder=True) is expected
    assert WF.may(determine, role, is_holder=False) is expected


# -- 2. Workflow.check ---------------------------------------------------------------------

PHOTO = Counter({"photo": 1})
BOTH = Counter({"photo": 1, "document": 1})


def test_grid_worker_may_not_sign_off():
    with pytest.raises(PermissionDenied) as err:
        WF.check("sign_off", state="verified", role="grid_worker", is_holder=True)
    assert "grid_worker" in err.value.message and "网格员" in err.value.message
    assert "sign_off" in err.value.message and "销号" in err.value.message
    assert "城管执法部门" in err.value.hint
    assert err.value.code == "workflow.role_not_allowed"
    assert err.value.message.startswith("角色 grid_worker（网格员）无权执行“销号”（sign_off）")
    assert err.value.en.startswith("the role grid_worker (网格员) may not take the action")


def test_department_not_holding_may_not_site_visit():
    with pytest.raises(PermissionDenied) as err:
        WF.check(
            "site_visit",
            state="reported",
            role="urban_enforcement",
            is_holder=False,
            evidence_kinds=PHOTO,
        )
    assert "only be taken by the department holding the case" in err.value.en
    assert "现场核查" in err.value.message
    assert "只能由承办该案件的部门办理" in err.value.message
    assert err.value.code == "workflow.holder_only"
    # the same user, holding the case
    t = WF.check(
        "site_visit",
        state="reported",
        role="urban_enforcement",
        is_holder=True,
        evidence_kinds=PHOTO,
    )
    assert t.target == "visited"


def test_town_may_site_visit_without_holding():
    assert "town" not in WF.department_roles
    t = WF.check("site_visit", state="reported", role="town", is_holder=False, evidence_kinds=PHOTO)
    assert t.action == "site_visit"


@pytest.mark.parametrize("action", list(WF.transitions))
def test_admin_may_take_every_action(action):
    assert WF.may(WF.transitions[action], ADMIN, is_holder=False)


def test_admin_still_needs_the_right_state():
    with pytest.raises(ConflictError):
        WF.check("sign_off", state="reported", role=ADMIN, is_holder=False)


def test_available_actions():
    codes = [t.action for t in WF.available("visited", "town", is_holder=False)]
    assert codes == ["register_backlog"]
    codes = [t.action for t in WF.available("visited", "urban_enforcement", is_holder=True)]
    assert codes == ["confirm", "register_backlog", "dismiss", "transfer"]
    assert WF.available("visited", "urban_enforcement", is_holder=False) == []


def test_confirm_from_reported_is_a_conflict():
    with pytest.raises(ConflictError) as err:
        WF.check("confirm", state="reported", role="urban_enforcement", is_holder=True)
    assert "已上报待核查" in err.value.message and "reported" in err.value.message
    assert err.value.hint == "it is allowed from: 已现场核查"
    assert err.value.code == "workflow.action_not_allowed"
    assert err.value.message == (
        "案件当前为“已上报待核查”（reported），不能进行“认定为违法建设”；"
        "此操作只能在以下状态进行：已现场核查"
    )
    assert err.value.en == (
        "“认定为违法建设” is not allowed while the case is “已上报待核查” (reported)"
    )


def test_unknown_action():
    with pytest.raises(InputError, match="unknown action 'bulldoze'"):
        WF.check("bulldoze", state="reported", role=ADMIN, is_holder=True)


def _demolish(data):
    return WF.check(
        "demolish",
        state="determined",
        role="urban_enforcement",
        is_holder=True,
        data=data,
        evidence_kinds=PHOTO,
    )


@pytest.mark.parametrize("data", [None, {}, {"method": ""}, {"method": None}])
def test_demolish_needs_a_method(data):
    with pytest.raises(InputError) as err:
        _demolish(data)
    assert "拆除方式" in err.value.message and "method" in err.value.message
    for choice in (
        "self（业主自拆）",
        "agreed（协议拆除）",
        "assisted（城管帮拆）",
        "forced（强制拆除）",
    ):
        assert choice in err.value.hint


def test_demolish_method_must_be_a_choice():
    with pytest.raises(InputError) as err:
        _demolish({"method": "bulldoze"})
    assert "'bulldoze'" in err.value.en and "拆除方式" in err.value.en
    assert "forced（强制拆除）" in err.value.hint
    assert err.value.code == "workflow.field_choice_invalid"
    assert err.value.message.startswith("“拆除方式”（method）的值“bulldoze”不在可选范围内，可选：")
    assert "forced（强制拆除）" in err.value.message
    assert _demolish({"method": "forced"}).target == "demolished"


@pytest.mark.parametrize("value", [["self"], {"self": 1}])
def test_demolish_method_of_the_wrong_type_is_an_input_error(value):
    # The API passes TransitionIn.data (dict[str, Any]) straight through: a JSON list or
    # object must be a 422, not a TypeError (500).
    with pytest.raises(InputError):
        _demolish({"method": value})


def _fine(amount):
    return WF.check(
        "fine",
        state="determined",
        role="natural_resources",
        is_holder=True,
        data={"amount_yuan": amount},
        evidence_kinds=Counter({"document": 1}),
    )


@pytest.mark.parametrize("amount", ["-5", "abc", -0.01, "nan"])
def test_fine_amount_must_be_a_number_at_least_zero(amount):
    with pytest.raises(InputError, match="amount_yuan"):
        _fine(amount)


@pytest.mark.parametrize("amount", ["inf", "Infinity", "1e400"])
def test_fine_amount_must_be_finite(amount):
    with pytest.raises(InputError, match="amount_yuan"):
        _fine(amount)


@pytest.mark.parametrize("amount", ["0", 0, "5000", 5000.5])
def test_fine_amount_accepted(amount):
    assert _fine(amount).target == "fined"


@pytest.mark.parametrize("note", [None, "", "   "])
def test_dismiss_needs_a_note(note):
    with pytest.raises(InputError, match="说明"):
        WF.check("dismiss", state="visited", role="urban_enforcement", is_holder=True, note=note)
    t = WF.check(
        "dismiss", state="visited", role="urban_enforcement", is_holder=True, note="临时棚，已拆"
    )
    assert t.target == "not_violation"


@pytest.mark.parametrize("kinds", [None, Counter(), Counter({"document": 3})])
def test_site_visit_needs_a_photo(kinds):
    with pytest.raises(InputError) as err:
        WF.check("site_visit", state="reported", role="town", is_holder=False, evidence_kinds=kinds)
    assert "at least 1 photo (照片)" in err.value.en
    assert "0 given" in err.value.en
    assert err.value.code == "workflow.evidence_missing"
    assert err.value.message.startswith("“现场核查”至少需要 1 张照片作为证据，目前只有 0 张")


def test_site_visit_with_a_photo_passes():
    t = WF.check(
        "site_visit",
        state="reported",
        role="town",
        is_holder=False,
        evidence_kinds=Counter({"photo": 1}),
    )
    assert t.target == "visited"


@pytest.mark.parametrize(
    ("kinds", "missing"),
    [
        (Counter(), "photo (照片)"),
        (Counter({"photo": 2}), "document (文书)"),
        (Counter({"document": 1}), "photo (照片)"),
    ],
)
def test_seal_needs_photo_and_document(kinds, missing):
    with pytest.raises(InputError, match=re.escape(f"at least 1 {missing}")):
        WF.check(
            "seal",
            state="stop_ordered",
            role="urban_enforcement",
            is_holder=True,
            evidence_kinds=kinds,
        )
    t = WF.check(
        "seal", state="stop_ordered", role="urban_enforcement", is_holder=True, evidence_kinds=BOTH
    )
    assert t.target == "sealed"


# -- 3. Workflow.target --------------------------------------------------------------------


@pytest.mark.parametrize("action", ["accept_transfer", "return_transfer"])
@pytest.mark.parametrize("before", ["reported", "visited", "confirmed", "ledgered"])
def test_transfer_answers_go_back_to_the_state_before(action, before):
    assert WF.target(WF.transitions[action], "new", before) == before


def test_transfer_answer_without_a_state_before_is_a_conflict():
    with pytest.raises(ConflictError):
        WF.target(WF.transitions["accept_transfer"], "new", None)


@pytest.mark.parametrize(("track", "initial"), [("new", "reported"), ("backlog", "ledgered")])
def test_reopen_goes_to_the_track_initial_state(track, initial):
    reopen = WF.transitions["reopen"]
    assert reopen.set_track is None
    assert WF.target(reopen, track, "visited") == initial


def test_register_backlog_sets_the_track():
    t = WF.transitions["register_backlog"]
    assert t.set_track == "backlog"
    assert WF.target(t, "new", None) == "ledgered"
    assert WF.target(WF.transitions["confirm"], "new", None) == "confirmed"


# -- 4. parse ------------------------------------------------------------------------------


def _transition(doc: dict, action: str) -> dict:
    return next(t for t in doc["transitions"] if t["action"] == action)


def test_parse_names_every_problem_at_once():
    doc = default_document()
    _transition(doc, "site_visit")["from"] = ["reported", "somewhere"]
    _transition(doc, "confirm")["roles"].append("mayor")
    _transition(doc, "fine")["fields"].append("colour")
    doc["states"]["merged"]["category"] = "archived"
    doc["transitions"] = [t for t in doc["transitions"] if t["action"] != "transfer"]
    doc["tracks"]["backlog"]["initial"] = "shelved"
    with pytest.raises(InputError) as err:
        parse(doc)
    assert err.value.code == "workflow.definition_invalid"
    zh = err.value.message
    assert zh.startswith("流程定义无效：")
    for problem in (
        "操作“site_visit”：起始状态（from）中的“somewhere”不存在",
        "操作“confirm”：角色“mayor”不存在",
        "状态“merged”：类别（category）应为 open（在办）或 closed（办结）",
        "流程必须定义操作“transfer”",
    ):
        assert problem in zh
    assert zh.count("；") == 5
    message = err.value.en
    assert message.startswith("the workflow definition is not valid: ")
    for problem in (
        "site_visit: 'from' names an unknown state 'somewhere'",
        "confirm: unknown role 'mayor'",
        "fine: unknown field 'colour'",
        "state 'merged': category must be 'open' or 'closed'",
        "the workflow must define the action 'transfer'",
        "track 'backlog': 'initial' must name a state",
    ):
        assert problem in message
    assert message.count("; ") == 5


def test_parse_does_not_change_the_seed():
    doc = default_document()
    before = copy.deepcopy(doc)
    assert parse(doc).document is doc
    assert doc == before


@pytest.mark.parametrize(
    ("mutate", "problem"),
    [
        (lambda d: d.pop("roles"), "'roles' must be a dict"),
        (lambda d: d["roles"].pop("admin"), "the roles must include 'admin'"),
        (lambda d: d["department_roles"].append("police"), "department role 'police'"),
        (lambda d: _transition(d, "seal").update(to="nowhere"), "'to' names an unknown state"),
        (lambda d: _transition(d, "seal").update({"from": []}), "seal: 'from' is empty"),
        (lambda d: _transition(d, "seal").update(evidence={"video": 1}), "'video' is not photo"),
        (
            lambda d: d["transitions"].append({"label": "x"}),
            f"transition #{len(default_document()['transitions']) + 1} has no 'action'",
        ),
        (lambda d: d["transitions"].append(dict(d["transitions"][0])), "defined twice"),
        (lambda d: _transition(d, "reopen").update(set_track="old"), "unknown track 'old'"),
        (lambda d: d["deadlines"][0].update(days=1.5), "whole days"),
        (lambda d: d["deadlines"][0].update(start="noon"), "start must be"),
        (lambda d: d["deadlines"][1].update(done="visit"), "'visit' is not an action"),
    ],
)
def test_parse_rejects(mutate, problem):
    doc = default_document()
    mutate(doc)
    with pytest.raises(InputError) as err:
        parse(doc)
    assert problem in err.value.en
    assert err.value.message.startswith("流程定义无效：")


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d["fields"].update(method="拆除方式"),  # a field spec that is not an object
        lambda d: _transition(d, "seal").update(evidence={"photo": "one"}),
        lambda d: d["deadlines"].append("report"),  # a deadline that is not an object
    ],
    ids=["field-not-object", "evidence-count-not-number", "deadline-not-object"],
)
def test_parse_malformed_pieces_are_input_errors_not_crashes(mutate):
    # `weijian workflow load` only turns WeijianError into a message; anything else is a
    # traceback. A malformed document must be named as a problem like the others.
    doc = default_document()
    mutate(doc)
    with pytest.raises(InputError):
        parse(doc)


# -- 5. deadlines --------------------------------------------------------------------------


def test_calendar_day():
    cal = WorkCalendar()
    assert cal.add_days(at("2026-03-02"), 1) == at("2026-03-03")
    # calendar days do not care about weekends: Saturday → Sunday
    assert cal.add_days(at("2026-03-07", "15:00:00"), 1) == at("2026-03-08", "15:00:00")


def test_status_at_the_boundary():
    due = WorkCalendar().add_days(at("2026-03-02"), 1)
    second = timedelta(seconds=1)
    assert status_of(due, due, due) == "met"
    assert status_of(due, None, due) == "pending"
    assert status_of(due, due + second, due + second) == "late"
    assert status_of(due, None, due + second) == "overdue"
    assert status_of(due, due - second, due + timedelta(days=5)) == "met"


HOLIDAY_CSV = """\
date,kind,note
# 2026 official schedule (国务院办公厅), part of it
2026-01-01,holiday,元旦
2026-01-02,休,元旦
2026-01-03,休,元旦
2026-01-04,班,元旦调休上班

2026-04-04,holiday,清明节
2026-04-05,holiday,清明节
2026-04-06,假,清明节
2026-09-20,workday,国庆节调休上班
2026-10-01
"""


@pytest.fixture
def working(tmp_path: Path) -> WorkCalendar:
    path = tmp_path / "holidays.csv"
    path.write_text(HOLIDAY_CSV, encoding="utf-8")
    return load_calendar("working", path)


def test_load_calendar(working):
    assert working.mode == "working"
    assert sorted(d.isoformat() for d in working.holidays) == [
        "2026-01-01",
        "2026-01-02",
        "2026-01-03",
        "2026-04-04",
        "2026-04-05",
        "2026-04-06",
        "2026-10-01",  # no kind: a holiday
    ]
    assert sorted(d.isoformat() for d in working.workdays) == ["2026-01-04", "2026-09-20"]


def test_load_calendar_with_a_byte_order_mark(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_text("\ufeff2026-05-01,休\n2026-05-09,补班\n", encoding="utf-8")
    cal = load_calendar("working", path)
    assert {d.isoformat() for d in cal.holidays} == {"2026-05-01"}
    assert {d.isoformat() for d in cal.workdays} == {"2026-05-09"}


@pytest.mark.parametrize(
    ("start", "due"),
    [
        # Friday 15:00 + 1 working day → Monday 15:00
        (("2026-03-06", "15:00:00"), ("2026-03-09", "15:00:00")),
        # Monday → Tuesday, same clock time
        (("2026-03-02", "09:00:00"), ("2026-03-03", "09:00:00")),
        # Saturday: counts from Monday 00:00 → Tuesday 00:00
        (("2026-03-07", "10:30:00"), ("2026-03-10", "00:00:00")),
        # Sunday late evening: the same
        (("2026-03-08", "23:59:59"), ("2026-03-10", "00:00:00")),
        # Friday before Qingming: Sat, Sun, Mon 2026-04-06 (holiday) skipped → Tuesday
        (("2026-04-03", "15:00:00"), ("2026-04-07", "15:00:00")),
        # Saturday in Qingming: next working day Tuesday 04-07 00:00 → Wednesday 00:00
        (("2026-04-04", "08:00:00"), ("2026-04-08", "00:00:00")),
        # Friday 2026-09-18 → Sunday 2026-09-20, a make-up working day
        (("2026-09-18", "15:00:00"), ("2026-09-20", "15:00:00")),
        # Starting on the make-up Sunday itself: it is a working day, clock time kept
        (("2026-01-04", "09:00:00"), ("2026-01-05", "09:00:00")),
        # New Year's Day (Thursday, holiday): the next working day is Sunday 01-04
        (("2026-01-01", "12:00:00"), ("2026-01-05", "00:00:00")),
        # Wednesday 2025-12-31: Thu, Fri, Sat are holidays, Sunday 01-04 works
        (("2025-12-31", "12:00:00"), ("2026-01-04", "12:00:00")),
    ],
)
def test_working_days(working, start, due):
    assert working.add_days(at(*start), 1) == at(*due)


def test_working_days_two_days(working):
    # Thursday 2026-04-02 + 2 working days: Fri 04-03, (Sat, Sun, Mon holiday), Tue 04-07
    assert working.add_days(at("2026-04-02", "16:00:00"), 2) == at("2026-04-07", "16:00:00")


def test_working_days_use_the_beijing_date_whatever_the_time_zone(working):
    # The service hands in UTC moments (Clock.now() is UTC). Saturday 2026-03-07 05:00 in
    # Beijing is Friday 21:00 UTC; the holiday calendar is in Beijing dates, so the due moment
    # must be the same instant as for the Beijing-expressed start: Tuesday 00:00 Beijing.
    start = at("2026-03-07", "05:00:00")
    expected = at("2026-03-10", "00:00:00")
    assert working.add_days(start, 1) == expected
    assert working.add_days(start.astimezone(UTC), 1) == expected


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("date,kind\n2026-01-01,休\n2026-13-01,休\n", 3),
        ("2026-01-01,休\n# comment\n\n2026-01-02,maybe\n", 4),
        ("2026-01-01,休\n2026/01/02,休\n", 2),
    ],
)
def test_load_calendar_bad_line(tmp_path, text, line):
    path = tmp_path / "bad.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as err:
        load_calendar("working", path)
    assert f"line {line}:" in err.value.en
    assert f"节假日文件 {path} 第 {line} 行：" in err.value.message
    assert err.value.code in ("calendar.date_invalid", "calendar.kind_invalid")


def test_load_calendar_unknown_mode_or_missing_file(tmp_path):
    with pytest.raises(InputError, match="'weekdays'"):
        load_calendar("weekdays")
    with pytest.raises(InputError, match="cannot read the holiday calendar") as err:
        load_calendar("working", tmp_path / "missing.csv")
    assert err.value.code == "calendar.unreadable"
    assert err.value.message.startswith(
        f"无法读取节假日文件 {tmp_path / 'missing.csv'}（文件不存在）"
    )
    assert load_calendar("calendar") == WorkCalendar("calendar")


def _by_code(rows: list[dict]) -> dict[str, dict]:
    return {row["code"]: row for row in rows}


def test_evaluate_grid_worker_new_track_on_time():
    discovered = at("2026-03-02", "09:00:00")
    reported = at("2026-03-03", "09:00:00")  # exactly 24 h later: still on time
    visit = at("2026-03-03", "17:00:00")
    rows = evaluate(
        WF_V1,
        WorkCalendar(),
        channel="grid_worker",
        track="new",
        discovered_at=discovered,
        reported_at=reported,
        events=[{"action": "site_visit", "at": visit}, {"action": "confirm", "at": visit}],
        now=at("2026-03-10"),
    )
    assert [r["code"] for r in rows] == ["report", "site_visit"]
    report, site_visit = rows
    assert report["start"] == discovered and report["due"] == reported
    assert report["done_at"] == reported and report["status"] == "met"
    assert report["status_label"] == "按时" and report["overdue_hours"] == 0.0
    assert site_visit["start"] == reported and site_visit["due"] == at("2026-03-04")
    assert site_visit["done_at"] == visit and site_visit["status"] == "met"


def test_evaluate_late_report_and_pending_visit():
    rows = _by_code(
        evaluate(
            WF,
            WorkCalendar(),
            channel="property_company",
            track="new",
            discovered_at=at("2026-03-02", "09:00:00"),
            reported_at=at("2026-03-03", "12:00:00"),
            events=[],
            now=at("2026-03-04", "12:00:00"),  # exactly the site visit's due moment
        )
    )
    assert rows["report"]["status"] == "late"
    assert rows["report"]["status_label"] == "超时完成"
    assert rows["report"]["overdue_hours"] == 3.0
    assert rows["site_visit"]["status"] == "pending"
    assert rows["site_visit"]["done_at"] is None


def test_evaluate_overdue_visit_and_first_visit_counts():
    reported = at("2026-03-02", "09:00:00")
    rows = _by_code(
        evaluate(
            WF_V1,
            WorkCalendar(),
            channel="grid_worker",
            track="new",
            discovered_at=None,  # no discovery time: no report deadline
            reported_at=reported,
            events=[],
            now=at("2026-03-03", "09:00:01"),
        )
    )
    assert list(rows) == ["site_visit"]
    assert rows["site_visit"]["status"] == "overdue"
    assert rows["site_visit"]["overdue_hours"] == 0.0  # one second, rounded to 0.1 h

    events = [
        {"action": "site_visit", "at": at("2026-03-03", "15:00:00")},
        {"action": "site_visit", "at": at("2026-03-05", "15:00:00")},
    ]
    row = evaluate(
        WF_V1,
        WorkCalendar(),
        channel="hotline",
        track="new",
        discovered_at=None,
        reported_at=reported,
        events=events,
        now=at("2026-03-10"),
    )[0]
    assert row["done_at"] == at("2026-03-03", "15:00:00")
    assert row["status"] == "late" and row["overdue_hours"] == 6.0


def test_evaluate_hotline_has_only_the_site_visit_deadline():
    rows = evaluate(
        WF_V1,
        WorkCalendar(),
        channel="hotline",
        track="new",
        discovered_at=at("2026-03-01"),
        reported_at=at("2026-03-02"),
        events=[],
        now=at("2026-03-02", "10:00:00"),
    )
    assert [r["code"] for r in rows] == ["site_visit"]
    assert rows[0]["status"] == "pending"


@pytest.mark.parametrize(("channel", "codes"), [("grid_worker", ["report"]), ("hotline", [])])
def test_evaluate_backlog_has_no_site_visit_deadline(channel, codes):
    rows = evaluate(
        WF_V1,
        WorkCalendar(),
        channel=channel,
        track="backlog",
        discovered_at=at("2026-03-01"),
        reported_at=at("2026-03-02"),
        events=[],
        now=at("2026-03-20"),
    )
    assert [r["code"] for r in rows] == codes


def test_evaluate_reopen_restarts_the_site_visit_clock():
    reported = at("2026-03-02", "09:00:00")
    reopened = at("2026-03-10", "14:00:00")
    history = [
        {"action": "site_visit", "at": at("2026-03-02", "11:00:00")},
        {"action": "dismiss", "at": at("2026-03-02", "12:00:00")},
        {"action": "reopen", "at": reopened},
    ]

    def site_visit(events, now):
        rows = evaluate(
            WF_V1,
            WorkCalendar(),
            channel="citizen",
            track="new",
            discovered_at=None,
            reported_at=reported,
            events=events,
            now=now,
        )
        assert [r["code"] for r in rows] == ["site_visit"]
        return rows[0]

    row = site_visit(history, at("2026-03-10", "15:00:00"))
    assert row["start"] == reopened
    assert row["due"] == at("2026-03-11", "14:00:00")
    assert row["done_at"] is None  # the visit before the reopening no longer meets it
    assert row["status"] == "pending"

    row = site_visit(history, at("2026-03-11", "14:30:00"))
    assert row["status"] == "overdue" and row["overdue_hours"] == 0.5

    again = [*history, {"action": "site_visit", "at": at("2026-03-11", "10:00:00")}]
    row = site_visit(again, at("2026-03-12"))
    assert row["done_at"] == at("2026-03-11", "10:00:00") and row["status"] == "met"


def test_evaluate_on_working_days(working):
    # reported Friday before Qingming 2026 at 16:00: due Tuesday 04-07 16:00
    rows = evaluate(
        WF,
        working,
        channel="hotline",
        track="new",
        discovered_at=None,
        reported_at=at("2026-04-03", "16:00:00"),
        events=[{"action": "site_visit", "at": at("2026-04-07", "10:00:00")}],
        now=at("2026-04-08"),
    )
    assert rows[0]["due"] == at("2026-04-07", "16:00:00")
    assert rows[0]["status"] == "met"


# -- 6. scope ------------------------------------------------------------------------------

HJ, JY = "220602", "220605"  # 浑江区, 江源区
HJ_T1, HJ_T2, JY_T1 = "220602001", "220602002", "220605001"
HJ_C1, HJ_C2 = "220602001001", "220602001002"
HJ_K1 = "220602001001001"
UE_HJ, UE_JY = "220602-urban_enforcement", "220605-urban_enforcement"

PRINCIPALS = {
    "district": Principal(1, "hj_sup", "浑江区督导", "supervisor", HJ, "district", HJ),
    "town": Principal(2, "hj_t1", "河口街道", "town", HJ_T1, "town", HJ),
    "community": Principal(3, "hj_c1", "社区一", "community", HJ_C1, "community", HJ),
    "compound": Principal(4, "hj_k1", "网格员一", "grid_worker", HJ_K1, "compound", HJ),
    "department": Principal(
        5, "ue_hj", "浑江区城管", "urban_enforcement", HJ, "district", HJ, department_code=UE_HJ
    ),
    "city": Principal(6, "city_sup", "市督导", "supervisor"),
    "citizen": Principal(None, "citizen", "群众", "citizen"),
    "citizen_with_id": Principal(4, "citizen", "群众", "citizen"),
    "api": Principal(
        None, "api:hotline", "12345热线", "supervisor", api_client_id=7, channel="hotline"
    ),
}


def _case(district, town, community, compound, department, reporter=None, client=None):
    return {
        "district_code": district,
        "town_code": town,
        "community_code": community,
        "compound_code": compound,
        "department_code": department,
        "reporter_user_id": reporter,
        "api_client_id": client,
    }


CASES = {
    # in compound K1 of community C1 of town T1, held by 浑江区城管
    "hj_k1": _case(HJ, HJ_T1, HJ_C1, HJ_K1, UE_HJ),
    # community C2 of town T1, reported by the compound's grid worker (user 4)
    "hj_c2": _case(HJ, HJ_T1, HJ_C2, None, UE_HJ, reporter=4),
    # town T2, no department yet, arrived from API client 7
    "hj_t2": _case(HJ, HJ_T2, None, None, None, client=7),
    # 江源区, but transferred to 浑江区城管 (a department reads what it holds, anywhere)
    "jy_held_by_hj": _case(JY, JY_T1, None, None, UE_HJ, client=8),
    # 江源区, held by 江源区城管, reported by the town user (user 2)
    "jy_reported_by_town": _case(JY, JY_T1, None, None, UE_JY, reporter=2),
    # outside every grid, unassigned
    "nowhere": _case(None, None, None, None, None),
}

# principal → the cases it reads, by hand
READS = {
    "district": {"hj_k1", "hj_c2", "hj_t2"},
    "town": {"hj_k1", "hj_c2", "jy_reported_by_town"},
    "community": {"hj_k1"},
    "compound": {"hj_k1", "hj_c2"},
    "department": {"hj_k1", "hj_c2", "hj_t2", "jy_held_by_hj"},
    "city": set(CASES),
    "citizen": set(),
    "citizen_with_id": set(),
    "api": {"hj_t2"},
}


@pytest.mark.parametrize("who", list(PRINCIPALS))
def test_can_read(who):
    principal = PRINCIPALS[who]
    assert {name for name, case in CASES.items() if principal.can_read(case)} == READS[who]


def test_town_reads_its_town_not_another():
    town = PRINCIPALS["town"]
    assert town.can_read(_case(HJ, HJ_T1, None, None, None))
    assert not town.can_read(_case(HJ, HJ_T2, None, None, None))
    assert not town.can_read(_case(JY, JY_T1, None, None, None))
    assert town.can_read(_case(JY, JY_T1, None, None, None, reporter=2))  # its own report


def test_principal_basics():
    assert PRINCIPALS["city"].city_wide and not PRINCIPALS["town"].city_wide
    assert PRINCIPALS["department"].holds(UE_HJ)
    assert not PRINCIPALS["department"].holds(UE_JY)
    assert not PRINCIPALS["town"].holds(None)
    assert PRINCIPALS["town"].as_json()["grid_level"] == "town"


COLUMNS = (
    "district_code",
    "town_code",
    "community_code",
    "compound_code",
    "department_code",
    "reporter_user_id",
    "api_client_id",
)


@pytest.fixture(scope="module")
def case_table():
    db = sqlite3.connect(":memory:")
    db.execute(f"CREATE TABLE c (name, {', '.join(COLUMNS)})")
    db.executemany(
        f"INSERT INTO c VALUES (:name, {', '.join(':' + c for c in COLUMNS)})",
        [{"name": name, **case} for name, case in CASES.items()],
    )
    yield db
    db.close()


@pytest.mark.parametrize("who", list(PRINCIPALS))
def test_scope_sql_agrees_with_can_read(case_table, who):
    principal = PRINCIPALS[who]
    condition, params = scope_sql(principal, alias="c")
    rows = case_table.execute(f"SELECT name FROM c AS c WHERE {condition}", params).fetchall()
    assert {name for (name,) in rows} == READS[who]


def test_scope_sql_shapes():
    assert scope_sql(PRINCIPALS["citizen"]) == ("false", {})
    assert scope_sql(PRINCIPALS["city"]) == ("true", {})
    assert scope_sql(PRINCIPALS["api"], alias="v") == (
        "v.api_client_id = :scope_client",
        {"scope_client": 7},
    )
    assert scope_sql(PRINCIPALS["department"]) == (
        "(c.district_code = :scope_grid OR c.department_code = :scope_department "
        "OR c.reporter_user_id = :scope_user)",
        {"scope_grid": HJ, "scope_department": UE_HJ, "scope_user": 5},
    )


def _visit(data):
    return WF.check(
        "site_visit",
        state="reported",
        role="urban_enforcement",
        is_holder=True,
        data=data,
        evidence_kinds=PHOTO,
    )


def test_the_party_and_the_structure_are_optional_facts_of_a_visit():
    assert _visit(None).target == "visited"  # nothing asked
    assert _visit({"party": "王某某", "structure_type": "steel"}).target == "visited"
    assert WF.fields["party"].is_text and not WF.fields["structure_type"].is_text
    for bad, code in (
        ({"party": "王" * 201}, "workflow.field_text_invalid"),
        ({"party": ["王某某"]}, "workflow.field_text_invalid"),
        ({"structure_type": "mud"}, "workflow.field_choice_invalid"),
    ):
        with pytest.raises(InputError) as err:
            _visit(bad)
        assert err.value.code == code
    with pytest.raises(InputError) as err:
        _visit({"party": "王" * 201})
    assert err.value.message == "“当事人”（party）应为不超过 200 字的文字"
