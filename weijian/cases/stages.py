"""Each case's current stage and its deadline, stored on the case row (``stage_code``,
``stage_due``) so that the inbox sorts and filters a million cases by urgency from an index;
and what its deadlines stood at after the step (``case_due``: the earliest due moment not yet
met, the rectification period's end), so that the monthly ledger reads a case's state at a
month's end. The case service sets them on every step; :func:`restage_all` sets them for the
cases there are (after an upgrade, or a new workflow with other deadlines), and
:func:`keep_history` for every step a case has taken (a history loaded from elsewhere)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Connection, Engine, text

from weijian.cases import history
from weijian.cases.deadlines import (
    WorkCalendar,
    current_stage,
    evaluate_case,
    pending_due,
    read_actions,
    rectification_due,
)
from weijian.cases.workflow import Workflow

CASE_FIELDS = "id, channel, track, is_open, discovered_at, reported_at"


KEEP_DUE = (
    "INSERT INTO case_due (case_id, seq, pending_due, rectification_due) "
    "VALUES (:i, :seq, :pending, :rect) ON CONFLICT (case_id, seq) DO UPDATE SET "
    "pending_due = excluded.pending_due, rectification_due = excluded.rectification_due"
)


def stage_now(wf: Workflow, calendar: WorkCalendar, case: dict, events: list[dict], now):
    """(stage code, due) of a case with its events; (None, None) once it is closed."""
    return _evaluated(wf, calendar, case, events, now)[0]


def _evaluated(wf: Workflow, calendar: WorkCalendar, case: dict, events: list[dict], now):
    """((stage code, due), the ``case_due`` row's values) of a case with its events."""
    evaluated = evaluate_case(wf, calendar, case, events, now)
    stage = current_stage(evaluated) if case["is_open"] else (None, None)
    due = {
        "i": case["id"],
        "seq": events[-1]["seq"] if events else 0,
        "pending": pending_due(evaluated),
        "rect": rectification_due(evaluated),
    }
    return stage, due


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
    (code, due), kept = _evaluated(wf, calendar, case, history.events_of(conn, case_id), now)
    conn.execute(
        text("UPDATE violation_case SET stage_code = :c, stage_due = :d WHERE id = :i"),
        {"c": code, "d": due, "i": case_id},
    )
    conn.execute(text(KEEP_DUE), kept)
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
    """Recompute every open case's stage and its ``case_due`` row, a batch per transaction;
    closed cases get no stage. ``unstaged_only``: only the open cases without a stage or a
    ``case_due`` row — after an upgrade from a schema that had none, the server catches up
    with this on start (a case with no deadline running is looked at again, harmlessly)."""
    if not unstaged_only:  # a closed case's stage is cleared by the step that closes it
        with engine.begin() as conn:
            conn.execute(
                text(
                    "UPDATE violation_case SET stage_code = NULL, stage_due = NULL "
                    "WHERE NOT is_open AND stage_code IS NOT NULL"
                )
            )
    only = (
        " AND (stage_code IS NULL OR NOT EXISTS "
        "(SELECT 1 FROM case_due d WHERE d.case_id = violation_case.id))"
        if unstaged_only
        else ""
    )
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
            events = _events(conn, [c["id"] for c in cases])
            updates, kept = [], []
            for case in cases:
                (code, due), row = _evaluated(wf, calendar, case, events[case["id"]], now)
                updates.append({"c": code, "d": due, "i": case["id"]})
                kept.append(row)
            conn.execute(
                text("UPDATE violation_case SET stage_code = :c, stage_due = :d WHERE id = :i"),
                updates,
            )
            conn.execute(text(KEEP_DUE), kept)
            last = cases[-1]["id"]
            done += len(cases)
            progress(len(cases))


def _events(conn: Connection, ids: list[int]) -> dict[int, list[dict]]:
    """The events of the cases ``ids``, in order, with what the deadlines read."""
    events: dict[int, list[dict]] = {i: [] for i in ids}
    for e in conn.execute(
        text(
            "SELECT case_id, seq, action, at, data FROM case_event "
            "WHERE case_id = ANY(:ids) ORDER BY case_id, seq"
        ),
        {"ids": ids},
    ).mappings():
        events[e["case_id"]].append(dict(e))
    return events


def due_history(wf: Workflow, calendar: WorkCalendar, case: dict, events: list[dict]) -> list:
    """The ``case_due`` rows of every step of a case as the service would have kept them: after
    its first event and after each event of an action the deadlines read (the others change
    nothing), each evaluated with the events up to it and the track the case had then."""
    read = read_actions(wf)
    rows, track = [], case["track"]
    for k, event in enumerate(events):
        if event["action"] == "report":
            track = (event.get("data") or {}).get("track") or track
        transition = wf.transitions.get(event["action"])
        if transition is not None and transition.set_track:
            track = transition.set_track
        if k == 0 or event["action"] in read:
            then = {**case, "track": track, "is_open": False}
            rows.append(_evaluated(wf, calendar, then, events[: k + 1], event["at"])[1])
    return rows


def keep_history(
    engine: Engine,
    wf: Workflow,
    calendar: WorkCalendar,
    batch: int = 5000,
    progress: Callable[[int], None] = lambda n: None,
    *,
    town_code: str | None = None,
) -> int:
    """The ``case_due`` rows of every step of every case (:func:`due_history`), a batch of
    cases per transaction: for a history that did not come through the case service (cases
    and events loaded in bulk), so that a ledger of any month reads them. ``town_code``: only
    the cases of that town. The cases done."""
    done, last = 0, 0
    town = " AND town_code = :town" if town_code is not None else ""
    while True:
        with engine.begin() as conn:
            cases = (
                conn.execute(
                    text(
                        f"SELECT {CASE_FIELDS} FROM violation_case WHERE id > :last{town} "
                        "ORDER BY id LIMIT :n"
                    ),
                    {"last": last, "n": batch, "town": town_code},
                )
                .mappings()
                .all()
            )
            if not cases:
                return done
            events = _events(conn, [c["id"] for c in cases])
            rows = [r for c in cases for r in due_history(wf, calendar, dict(c), events[c["id"]])]
            if rows:
                conn.execute(text(KEEP_DUE), rows)
            last = cases[-1]["id"]
            done += len(cases)
            progress(len(cases))
