"""The key cases of a district (重点案件): its open cases that a key rule (:mod:`.key_rules`)
flags, each with the reasons in words. Cities hold up to a million cases, so each rule is
asked of the database through an index: one pass over the district's open cases
(``violation_case_district_open``) for what the case row says — its area, its being a rebound,
its state and its stage's deadline; the transfer events through ``case_event_action_at``; the
cases signed off around a rebound through the partial index of signed-off points. Only the few
cases under a stop order are replayed in Python, by the one deadline rule of
:mod:`weijian.cases.deadlines`, so that a refused stop order is judged as its case page shows
it."""

from __future__ import annotations

import dataclasses
import math
from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy import Connection, text

from weijian.cases.deadlines import WorkCalendar, evaluate_case
from weijian.cases.workflow import Workflow
from weijian.enforcement.key_rules import KeyRule, KeyRules
from weijian.enforcement.pdf import cn_date

DAY = timedelta(days=1)
#: the columns the rules and the list read
FIELDS = (
    "c.id, c.number, c.address, c.description, c.department_code, c.department_name, "
    "c.area_m2, c.state, c.is_open, c.stage_code, c.stage_due, c.reported_at, c.version, "
    "c.channel, c.track, c.discovered_at, c.rebound_of"
)


def days_overdue(stage_due: datetime | None, now: datetime) -> int:
    """Whole days the case's stage is overdue (0 when it is not)."""
    if stage_due is None or stage_due >= now:
        return 0
    return int((now - stage_due) / DAY)


def find(
    conn: Connection,
    rules: KeyRules,
    wf: Workflow,
    calendar: WorkCalendar,
    *,
    district: str,
    now: datetime,
    rebound_radius_m: float,
) -> dict[int, list[dict]]:
    """The reasons of every key case of ``district``, by case id, in the rules' order."""
    rows = _scan(conn, rules, wf, district, now)
    reasons: dict[int, list[dict]] = defaultdict(list)
    for rule in rules.rules:
        if rule.code == "large_area":
            found = _large(rule, rows)
        elif rule.code == "repeated_rebound":
            found = _rebounds(conn, rule, rows, rebound_radius_m)
        elif rule.code == "refused_stop_order":
            found = _refused(conn, rule, rows, wf, calendar, now)
        elif rule.code == "cross_department":
            found = _disputed(conn, rule, district)
        else:
            found = _overdue(rule, rows, wf, now)
        for case_id, detail in found.items():
            reasons[case_id].append({"code": rule.code, "label": rule.label, "detail": detail})
    return dict(reasons)


def _stop_states(wf: Workflow, rule: KeyRule) -> list[str]:
    """The states a case is in while the stop order's deadline can still be met: those its
    ``done`` actions are taken from."""
    deadline = next(d for d in wf.deadlines if d.code == rule["deadline"])
    states: set[str] = set()
    for name in deadline.done:
        transition = wf.transitions.get(name.partition(":")[0])
        if transition is not None:
            states.update(transition.sources)
    return sorted(states)


def _scan(
    conn: Connection, rules: KeyRules, wf: Workflow, district: str, now: datetime
) -> dict[int, dict]:
    """One pass over the district's open cases: those the case row alone may flag."""
    conditions, params = [], {"d": district}
    for rule in rules.rules:
        if rule.code == "large_area":
            conditions.append("c.area_m2 >= :min_area")
            params["min_area"] = rule["min_area_m2"]
        elif rule.code == "repeated_rebound":
            conditions.append("c.rebound_of IS NOT NULL")
        elif rule.code == "refused_stop_order":
            conditions.append("c.state = ANY(:stop_states)")
            params["stop_states"] = _stop_states(wf, rule)
        elif rule.code == "long_overdue":
            conditions.append("c.stage_due < :overdue_before")
            params["overdue_before"] = now - rule["min_days"] * DAY
    if not conditions:
        return {}
    rows = conn.execute(
        text(
            f"SELECT {FIELDS} FROM violation_case c WHERE c.district_code = :d AND c.is_open "
            f"AND ({' OR '.join(conditions)})"
        ),
        params,
    ).mappings()
    return {r["id"]: dict(r) for r in rows}


def _large(rule: KeyRule, rows: dict[int, dict]) -> dict[int, str]:
    least = rule["min_area_m2"]
    return {
        i: f"违建面积 {r['area_m2']:,.0f} 平方米（达到 {least:g} 平方米）"
        for i, r in rows.items()
        if r["area_m2"] is not None and r["area_m2"] >= least
    }


def _rebounds(
    conn: Connection, rule: KeyRule, rows: dict[int, dict], radius_m: float
) -> dict[int, str]:
    """Rebounds where at least ``min_rebounds`` cases were signed off within the radius."""
    ids = [i for i, r in rows.items() if r["rebound_of"] is not None]
    if not ids:
        return {}
    # a box around the point in degrees (longitude widened by the latitude), then the distance
    # on the ellipsoid; the partial GiST index of signed-off points answers the box
    lat_deg = radius_m / 110_000.0 * 1.2
    found = conn.execute(
        text(
            "SELECT c.id, count(o.id) AS n, "
            "(array_agg(o.number ORDER BY o.signed_off_at))[1:3] AS numbers "
            "FROM violation_case c JOIN violation_case o ON o.state = 'signed_off' "
            "AND o.id <> c.id AND o.geom && ST_Expand(c.geom, "
            ":deg / greatest(cos(radians(ST_Y(c.geom))), 0.1), :deg) "
            "AND ST_DWithin(o.geom::geography, c.geom::geography, :r) "
            "WHERE c.id = ANY(:ids) GROUP BY c.id HAVING count(o.id) >= :least"
        ),
        {"ids": ids, "deg": lat_deg, "r": radius_m, "least": rule["min_rebounds"]},
    )
    return {
        r.id: f"此处已销号 {r.n} 次后又出现违建（前案 {'、'.join(r.numbers)}"
        + ("等" if r.n > len(r.numbers) else "")
        + "）"
        for r in found
    }


def _refused(
    conn: Connection,
    rule: KeyRule,
    rows: dict[int, dict],
    wf: Workflow,
    calendar: WorkCalendar,
    now: datetime,
) -> dict[int, str]:
    """Cases whose stop-order deadline passed ``grace_days`` ago with its stage not done."""
    states = set(_stop_states(wf, rule))
    candidates = {i: r for i, r in rows.items() if r["state"] in states}
    if not candidates:
        return {}
    deadline = next(d for d in wf.deadlines if d.code == rule["deadline"])
    # the one deadline, over the events it reads: what starts, restarts and meets it, a
    # reopening, and the documents voided or superseded
    only = dataclasses.replace(wf, deadlines=(deadline,))
    actions = {n.partition(":")[0] for n in (*deadline.start_after, *deadline.restart)}
    actions |= {n.partition(":")[0] for n in deadline.done}
    actions |= {"reopen", "void_document", "reissue_document"}
    events: dict[int, list[dict]] = {i: [] for i in candidates}
    for e in conn.execute(
        text(
            "SELECT case_id, action, at, data FROM case_event WHERE case_id = ANY(:ids) "
            "AND action = ANY(:actions) ORDER BY case_id, seq"
        ),
        {"ids": list(candidates), "actions": sorted(actions)},
    ).mappings():
        events[e["case_id"]].append(dict(e))
    undone = "或".join(
        wf.transitions[n.partition(":")[0]].label
        for n in deadline.done
        if n.partition(":")[0] in wf.transitions
    )
    out = {}
    for case_id, row in candidates.items():
        evaluated = evaluate_case(only, calendar, row, events[case_id], now)
        mine = next((d for d in evaluated if d["code"] == deadline.code), None)
        if mine is None or mine["status"] != "overdue":
            continue
        if mine["due"] >= now - rule["grace_days"] * DAY:
            continue
        late = max(1, math.ceil((now - mine["due"]) / DAY))
        out[case_id] = f"“{deadline.label}”于{cn_date(mine['due'])}届满，逾期 {late} 日仍未{undone}"
    return out


def _disputed(conn: Connection, rule: KeyRule, district: str) -> dict[int, str]:
    """Open cases transferred ``min_transfers`` times or more, or returned ``min_returns``."""
    found = conn.execute(
        text(
            "SELECT e.case_id, count(*) FILTER (WHERE e.action = 'transfer') AS transfers, "
            "count(*) FILTER (WHERE e.action = 'return_transfer') AS returns "
            "FROM case_event e JOIN violation_case c ON c.id = e.case_id "
            "WHERE e.action IN ('transfer', 'return_transfer') AND c.district_code = :d "
            "AND c.is_open GROUP BY e.case_id "
            "HAVING count(*) FILTER (WHERE e.action = 'transfer') >= :t "
            "OR count(*) FILTER (WHERE e.action = 'return_transfer') >= :r"
        ),
        {"d": district, "t": rule["min_transfers"], "r": rule["min_returns"]},
    )
    return {
        r.case_id: f"部门间移交 {r.transfers} 次"
        + (f"，被退回 {r.returns} 次" if r.returns else "")
        for r in found
    }


def _overdue(rule: KeyRule, rows: dict[int, dict], wf: Workflow, now: datetime) -> dict[int, str]:
    labels = {d.code: d.label for d in wf.deadlines}
    before = now - rule["min_days"] * DAY
    return {
        i: f"“{labels.get(r['stage_code'], r['stage_code'] or '办理')}”超期 "
        f"{days_overdue(r['stage_due'], now)} 日"
        for i, r in rows.items()
        if r["stage_due"] is not None and r["stage_due"] < before
    }
