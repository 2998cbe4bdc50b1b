"""Periods of the oversight: months given as ``YYYY-MM``, the ledger's due moment, and days
as half-open ranges of Beijing time. Plain functions over dates."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta

from weijian.cases.clock import LOCAL
from weijian.errors import InputError

MONTH_RE = re.compile(r"^\s*(\d{4})-(\d{1,2})\s*$")
#: the years a period, a month or a date filter may name
FIRST_YEAR, LAST_YEAR = 2000, 2100


def parse_month(value: str | date) -> date:
    """``"2026-03"`` → ``date(2026, 3, 1)``; an InputError that says the format otherwise."""
    if isinstance(value, date):
        return value.replace(day=1)
    match = MONTH_RE.match(str(value or ""))
    year, month = (int(match[1]), int(match[2])) if match else (0, 0)
    if not match or not 1 <= month <= 12 or not FIRST_YEAR <= year <= LAST_YEAR:
        raise InputError(
            f"月份“{value}”格式不正确，应为“年-月”，如 2026-03",
            code="period.month_invalid",
            detail=f"{value!r} is not a month",
            hint="give the month as YYYY-MM, e.g. 2026-03",
        )
    return date(year, month, 1)


def next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def last_month(now: datetime) -> date:
    """The month before ``now``'s (in Beijing time): the ledger a town sends next."""
    this = now.astimezone(LOCAL).date().replace(day=1)
    return (this - timedelta(days=1)).replace(day=1)


def month_bounds(month: date) -> tuple[datetime, datetime]:
    """00:00 Beijing time of the month's first day and of the next month's first day."""
    first = month.replace(day=1)
    return (
        datetime.combine(first, time(0), tzinfo=LOCAL),
        datetime.combine(next_month(first), time(0), tzinfo=LOCAL),
    )


def due_moment(month: date, due_day: int) -> datetime:
    """The moment a month's ledger becomes late: 00:00 Beijing time after the ``due_day``-th
    day of the next month (due day 5: submitted on 5 April at 23:59 is on time)."""
    if not 1 <= due_day <= 28:
        raise InputError(
            f"台账报送截止日应为每月 1 至 28 日之间，当前为 {due_day}，"
            "请修改 WEIJIAN_LEDGER_DUE_DAY",
            code="ledger.due_day_invalid",
            detail=f"the ledger due day must be 1…28, not {due_day}",
            hint="set WEIJIAN_LEDGER_DUE_DAY to a day every month has",
        )
    return datetime.combine(
        next_month(month.replace(day=1)) + timedelta(days=due_day), time(0), tzinfo=LOCAL
    )


def due_date(month: date, due_day: int) -> date:
    """The last day a month's ledger is on time."""
    return (due_moment(month, due_day) - timedelta(days=1)).date()


def month_text(month: date) -> str:
    return f"{month:%Y-%m}"


def period(start: date, end: date) -> tuple[datetime, datetime]:
    """[start 00:00, the day after end 00:00) in Beijing time: ``end`` is included."""
    for day in (start, end):
        check_year(day)
    if end < start:
        raise InputError(
            f"统计期间的结束日期（{end}）早于开始日期（{start}），请检查起止日期",
            code="period.reversed",
            detail=f"the period ends ({end}) before it starts ({start})",
        )
    return (
        datetime.combine(start, time(0), tzinfo=LOCAL),
        datetime.combine(end + timedelta(days=1), time(0), tzinfo=LOCAL),
    )


def check_year(day: date) -> None:
    """A date of the oversight lies between :data:`FIRST_YEAR` and :data:`LAST_YEAR`."""
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise InputError(
            f"日期 {day.isoformat()} 超出允许范围，应在 {FIRST_YEAR} 年至 {LAST_YEAR} 年之间",
            code="period.out_of_range",
            detail=f"{day.isoformat()} lies outside the years {FIRST_YEAR}–{LAST_YEAR}",
            hint=f"give a date between {FIRST_YEAR}-01-01 and {LAST_YEAR}-12-31",
        )


def month_period(month: str) -> tuple[date, date]:
    """The first and the last day of a month given as YYYY-MM."""
    first = parse_month(month)
    return first, next_month(first) - timedelta(days=1)
