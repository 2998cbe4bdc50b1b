"""Lists of cases: the filters a list is narrowed by, and keyset paging (newest report first;
a cursor names the last case of a page, so the next page costs the same however deep it is)."""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Row, text

from weijian.cases.rows import CASE_COLUMNS, overdue_sql, words_sql
from weijian.cases.scope import Principal, scope_sql
from weijian.cases.workflow import Workflow
from weijian.errors import InputError

MAX_PAGE = 500


@dataclass(frozen=True)
class CaseFilter:
    """What a list is narrowed to; every part is optional."""

    bbox: tuple[float, float, float, float] | None = None
    states: list[str] | None = None
    category: str | None = None
    grid: str | None = None
    channel: str | None = None
    track: str | None = None
    department: str | None = None
    reported_from: datetime | None = None
    reported_to: datetime | None = None
    overdue: bool | None = None
    q: str | None = None


def conditions(
    conn: Connection,
    principal: Principal,
    wf: Workflow,
    now: datetime,
    grid_level: Callable[[str], str],
    f: CaseFilter,
) -> tuple[str, dict]:
    """The SQL condition (over ``c``) of the cases in the principal's scope that pass the
    filter, and its parameters; each filter's value is checked."""
    scope, params = scope_sql(principal)
    where = [scope]
    if f.bbox is not None:
        x0, y0, x1, y1 = f.bbox
        if not (x0 < x1 and y0 < y1):
            raise InputError(
                f"范围 bbox（{x0},{y0},{x1},{y1}）无效：应为“最小经度,最小纬度,最大经度,最大纬度”，"
                "且最小值小于最大值，如 bbox=126.3,41.9,126.5,42.0",
                code="list.bbox_invalid",
                detail="bbox must be min_lon,min_lat,max_lon,max_lat with min < max",
                hint="e.g. bbox=126.3,41.9,126.5,42.0",
            )
        where.append("c.geom && ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4490)")
        params.update(x0=x0, y0=y0, x1=x1, y1=y1)
    if f.states:
        for s in f.states:
            wf.state(s)
        where.append("c.state = ANY(:states)")
        params["states"] = f.states
    if f.category is not None:
        if f.category not in ("open", "closed"):
            raise InputError(
                f"类别 category“{f.category}”无效，应为 open（在办）或 closed（已办结）",
                code="list.category_invalid",
                detail="category must be open or closed",
            )
        where.append("c.is_open" if f.category == "open" else "NOT c.is_open")
    if f.grid:
        level = grid_level(f.grid)
        where.append(f"c.{level}_code = :grid")
        params["grid"] = f.grid
    if f.channel:
        wf.check_channel(f.channel)
        where.append("c.channel = :channel")
        params["channel"] = f.channel
    if f.track:
        wf.check_track(f.track)
        where.append("c.track = :track")
        params["track"] = f.track
    if f.department:
        where.append("c.department_code = :department")
        params["department"] = f.department
    if f.reported_from:
        where.append("c.reported_at >= :rfrom")
        params["rfrom"] = f.reported_from
    if f.reported_to:
        where.append("c.reported_at < :rto")
        params["rto"] = f.reported_to
    if f.overdue is not None:
        cond = overdue_sql("c")
        where.append(cond if f.overdue else f"NOT {cond}")
        params["now"] = now
    if f.q:
        # a whole number, a part of one (000054), words of the address, a work-order number
        found, words = words_sql(conn, f.q, ("number", "address"))
        where.append(f"(c.number = :q OR c.external_id = :q OR {found})")
        params.update(words)
    return " AND ".join(where), params


def check_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_PAGE:
        raise InputError(
            f"每页条数 limit 应在 1～{MAX_PAGE} 之间（收到 {limit}），"
            "更多结果请用 next_cursor 翻页",
            code="list.limit_invalid",
            detail=f"limit must be 1…{MAX_PAGE}",
            hint="page with next_cursor",
        )


def after_cursor(where: str, params: dict, cursor: str | None) -> str:
    """``where`` narrowed to the cases after the cursor's (``params`` gets its values)."""
    if not cursor:
        return where
    at, last_id = decode_cursor(cursor)
    params.update(cur_at=at, cur_id=last_id)
    return where + " AND (c.reported_at, c.id) < (:cur_at, :cur_id)"


def page_rows(conn: Connection, where: str, params: dict, limit: int) -> list[Row]:
    """Up to ``limit`` + 1 cases, newest report first: the one more tells of a next page."""
    return conn.execute(
        text(
            f"SELECT {CASE_COLUMNS} FROM violation_case c WHERE {where} "
            "ORDER BY c.reported_at DESC, c.id DESC LIMIT :limit"
        ),
        {**params, "limit": limit + 1},
    ).all()


def count(conn: Connection, where: str, params: dict) -> int:
    return conn.execute(
        text(f"SELECT count(*) FROM violation_case c WHERE {where}"), params
    ).scalar_one()


def page(items: list[dict], rows: list[Row], limit: int, total: int | None) -> dict:
    """The answer: the page's items and the cursor of the next page, if there is one."""
    more = len(rows) > limit
    last = rows[limit - 1] if more else None
    return {
        "items": items,
        "count": len(items),
        "total": total,
        "next_cursor": encode_cursor(last.reported_at, last.id) if last else None,
    }


def encode_cursor(reported_at: datetime, case_id: int) -> str:
    raw = f"{reported_at.isoformat()}|{case_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        moment, case_id = raw.split("|")
        return datetime.fromisoformat(moment), int(case_id)
    except (ValueError, UnicodeDecodeError):
        raise InputError(
            "翻页游标 cursor 无效（不是本系统给出的），请原样传入上一页返回的 next_cursor",
            code="list.cursor_invalid",
            detail="the cursor is not one this server gave out",
            hint="pass the 'next_cursor' of the previous page unchanged",
        ) from None
