"""The time of day, as the cases see it. The API and the CLI use :class:`Clock`; tests use a
:class:`FixedClock` they move by hand, so deadline boundaries can be hit to the second."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from weijian.errors import InputError

LOCAL = ZoneInfo("Asia/Shanghai")
#: how far a device's clock may run ahead of the server's
CLOCK_SKEW = timedelta(minutes=10)


class Clock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock(Clock):
    def __init__(self, at: datetime):
        self._lock = threading.Lock()
        self._at = at

    def now(self) -> datetime:
        with self._lock:
            return self._at

    def set(self, at: datetime) -> None:
        with self._lock:
            self._at = at

    def advance(self, **delta: float) -> datetime:
        with self._lock:
            self._at += timedelta(**delta)
            return self._at


def beijing(moment: datetime) -> str:
    """A moment as people in the city read it: “2026年3月2日 09:00”, Beijing time (a naive
    moment is taken to be Beijing time already, as a camera's EXIF time is)."""
    t = moment.astimezone(LOCAL) if moment.tzinfo else moment
    return f"{t.year}年{t.month}月{t.day}日 {t:%H:%M}"


def made_at_checked(made_at: datetime | None, now: datetime, max_age: timedelta) -> datetime:
    """When a record was made on a device (``made_at``; a naive time is Beijing time), checked
    against the server's clock: not later than ``now`` beyond :data:`CLOCK_SKEW`, not older than
    ``max_age`` (the longest a phone is expected to stay offline). None: made now."""
    if made_at is None:
        return now
    if made_at.tzinfo is None:
        made_at = made_at.replace(tzinfo=LOCAL)
    if made_at > now + CLOCK_SKEW:
        raise InputError(
            f"记录时间（{beijing(made_at)}）晚于服务器当前时间（{beijing(now)}），"
            "请校准手机时间后重试",
            code="made_at.future",
            detail=f"made_at {made_at.isoformat()} lies after the server's time beyond "
            f"{CLOCK_SKEW.total_seconds() / 60:.0f} minutes",
            hint="set the device's clock right",
        )
    if made_at < now - max_age:
        days = max_age.total_seconds() / 86400
        raise InputError(
            f"记录时间（{beijing(made_at)}）距今已超过 {days:g} 天，离线保存的记录不能再提交，"
            "请重新登记",
            code="made_at.too_old",
            detail=f"made_at {made_at.isoformat()} is older than {days:g} days",
            hint="record it again",
        )
    return made_at
