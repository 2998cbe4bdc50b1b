"""The ``Idempotency-Key`` header (pure ASGI), honoured by every call under ``/api/v1`` that may
change data (POST, PUT, PATCH, DELETE) — the rule and its table are
:mod:`weijian.cases.idempotency`'s:

- the first request with a key runs while holding the key's lock; its body is hashed as it
  streams through (an upload is never held in memory), and a successful answer (2xx) is stored
  with the hash;
- a request with the same key from the same caller waits while the first runs, then answers
  the stored answer again (``Idempotent-Replayed: true``) without running — or, with another
  method, path or body, 422 ``idempotency.key_reused``;
- a request whose first try failed (4xx, 5xx, a crash) runs again.

Left out: logins, users and API keys (their answers hold passwords and keys, never stored) and
the jurisdiction batch (a read, streamed). A request with a token that is not valid passes
through without its key: the route answers 401."""

from __future__ import annotations

import time

import anyio
from anyio import to_thread
from sqlalchemy import Connection
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from weijian.api.limits import BATCH_PATH, BODY_METHODS, refused
from weijian.cases import idempotency, users
from weijian.cases.idempotency import Claim, Fingerprint
from weijian.errors import ConflictError, WeijianError

PREFIX = "/api/v1/"
LEFT_OUT = ("/api/v1/auth/", "/api/v1/users", "/api/v1/api-clients", BATCH_PATH)
#: how long a request waits for the first one with its key before it gives up
WAIT_SECONDS = 120.0
POLL_SECONDS = 0.05
#: how often the old keys are purged while the server runs
PURGE_EVERY_S = 3600.0


def _caller(cases, authorization: str) -> str | None:
    """The caller of the request, or None for a token that is not valid."""
    scheme, _, token = authorization.partition(" ")
    if not authorization:
        return idempotency.caller_of(None)
    if scheme.lower() != "bearer" or not token.strip():
        return None
    try:
        with cases.engine.connect() as conn:
            principal = users.principal_for_token(conn, token.strip(), cases.clock.now())
    except WeijianError:
        return None
    return idempotency.caller_of(principal)


def _locked(cases, claim: Claim) -> Connection | None:
    """An autocommit connection holding the key's lock, or None when another request holds it."""
    conn = cases.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    try:
        if idempotency.try_lock(conn, claim):
            return conn
    except BaseException:
        conn.invalidate()
        conn.close()
        raise
    conn.close()
    return None


def _release(conn: Connection, claim: Claim) -> None:
    try:
        idempotency.unlock(conn, claim)
    except Exception:
        conn.invalidate()  # the session and its lock end with the connection
    finally:
        conn.close()


class Idempotency:
    """The ASGI middleware: see the module's account."""

    def __init__(self, app: ASGIApp):
        self.app = app
        self.purged_at = 0.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        cases = getattr(scope["app"].state, "cases", None)
        path = scope.get("path", "")
        if (
            scope["type"] != "http"
            or scope["method"] not in BODY_METHODS
            or cases is None
            or not path.startswith(PREFIX)
            or path.startswith(LEFT_OUT)
        ):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        key = headers.get(idempotency.HEADER.lower())
        if key is None:
            await self.app(scope, receive, send)
            return
        try:
            key = idempotency.checked_key(key)
        except WeijianError as exc:
            await refused(exc)(scope, receive, send)
            return
        caller = await to_thread.run_sync(_caller, cases, headers.get("authorization", ""))
        if caller is None:
            await self.app(scope, receive, send)
            return
        await self._purge(cases)
        claim = Claim(caller, key)
        conn = await self._wait(cases, claim)
        if conn is None:
            await refused(_busy())(scope, receive, send)
            return
        try:
            await self._keyed(cases, conn, claim, scope, receive, send)
        finally:
            with anyio.CancelScope(shield=True):  # a client gone: the lock is let go all the same
                await to_thread.run_sync(_release, conn, claim)

    async def _wait(self, cases, claim: Claim) -> Connection | None:
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            conn = await to_thread.run_sync(_locked, cases, claim)
            if conn is not None or time.monotonic() > deadline:
                return conn
            await anyio.sleep(POLL_SECONDS)

    async def _purge(self, cases) -> None:
        if time.monotonic() - self.purged_at < PURGE_EVERY_S:
            return
        self.purged_at = time.monotonic()
        await to_thread.run_sync(
            idempotency.purge, cases.engine, cases.clock.now(), cases.settings.idempotency_days
        )

    async def _keyed(
        self, cases, conn: Connection, claim: Claim, scope: Scope, receive: Receive, send: Send
    ) -> None:
        method, path = scope["method"], scope["path"]
        headers = Headers(scope=scope)
        stored = await to_thread.run_sync(idempotency.find, conn, claim)
        if stored is not None and stored.answered:
            digest = await _drained(receive, Fingerprint(headers.get("content-type")))
            try:
                idempotency.check_same(stored, method, path, digest)
            except WeijianError as exc:
                await refused(exc)(scope, receive, send)
                return
            await _replay(stored)(scope, receive, send)
            return
        if stored is not None:  # an earlier try that never answered: the same request?
            try:
                idempotency.check_same(stored, method, path, None)
            except WeijianError as exc:
                await refused(exc)(scope, receive, send)
                return
        now = cases.clock.now()
        await to_thread.run_sync(idempotency.claim_key, conn, claim, method, path, now)
        scope.setdefault("state", {})[idempotency.STATE_KEY] = claim
        hasher = Fingerprint(headers.get("content-type"))
        answer: dict = {"status": None, "content_type": None, "body": []}
        ended = False

        async def hashing() -> Message:
            nonlocal ended
            message = await receive()
            if message["type"] == "http.request":
                hasher.update(message.get("body", b""))
                ended = not message.get("more_body", False)
            return message

        async def capturing(message: Message) -> None:
            if message["type"] == "http.response.start":
                answer["status"] = message["status"]
                answer["content_type"] = Headers(raw=message["headers"]).get("content-type")
            elif message["type"] == "http.response.body":
                answer["body"].append(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, hashing, capturing)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await to_thread.run_sync(idempotency.forget, conn, claim)
            raise
        status = answer["status"]
        if status is not None and 200 <= status < 300:
            if not ended:
                await _drained(receive, hasher)
            await to_thread.run_sync(
                idempotency.store_answer,
                conn,
                claim,
                hasher.hexdigest(),
                status,
                answer["content_type"],
                b"".join(answer["body"]),
                cases.clock.now(),
            )
        else:
            await to_thread.run_sync(idempotency.forget, conn, claim)


async def _drained(receive: Receive, hasher) -> str:
    """The hash of the rest of the request's body, read to its end."""
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        hasher.update(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return hasher.hexdigest()


def _replay(stored) -> Response:
    headers = {"Idempotent-Replayed": "true"}
    return Response(
        stored.response or b"",
        status_code=stored.status,
        media_type=stored.content_type,
        headers=headers,
    )


def _busy() -> ConflictError:
    return ConflictError(
        f"带有相同 {idempotency.HEADER} 的请求仍在处理中，请稍后重试",
        code="idempotency.in_progress",
        detail=f"a request with the same {idempotency.HEADER} is still being processed",
        hint="retry later with the same key",
    )
