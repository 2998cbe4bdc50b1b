"""The proof of work a citizen's browser does once an address has sent its hour's share of
anonymous reports (no third-party captcha: a city's network is isolated).

The server hands out a random ``nonce`` and a difficulty ``bits`` (:func:`issue`); the browser
looks for a whole number ``n`` such that SHA-256 of ``"<nonce>:<n>"`` begins with ``bits`` zero
bits — about 2**bits tries, a second or two on a phone at the default 18 — and sends
``"<nonce>:<n>"`` with its report. The server checks it with one hash and marks the challenge
used in the report's own transaction (:func:`redeem`): each challenge opens one report, within
ten minutes of its issue. Plain Python over SQL: no HTTP here.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import Connection, text

from weijian.errors import InputError, RateLimited

#: how long a challenge may be solved and used
LIFETIME = timedelta(minutes=10)
ALGORITHM = "sha256"


def leading_zero_bits(digest: bytes) -> int:
    """How many zero bits ``digest`` begins with."""
    value = int.from_bytes(digest, "big")
    return len(digest) * 8 - value.bit_length()


def solves(nonce: str, answer: int | str, bits: int) -> bool:
    """Whether ``answer`` solves the challenge ``nonce`` at ``bits``."""
    digest = hashlib.sha256(f"{nonce}:{answer}".encode()).digest()
    return leading_zero_bits(digest) >= bits


def solve(nonce: str, bits: int) -> int:
    """The first answer to a challenge (what a browser does; the tests and scripts use it)."""
    n = 0
    while not solves(nonce, n, bits):
        n += 1
    return n


def issue(conn: Connection, now: datetime, bits: int) -> dict:
    """A new challenge; the expired ones are pruned on the way."""
    conn.execute(text("DELETE FROM public_challenge WHERE expires_at < :now"), {"now": now})
    nonce = secrets.token_hex(16)
    expires = now + LIFETIME
    conn.execute(
        text(
            "INSERT INTO public_challenge (nonce, bits, issued_at, expires_at) "
            "VALUES (:n, :b, :now, :e)"
        ),
        {"n": nonce, "b": bits, "now": now, "e": expires},
    )
    return {
        "nonce": nonce,
        "bits": bits,
        "algorithm": ALGORITHM,
        "expires_at": expires,
        "rule": f'找出整数 n，使 SHA-256("{nonce}:n") 的前 {bits} 位为 0，'
        '把 "nonce:n" 放在请求头 X-Weijian-Challenge 中随举报一起提交',
    }


def required(limit: int) -> RateLimited:
    return RateLimited(
        f"该网络地址一小时内已提交 {limit} 件匿名举报。为防止滥用，请完成页面上的安全验证"
        "（浏览器自动计算，约需数秒）后再提交",
        code="report.challenge_required",
        detail=f"{limit} anonymous reports an hour are accepted from one address without a "
        "proof of work",
        hint="POST /api/v1/challenges, solve it, and send the report again with the header "
        "X-Weijian-Challenge: <nonce>:<n>",
    )


def redeem(conn: Connection, solution: str, now: datetime) -> None:
    """Use the challenge ``solution`` ("<nonce>:<n>") names, or refuse it (400): unknown,
    expired, used already, or not solved."""
    nonce, _, answer = (solution or "").strip().partition(":")
    if not answer.isdigit() or len(answer) > 20:
        raise _bad("安全验证的答案格式有误", "the solution is not '<nonce>:<n>'")
    row = conn.execute(
        text("SELECT bits, expires_at, used_at FROM public_challenge WHERE nonce = :n FOR UPDATE"),
        {"n": nonce},
    ).first()
    if row is None or row.expires_at < now:
        raise _bad("安全验证已过期或不存在", "no such challenge, or it expired")
    if row.used_at is not None:
        raise _bad("该安全验证已使用过", "the challenge was used already")
    if not solves(nonce, answer, row.bits):
        raise _bad("安全验证的答案不正确", "the solution does not solve the challenge")
    conn.execute(
        text("UPDATE public_challenge SET used_at = :now WHERE nonce = :n"),
        {"now": now, "n": nonce},
    )


def _bad(zh: str, english: str) -> InputError:
    return InputError(
        f"{zh}，请刷新页面重新验证后再提交",
        code="report.challenge_invalid",
        detail=english,
        hint="POST /api/v1/challenges for a new challenge",
    )
