"""History: every change to a case is an append-only event, hash-chained per case.

An event's hash is the SHA-256 of its canonical JSON (sorted keys, UTC times to the
microsecond) including the previous event's hash; the case row keeps the number of events and
the head hash. :func:`verify` recomputes everything and names each event that was edited, each
gap where one was deleted, history cut off at the end, case numbers missing from a year's
sequence, and evidence whose bytes no longer match their hash.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson
from sqlalchemy import Connection, Engine, text

from weijian.cases.evidence import EvidenceStore
from weijian.cases.scope import Principal


def event_hash(number: str, event: dict, prev_hash: str | None) -> str:
    """The hash of one event: what it says, who, when, and the hash before it."""
    body = {
        "case": number,
        "seq": event["seq"],
        "action": event["action"],
        "from": event["from_state"],
        "to": event["to_state"],
        "actor_user_id": event["actor_user_id"],
        "actor_name": event["actor_name"],
        "actor_role": event["actor_role"],
        "at": event["at"].astimezone(UTC).isoformat(timespec="microseconds"),
        "note": event["note"],
        "data": event["data"],
        "evidence": event["evidence"],
        "prev": prev_hash,
    }
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


def prepare(
    case: dict,
    *,
    action: str,
    from_state: str | None,
    to_state: str,
    actor: Principal,
    at: datetime,
    note: str | None = None,
    data: dict | None = None,
    evidence: list[str] | None = None,
) -> dict:
    """The next event of ``case`` (number, event_count, head_hash) with its hash, not stored."""
    event = {
        "seq": case["event_count"] + 1,
        "action": action,
        "from_state": from_state,
        "to_state": to_state,
        "actor_user_id": actor.id,
        "actor_name": actor.display_name,
        "actor_role": actor.role,
        "at": at,
        "note": note,
        "data": data or {},
        "evidence": evidence or [],
    }
    event["prev_hash"] = case["head_hash"]
    event["hash"] = event_hash(case["number"], event, case["head_hash"])
    return event


def insert(conn: Connection, case_id: int, event: dict) -> int:
    """Store a prepared event; the caller keeps the case row's count and head in step."""
    return conn.execute(
        text(
            "INSERT INTO case_event (case_id, seq, action, from_state, to_state, actor_user_id, "
            "actor_name, actor_role, at, note, data, evidence, prev_hash, hash) VALUES "
            "(:case_id, :seq, :action, :from_state, :to_state, :actor_user_id, :actor_name, "
            ":actor_role, :at, :note, CAST(:data AS jsonb), CAST(:evidence AS jsonb), "
            ":prev_hash, :hash) RETURNING id"
        ),
        {
            **event,
            "case_id": case_id,
            "data": orjson.dumps(event["data"]).decode(),
            "evidence": orjson.dumps(event["evidence"]).decode(),
        },
    ).scalar_one()


def append(conn: Connection, case: dict, **what) -> dict:
    """Append an event to a case whose row the caller has locked (``FOR UPDATE``) and return it.
    ``case`` needs id, number, event_count and head_hash; the row's count and head are moved
    on here. ``what``: the arguments of :func:`prepare`."""
    event = prepare(case, **what)
    event["id"] = insert(conn, case["id"], event)
    conn.execute(
        text(
            "UPDATE violation_case SET event_count = :n, head_hash = :h, last_event_at = :at, "
            "last_action = :action WHERE id = :id"
        ),
        {
            "n": event["seq"],
            "h": event["hash"],
            "at": event["at"],
            "action": event["action"],
            "id": case["id"],
        },
    )
    case["event_count"], case["head_hash"] = event["seq"], event["hash"]
    return event


def record(conn: Connection, case: dict, **what) -> dict:
    """An event that leaves the state as it is (evidence, a link, an assignment)."""
    return append(conn, case, from_state=case["state"], to_state=case["state"], **what)


EVENT_COLUMNS = (
    "id, seq, action, from_state, to_state, actor_user_id, actor_name, actor_role, at, note, "
    "data, evidence, prev_hash, hash"
)


def events_of(conn: Connection, case_id: int) -> list[dict]:
    rows = conn.execute(
        text(f"SELECT {EVENT_COLUMNS} FROM case_event WHERE case_id = :c ORDER BY seq"),
        {"c": case_id},
    )
    return [dict(r._mapping) for r in rows]


# -- verification ------------------------------------------------------------------------


@dataclass
class Problem:
    case: str
    seq: int | None
    event_id: int | None
    problem: str

    def as_dict(self) -> dict:
        return {
            "case": self.case,
            "seq": self.seq,
            "event_id": self.event_id,
            "problem": self.problem,
        }


def check_chain(case: dict, events: list[dict]) -> list[Problem]:
    """Problems of one case's chain: ``case`` has number, state, event_count, head_hash."""
    number = case["number"]
    problems: list[Problem] = []
    expected_seq, prev = 1, None
    for event in events:
        if event["seq"] != expected_seq:
            missing = (
                f"#{expected_seq}"
                if event["seq"] == expected_seq + 1
                else f"#{expected_seq}–#{event['seq'] - 1}"
            )
            problems.append(Problem(number, expected_seq, None, f"event {missing} was deleted"))
        if event["prev_hash"] != prev and event["seq"] == expected_seq:
            problems.append(
                Problem(
                    number,
                    event["seq"],
                    event["id"],
                    "its link to the previous event is broken (prev_hash rewritten)",
                )
            )
        recomputed = event_hash(number, event, event["prev_hash"])
        if recomputed != event["hash"]:
            problems.append(
                Problem(
                    number,
                    event["seq"],
                    event["id"],
                    f"event #{event['seq']} ({event['action']}) was edited: its content no "
                    "longer matches its hash",
                )
            )
        expected_seq, prev = event["seq"] + 1, event["hash"]
    count = events[-1]["seq"] if events else 0
    if case["event_count"] > count:
        gone = (
            f"#{count + 1}"
            if case["event_count"] == count + 1
            else f"#{count + 1}–#{case['event_count']}"
        )
        problems.append(Problem(number, count + 1, None, f"event {gone} (the last) was deleted"))
    elif case["head_hash"] != prev and not problems:
        problems.append(
            Problem(number, None, None, "the case's head hash does not match its last event")
        )
    if events and events[-1]["to_state"] != case["state"] and case["event_count"] == count:
        problems.append(
            Problem(
                number,
                None,
                None,
                f"the case says state {case['state']!r} but its history ends in "
                f"{events[-1]['to_state']!r}",
            )
        )
    return problems


def _cases(conn: Connection, number: str | None, batch: int = 2000) -> Iterator[list[dict]]:
    last = 0
    while True:
        rows = conn.execute(
            text(
                "SELECT id, number, state, event_count, head_hash FROM violation_case "
                "WHERE id > :last AND (CAST(:n AS text) IS NULL OR number = :n) "
                "ORDER BY id LIMIT :b"
            ),
            {"last": last, "n": number, "b": batch},
        ).all()
        if not rows:
            return
        yield [dict(r._mapping) for r in rows]
        last = rows[-1].id


def verify(engine: Engine, store: EvidenceStore | None = None, number: str | None = None) -> dict:
    """Check every case (or one): chains, case-number sequences, evidence bytes — recorder
    footage among them, on disk whatever the store's setting, counted in files and bytes."""
    problems: list[Problem] = []
    cases = events = evidence = 0
    footage = {"files": 0, "bytes": 0}
    disk = store.on_disk() if store is not None else None
    with engine.connect() as conn:
        for chunk in _cases(conn, number):
            ids = [c["id"] for c in chunk]
            by_case: dict[int, list[dict]] = {i: [] for i in ids}
            for row in conn.execute(
                text(
                    f"SELECT case_id, {EVENT_COLUMNS} FROM case_event WHERE case_id = ANY(:ids) "
                    "ORDER BY case_id, seq"
                ),
                {"ids": ids},
            ):
                by_case[row.case_id].append(dict(row._mapping))
            for case in chunk:
                cases += 1
                events += len(by_case[case["id"]])
                problems.extend(check_chain(case, by_case[case["id"]]))
        if number is None:
            for row in conn.execute(
                text(
                    "SELECT p.prefix, k.district_code, k.year, k.last, "
                    "array_agg(c.seq ORDER BY c.seq) FILTER (WHERE c.seq IS NOT NULL) AS seqs "
                    "FROM case_counter k JOIN case_prefix p USING (district_code) "
                    "LEFT JOIN violation_case c ON c.district_code = k.district_code "
                    "AND c.year = k.year GROUP BY 1, 2, 3, 4"
                )
            ):
                present = set(row.seqs or [])
                for seq in range(1, row.last + 1):
                    if seq not in present:
                        problems.append(
                            Problem(
                                f"{row.prefix}-{row.year}-{seq:06d}",
                                None,
                                None,
                                "the case was deleted: its number is missing from the year's "
                                "sequence",
                            )
                        )
        for row in conn.execute(
            text(
                "SELECT v.number, e.sha256, e.storage, e.content, e.size, "
                "e.media_type LIKE 'video/%' AS footage FROM case_evidence e "
                "JOIN violation_case v ON v.id = e.case_id "
                "WHERE CAST(:n AS text) IS NULL OR v.number = :n"
            ),
            {"n": number},
        ):
            evidence += 1
            if row.footage:
                footage["files"] += 1
                footage["bytes"] += row.size
            if row.storage == "database":
                actual = hashlib.sha256(row.content or b"").hexdigest()
                issue = None if actual == row.sha256 else f"content changed: now {actual}"
            else:
                issue = disk.verify(row.sha256) if disk is not None else None
            if issue:
                what = "recorder footage" if row.footage else "evidence"
                problems.append(
                    Problem(row.number, None, None, f"{what} {row.sha256[:12]}…: {issue}")
                )
    return {
        "ok": not problems,
        "cases": cases,
        "events": events,
        "evidence": evidence,
        "footage": footage,
        "problems": [p.as_dict() for p in problems],
    }


# -- anchors ---------------------------------------------------------------------------------
#
# A chain proves that no event was changed without rewriting every event after it — but an
# owner of the database could rewrite a whole chain consistently. An anchor closes that: the
# head (event count and hash) of every case at one moment, written to a file kept outside the
# database (printed, mailed to the district, filed). Later, each anchored case's event at the
# anchored count must still carry the anchored hash.

ANCHOR_FORMAT = "weijian-history-anchor/1"


def anchor(engine: Engine, now: datetime) -> dict:
    """The head of every case now, with a digest of the whole to quote on paper."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT number, event_count, head_hash FROM violation_case "
                "WHERE event_count > 0 ORDER BY number"
            )
        ).all()
    heads = {r.number: [r.event_count, r.head_hash] for r in rows}
    digest = hashlib.sha256(orjson.dumps(heads, option=orjson.OPT_SORT_KEYS)).hexdigest()
    return {
        "format": ANCHOR_FORMAT,
        "created_at": now.astimezone(UTC).isoformat(),
        "cases": len(heads),
        "digest": digest,
        "heads": heads,
    }


def check_anchor(engine: Engine, saved: dict) -> list[Problem]:
    """Problems of the history against an anchor: a case gone, or its anchored event no longer
    carrying the anchored hash (history rewritten since)."""
    if saved.get("format") != ANCHOR_FORMAT or not isinstance(saved.get("heads"), dict):
        from weijian.errors import InputError

        raise InputError(
            "该文件不是本系统的办理记录锚定文件，请选择 weijian audit anchor 生成的文件",
            code="audit.anchor_invalid",
            detail="this file is not a weijian history anchor",
        )
    heads = saved["heads"]
    digest = hashlib.sha256(orjson.dumps(heads, option=orjson.OPT_SORT_KEYS)).hexdigest()
    problems: list[Problem] = []
    if digest != saved.get("digest"):
        problems.append(Problem("—", None, None, "the anchor file itself was altered"))
    numbers = list(heads)
    with engine.connect() as conn:
        for start in range(0, len(numbers), 5000):
            chunk = numbers[start : start + 5000]
            found = {
                r.number: r.hash
                for r in conn.execute(
                    text(
                        "SELECT v.number, e.hash FROM violation_case v "
                        "JOIN unnest(CAST(:n AS text[]), CAST(:s AS int[])) AS a(number, seq) "
                        "ON a.number = v.number "
                        "LEFT JOIN case_event e ON e.case_id = v.id AND e.seq = a.seq"
                    ),
                    {"n": chunk, "s": [heads[n][0] for n in chunk]},
                )
            }
            for number in chunk:
                seq, expected = heads[number]
                if number not in found:
                    problems.append(
                        Problem(number, None, None, "the case was deleted since the anchor")
                    )
                elif found[number] != expected:
                    problems.append(
                        Problem(
                            number,
                            seq,
                            None,
                            f"history rewritten since the anchor of {saved.get('created_at')}: "
                            f"event #{seq} no longer carries the anchored hash",
                        )
                    )
    return problems
