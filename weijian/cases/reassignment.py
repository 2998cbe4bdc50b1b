"""What a change of the jurisdiction rules would do to the cases in hand, before it is saved:
every open case's point is answered under the rules in force and under the proposed ones (the
same in-memory snapshot, so only the rules differ), and the cases whose department would
change are counted, per move (old department → new), with a sample."""

from __future__ import annotations

from collections import Counter
from datetime import date

from sqlalchemy import Connection, text

from weijian.jurisdiction.engine import department_at
from weijian.jurisdiction.rules import RuleSet
from weijian.jurisdiction.snapshot import Snapshot

SAMPLE = 20


def open_case_points(conn: Connection) -> list[dict]:
    """Every open case: number, point (CGCS2000 lon/lat) and the department holding it."""
    rows = conn.execute(
        text(
            "SELECT number, ST_X(geom) AS lon, ST_Y(geom) AS lat, address, department_code, "
            "department_name FROM violation_case WHERE is_open ORDER BY id"
        )
    ).mappings()
    return [dict(r) for r in rows]


def _label(department: dict | None) -> dict:
    if department is None:
        return {"code": None, "name": "未明确责任部门"}
    return {"code": department["code"], "name": department["name"]}


def rule_change_effect(
    cases: list[dict], snap: Snapshot, proposed: RuleSet, on: date, sample: int = SAMPLE
) -> dict:
    """How many of ``cases`` (from :func:`open_case_points`) would change department if
    ``proposed`` replaced the rules in force on ``on``."""
    moves: Counter = Counter()
    names: dict = {}
    listed = []
    for case in cases:
        now = _label(department_at(snap, case["lon"], case["lat"], on))
        then = _label(department_at(snap, case["lon"], case["lat"], on, rules=proposed))
        if now["code"] == then["code"]:
            continue
        moves[(now["code"], then["code"])] += 1
        names[now["code"]], names[then["code"]] = now["name"], then["name"]
        if len(listed) < sample:
            listed.append(
                {
                    "number": case["number"],
                    "address": case["address"],
                    "holder": case["department_name"],
                    "from": now,
                    "to": then,
                }
            )
    return {
        "open_cases": len(cases),
        "changed": sum(moves.values()),
        "moves": [
            {
                "from": {"code": a, "name": names[a]},
                "to": {"code": b, "name": names[b]},
                "cases": n,
            }
            for (a, b), n in sorted(moves.items(), key=lambda m: (-m[1], str(m[0])))
        ],
        "sample": listed,
        "rule_version": snap.rules.version,
        "decided_on": on.isoformat(),
    }
