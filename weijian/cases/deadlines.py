"""Deadlines (时限): report within 1 day of discovery, site visit within 1 day of the report.

Whether a step is on time or overdue is computed from the case's timestamps and events at the
moment of the question — there is no scheduled job that could miss. Days are calendar days by
default; with ``WEIJIAN_DEADLINE_DAYS=working`` they are working days, skipping weekends and the
public holidays of a calendar file (and counting the make-up working days, 调休上班)."""

from __future__ import annotations

import csv
import errno
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path

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


def status_of(due: datetime, done_at: datetime | None, now: datetime) -> str:
    """met / late (done after the deadline) / pending / overdue (not done, deadline passed).
    The deadline moment itself is still on time."""
    if done_at is not None:
        return "met" if done_at <= due else "late"
    return "pending" if now <= due else "overdue"


STATUS_LABELS = {"met": "按时", "late": "超时完成", "pending": "未到期", "overdue": "已超期"}


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
    """Every deadline that applies to a case, with its due moment and status.

    ``events`` are the case's events in order, each with ``action`` and ``at``. A deadline met
    by an action counts from its start or from the last reopening, whichever is later, and is
    met by the first such action after that."""
    out = []
    reopened = [e["at"] for e in events if e["action"] == "reopen"]
    for rule in workflow.deadlines:
        if not rule.applies(channel, track):
            continue
        start = discovered_at if rule.start == "discovered_at" else reported_at
        if start is None:
            continue
        if rule.done == "reported_at":
            done_at = reported_at
        else:
            if reopened:
                start = max(start, reopened[-1])
            done_at = next(
                (e["at"] for e in events if e["action"] == rule.done and e["at"] >= start), None
            )
        due = calendar.add_days(start, rule.days)
        status = status_of(due, done_at, now)
        out.append(_row(rule, start, due, done_at, status, now))
    return out


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
