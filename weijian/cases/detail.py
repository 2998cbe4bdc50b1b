"""A case as the API answers it: the summary of a list's item, and the whole case with its
jurisdiction answer, deadlines, history, evidence, links and the actions open to the reader."""

from __future__ import annotations

from datetime import datetime

import orjson
from sqlalchemy import Connection, text

from weijian.cases import deadlines, history
from weijian.cases.deadlines import WorkCalendar, missed
from weijian.cases.rows import case_row
from weijian.cases.scope import CITIZEN, Principal
from weijian.cases.workflow import Workflow


def summary(row: dict, now: datetime, wf: Workflow) -> dict:
    state = wf.states.get(row["state"])
    overdue = bool(row["is_open"] and missed(row["stage_due"], None, now))
    return {
        "id": row["id"],
        "number": row["number"],
        "state": row["state"],
        "state_label": state.label if state else row["state"],
        "category": state.category if state else None,
        "track": row["track"],
        "track_label": wf.tracks.get(row["track"], {}).get("label"),
        "channel": row["channel"],
        "channel_label": wf.channels.get(row["channel"]),
        "address": row["address"],
        "description": row["description"],
        "lon": round(row["lon"], 8),
        "lat": round(row["lat"], 8),
        "area_m2": row["area_m2"],
        "department": (
            {
                "code": row["department_code"],
                "type": row["department_type"],
                "name": row["department_name"],
            }
            if row["department_code"]
            else None
        ),
        "grid": {
            "district": row["district_code"],
            "town": row["town_code"],
            "community": row["community_code"],
            "compound": row["compound_code"],
        },
        "discovered_at": row["discovered_at"],
        "reported_at": row["reported_at"],
        "visit_due": row["visit_due"],
        "visited_at": row["visited_at"],
        "overdue": overdue,
        "flags": row["flags"],
        "external_id": row["external_id"],
        "assignee_user_id": row["assignee_user_id"],
        "version": row["version"],
        "updated_at": row["updated_at"],
        "closed_at": row["closed_at"],
        "signed_off_at": row["signed_off_at"],
    }


def case_detail(
    conn: Connection,
    case_id: int,
    principal: Principal | None,
    now: datetime,
    wf: Workflow,
    calendar: WorkCalendar,
    fresh: bool = False,
) -> dict:
    """The whole case; ``fresh``: just created, so no evidence or links to look for."""
    row = case_row(conn, case_id)
    assert row is not None
    events = history.events_of(conn, case_id)
    out = summary(row, now, wf)
    jurisdiction, footprint = conn.execute(
        text("SELECT jurisdiction, ST_AsGeoJSON(footprint, 8) FROM violation_case WHERE id = :i"),
        {"i": case_id},
    ).one()
    evidence = [] if fresh else _evidence(conn, case_id)
    links = [] if fresh else _links(conn, case_id)
    rebound_of, merged_into = _related_numbers(conn, row)
    out.update(
        {
            "jurisdiction": jurisdiction,
            "rule_version": row["rule_version"],
            "layer_versions": row["layer_versions"],
            "footprint": orjson.loads(footprint) if footprint else None,
            # when the report reached the server (reported_at: when it was made on the device)
            "received_at": row["created_at"],
            "reporter": row["reporter"] if principal and principal.role != CITIZEN else None,
            "transfer": row["transfer"],
            "rebound_of": rebound_of,
            "merged_into": merged_into,
            "deadlines": deadlines.evaluate_case(wf, calendar, row, events, now),
            "events": [_event(wf, e) for e in events],
            "evidence": evidence,
            "links": links,
            "event_count": row["event_count"],
            "assignee": _assignee(conn, row["assignee_user_id"]),
            # what the holder of the receipt reads as the outcome (cases/public.py)
            "public_outcome": row["public_outcome"],
            "public_outcome_at": row["public_outcome_at"],
            "project": _project(conn, row["project_id"]),
            "as_of": now,  # the server's time of the answer: countdowns count from it
        }
    )
    out["overdue"] = any(d["status"] == "overdue" for d in out["deadlines"]) and row["is_open"]
    # the deadline the case is at: the page's countdown (a meeting's decided day included)
    code, due = deadlines.current_stage(out["deadlines"]) if row["is_open"] else (None, None)
    out["stage"] = {"code": code, "due": due} if code else None
    if principal is not None and principal.role not in (CITIZEN, "api_client"):
        out["actions"] = _actions(wf, row, principal)
        out["followed"] = principal.id is not None and bool(
            conn.execute(
                text("SELECT 1 FROM case_follow WHERE case_id = :c AND user_id = :u"),
                {"c": case_id, "u": principal.id},
            ).first()
        )
    return out


def _evidence(conn: Connection, case_id: int) -> list[dict]:
    """The case's files, each with who uploaded it (name and role) and when."""
    rows = conn.execute(
        text(
            "SELECT e.sha256, e.kind, e.media_type, e.filename, "
            "e.size, e.width, e.height, "
            "e.taken_at, e.gps_lon, e.gps_lat, e.distance_m, e.flagged, e.flag_reason, "
            "e.device_taken_at, e.device_lon, e.device_lat, e.uploaded_at, e.uploaded_by, "
            "e.recorded_at, e.duration_s, e.event_seq, "
            "u.display_name AS uploader_name, "
            "u.role AS uploader_role FROM case_evidence e "
            "LEFT JOIN app_user u ON u.id = e.uploaded_by WHERE e.case_id = :i ORDER BY e.id"
        ),
        {"i": case_id},
    )
    out = []
    for r in rows:
        item = dict(r._mapping)
        name, role = item.pop("uploader_name"), item.pop("uploader_role")
        user_id = item.pop("uploaded_by")
        item["uploaded_by"] = (
            {"user_id": user_id, "name": name, "role": role} if user_id is not None else None
        )
        out.append(item)
    return out


def _assignee(conn: Connection, user_id: int | None) -> dict | None:
    if user_id is None:
        return None
    name = conn.execute(
        text("SELECT display_name FROM app_user WHERE id = :u"), {"u": user_id}
    ).scalar()
    return {"user_id": user_id, "name": name}


def _links(conn: Connection, case_id: int) -> list[dict]:
    """The case's links, each with the other case's number and state."""
    rows = conn.execute(
        text(
            "SELECT l.kind, o.number, o.state, l.note, l.created_at FROM case_link l "
            "JOIN violation_case o ON o.id = CASE WHEN l.case_id = :i THEN l.other_id "
            "ELSE l.case_id END WHERE l.case_id = :i OR l.other_id = :i ORDER BY l.id"
        ),
        {"i": case_id},
    )
    return [dict(r._mapping) for r in rows]


def _related_numbers(conn: Connection, row: dict) -> tuple[str | None, str | None]:
    """The numbers of the case this one is a rebound of and of the one it was merged into."""
    rebound_of = merged_into = None
    if row["rebound_of"] or row["merged_into"]:
        names = dict(
            conn.execute(
                text("SELECT id, number FROM violation_case WHERE id = ANY(:ids)"),
                {"ids": [i for i in (row["rebound_of"], row["merged_into"]) if i]},
            ).all()
        )
        rebound_of, merged_into = names.get(row["rebound_of"]), names.get(row["merged_into"])
    return rebound_of, merged_into


def _project(conn: Connection, project_id: int | None) -> dict | None:
    """The construction project the case belongs to (项目追踪), by its code and name."""
    if project_id is None:
        return None
    row = conn.execute(
        text("SELECT id, code, name, stage FROM construction_project WHERE id = :i"),
        {"i": project_id},
    ).one()
    return dict(row._mapping)


def _event(wf: Workflow, e: dict) -> dict:
    return {
        "seq": e["seq"],
        "action": e["action"],
        "label": wf.label_of(e["action"]),
        "from_state": e["from_state"],
        "to_state": e["to_state"],
        "actor": {
            "user_id": e["actor_user_id"],
            "name": e["actor_name"],
            "role": e["actor_role"],
        },
        "at": e["at"],
        # when the step was made on the device, if it said so (the offline queue sends later)
        "made_at": (e["data"] or {}).get("made_at"),
        "note": e["note"],
        "data": e["data"],
        "evidence": e["evidence"],
        "hash": e["hash"],
    }


#: events that leave the case's version as it is
VERSION_KEEPING = ("add_evidence", "link", "merged_from")


def last_change(conn: Connection, case_id: int, wf: Workflow) -> dict | None:
    """The event that last moved the case's version on: what, who (name, role) and when."""
    row = conn.execute(
        text(
            "SELECT action, actor_name, actor_role, at FROM case_event WHERE case_id = :c "
            "AND action <> ALL(:keep) ORDER BY seq DESC LIMIT 1"
        ),
        {"c": case_id, "keep": list(VERSION_KEEPING)},
    ).first()
    if row is None:
        return None
    return {
        "action": row.action,
        "label": wf.label_of(row.action),
        "actor": {
            "name": row.actor_name,
            "role": row.actor_role,
            "role_label": wf.roles.get(row.actor_role, row.actor_role),
        },
        "at": row.at,
    }


def _actions(wf: Workflow, row: dict, principal: Principal) -> list[dict]:
    """What the reader may do to the case now."""
    return [
        {
            "action": t.action,
            "label": t.label,
            "fields": list(t.fields),
            "optional_fields": list(t.optional_fields),
            "evidence": t.evidence,
            "note_required": t.note_required,
            "site_photo": t.site_photo,
        }
        for t in wf.available(
            row["state"], principal.acts_as, is_holder=principal.holds(row["department_code"])
        )
    ]
