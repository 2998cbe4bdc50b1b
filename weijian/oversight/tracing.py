"""Responsibility tracing (责任倒查): every late or missing step in a grid and period, with
the unit and the people responsible at that time, replayed from the cases' events."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from sqlalchemy import Connection, Row, text

from weijian.cases.clock import LOCAL
from weijian.cases.deadlines import missed
from weijian.cases.scope import Principal
from weijian.cases.service import CaseService
from weijian.cases.users import ancestors
from weijian.cases.workflow import Workflow
from weijian.errors import NotFoundError
from weijian.oversight.assessment import active_definitions
from weijian.oversight.periods import due_moment, next_month, period


def _holder_at(events: list[dict], moment: datetime, departments: dict) -> dict | None:
    """The department holding a case at ``moment``, replayed from its events."""
    holder = None
    for event in events:
        if event["at"] > moment:
            break
        data = event["data"] or {}
        if event["action"] == "report":
            holder = data.get("department")
        elif event["action"] == "transfer":
            holder = data.get("to_department")
        elif event["action"] == "return_transfer":
            back = data.get("returned_to") or {}
            holder = back.get("code") if isinstance(back, dict) else back
    if holder is None:
        return None
    return departments.get(holder, {"code": holder, "name": holder})


def _assignee_at(events: list[dict], moment: datetime) -> str | None:
    name = None
    for event in events:
        if event["at"] > moment:
            break
        if event["action"] == "assign":
            name = (event["data"] or {}).get("assignee_name")
    return name


def _people_text(people: list[dict] | None) -> str:
    return "、".join(f"{p.get('name') or ''} {p.get('phone') or ''}".strip() for p in people or [])


def _people(answer: dict, level: str) -> str:
    """The responsible people of the case's grid at ``level``, as frozen at intake."""
    grid = ((answer or {}).get("grid") or {}).get(level) or {}
    return _people_text(grid.get("responsible"))


def trace(
    cases: CaseService, principal: Principal | None, grid_code: str, start: date, end: date
) -> dict:
    """责任倒查: every late or missing step in a grid and period, with the unit and the people
    responsible at that time (the holding department and its assignee then; the grids'
    responsible people as frozen at intake; the town for its monthly ledger)."""
    from weijian.jurisdiction.service import effective_departments

    lo, hi = period(start, end)
    level = cases.grid_level(grid_code)
    if principal is not None and not principal.city_wide:
        above = ancestors(cases.jurisdiction.snapshot, grid_code)
        if principal.grid_code not in above:
            raise NotFoundError(
                f"未找到网格 {grid_code}（或不在您的权限范围内），请核对网格代码",
                code="grid.not_found",
                detail=f"no grid {grid_code} within your scope",
            )
    wf = cases.workflow
    departments = {d["code"]: d for d in effective_departments(cases.jurisdiction.snapshot)}
    days = None
    with cases.read_engine.connect() as conn:
        _, definitions = active_definitions(conn)
        days = definitions.disposal_days
        rows = _cases_with_problems(conn, level, grid_code, lo, hi, days)
        events = _events_of(conn, rows)
        towns = _towns_of(conn, grid_code)
        submitted = _ledger_submissions(conn, towns)
        now = cases.clock.now()
        cut = min(hi, now)  # a step due later in a period still running is not late yet
        urges = _late_urges(conn, level, grid_code, lo, cut)
    problems = []
    for r in rows:
        evs = events[r.id]
        found = (
            _late_report(r, lo, hi, wf),
            _late_site_visit(r, evs, lo, cut, departments),
            _overdue_disposal(r, evs, lo, cut, days, departments),
        )
        problems.extend(p for p in found if p is not None)
    problems.extend(
        _late_ledgers(towns, submitted, start, end, lo, hi, cases.settings.ledger_due_day, now)
    )
    problems.extend(urges)
    problems.sort(key=lambda p: (p["due"], p["case"] or ""))
    return {
        "grid": grid_code,
        "level": level,
        "period": {"from": start.isoformat(), "to": end.isoformat()},
        "problems": problems,
        "count": len(problems),
    }


def _cases_with_problems(
    conn: Connection, level: str, grid_code: str, lo: datetime, hi: datetime, days: int
) -> list:
    """The grid's cases with a step due in the period and done late or not at all."""
    return conn.execute(
        text(
            f"SELECT id, number, address, channel, track, reported_at, report_due, visit_due, "
            f"visited_at, signed_off_at, closed_at, state, reporter, jurisdiction "
            f"FROM violation_case WHERE {level}_code = :g AND reported_at < :hi AND ("
            "(report_due IS NOT NULL AND reported_at >= :lo AND reported_at > report_due) OR "
            "(visit_due >= :lo AND visit_due < :hi AND (visited_at IS NULL OR visited_at > "
            "visit_due)) OR (track = 'new' AND reported_at + :days * interval '1 day' >= :lo "
            "AND reported_at + :days * interval '1 day' < :hi AND (signed_off_at IS NULL OR "
            "signed_off_at > reported_at + :days * interval '1 day'))) ORDER BY reported_at"
        ),
        {"g": grid_code, "lo": lo, "hi": hi, "days": days},
    ).all()


def _events_of(conn: Connection, rows: list) -> dict[int, list[dict]]:
    """The events of each case, in order: what the holder and the assignee are replayed from."""
    events: dict[int, list[dict]] = {r.id: [] for r in rows}
    if rows:
        for e in conn.execute(
            text(
                "SELECT case_id, action, at, data FROM case_event WHERE case_id = ANY(:ids) "
                "ORDER BY case_id, seq"
            ),
            {"ids": list(events)},
        ):
            events[e.case_id].append({"action": e.action, "at": e.at, "data": e.data})
    return events


def _late_urges(
    conn: Connection, level: str, grid_code: str, lo: datetime, cut: datetime
) -> list[dict]:
    """Urges (督办) whose answer was due in the period and came late or not at all: the
    department urged and the officer the case was assigned to."""
    rows = conn.execute(
        text(
            "SELECT c.number, c.address, u.urged_by_name, u.note, u.reply_due, u.answered_at, "
            "c.department_name, a.display_name AS assignee FROM case_urge u "
            "JOIN violation_case c ON c.id = u.case_id "
            "LEFT JOIN app_user a ON a.id = u.to_user_id "
            f"WHERE c.{level}_code = :g AND u.reply_due >= :lo AND u.reply_due < :cut "
            "AND (u.answered_at IS NULL OR u.answered_at > u.reply_due) ORDER BY u.reply_due"
        ),
        {"g": grid_code, "lo": lo, "cut": cut},
    ).all()
    return [
        {
            "case": r.number,
            "address": r.address,
            "step": "urge",
            "step_label": f"答复{r.urged_by_name}的督办",
            "due": r.reply_due,
            "done_at": r.answered_at,
            "status": "late" if r.answered_at else "missing",
            "status_label": "超时答复督办" if r.answered_at else "未答复督办（已超期）",
            "unit": r.department_name or "待研判（无责任部门）",
            "person": r.assignee or "未指派承办人",
            "grid_people": "",
        }
        for r in rows
    ]


def _towns_of(conn: Connection, grid_code: str) -> list:
    """The towns that keep a monthly ledger within the grid: the town itself, or a district's."""
    return conn.execute(
        text(
            "SELECT t.code, t.name, t.responsible FROM active_grid t, active_grid g "
            "WHERE g.code = :g AND t.level = 'town' AND (t.code = :g OR "
            "(g.level = 'district' AND t.parent_code = :g))"
        ),
        {"g": grid_code},
    ).all()


def _ledger_submissions(conn: Connection, towns: list) -> dict[tuple[str, date], datetime]:
    """When each town first submitted each month's ledger."""
    return {
        (r.town_code, r.month): r.submitted_at
        for r in conn.execute(
            text(
                "SELECT town_code, month, min(submitted_at) AS submitted_at FROM "
                "ledger_submission WHERE town_code = ANY(:t) GROUP BY 1, 2"
            ),
            {"t": [t.code for t in towns]},
        )
    }


def late(due: datetime, done_at: datetime | None, at: datetime) -> bool:
    """Done by ``at``, but after its deadline."""
    return done_at is not None and due < done_at < at


def _case_problem(r: Row) -> dict:
    return {"case": r.number, "address": r.address}


def _late_report(r: Row, lo: datetime, hi: datetime, wf: Workflow) -> dict | None:
    """A report made in the period after its deadline: the reporting channel and person."""
    if not (r.report_due and lo <= r.reported_at < hi and r.reported_at > r.report_due):
        return None
    answer = r.jurisdiction or {}
    reporter = r.reporter or {}
    return {
        **_case_problem(r),
        "step": "report",
        "step_label": "发现后1日内上报",
        "due": r.report_due,
        "done_at": r.reported_at,
        "status": "late",
        "status_label": "超时上报",
        "unit": wf.channels.get(r.channel, r.channel),
        "person": " ".join(p for p in (reporter.get("name"), reporter.get("phone")) if p),
        "grid_people": _people(answer, "compound") or _people(answer, "community"),
    }


def _late_site_visit(
    r: Row, evs: list[dict], lo: datetime, hi: datetime, departments: dict
) -> dict | None:
    """A site visit due in the period (up to ``hi``) and made late, or not made by ``hi``."""
    if not (
        r.visit_due
        and lo <= r.visit_due
        and (missed(r.visit_due, r.visited_at, hi) or late(r.visit_due, r.visited_at, hi))
    ):
        return None
    done = r.visited_at if r.visited_at and r.visited_at < hi else None
    holder = _holder_at(evs, r.visit_due, departments)
    return {
        **_case_problem(r),
        "step": "site_visit",
        "step_label": "上报后1日内现场核查",
        "due": r.visit_due,
        "done_at": done,
        "status": "late" if done else "missing",
        "status_label": "超时核查" if done else "未核查（已超期）",
        "unit": (holder or {}).get("name") or "待研判（无责任部门）",
        "person": _assignee_at(evs, r.visit_due) or "未指派承办人",
        "grid_people": _people(r.jurisdiction or {}, "town"),
    }


def _overdue_disposal(
    r: Row, evs: list[dict], lo: datetime, hi: datetime, days: int, departments: dict
) -> dict | None:
    """A new case whose disposal deadline fell in the period and that was signed off late or
    not yet (a case closed another way is no one's delay)."""
    if r.track != "new":
        return None
    due = r.reported_at + timedelta(days=days)
    closed_otherwise = r.signed_off_at is None and r.closed_at is not None
    if not (
        lo <= due
        and not closed_otherwise
        and (missed(due, r.signed_off_at, hi) or late(due, r.signed_off_at, hi))
    ):
        return None
    done = r.signed_off_at if r.signed_off_at and r.signed_off_at < hi else None
    holder = _holder_at(evs, due, departments)
    return {
        **_case_problem(r),
        "step": "disposal",
        "step_label": f"{days}日内处置销号",
        "due": due,
        "done_at": done,
        "status": "late" if done else "missing",
        "status_label": "超时销号" if done else "未销号（已超期）",
        "unit": (holder or {}).get("name") or "待研判（无责任部门）",
        "person": _assignee_at(evs, due) or "未指派承办人",
        "grid_people": _people(r.jurisdiction or {}, "town"),
    }


def _late_ledgers(
    towns: list,
    submitted: dict,
    start: date,
    end: date,
    lo: datetime,
    hi: datetime,
    due_day: int,
    now: datetime,
) -> list[dict]:
    """The monthly ledgers of the towns, for the months of the period whose deadline has
    passed, submitted late or not at all."""
    problems = []
    month = date(start.year, start.month, 1)
    while month <= end:
        following = next_month(month)
        due = due_moment(month, due_day)
        if due <= now and lo <= datetime.combine(following, time(0), tzinfo=LOCAL) <= hi:
            for town in towns:
                at = submitted.get((town.code, month))
                if at is None or at >= due:
                    people = _people_text(town.responsible)
                    problems.append(
                        {
                            "case": None,
                            "address": None,
                            "step": "ledger",
                            "step_label": f"{month:%Y年%m月}台账报送",
                            "due": due - timedelta(seconds=1),
                            "done_at": at,
                            "status": "late" if at else "missing",
                            "status_label": "逾期报送" if at else "未报送",
                            "unit": town.name,
                            "person": people or "未登记",
                            "grid_people": people,
                        }
                    )
        month = following
    return problems
