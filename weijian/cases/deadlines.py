"""Deadlines (时限): report within 1 day of discovery, site visit within 1 day of the report.

Whether a step is on time or overdue is computed from the case's timestamps and events at the
moment of the question — there is no scheduled job that could miss. Days are calendar days by
default; with ``WEIJIAN_DEADLINE_DAYS=working`` they are working days, skipping weekends and the
public holidays of a calendar file (and counting the make-up working days, 调休上班)."""

from __future__ import annotations

import csv
import errno
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from weijian.cases.clock import LOCAL
from weijian.cases.workflow import DeadlineRule, Workflow
from weijian.errors import InputError

HOLIDAY_WORDS = {"holiday", "休", "假", "节假日", "放假"}
WORKDAY_WORDS = {"workday", "班", "上班", "调休上班", "补班"}
#: why a file cannot be read, in Chinese, by errno
_OS_WORDS = {
    errno.ENOENT: "文件不存在",
    errno.EACCES: "没有读取权限",
    errno.EISDIR: "这是一个文件夹",
}


@dataclass(frozen=True)
class WorkCalendar:
    """``calendar`` days, or ``working`` days: Monday–Friday, minus holidays, plus workdays."""

    mode: str = "calendar"
    holidays: frozenset[date] = frozenset()
    workdays: frozenset[date] = frozenset()

    def is_working(self, day: date) -> bool:
        if day in self.workdays:
            return True
        if day in self.holidays:
            return False
        return day.weekday() < 5

    def add_days(self, start: datetime, days: int) -> datetime:
        """The moment ``days`` days after ``start``. Working days keep the clock time; a start
        on a day off counts from the beginning of the next working day."""
        if self.mode == "calendar":
            return start + timedelta(days=days)
        moment = start.astimezone(LOCAL)  # the holiday calendar speaks of Beijing dates
        if not self.is_working(moment.date()):
            day = moment.date() + timedelta(days=1)
            while not self.is_working(day):
                day += timedelta(days=1)
            moment = datetime.combine(day, time(0), tzinfo=LOCAL)
        remaining = days
        while remaining > 0:
            moment += timedelta(days=1)
            if self.is_working(moment.date()):
                remaining -= 1
        return moment


def load_calendar(mode: str = "calendar", path: Path | None = None) -> WorkCalendar:
    """A calendar from the settings. The file is CSV: ``date,kind[,note]`` with kind
    ``holiday`` (休) or ``workday`` (班); lines starting with # are comments."""
    if mode not in ("calendar", "working"):
        raise InputError(
            f"期限的计日方式“{mode}”无效，应为 calendar（自然日）或 working（工作日），"
            "请修改 WEIJIAN_DEADLINE_DAYS 的设置",
            code="deadline.days_invalid",
            detail=f"deadline days must be 'calendar' or 'working', not {mode!r}",
            hint="set WEIJIAN_DEADLINE_DAYS=calendar or WEIJIAN_DEADLINE_DAYS=working",
        )
    if path is None:
        return WorkCalendar(mode)
    holidays, workdays = set(), set()
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except OSError as exc:
        why = _OS_WORDS.get(exc.errno, "无法读取")
        raise InputError(
            f"无法读取节假日文件 {path}（{why}），请检查 WEIJIAN_HOLIDAY_FILE 的设置："
            "应为“日期,类型”的 CSV 文件，类型为 holiday（休）或 workday（班）",
            code="calendar.unreadable",
            detail=f"cannot read the holiday calendar {path}: {exc.strerror}",
            hint="set WEIJIAN_HOLIDAY_FILE to a CSV of date,kind (holiday|workday)",
        ) from None
    for number, row in enumerate(csv.reader(text.splitlines()), start=1):
        if not row or not row[0].strip() or row[0].lstrip().startswith("#"):
            continue
        try:
            day = date.fromisoformat(row[0].strip())
        except ValueError:
            if number == 1 and not row[0].strip()[:1].isdigit():
                continue  # a header line
            raise InputError(
                f"节假日文件 {path} 第 {number} 行：“{row[0]}”不是日期，"
                "请写成“年-月-日”，如 2026-10-01",
                code="calendar.date_invalid",
                detail=f"{path}, line {number}: {row[0]!r} is not a date (YYYY-MM-DD)",
            ) from None
        kind = (row[1] if len(row) > 1 else "holiday").strip().lower()
        if kind in HOLIDAY_WORDS:
            holidays.add(day)
        elif kind in WORKDAY_WORDS:
            workdays.add(day)
        else:
            raise InputError(
                f"节假日文件 {path} 第 {number} 行：类型“{kind}”无效，"
                "应为 holiday（休）或 workday（班）",
                code="calendar.kind_invalid",
                detail=f"{path}, line {number}: kind {kind!r} must be holiday (休) or workday (班)",
            )
    return WorkCalendar(mode, frozenset(holidays), frozenset(workdays))


def missed(due: datetime | None, done_at: datetime | None, at: datetime) -> bool:
    """Whether the deadline ``due`` stands missed at the moment ``at``: passed (the deadline
    moment itself is still on time) and the step not done by then. THE test of overdue: every
    list, figure, ledger, map and printed map asks it (in SQL: :func:`missed_sql`), with
    ``at`` = now, or the end of a period that is over (``min(end, now)``)."""
    return due is not None and due < at and (done_at is None or done_at > at)


def missed_sql(due: str, done: str, at: str) -> str:
    """:func:`missed` in SQL over the columns or parameters named."""
    return f"({due} < {at} AND ({done} IS NULL OR {done} > {at}))"


def status_of(due: datetime, done_at: datetime | None, now: datetime) -> str:
    """met / late (done after the deadline) / pending / overdue (not done, deadline passed).
    The deadline moment itself is still on time."""
    if done_at is not None:
        return "met" if done_at <= due else "late"
    return "overdue" if missed(due, None, now) else "pending"


STATUS_LABELS = {"met": "按时", "late": "超时完成", "pending": "未到期", "overdue": "已超期"}


def evaluate_case(
    workflow: Workflow,
    calendar: WorkCalendar,
    case: Mapping[str, Any],
    events: list[dict],
    now: datetime,
) -> list[dict]:
    """:func:`evaluate` for a case row (a mapping with ``channel``, ``track``,
    ``discovered_at`` and ``reported_at``)."""
    return evaluate(
        workflow,
        calendar,
        channel=case["channel"],
        track=case["track"],
        discovered_at=case["discovered_at"],
        reported_at=case["reported_at"],
        events=events,
        now=now,
    )


def evaluate(
    workflow: Workflow,
    calendar: WorkCalendar,
    *,
    channel: str,
    track: str,
    discovered_at: datetime | None,
    reported_at: datetime,
    events: list[dict],
    now: datetime,
) -> list[dict]:
    """Every deadline of a stage the case has entered, with its due moment and status.

    ``events`` are the case's events in order, each with ``action``, ``at`` and, for the
    rules that read them, ``data``. A deadline counts from its start (a moment of the case, or
    the last event of the actions that open its stage), again from a later restart (a
    document served: its ``served_on`` day), and from the last reopening; it is met by the
    first event of its ``done`` actions after that."""
    out = []
    events = _without_voided(events)
    reopened = [e["at"] for e in events if e["action"] == "reopen"]
    moments = {"discovered_at": discovered_at, "reported_at": reported_at}
    for rule in workflow.deadlines:
        if not rule.applies(channel, track):
            continue
        began = _start(rule, moments, events)
        if began is None:
            continue
        start, opening = began
        fixed = _due_day(rule, opening)
        days = None if rule.due_field else _days(rule, opening)
        if days is None and fixed is None:
            continue
        if "reported_at" in rule.done:
            done_at = reported_at
        else:
            if reopened:
                start = max(start, reopened[-1])
            done_at = next(
                (e["at"] for e in events if matches(rule.done, e) and e["at"] >= start), None
            )
        due = fixed if fixed is not None else calendar.add_days(start, days)
        status = status_of(due, done_at, now)
        # ``decided``: its day was fixed by the step that began it (the meeting's 办结期限)
        out.append({**_row(rule, start, due, done_at, status, now), "decided": fixed is not None})
    return out


def _start(rule: DeadlineRule, moments: dict, events: list[dict]) -> tuple | None:
    """When the rule's stage began (and the event that opened it, if one did)."""
    opening = None
    if rule.start_after:
        opening = next((e for e in reversed(events) if matches(rule.start_after, e)), None)
    if opening is not None:
        start = opening["at"]
    elif rule.start_after and rule.start is None:
        return None  # the stage has not begun
    else:
        start = moments.get(rule.start)
        if start is None:
            return None
    for event in events:
        if matches(rule.restart, event) and event["at"] >= start:
            start = _served(event) or event["at"]
    return start, opening


def _document_id(event: dict):
    document = (event.get("data") or {}).get("document")
    return document.get("id") if isinstance(document, dict) else None


def _without_voided(events: list[dict]) -> list[dict]:
    """The events but the steps of documents voided or superseded since: a voided order sets
    no period (nor does the one it replaced), a voided proof of service restarts none."""
    voided = {_document_id(e) for e in events if e["action"] == "void_document"}
    for e in events:
        replaced = (e.get("data") or {}).get("supersedes")
        if isinstance(replaced, dict):
            voided.add(replaced.get("id"))
    if not voided:
        return events
    return [e for e in events if e["action"] == "void_document" or _document_id(e) not in voided]


def matches(names: tuple[str, ...], event: dict) -> bool:
    """Whether ``event`` is one of the actions ``names``: a plain action name is any event of
    that action; ``action:kind`` only the one whose document is of that kind (its data's
    ``document_kind``: the document issued, or for a service the document served), and
    ``action:`` only one that names no document (a file uploaded by hand)."""
    action = event["action"]
    for name in names:
        wanted, qualified, kind = name.partition(":")
        if wanted != action:
            continue
        if not qualified or kind == ((event.get("data") or {}).get("document_kind") or ""):
            return True
    return False


def _due_day(rule: DeadlineRule, opening: dict | None) -> datetime | None:
    """The end of the day the starting event's ``due_field`` names (Beijing time)."""
    if rule.due_field is None:
        return None
    value = ((opening or {}).get("data") or {}).get(rule.due_field)
    try:
        day = date.fromisoformat(str(value)[:10])
    except (TypeError, ValueError):
        return None
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=LOCAL).astimezone(UTC)


def _served(event: dict) -> datetime | None:
    """The day a document was served (its ``served_on``), from 00:00 Beijing time."""
    served = (event.get("data") or {}).get("served_on")
    try:
        day = date.fromisoformat(str(served)[:10])
    except (TypeError, ValueError):
        return None
    return datetime.combine(day, time(0), tzinfo=LOCAL).astimezone(UTC)


def _days(rule: DeadlineRule, opening: dict | None) -> int | None:
    if rule.days_field is None:
        return rule.days
    value = ((opening or {}).get("data") or {}).get(rule.days_field)
    try:
        days = int(float(value))
    except (TypeError, ValueError):
        return None  # no period was given with the step: no deadline to keep
    return days if days >= 0 else None


def current_stage(evaluated: list[dict]) -> tuple[str | None, datetime | None]:
    """The stage a case is in: the pending or missed deadline due first. A deadline whose day
    was decided (the joint meeting's 办结期限) takes the place of those running when it was
    set: they stay in the case's list as they are, but the stage is the decision's — or that
    of a step begun after it."""
    waiting = [d for d in evaluated if d["status"] in ("pending", "overdue")]
    if not waiting:
        return None, None
    decided = [d["start"] for d in waiting if d.get("decided")]
    if decided:
        waiting = [d for d in waiting if d["start"] >= max(decided)]
    first = min(waiting, key=lambda d: d["due"])
    return first["code"], first["due"]


def _row(rule: DeadlineRule, start, due, done_at, status, now) -> dict:
    late_by = (done_at or now) - due
    return {
        "code": rule.code,
        "label": rule.label,
        "start": start,
        "due": due,
        "done_at": done_at,
        "status": status,
        "status_label": STATUS_LABELS[status],
        "overdue_hours": round(late_by.total_seconds() / 3600, 1)
        if status in ("late", "overdue")
        else 0.0,
    }


# -- what a case row keeps of its deadlines ------------------------------------------------

#: the deadlines that give the party a period to put things right: to comply with a stop order,
#: to demolish after a demolition decision (the ledger's 整改期限)
RECTIFICATION = ("compliance", "self_demolition")
#: the actions the deadlines read whatever the workflow names: a new round, a voided or a
#: reissued document
_ALWAYS_READ = ("reopen", "void_document", "reissue_document")


def read_actions(workflow: Workflow) -> frozenset[str]:
    """The actions whose events can change what :func:`evaluate` gives: those a rule starts,
    restarts or is met by, those that change the case's track, and :data:`_ALWAYS_READ`; of
    these alone it reads the data (a period or a day given, a document's kind or id, a served
    day). An event of any other action (evidence, an urge, a link) changes none of a case's
    deadlines."""
    names = set(_ALWAYS_READ)
    for rule in workflow.deadlines:
        for name in (*rule.start_after, *rule.restart, *rule.done):
            names.add(name.partition(":")[0])
    names.update(a for a, t in workflow.transitions.items() if t.set_track)
    names.discard("reported_at")  # a moment of the case, not an action
    return frozenset(names)


def pending_due(evaluated: list[dict]) -> datetime | None:
    """The earliest due moment of the deadlines not yet met: an open case is overdue at any
    moment past it (``missed(pending_due, None, at)``, as any of its deadlines would be)."""
    return min((d["due"] for d in evaluated if d["done_at"] is None), default=None)


def rectification_due(evaluated: list[dict]) -> datetime | None:
    """The last moment of the period the party was given to comply (a stop order's) or to
    demolish (a demolition decision's): the one given latest; None when none was."""
    given = [d for d in evaluated if d["code"] in RECTIFICATION]
    if not given:
        return None
    return max(given, key=lambda d: d["start"])["due"]
