"""The time of day, as the cases see it. The API and the CLI use :class:`Clock`; tests use a
:class:`FixedClock` they move by hand, so deadline boundaries can be hit to the second."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

LOCAL = ZoneInfo("Asia/Shanghai")


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
