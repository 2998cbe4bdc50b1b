"""Logins under attack: failed attempts counted in the database (so every server process sees
them) per account name and per client address; past a threshold each further try must wait
longer, and an account that failed too often is locked until an administrator unlocks it. A
locked account's right password is refused too; a success forgets the account's failures.

Passwords are checked (Argon2id, deliberately slow) by a few threads of their own with a
bounded queue: a flood of logins waits there, or is refused at once when the queue is full,
while the rest of the application keeps its threads."""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import Connection, Engine, text

from weijian.cases import users
from weijian.cases.clock import Clock
from weijian.cases.scope import Principal
from weijian.errors import NotAuthenticated, RateLimited
from weijian.settings import Settings

BEIJING = timezone(timedelta(hours=8))
#: seconds a client is asked to wait when every password thread and queue place is taken
BUSY_RETRY_S = 2
#: the password threads' niceness: a CPU busy with other requests runs those first (the
#: checks take the time left over; on an idle CPU, all of it)
PASSWORD_NICE = 19


@dataclass(frozen=True)
class Policy:
    """When failures make the next try wait, and when they lock the account."""

    delay_after: int = 5
    lockout_after: int = 10
    address_delay_after: int = 20
    delay_seconds: float = 2.0
    delay_max_seconds: float = 300.0
    window: timedelta = timedelta(minutes=30)

    @classmethod
    def of(cls, settings: Settings) -> Policy:
        return cls(
            delay_after=settings.login_delay_after,
            lockout_after=settings.login_lockout_after,
            address_delay_after=settings.login_address_delay_after,
            delay_seconds=settings.login_delay_seconds,
            delay_max_seconds=settings.login_delay_max_seconds,
            window=timedelta(minutes=settings.login_window_minutes),
        )

    def wait(self, failures: int, after: int) -> float:
        """Seconds the next try waits after ``failures`` failures (none up to ``after``)."""
        if failures < after:
            return 0.0
        return min(self.delay_seconds * 2 ** (failures - after), self.delay_max_seconds)


def _locked(username: str) -> NotAuthenticated:
    return NotAuthenticated(
        f"账户“{username}”因多次密码错误已被锁定，请联系系统管理员解锁",
        code="auth.account_locked",
        detail=f"the account {username!r} is locked after repeated failed logins",
        hint="ask an administrator to unlock it (POST /api/v1/users/{username}/unlock)",
    )


def _too_soon(until: datetime, now: datetime) -> RateLimited:
    seconds = max(1, math.ceil((until - now).total_seconds()))
    at = until.astimezone(BEIJING).strftime("%H:%M:%S")
    return RateLimited(
        f"登录失败次数过多，请在 {seconds} 秒后（北京时间 {at} 以后）再试",
        code="auth.login_throttled",
        detail=f"too many failed logins: try again in {seconds} s",
        hint="wait, then try again; an administrator can unlock the account",
        retry_after=seconds,
    )


def check(conn: Connection, username: str, address: str, now: datetime, policy: Policy) -> None:
    """Refuse the attempt before its password is looked at: the account locked, or the
    account or the address must still wait."""
    rows = conn.execute(
        text(
            "SELECT kind, failures, last_failure, locked_at FROM login_failure "
            "WHERE (kind = 'account' AND key = :u) OR (kind = 'address' AND key = :a)"
        ),
        {"u": username, "a": address},
    ).all()
    for row in rows:
        if row.locked_at is not None:
            raise _locked(username)
    for row in rows:
        if row.last_failure < now - policy.window:
            continue
        after = policy.delay_after if row.kind == "account" else policy.address_delay_after
        until = row.last_failure + timedelta(seconds=policy.wait(row.failures, after))
        if until > now:
            raise _too_soon(until, now)


def record_failure(
    conn: Connection, username: str, address: str, now: datetime, policy: Policy
) -> bool:
    """Count a failure against the account and the address; True when it locked the
    account. Failures older than the window (and not locking) are forgotten, and so are the
    locks of names no user has after a day (every name is locked alike: a lock tells nothing
    of which names exist)."""
    conn.execute(
        text(
            "DELETE FROM login_failure WHERE (locked_at IS NULL AND last_failure < :old) "
            "OR (locked_at < :day AND kind = 'account' "
            "AND NOT EXISTS (SELECT 1 FROM app_user WHERE username = key))"
        ),
        {"old": now - policy.window, "day": now - timedelta(days=1)},
    )
    failures = {}
    for kind, key in (("account", username), ("address", address)):
        failures[kind] = conn.execute(
            text(
                "INSERT INTO login_failure (kind, key, failures, last_failure) "
                "VALUES (:k, :key, 1, :now) ON CONFLICT (kind, key) DO UPDATE "
                "SET failures = login_failure.failures + 1, last_failure = :now "
                "RETURNING failures"
            ),
            {"k": kind, "key": key, "now": now},
        ).scalar_one()
    if failures["account"] >= policy.lockout_after:
        conn.execute(
            text(
                "UPDATE login_failure SET locked_at = :now "
                "WHERE kind = 'account' AND key = :u AND locked_at IS NULL"
            ),
            {"u": username, "now": now},
        )
        return True
    return False


def forget(conn: Connection, username: str) -> None:
    """A successful login: the account's failures are forgotten."""
    conn.execute(
        text("DELETE FROM login_failure WHERE kind = 'account' AND key = :u"), {"u": username}
    )


def unlock(conn: Connection, username: str) -> bool:
    """An administrator lifts the lock (and the failures) of an account: True if it was
    locked; 404 for a user that does not exist."""
    known = conn.execute(
        text("SELECT 1 FROM app_user WHERE username = :u"), {"u": username}
    ).first()
    if known is None:
        raise users.no_such_user(username)
    gone = conn.execute(
        text("DELETE FROM login_failure WHERE kind = 'account' AND key = :u RETURNING locked_at"),
        {"u": username},
    ).first()
    return gone is not None and gone.locked_at is not None


def locked_accounts(conn: Connection) -> dict[str, datetime]:
    rows = conn.execute(
        text(
            "SELECT key, locked_at FROM login_failure "
            "WHERE kind = 'account' AND locked_at IS NOT NULL"
        )
    )
    return {r.key: r.locked_at for r in rows}


def _lower_priority() -> None:
    """Make the calling thread (and the threads it starts: Argon2's lanes) nice: on Linux a
    thread's niceness is its own, set through its thread id."""
    with contextlib.suppress(OSError, AttributeError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), PASSWORD_NICE)


class PasswordPool:
    """A few threads for the slow password checks, at a low CPU priority, with ``queue``
    places to wait in; a submission finding every place taken is refused at once (429 with
    Retry-After)."""

    def __init__(self, workers: int, queue: int):
        self._executor = ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix="password", initializer=_lower_priority
        )
        self._places = threading.BoundedSemaphore(workers + queue)

    def submit(self, fn, *args) -> Future:
        if not self._places.acquire(blocking=False):
            raise RateLimited(
                "登录请求过多，服务器正忙，请稍后再试",
                code="auth.busy",
                detail="too many logins at once: every password check is taken",
                hint=f"try again in {BUSY_RETRY_S} s",
                retry_after=BUSY_RETRY_S,
            )
        try:
            future = self._executor.submit(fn, *args)
        except BaseException:
            self._places.release()
            raise
        future.add_done_callback(lambda _: self._places.release())
        return future

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


class Logins:
    """Logging in, the whole attempt run in the password pool: the limits checked, the
    password checked, the failure counted or the token issued."""

    def __init__(self, engine: Engine, clock: Clock, settings: Settings):
        self.engine = engine
        self.clock = clock
        self.settings = settings
        self.policy = Policy.of(settings)
        self.pool = PasswordPool(settings.password_workers, settings.password_queue)

    async def login(
        self, username: str, password: str, address: str
    ) -> tuple[str, datetime, Principal]:
        """A token for the user (see :meth:`attempt`), awaited without holding a thread."""
        future = self.pool.submit(self.attempt, username, password, address)
        return await asyncio.wrap_future(future)

    def attempt(self, username: str, password: str, address: str):
        now = self.clock.now()
        with self.engine.begin() as conn:
            check(conn, username, address, now, self.policy)
            row = users.login_row(conn, username)
        matches = users.password_matches(row, password)  # slow: no connection held meanwhile
        with self.engine.begin() as conn:
            if not matches:
                locked = record_failure(conn, username, address, now, self.policy)
            else:
                forget(conn, username)
                return users.issue_token(
                    conn, row, password, username, now, self.settings.token_hours
                )
        raise _locked(username) if locked else users.login_refused()
