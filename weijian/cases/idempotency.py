"""Idempotency keys: a case-changing call sent again with the same ``Idempotency-Key`` by the same
caller answers the first answer again and changes nothing (a phone's offline queue retries
until it hears back; a retry must never make a second case).

One row per (caller, key) in ``idempotency_key``. The caller is the user (``user:<id>``, the
same person with a new login token), the other system (``client:<id>``), or, without a login,
nobody (``anonymous``: the key alone, a random UUID, is what ties the retries together).

While a request with a key runs, its caller and key are held by a session-level advisory lock
(:func:`try_lock`): a second request with the same key waits for it and then replays the stored
answer. A lock dies with its connection, so a crashed server leaves no request waiting forever.
Only successful answers (2xx) are stored: a 4xx changed nothing, and the same key may be sent
again once the cause is mended.

A request that makes a row — a report its case, a gate's entry its entry — records the row on
its key in the row's own transaction (:func:`made_by`, :func:`record_made`, called by
``CaseService.create`` and ``GateLog.record``): a server that dies after that commit and before
the answer is stored answers the retry with the same row.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, text

from weijian.cases.scope import Principal
from weijian.errors import InputError

#: the longest key accepted (a UUID has 36 characters)
MAX_KEY_LENGTH = 100
HEADER = "Idempotency-Key"
#: where a request under way finds its claim (the request's state)
STATE_KEY = "idempotency"


@dataclass(frozen=True)
class Claim:
    """A request with a key, under way: whose and which key."""

    caller: str
    key: str


@dataclass(frozen=True)
class Stored:
    method: str
    path: str
    body_sha256: str | None
    status: int | None
    content_type: str | None
    response: bytes | None
    made_kind: str | None
    made_id: int | None

    @property
    def answered(self) -> bool:
        return self.status is not None


def checked_key(key: str) -> str:
    """The key as given: 1 to :data:`MAX_KEY_LENGTH` printable ASCII characters."""
    if not key or len(key) > MAX_KEY_LENGTH or not all(" " < c <= "~" for c in key):
        raise InputError(
            f"请求头 {HEADER} 的值无效：应为 1 至 {MAX_KEY_LENGTH} 个可打印的英文字符"
            "（不含空格），建议使用 UUID",
            code="idempotency.key_invalid",
            detail=f"the {HEADER} header must be 1 to {MAX_KEY_LENGTH} printable ASCII "
            "characters without spaces",
            hint="send a UUID",
        )
    return key


def caller_of(principal: Principal | None) -> str:
    if principal is None or (principal.id is None and principal.api_client_id is None):
        return "anonymous"
    if principal.api_client_id is not None:
        return f"client:{principal.api_client_id}"
    return f"user:{principal.id}"


class Fingerprint:
    """The SHA-256 of a request's body, fed as it streams. A multipart body is hashed without
    its boundary, which a browser draws anew for every send of the same form."""

    def __init__(self, content_type: str | None):
        found = re.search(r'boundary="?([^";]+)"?', content_type or "", re.IGNORECASE)
        self.boundary = found.group(1).encode("latin-1") if found else b""
        self.hash = hashlib.sha256()
        self.tail = b""

    def update(self, chunk: bytes) -> None:
        if not self.boundary:
            self.hash.update(chunk)
            return
        data = (self.tail + chunk).replace(self.boundary, b"")
        cut = max(len(data) - (len(self.boundary) - 1), 0)  # a boundary may straddle chunks
        self.hash.update(data[:cut])
        self.tail = data[cut:]

    def hexdigest(self) -> str:
        final = self.hash.copy()
        final.update(self.tail)
        return final.hexdigest()


def try_lock(conn: Connection, claim: Claim) -> bool:
    """Take the key's session-level lock on ``conn`` (an autocommit connection), or False when
    another request holds it."""
    return bool(
        conn.execute(
            text("SELECT pg_try_advisory_lock(hashtext(:c), hashtext(:k))"),
            {"c": "idempotency " + claim.caller, "k": claim.key},
        ).scalar_one()
    )


def unlock(conn: Connection, claim: Claim) -> None:
    conn.execute(
        text("SELECT pg_advisory_unlock(hashtext(:c), hashtext(:k))"),
        {"c": "idempotency " + claim.caller, "k": claim.key},
    )


def find(conn: Connection, claim: Claim) -> Stored | None:
    row = conn.execute(
        text(
            "SELECT method, path, body_sha256, status, content_type, response, made_kind, made_id "
            "FROM idempotency_key WHERE caller = :c AND key = :k"
        ),
        {"c": claim.caller, "k": claim.key},
    ).first()
    if row is None:
        return None
    return Stored(
        method=row.method,
        path=row.path,
        body_sha256=row.body_sha256,
        status=row.status,
        content_type=row.content_type,
        response=bytes(row.response) if row.response is not None else None,
        made_kind=row.made_kind,
        made_id=row.made_id,
    )


def check_same(stored: Stored, method: str, path: str, body_sha256: str | None) -> None:
    """A key names one request: the same key with another method, path or body is refused."""
    same_body = stored.body_sha256 is None or body_sha256 == stored.body_sha256
    if stored.method != method or stored.path != path or not same_body:
        raise InputError(
            f"请求头 {HEADER} 的值已用于另一个请求（{stored.method} {stored.path}），"
            "同一个键只能用于重发同一个请求；新的请求请使用新的键",
            code="idempotency.key_reused",
            detail=f"this {HEADER} was used for another request ({stored.method} "
            f"{stored.path}, or another body)",
            hint="send a new key with every new request",
        )


def claim_key(conn: Connection, claim: Claim, method: str, path: str, now: datetime) -> None:
    """The key's row, before the request runs (kept from an earlier try that never answered)."""
    conn.execute(
        text(
            "INSERT INTO idempotency_key (caller, key, method, path, created_at) "
            "VALUES (:c, :k, :m, :p, :now) ON CONFLICT (caller, key) DO NOTHING"
        ),
        {"c": claim.caller, "k": claim.key, "m": method, "p": path, "now": now},
    )


def store_answer(
    conn: Connection,
    claim: Claim,
    body_sha256: str,
    status: int,
    content_type: str | None,
    response: bytes,
    now: datetime,
) -> None:
    conn.execute(
        text(
            "UPDATE idempotency_key SET body_sha256 = :b, status = :s, content_type = :t, "
            "response = :r, answered_at = :now WHERE caller = :c AND key = :k"
        ),
        {
            "c": claim.caller,
            "k": claim.key,
            "b": body_sha256,
            "s": status,
            "t": content_type,
            "r": response,
            "now": now,
        },
    )


def forget(conn: Connection, claim: Claim) -> None:
    """The request did not succeed: its key is free again — unless a row was made under it."""
    conn.execute(
        text(
            "DELETE FROM idempotency_key WHERE caller = :c AND key = :k AND status IS NULL "
            "AND made_id IS NULL"
        ),
        {"c": claim.caller, "k": claim.key},
    )


def made_by(conn: Connection, claim: Claim | None, kind: str) -> int | None:
    """The id of the ``kind`` of row (``case``, ``gate_log_entry``) a request under this key
    made already (its answer lost in a crash), or None; the key's row stays locked until the
    transaction ends."""
    if claim is None:
        return None
    return conn.execute(
        text(
            "SELECT made_id FROM idempotency_key WHERE caller = :c AND key = :k "
            "AND made_kind = :kind FOR UPDATE"
        ),
        {"c": claim.caller, "k": claim.key, "kind": kind},
    ).scalar()


def record_made(conn: Connection, claim: Claim | None, kind: str, made_id: int) -> None:
    """In the transaction that makes the row: the key made it."""
    if claim is not None:
        conn.execute(
            text(
                "UPDATE idempotency_key SET made_kind = :kind, made_id = :i "
                "WHERE caller = :c AND key = :k"
            ),
            {"kind": kind, "i": made_id, "c": claim.caller, "k": claim.key},
        )


def purge(engine: Engine, now: datetime, days: float) -> int:
    """Delete the keys older than ``days``; how many."""
    with engine.begin() as conn:
        return conn.execute(
            text("DELETE FROM idempotency_key WHERE created_at < :since"),
            {"since": now - timedelta(days=days)},
        ).rowcount
