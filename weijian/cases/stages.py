"""Each case's current stage and its deadline, stored on the case row (``stage_code``,
``stage_due``) so that the inbox sorts and filters a million cases by urgency from an index.
The case service sets them on every step; :func:`restage_all` sets them for the cases there
are (after an upgrade, or a new workflow with other deadlines)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Connection, Engine, text

from weijian.cases import history
from weijian.cases.deadlines import WorkCalendar, current_stage, evaluate_case
from weijian.cases.workflow import Workflow

CASE_FIELDS = "id, channel, track, is_open, discovered_at, reported_at"


def stage_now(wf: Workflow, calendar: WorkCalendar, case: dict, events: list[dict], now):
    """(stage code, due) of a case with its events; (None, None) once it is closed."""
    if not case["is_open"]:
        return None, None
    evaluated = evaluate_case(wf, calendar, case, events, now)
    return current_stage(evaluated)


def restage(
    conn: Connection, wf: Workflow, calendar: WorkCalendar, case_id: int, now: datetime
) -> tuple[str | None, datetime | None]:
    """Recompute and store one case's stage (its row locked by the caller's transaction)."""
    case = (
        conn.execute(
            text(f"SELECT {CASE_FIELDS} FROM violation_case WHERE id = :i"), {"i": case_id}
        )
        .mappings()
        .one()
    )
    code, due = stage_now(wf, calendar, case, history.events_of(conn, case_id), now)
    conn.execute(
        text("UPDATE violation_case SET stage_code = :c, stage_due = :d WHERE id = :i"),
        {"c": code, "d": due, "i": case_id},
    )
    return code, due


def restage_all(
    engine: Engine,
    wf: Workflow,
    calendar: WorkCalendar,
    now: datetime,
    batch: int = 2000,
    progress: Callable[[int], None] = lambda n: None,
    *,
    unstaged_only: bool = False,
) -> int:
    """Recompute every open case's stage, a batch per transaction; closed cases get none.
    ``unstaged_only``: only the open cases without a stage — after an upgrade from a schema
    that had none, the server catches up with this on start (a case with no deadline running
    is looked at again, harmlessly)."""
    if not unstaged_only:  # a closed case's stage is cleared by the step that closes it
        with engine.begin() as conn:
            conn.execute(
                text(
                    "UPDATE violation_case SET stage_code = NULL, stage_due = NULL "
                    "WHERE NOT is_open AND stage_code IS NOT NULL"
                )
            )
    only = " AND stage_code IS NULL" if unstaged_only else ""
    done, last = 0, 0
    while True:
        with engine.begin() as conn:
            cases = (
                conn.execute(
                    text(
                        f"SELECT {CASE_FIELDS} FROM violation_case WHERE is_open{only} "
                        "AND id > :last ORDER BY id LIMIT :n FOR UPDATE"
                    ),
                    {"last": last, "n": batch},
                )
                .mappings()
                .all()
            )
            if not cases:
                return done
            events: dict[int, list[dict]] = {c["id"]: [] for c in cases}
            for e in conn.execute(
                text(
                    "SELECT case_id, action, at, data FROM case_event "
                    "WHERE case_id = ANY(:ids) ORDER BY case_id, seq"
                ),
                {"ids": list(events)},
            ).mappings():
                events[e["case_id"]].append(dict(e))
            updates = []
            for case in cases:
                code, due = stage_now(wf, calendar, case, events[case["id"]], now)
                updates.append({"c": code, "d": due, "i": case["id"]})
            conn.execute(
                text("UPDATE violation_case SET stage_code = :c, stage_due = :d WHERE id = :i"),
                updates,
            )
            last = cases[-1]["id"]
            done += len(cases)
            progress(len(cases))
