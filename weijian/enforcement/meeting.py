"""The joint meeting (联席会议) of a district: its key cases (:mod:`.key_cases`, by the rules of
:mod:`.key_rules`) gathered into a list for a date, in order, with the reasons each was put
on it; the printable agenda (议程, a PDF from ``templates/meeting_agenda.html``); the decision
on each case — what is to be done, by whom (责任单位) and by when (办结期限) — recorded as the
case's ``meeting_decision`` step, whose date becomes the case's stage deadline; and the
responsible unit's report that it was done (``meeting_done``).

Who: supervisors, the district government and administrators convene and record; the
enforcing departments read. A user bound to a district sees only that district's meetings; a
user bound to a town or below, none (a meeting is the whole district's). Plain Python over
SQL: no HTTP here."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from sqlalchemy import Connection, text

from weijian.cases.clock import LOCAL
from weijian.cases.rows import json_text
from weijian.cases.scope import Principal
from weijian.cases.service import CaseService
from weijian.enforcement import key_cases, key_rules
from weijian.enforcement.key_rules import KeyRules
from weijian.enforcement.pdf import render_pdf
from weijian.errors import ConflictError, InputError, NotFoundError, PermissionDenied
from weijian.jurisdiction.service import effective_departments
from weijian.text import clean

#: who convenes a meeting and records its decisions (as the workflow's meeting_decision allows)
CONVENERS = ("admin", "supervisor", "county_government")
#: who reads the meetings and the key cases besides: the enforcing departments
READERS = (*CONVENERS, "urban_enforcement", "natural_resources")
#: the most cases one meeting takes up
MAX_CASES = 300
#: how far from today a meeting's date may lie
DATE_RANGE = timedelta(days=366)
TEMPLATE = "meeting_agenda.html"


def _denied(convene: bool) -> PermissionDenied:
    if convene:
        return PermissionDenied(
            "只有督导人员、区县政府和系统管理员可以召集联席会议、记录会议决定",
            code="meeting.role_not_allowed",
            detail="only supervisors, a district government and administrators convene meetings",
        )
    return PermissionDenied(
        "联席会议和重点案件只有督导人员、区县政府、执法部门和系统管理员可以查看，"
        "且须是区县或全市范围的账号",
        code="meeting.role_not_allowed",
        detail="meetings are read by supervisors, governments, enforcing departments and "
        "administrators bound to a district or the whole city",
    )


def _meeting_not_found(ref) -> NotFoundError:
    return NotFoundError(
        f"未找到编号为 {ref} 的联席会议（或不在您的权限范围内），请核对会议编号",
        code="meeting.not_found",
        detail=f"no meeting {ref} within your scope",
    )


def parse_day(value, label: str, field: str) -> date:
    """A date as the API gives it (YYYY-MM-DD), or a Chinese 422 naming the field."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except (TypeError, ValueError):
        raise InputError(
            f"“{label}”应为有效的日期，如 2026-03-05，收到的是“{str(value)[:40]}”",
            code="meeting.date_invalid",
            detail=f"{field} must be a date YYYY-MM-DD, got {str(value)[:40]!r}",
            hint="give the date as YYYY-MM-DD",
        ) from None


def end_of_day(day: date) -> datetime:
    """The moment a decided day ends in Beijing: the stage's deadline."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=LOCAL)


class Meetings:
    """The joint meetings over a :class:`CaseService` (its engine, clock, workflow, settings)."""

    def __init__(self, cases: CaseService):
        self.cases = cases
        self.engine = cases.engine

    @property
    def rules(self) -> KeyRules:
        codes = {d.code for d in self.cases.workflow.deadlines}
        return key_rules.load(self.cases.settings.document_templates, codes)

    # -- who sees which district -------------------------------------------------------------

    def districts(self, principal: Principal) -> list[dict]:
        """The districts whose meetings the user reads: every one for the whole city's users,
        his own for a user bound to a district; refused for others."""
        if principal.acts_as not in READERS:
            raise _denied(False)
        grid = self.cases.jurisdiction.snapshot.grids.get("district")
        known = (
            [{"code": str(c), "name": str(n)} for c, n in zip(grid.codes, grid.names, strict=True)]
            if grid is not None
            else []
        )
        if principal.city_wide:
            return known
        if principal.grid_level == "district":
            return [d for d in known if d["code"] == principal.grid_code]
        raise _denied(False)

    def _district(self, principal: Principal, code: str | None, convene: bool = False) -> dict:
        """The district ``code`` if the user may read (``convene``: convene) its meetings;
        a user bound to one district gets his own when he names none."""
        if convene and principal.acts_as not in CONVENERS:
            raise _denied(True)
        mine = self.districts(principal)
        if not code:
            if len(mine) == 1 and not principal.city_wide:
                return mine[0]
            raise InputError(
                "请选择区县（district），联席会议按区县召开",
                code="meeting.district_missing",
                detail="name the district (its grid code)",
            )
        found = next((d for d in mine if d["code"] == code), None)
        if found is None:
            raise NotFoundError(
                f"没有代码为“{code}”的区县（或不在您的权限范围内），请核对区县代码",
                code="meeting.district_not_found",
                detail=f"no district {code!r} within your scope",
            )
        return found

    # -- the key cases ---------------------------------------------------------------------

    def key_cases(self, principal: Principal, district: str | None, limit: int = MAX_CASES) -> dict:
        """The district's key cases now, most reasons first, then the longest overdue and the
        largest: each with its reasons, state, stage and the last meeting's decision on it."""
        place = self._district(principal, district)
        rules = self.rules
        now = self.cases.clock.now()
        with self.cases.read_engine.connect() as conn:
            items = self._key_items(conn, rules, place["code"], now)
        return {
            "district": place,
            "as_of": now,
            "rules": self._rules_json(rules),
            "total": len(items),
            "cases": items[:limit],
        }

    def _rules_json(self, rules: KeyRules) -> list[dict]:
        labels = {d.code: d.label for d in self.cases.workflow.deadlines}
        return [
            {"code": r.code, "label": r.label, "rule": r.describe(labels), **r.params}
            for r in rules.rules
        ]

    def _key_items(self, conn: Connection, rules: KeyRules, district: str, now) -> list[dict]:
        reasons = key_cases.find(
            conn,
            rules,
            self.cases.workflow,
            self.cases.calendar,
            district=district,
            now=now,
            rebound_radius_m=self.cases.settings.rebound_radius_m,
        )
        if not reasons:
            return []
        rows = self._case_rows(conn, list(reasons))
        last = self._last_decisions(conn, list(reasons))
        items = [
            {**self._case_item(rows[i], now), "reasons": reasons[i], "last_decision": last.get(i)}
            for i in reasons
        ]
        items.sort(
            key=lambda c: (
                -len(c["reasons"]),
                -c["days_overdue"],
                -(c["area_m2"] or 0),
                c["number"],
            )
        )
        return items

    def _case_rows(self, conn: Connection, ids: list[int]) -> dict[int, dict]:
        found = conn.execute(
            text(f"SELECT {key_cases.FIELDS} FROM violation_case c WHERE c.id = ANY(:ids)"),
            {"ids": ids},
        ).mappings()
        return {r["id"]: dict(r) for r in found}

    def _case_item(self, row: dict, now: datetime) -> dict:
        wf = self.cases.workflow
        stages = {d.code: d.label for d in wf.deadlines}
        state = wf.states.get(row["state"])
        return {
            "id": row["id"],
            "number": row["number"],
            "address": row["address"] or row["description"],
            "department": row["department_name"],
            "area_m2": round(row["area_m2"], 1) if row["area_m2"] is not None else None,
            "state": row["state"],
            "state_label": state.label if state else row["state"],
            "is_open": row["is_open"],
            "stage_code": row["stage_code"],
            "stage_label": stages.get(row["stage_code"]) if row["stage_code"] else None,
            "stage_due": row["stage_due"],
            "days_overdue": key_cases.days_overdue(row["stage_due"], now),
            "version": row["version"],
        }

    def _last_decisions(self, conn: Connection, ids: list[int]) -> dict[int, dict]:
        found = conn.execute(
            text(
                "SELECT DISTINCT ON (mc.case_id) mc.case_id, m.id, m.title, m.held_on, "
                "mc.decision, mc.assignee, mc.decided_due FROM joint_meeting_case mc "
                "JOIN joint_meeting m ON m.id = mc.meeting_id WHERE mc.case_id = ANY(:ids) "
                "AND mc.decided_at IS NOT NULL ORDER BY mc.case_id, mc.decided_at DESC"
            ),
            {"ids": ids},
        ).mappings()
        return {
            r["case_id"]: {
                "meeting_id": r["id"],
                "title": r["title"],
                "held_on": r["held_on"],
                "decision": r["decision"],
                "assignee": r["assignee"],
                "decided_due": r["decided_due"],
            }
            for r in found
        }

    # -- meetings --------------------------------------------------------------------------

    def create(
        self,
        principal: Principal,
        *,
        district: str | None,
        held_on,
        cases: list[str] | None = None,
        title: str | None = None,
    ) -> dict:
        """The district's meeting on ``held_on`` with its key cases now — all of them, or the
        ones named (``cases``: numbers, in the order given) — and the reasons of each."""
        place = self._district(principal, district, convene=True)
        day = parse_day(held_on, "会议日期", "held_on")
        now = self.cases.clock.now()
        today = now.astimezone(LOCAL).date()
        if abs(day - today) > DATE_RANGE:
            raise InputError(
                f"会议日期 {day.isoformat()} 离今天超过一年，请核对会议日期",
                code="meeting.date_out_of_range",
                detail=f"held_on {day} is more than a year from today ({today})",
            )
        title = clean(title, "会议名称", "name", field="title") or (
            f"{place['name']}违法建设治理联席会议"
        )
        with self.engine.begin() as conn:
            items = self._key_items(conn, self.rules, place["code"], now)
            chosen = self._chosen(items, cases, place)
            meeting_id = self._insert(conn, principal, place, day, title, chosen, now)
        return self.get(principal, meeting_id)

    def _chosen(self, items: list[dict], numbers: list[str] | None, place: dict) -> list[dict]:
        """The key cases a meeting takes up: all, or those named, in the order named."""
        if numbers is None:
            if not items:
                raise InputError(
                    f"{place['name']}目前没有符合规则的重点案件，无需召开联席会议",
                    code="meeting.no_key_cases",
                    detail=f"district {place['code']} has no key case now",
                )
            if len(items) > MAX_CASES:
                raise InputError(
                    f"{place['name']}目前有重点案件 {len(items)} 件，超过一次会议可研究的 "
                    f"{MAX_CASES} 件，请选择要提交本次会议的案件",
                    code="meeting.too_many_cases",
                    detail=f"{len(items)} key cases: choose at most {MAX_CASES}",
                )
            return items
        if not numbers:
            raise InputError(
                "请至少选择一件重点案件提交会议",
                code="meeting.no_cases_chosen",
                detail="cases is empty",
            )
        if len(numbers) > MAX_CASES or len(set(numbers)) != len(numbers):
            raise InputError(
                f"所选案件有重复，或超过 {MAX_CASES} 件，请核对",
                code="meeting.cases_invalid",
                detail=f"cases must be distinct and at most {MAX_CASES}",
            )
        by_number = {c["number"]: c for c in items}
        missing = [n for n in numbers if n not in by_number]
        if missing:
            raise InputError(
                f"案件 {'、'.join(missing[:5])} 不是{place['name']}当前的重点案件，"
                "请从重点案件清单中选择",
                code="meeting.case_not_key",
                detail=f"not key cases of {place['code']} now: {missing[:5]}",
            )
        return [by_number[n] for n in numbers]

    def _insert(self, conn, principal, place, day, title, chosen, now) -> int:
        taken = conn.execute(
            text(
                "INSERT INTO joint_meeting (district_code, district_name, held_on, title, "
                "created_by, created_at) VALUES (:d, :dn, :day, :t, :by, :now) "
                "ON CONFLICT (district_code, held_on) DO NOTHING RETURNING id"
            ),
            {
                "d": place["code"],
                "dn": place["name"],
                "day": day,
                "t": title,
                "by": principal.id,
                "now": now,
            },
        ).scalar()
        if taken is None:
            existing = conn.execute(
                text("SELECT id FROM joint_meeting WHERE district_code = :d AND held_on = :day"),
                {"d": place["code"], "day": day},
            ).scalar()
            error = ConflictError(
                f"{place['name']}{day.isoformat()}的联席会议已经建立（会议编号 {existing}），"
                "请打开该会议，不要重复建立",
                code="meeting.exists",
                detail=f"district {place['code']} has a meeting on {day} already: {existing}",
            )
            error.context = {"meeting_id": existing}
            raise error
        conn.execute(
            text(
                "INSERT INTO joint_meeting_case (meeting_id, case_id, position, reasons) "
                "VALUES (:m, :c, :p, CAST(:r AS jsonb))"
            ),
            [
                {"m": taken, "c": c["id"], "p": n, "r": json_text(c["reasons"])}
                for n, c in enumerate(chosen, start=1)
            ],
        )
        return taken

    def list(self, principal: Principal, district: str | None = None) -> dict:
        """The meetings of the user's districts (or of one), newest first, with their counts."""
        mine = self.districts(principal)
        codes = [d["code"] for d in mine]
        if district:
            codes = [self._district(principal, district)["code"]]
        with self.cases.read_engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT m.id, m.district_code, m.district_name, m.held_on, m.title, "
                    "m.created_at, count(mc.case_id) AS cases, "
                    "count(mc.decided_at) AS decided FROM joint_meeting m "
                    "LEFT JOIN joint_meeting_case mc ON mc.meeting_id = m.id "
                    "WHERE m.district_code = ANY(:codes) GROUP BY m.id "
                    "ORDER BY m.held_on DESC, m.id DESC LIMIT 500"
                ),
                {"codes": codes},
            ).mappings()
            meetings = [dict(r) for r in rows]
        return {
            "districts": mine,
            "meetings": meetings,
            "may_convene": principal.acts_as in CONVENERS,
            "today": self.cases.clock.now().astimezone(LOCAL).date(),
        }

    def _meeting(self, conn: Connection, principal: Principal, ref) -> dict:
        try:
            meeting_id = int(ref)
        except (TypeError, ValueError):
            raise _meeting_not_found(ref) from None
        row = (
            conn.execute(
                text(
                    "SELECT m.id, m.district_code, m.district_name, m.held_on, m.title, "
                    "m.created_at, u.display_name AS created_by FROM joint_meeting m "
                    "LEFT JOIN app_user u ON u.id = m.created_by WHERE m.id = :m"
                ),
                {"m": meeting_id},
            )
            .mappings()
            .first()
        )
        codes = {d["code"] for d in self.districts(principal)}
        if row is None or row["district_code"] not in codes:
            raise _meeting_not_found(ref)
        return dict(row)

    def get(self, principal: Principal, ref) -> dict:
        """The meeting with its cases in order: the reasons they were put on it, their state
        now, the decision recorded and the report that it was carried out."""
        now = self.cases.clock.now()
        with self.engine.connect() as conn:
            meeting = self._meeting(conn, principal, ref)
            meeting["cases"] = self._meeting_cases(conn, meeting["id"], now)
        meeting["decided"] = sum(1 for c in meeting["cases"] if c["decided_at"])
        meeting["may_convene"] = principal.acts_as in CONVENERS
        return meeting

    def _meeting_cases(self, conn: Connection, meeting_id: int, now: datetime) -> list[dict]:
        rows = conn.execute(
            text(
                f"SELECT {key_cases.FIELDS}, mc.position, mc.reasons, mc.decision, mc.assignee, "
                "mc.decided_due, mc.decided_at, u.display_name AS decided_by "
                "FROM joint_meeting_case mc JOIN violation_case c ON c.id = mc.case_id "
                "LEFT JOIN app_user u ON u.id = mc.decided_by WHERE mc.meeting_id = :m "
                "ORDER BY mc.position"
            ),
            {"m": meeting_id},
        ).mappings()
        rows = [dict(r) for r in rows]
        done = self._reports(conn, meeting_id, [r["id"] for r in rows])
        return [
            {
                **self._case_item(r, now),
                "position": r["position"],
                "reasons": r["reasons"],
                "decision": r["decision"],
                "assignee": r["assignee"],
                "decided_due": r["decided_due"],
                "decided_at": r["decided_at"],
                "decided_by": r["decided_by"],
                "done": done.get(r["id"]),
            }
            for r in rows
        ]

    def _reports(self, conn: Connection, meeting_id: int, ids: list[int]) -> dict[int, dict]:
        """The last report that a decision of this meeting was carried out, by case."""
        found = conn.execute(
            text(
                "SELECT DISTINCT ON (case_id) case_id, at, actor_name, note FROM case_event "
                "WHERE case_id = ANY(:ids) AND action = 'meeting_done' "
                "AND data -> 'meeting' ->> 'id' = :m ORDER BY case_id, seq DESC"
            ),
            {"ids": ids, "m": str(meeting_id)},
        ).mappings()
        return {
            r["case_id"]: {"at": r["at"], "by": r["actor_name"], "note": r["note"]} for r in found
        }

    # -- the agenda ------------------------------------------------------------------------

    def agenda(self, principal: Principal, ref) -> tuple[bytes, str]:
        """The agenda's PDF and its file name: the district's key cases in order, with their
        reasons and a column for the decision (blank until recorded)."""
        meeting = self.get(principal, ref)
        labels = {d.code: d.label for d in self.cases.workflow.deadlines}
        rules = [r.label + "：" + r.describe(labels) for r in self.rules.rules]
        context = {
            "title": meeting["title"] + "议程",
            "meeting": meeting,
            "district": meeting["district_name"],
            "held_on": meeting["held_on"],
            "cases": meeting["cases"],
            "rules": rules,
            "printed_by": principal.display_name,
            "printed_on": self.cases.clock.now(),
        }
        pdf, _ = render_pdf(TEMPLATE, context, self.cases.settings.document_templates)
        return pdf, f"{meeting['title']}议程-{meeting['held_on'].isoformat()}.pdf"

    # -- decisions and their reports -----------------------------------------------------

    def decide(
        self,
        principal: Principal,
        ref,
        *,
        case: str,
        decision: str,
        assignee: str,
        decided_due,
        version: int | None = None,
    ) -> dict:
        """Record the meeting's decision on one of its cases: the case's ``meeting_decision``
        step (its 办结期限 the stage's deadline, due at that day's end in Beijing) and the
        meeting's row, in one transaction."""
        if principal.acts_as not in CONVENERS:
            raise _denied(True)
        decision = clean(decision, "会议决定", "note", multiline=True, field="decision")
        assignee = clean(assignee, "责任单位", "field", field="assignee")
        if not decision or not assignee:
            raise InputError(
                "请填写会议决定事项和责任单位",
                code="meeting.decision_missing",
                detail="decision and assignee are required",
            )
        due = parse_day(decided_due, "办结期限", "decided_due")
        now = self.cases.clock.now()
        with self.engine.begin() as conn:
            meeting = self._meeting(conn, principal, ref)
            self._check_due(meeting, due, now)
            row = self.cases._visible(conn, case, principal, lock=True)
            listed = conn.execute(
                text(
                    "SELECT 1 FROM joint_meeting_case WHERE meeting_id = :m AND case_id = :c "
                    "FOR UPDATE"
                ),
                {"m": meeting["id"], "c": row["id"]},
            ).first()
            if listed is None:
                raise InputError(
                    f"案件 {row['number']} 不在本次会议（{meeting['title']}，"
                    f"{meeting['held_on'].isoformat()}）的议题中",
                    code="meeting.case_not_listed",
                    detail=f"case {row['number']} is not on meeting {meeting['id']}",
                )
            if version is not None:
                self.cases._check_version(row, version)
            self.cases.step(
                conn,
                principal,
                row,
                "meeting_decision",
                data={"assignee": assignee, "decided_due": due.isoformat()},
                note=decision,
                evidence=[],
                now=now,
                extra={"meeting": _meeting_ref(meeting)},
            )
            conn.execute(
                text(
                    "UPDATE joint_meeting_case SET decision = :d, assignee = :a, "
                    "decided_due = :due, decided_by = :by, decided_at = :now "
                    "WHERE meeting_id = :m AND case_id = :c"
                ),
                {
                    "d": decision,
                    "a": assignee,
                    "due": due,
                    "by": principal.id,
                    "now": now,
                    "m": meeting["id"],
                    "c": row["id"],
                },
            )
        return self.get(principal, meeting["id"])

    def _check_due(self, meeting: dict, due: date, now: datetime) -> None:
        today = now.astimezone(LOCAL).date()
        if due < meeting["held_on"] or due < today:
            raise InputError(
                f"办结期限 {due.isoformat()} 早于会议日期或今天，请填写今后的日期",
                code="meeting.due_in_past",
                detail=f"decided_due {due} is before the meeting ({meeting['held_on']}) or today",
            )
        if due - today > DATE_RANGE:
            raise InputError(
                f"办结期限 {due.isoformat()} 离今天超过一年，请核对",
                code="meeting.due_out_of_range",
                detail=f"decided_due {due} is more than a year from today",
            )

    def done(self, principal: Principal, case: str, note: str | None) -> dict:
        """The responsible unit's report that the last decision on the case was carried out:
        its ``meeting_done`` step, which meets the decision's deadline."""
        note = clean(note, "落实情况", "note", multiline=True, field="note")
        now = self.cases.clock.now()
        with self.engine.begin() as conn:
            row = self.cases._visible(conn, case, principal, lock=True)
            last = self._last_on_case(conn, row["id"])
            if last is None:
                raise ConflictError(
                    f"案件 {row['number']} 尚无联席会议决定，无需报告落实情况",
                    code="meeting.no_decision",
                    detail=f"case {row['number']} has no meeting decision",
                )
            if last["done"] is not None:
                raise ConflictError(
                    f"案件 {row['number']} 的会议决定落实情况已于"
                    f"{last['done']['at'].astimezone(LOCAL):%Y-%m-%d %H:%M}由"
                    f"{last['done']['by']}报告",
                    code="meeting.already_reported",
                    detail=f"case {row['number']}: the decision was reported done already",
                )
            why = self._why_not_report(principal, row, last)
            if why:
                raise PermissionDenied(
                    why,
                    code="meeting.not_responsible",
                    detail="only the department holding the case, the unit named responsible, "
                    "the case's town or a convener reports the decision done",
                )
            self.cases.step(
                conn,
                principal,
                row,
                "meeting_done",
                data={},
                note=note,
                evidence=[],
                now=now,
                extra={"meeting": {k: last[k] for k in ("id", "title", "held_on")}},
            )
        return self.of_case(principal, case)

    def _why_not_report(self, principal: Principal, row: dict, last: dict) -> str | None:
        """Why the user may not report the decision done (None: he may)."""
        if principal.acts_as in (*CONVENERS, "town") or principal.holds(row["department_code"]):
            return None
        if principal.department_code:
            names = {
                d["code"]: d["name"]
                for d in effective_departments(self.cases.jurisdiction.snapshot)
            }
            if names.get(principal.department_code) == last["assignee"]:
                return None
        return (
            f"会议决定的责任单位是“{last['assignee']}”，落实情况应由承办该案件的部门、"
            "责任单位、属地街道（乡镇）或督导人员报告"
        )

    def _last_on_case(self, conn: Connection, case_id: int) -> dict | None:
        """The last decision recorded on the case, with the report that it was carried out."""
        row = (
            conn.execute(
                text(
                    "SELECT m.id, m.title, m.held_on, mc.decision, mc.assignee, mc.decided_due, "
                    "mc.decided_at, u.display_name AS decided_by FROM joint_meeting_case mc "
                    "JOIN joint_meeting m ON m.id = mc.meeting_id "
                    "LEFT JOIN app_user u ON u.id = mc.decided_by "
                    "WHERE mc.case_id = :c AND mc.decided_at IS NOT NULL "
                    "ORDER BY mc.decided_at DESC LIMIT 1"
                ),
                {"c": case_id},
            )
            .mappings()
            .first()
        )
        if row is None:
            return None
        out = dict(row)
        out["held_on"] = out["held_on"].isoformat()
        report = conn.execute(
            text(
                "SELECT at, actor_name, note FROM case_event WHERE case_id = :c "
                "AND action = 'meeting_done' AND at >= :since ORDER BY seq DESC LIMIT 1"
            ),
            {"c": case_id, "since": out["decided_at"]},
        ).first()
        out["done"] = (
            {"at": report.at, "by": report.actor_name, "note": report.note} if report else None
        )
        return out

    def of_case(self, principal: Principal, case: str) -> dict:
        """The last meeting decision on a case, its deadline, the report that it was carried
        out, and whether the user may report it."""
        now = self.cases.clock.now()
        with self.engine.connect() as conn:
            row = self.cases._visible(conn, case, principal)
            last = self._last_on_case(conn, row["id"])
            count = conn.execute(
                text(
                    "SELECT count(*) FROM joint_meeting_case WHERE case_id = :c "
                    "AND decided_at IS NOT NULL"
                ),
                {"c": row["id"]},
            ).scalar_one()
        if last is None:
            return {"case": row["number"], "decision": None, "decisions": 0, "may_report": False}
        due = end_of_day(last["decided_due"])
        why = self._why_not_report(principal, row, last) if last["done"] is None else None
        allowed = self.cases.workflow.may(
            self.cases.workflow.transition("meeting_done"),
            principal.acts_as,
            is_holder=principal.holds(row["department_code"]),
        )
        return {
            "case": row["number"],
            "decision": {
                **last,
                "due": due,
                "overdue": last["done"] is None and due < now,
                "meeting": {k: last[k] for k in ("id", "title", "held_on")},
            },
            "decisions": count,
            "may_report": bool(row["is_open"] and last["done"] is None and why is None and allowed),
            "why_not": why,
            "as_of": now,
        }


def _meeting_ref(meeting: dict) -> dict:
    """What a case's event keeps of the meeting: its id, title and date."""
    return {
        "id": meeting["id"],
        "title": meeting["title"],
        "held_on": meeting["held_on"].isoformat(),
    }
