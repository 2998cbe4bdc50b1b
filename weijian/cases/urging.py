"""Urging (督办/催办): a supervisor urges a case — or every overdue case of a grid — with a
note and a deadline for the reply; a department leader urges the cases of his department. The
holding department (and the officer it assigned) sees the urge first in its 督办 tab and
answers it. Urges and answers are events of the case's history; they are counted in the
assessment (urges received, answered on time) and named in responsibility tracing."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Connection, text

from weijian.cases import history
from weijian.cases.rows import CASE_COLUMNS, overdue_sql
from weijian.cases.scope import Principal, scope_sql
from weijian.errors import ConflictError, InputError, NotFoundError, PermissionDenied
from weijian.text import LIMITS, clean

URGERS = ("admin", "supervisor", "department_leader")
MAX_NOTE = LIMITS["note"]


def may_urge(principal: Principal, case: dict) -> bool:
    """Supervisors urge any case they see; a department leader the cases of his department."""
    if principal.role in ("admin", "supervisor"):
        return True
    return principal.role == "department_leader" and principal.holds(case["department_code"])


def _check_note(note: str | None, what: str) -> str:
    note = clean(note, f"{what}内容", MAX_NOTE, multiline=True, field="note") or ""
    if not note:
        raise InputError(
            f"请写明{what}的内容",
            code="urge.note_missing",
            detail=f"the {'urge' if what == '督办' else 'answer'} needs a note",
            hint="say what is expected, and by when",
        )
    if len(note) > MAX_NOTE:
        raise InputError(
            f"{what}内容不能超过 {MAX_NOTE} 字",
            code="urge.note_too_long",
            detail=f"the note is longer than {MAX_NOTE} characters",
        )
    return note


def _check_due(reply_due: datetime, now: datetime) -> None:
    if reply_due <= now:
        raise InputError(
            "答复期限应晚于现在",
            code="urge.reply_due_past",
            detail=f"the reply is due {reply_due.isoformat()}, which is not after now",
            hint="give a reply deadline in the future",
        )


def urge_case(
    conn: Connection,
    principal: Principal,
    case: dict,
    note: str,
    reply_due: datetime,
    now: datetime,
    batch: uuid.UUID | None = None,
) -> dict:
    """Urge one case (its row locked by the caller): an urge row and an ``urge`` event."""
    if not may_urge(principal, case):
        raise PermissionDenied(
            "只有督导人员或本部门负责人可以督办此案件",
            code="urge.not_allowed",
            detail=f"the role {principal.role} may not urge case {case['number']}",
            hint="a supervisor, or the leader of the department holding the case, urges it",
        )
    if not case["is_open"]:
        raise ConflictError(
            f"案件 {case['number']} 已办结，无需督办",
            code="urge.case_closed",
            detail=f"case {case['number']} is closed",
        )
    note = _check_note(note, "督办")
    _check_due(reply_due, now)
    urge_id = conn.execute(
        text(
            "INSERT INTO case_urge (case_id, batch, urged_by_user_id, urged_by_name, "
            "urged_by_role, to_department_code, to_user_id, note, urged_at, reply_due) "
            "VALUES (:c, :b, :u, :n, :r, :d, :to, :note, :at, :due) RETURNING id"
        ),
        {
            "c": case["id"],
            "b": batch,
            "u": principal.id,
            "n": principal.display_name,
            "r": principal.role,
            "d": case["department_code"],
            "to": case["assignee_user_id"],
            "note": note,
            "at": now,
            "due": reply_due,
        },
    ).scalar_one()
    history.record(
        conn,
        case,
        action="urge",
        actor=principal,
        at=now,
        note=note,
        data={
            "urge_id": urge_id,
            "reply_due": reply_due.isoformat(),
            "to_department": case["department_name"],
            "batch": str(batch) if batch else None,
        },
    )
    return {"id": urge_id, "case": case["number"], "reply_due": reply_due, "note": note}


def overdue_cases_of_grid(
    conn: Connection, principal: Principal, grid_code: str, level: str, now: datetime
) -> list[dict]:
    """The open cases of a grid whose current stage's deadline has passed, locked, in scope."""
    scope, params = scope_sql(principal)
    rows = conn.execute(
        text(
            f"SELECT {CASE_COLUMNS} FROM violation_case c WHERE c.is_open "
            f"AND c.{level}_code = :g AND {overdue_sql('c')} AND {scope} "
            "ORDER BY c.stage_due, c.id FOR UPDATE"
        ),
        {"g": grid_code, "now": now, **params},
    ).mappings()
    return [dict(r) for r in rows]


def answer(
    conn: Connection, principal: Principal, urge_id: int, note: str, now: datetime, case_of
) -> dict:
    """Answer an urge addressed to the user or his department: an ``answer_urge`` event.
    ``case_of(conn, case_id)`` gives the case row, locked and checked to be in scope."""
    row = (
        conn.execute(text("SELECT * FROM case_urge WHERE id = :i FOR UPDATE"), {"i": urge_id})
        .mappings()
        .first()
    )
    if row is None:
        raise NotFoundError(
            f"没有编号为 {urge_id} 的督办",
            code="urge.not_found",
            detail=f"no urge {urge_id}",
        )
    case = case_of(conn, row["case_id"])
    addressed = principal.id == row["to_user_id"] or (
        bool(principal.department_code) and principal.department_code == row["to_department_code"]
    )
    if not addressed and principal.role != "admin":
        raise PermissionDenied(
            "此督办不是发给您或您所在部门的，不能由您答复",
            code="urge.not_addressed",
            detail=f"urge {urge_id} is addressed to {row['to_department_code']}",
            hint="the department the urge was sent to answers it",
        )
    if row["answered_at"] is not None:
        raise ConflictError(
            f"此督办已于 {row['answered_at']:%Y-%m-%d %H:%M} 由 {row['answered_by_name']} 答复",
            code="urge.already_answered",
            detail=f"urge {urge_id} was answered already",
        )
    note = _check_note(note, "答复")
    conn.execute(
        text(
            "UPDATE case_urge SET answered_at = :at, answered_by_user_id = :u, "
            "answered_by_name = :n, answer = :a WHERE id = :i"
        ),
        {"at": now, "u": principal.id, "n": principal.display_name, "a": note, "i": urge_id},
    )
    on_time = now <= row["reply_due"]
    history.record(
        conn,
        case,
        action="answer_urge",
        actor=principal,
        at=now,
        note=note,
        data={"urge_id": urge_id, "on_time": on_time, "reply_due": row["reply_due"].isoformat()},
    )
    return {"id": urge_id, "case": case["number"], "answered_at": now, "on_time": on_time}


def urges_of(conn: Connection, case_id: int) -> list[dict]:
    """Every urge of a case with its answer, oldest first."""
    rows = conn.execute(
        text(
            "SELECT id, urged_by_name, urged_by_role, to_department_code, note, urged_at, "
            "reply_due, answered_at, answered_by_name, answer FROM case_urge "
            "WHERE case_id = :c ORDER BY urged_at, id"
        ),
        {"c": case_id},
    ).mappings()
    return [dict(r) for r in rows]
