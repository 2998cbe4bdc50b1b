"""The case history is tamper-evident and the workflow is safe under concurrency.

* ``history.verify`` (and ``weijian audit verify``) recomputes every event's hash chain, the
  case-number sequences and the evidence bytes, and says ok for an honest history;
* the application's role ``weijian_app`` may not UPDATE, DELETE or TRUNCATE ``case_event`` /
  ``case_evidence`` at all, and even the owner is stopped by the append-only trigger;
* an owner who deliberately disables the trigger and edits or deletes events, alters evidence
  files or deletes a whole case is caught: each problem names the case, the event and what
  happened to it;
* twenty officers acting on one case at the same moment with the same version give exactly one
  success and nineteen 409s, and the history stays one unbroken chain.
"""

from __future__ import annotations

import gzip
import json
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from itertools import pairwise

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from tests.casekit import COMPOUND
from weijian.cases import history
from weijian.cases.evidence import EvidenceStore
from weijian.db.engine import app_engine_for
from weijian.errors import InputError

WORKERS = 20


# -- helpers -----------------------------------------------------------------------------


def build_history(api) -> dict:
    """Two cases: the first reported, photographed, visited and confirmed (4 events), the
    second only reported (1 event)."""
    first = api.report("gridder", COMPOUND)["number"]
    sha = api.photo("ue_hj", first)
    api.act("ue_hj", first, "site_visit", evidence=[sha])
    api.act("ue_hj", first, "confirm")
    second = api.report("gridder", COMPOUND, description="院内私搭板房")["number"]
    return {"first": first, "second": second, "sha": sha}


def events(engine, number: str) -> list[dict]:
    with engine.connect() as conn:
        case_id = conn.execute(
            text("SELECT id FROM violation_case WHERE number = :n"), {"n": number}
        ).scalar_one()
        return history.events_of(conn, case_id)


def store_of(api) -> EvidenceStore:
    return EvidenceStore(api.settings.evidence_root)


TRIGGERS = {"case_event": "case_event_append_only", "case_evidence": "case_evidence_append_only"}


def trigger_enabled(engine, name: str) -> bool:
    with engine.connect() as conn:
        state = conn.execute(
            text("SELECT tgenabled FROM pg_trigger WHERE tgname = :n"), {"n": name}
        ).scalar_one()
    return state != "D"


@contextmanager
def triggers_disabled(engine, *tables: str):
    """The owner deliberately switches off the append-only triggers — and always back on."""
    try:
        with engine.begin() as conn:
            for table in tables:
                conn.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER {TRIGGERS[table]}"))
        yield
    finally:
        with engine.begin() as conn:
            for table in tables:
                conn.execute(text(f"ALTER TABLE {table} ENABLE TRIGGER {TRIGGERS[table]}"))
    for table in tables:
        assert trigger_enabled(engine, TRIGGERS[table])


def post_transition(api, who: str, number: str, body: dict) -> httpx.Response:
    return httpx.post(
        f"{api.url}/api/v1/cases/{number}/transitions",
        headers=api.headers(who),
        json=body,
        timeout=60,
    )


# -- an honest history -------------------------------------------------------------------


def test_an_honest_history_verifies(engine, case_api):
    made = build_history(case_api)
    result = history.verify(engine, store_of(case_api))
    assert result["ok"], result["problems"]
    assert result["problems"] == []
    assert result["cases"] == 2
    assert result["events"] == 4 + 1  # report, add_evidence, site_visit, confirm; report
    assert result["evidence"] == 1
    one = history.verify(engine, store_of(case_api), made["second"])
    assert one["ok"] and one["cases"] == 1 and one["events"] == 1 and one["evidence"] == 0

    chain = events(engine, made["first"])
    assert [(e["seq"], e["action"]) for e in chain] == [
        (1, "report"),
        (2, "add_evidence"),
        (3, "site_visit"),
        (4, "confirm"),
    ]
    assert chain[0]["prev_hash"] is None
    for before, after in pairwise(chain):
        assert after["prev_hash"] == before["hash"]
    for event in chain:
        assert history.event_hash(made["first"], event, event["prev_hash"]) == event["hash"]
    with engine.connect() as conn:
        head = conn.execute(
            text("SELECT event_count, head_hash FROM violation_case WHERE number = :n"),
            {"n": made["first"]},
        ).one()
    assert head.event_count == 4
    assert head.head_hash == chain[-1]["hash"]


# -- the application's role cannot rewrite history ----------------------------------------

APP_ROLE_REFUSED = [
    "UPDATE case_event SET note = 'x'",
    "DELETE FROM case_event",
    "TRUNCATE case_event",
    "UPDATE case_evidence SET filename = 'x.jpg'",
    "DELETE FROM case_evidence",
    "TRUNCATE case_evidence",
]

OWNER_REFUSED = [
    "UPDATE case_event SET note = 'x'",
    "DELETE FROM case_event WHERE seq = 2",
    "UPDATE case_evidence SET filename = 'x.jpg'",
    "DELETE FROM case_evidence",
]


def test_the_app_role_may_not_rewrite_history(engine, case_api, database_url):
    made = build_history(case_api)
    refused = {}
    with app_engine_for(database_url).connect() as conn:
        assert conn.execute(text("SELECT current_user")).scalar() == "weijian_app"
        # it works: it reads and appends, but may not change what was written
        granted = {
            (t, p)
            for t in ("case_event", "case_evidence")
            for p in ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE")
            if conn.execute(
                text("SELECT has_table_privilege('weijian_app', :t, :p)"), {"t": t, "p": p}
            ).scalar()
        }
        assert granted == {
            ("case_event", "SELECT"),
            ("case_event", "INSERT"),
            ("case_evidence", "SELECT"),
            ("case_evidence", "INSERT"),
        }
        conn.rollback()
        for statement in APP_ROLE_REFUSED:
            with pytest.raises(DBAPIError) as caught, conn.begin():
                conn.execute(text(statement))
            refused[statement] = caught.value
    for statement, error in refused.items():
        assert "permission denied" in str(error.orig).lower(), statement
        assert type(error.orig).__name__ == "InsufficientPrivilege", statement
    assert history.verify(engine, store_of(case_api))["ok"]
    assert len(events(engine, made["first"])) == 4


def test_even_the_owner_is_stopped_by_the_trigger(engine, case_api):
    made = build_history(case_api)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT current_user")).scalar() != "weijian_app"
        conn.rollback()
        for statement in OWNER_REFUSED:
            with pytest.raises(DBAPIError) as caught, conn.begin():
                conn.execute(text(statement))
            assert "append-only" in str(caught.value.orig), statement
    assert history.verify(engine, store_of(case_api))["ok"]
    assert len(events(engine, made["first"])) == 4


# -- tampering by the owner is detected -----------------------------------------------------


def test_an_edited_event_is_named(engine, case_api):
    made = build_history(case_api)
    visit = events(engine, made["first"])[2]
    assert visit["action"] == "site_visit"
    with triggers_disabled(engine, "case_event"), engine.begin() as conn:
        conn.execute(
            text("UPDATE case_event SET note = '未发现违建' WHERE id = :i"), {"i": visit["id"]}
        )
    result = history.verify(engine, store_of(case_api))
    assert not result["ok"]
    [problem] = result["problems"]
    assert problem["case"] == made["first"]
    assert problem["seq"] == 3
    assert problem["event_id"] == visit["id"]
    assert "edited" in problem["problem"]
    assert "#3" in problem["problem"] and "site_visit" in problem["problem"]
    assert history.verify(engine, store_of(case_api), made["second"])["ok"]


def test_a_deleted_middle_event_is_named(engine, case_api):
    made = build_history(case_api)
    middle = events(engine, made["first"])[1]
    assert (middle["seq"], middle["action"]) == (2, "add_evidence")
    with triggers_disabled(engine, "case_event"), engine.begin() as conn:
        conn.execute(text("DELETE FROM case_event WHERE id = :i"), {"i": middle["id"]})
    result = history.verify(engine, store_of(case_api))
    assert not result["ok"]
    [problem] = result["problems"]
    assert problem["case"] == made["first"]
    assert problem["seq"] == 2
    assert "#2" in problem["problem"] and "was deleted" in problem["problem"]
    assert result["events"] == 4


def test_the_deleted_last_event_is_named(engine, case_api):
    made = build_history(case_api)
    last = events(engine, made["first"])[-1]
    assert (last["seq"], last["action"]) == (4, "confirm")
    with triggers_disabled(engine, "case_event"), engine.begin() as conn:
        conn.execute(text("DELETE FROM case_event WHERE id = :i"), {"i": last["id"]})
    result = history.verify(engine, store_of(case_api))
    assert not result["ok"]
    [problem] = result["problems"]
    assert problem["case"] == made["first"]
    assert problem["seq"] == 4
    assert "#4" in problem["problem"] and "deleted" in problem["problem"]


def test_evidence_changed_on_disk_is_named(engine, case_api):
    made = build_history(case_api)
    sha = made["sha"]
    path = case_api.settings.evidence_root / sha[:2] / sha
    assert path.is_file()
    path.write_bytes(path.read_bytes() + b"retouched")
    result = history.verify(engine, store_of(case_api))
    assert not result["ok"]
    [problem] = result["problems"]
    assert problem["case"] == made["first"]
    assert sha[:12] in problem["problem"]
    assert "content changed" in problem["problem"]
    # without the store the database alone still verifies: the files are the store's business
    assert history.verify(engine)["ok"]
    # and a file gone altogether is named as missing
    path.unlink()
    [problem] = history.verify(engine, store_of(case_api))["problems"]
    assert problem["case"] == made["first"]
    assert sha[:12] in problem["problem"] and "missing" in problem["problem"]


def test_a_deleted_case_is_named_by_its_missing_number(engine, case_api):
    made = build_history(case_api)
    with triggers_disabled(engine, "case_event", "case_evidence"), engine.begin() as conn:
        case_id = conn.execute(
            text("SELECT id FROM violation_case WHERE number = :n"), {"n": made["first"]}
        ).scalar_one()
        conn.execute(text("DELETE FROM case_event WHERE case_id = :c"), {"c": case_id})
        conn.execute(text("DELETE FROM case_evidence WHERE case_id = :c"), {"c": case_id})
        conn.execute(text("DELETE FROM violation_case WHERE id = :c"), {"c": case_id})
    result = history.verify(engine, store_of(case_api))
    assert not result["ok"]
    assert result["cases"] == 1
    [problem] = result["problems"]
    assert problem["case"] == made["first"]
    assert "deleted" in problem["problem"]
    assert "missing from the year's sequence" in problem["problem"]


# -- the CLI -------------------------------------------------------------------------------


def test_cli_says_intact_then_names_the_tampering(
    engine,
    case_api,
    cli,
):
    made = build_history(case_api)
    result = cli("audit", "verify")
    assert result.exit_code == 0, result.output
    assert "intact" in result.output
    assert "checked 2 cases, 5 events, 1 pieces of evidence" in result.output

    result = cli("audit", "verify", "--json")
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert printed["ok"] is True and printed["problems"] == []
    assert (printed["cases"], printed["events"], printed["evidence"]) == (2, 5, 1)

    visit = events(engine, made["first"])[2]
    with triggers_disabled(engine, "case_event"), engine.begin() as conn:
        conn.execute(text("UPDATE case_event SET note = '改过' WHERE id = :i"), {"i": visit["id"]})

    result = cli("audit", "verify")
    assert result.exit_code == 1, result.output
    assert "intact" not in result.output
    assert made["first"] in result.output
    assert "edited" in result.output

    result = cli("audit", "verify", "--json")
    assert result.exit_code == 1, result.output
    printed = json.loads(result.stdout)
    assert printed["ok"] is False
    assert printed["problems"] == [
        {
            "case": made["first"],
            "seq": 3,
            "event_id": visit["id"],
            "problem": printed["problems"][0]["problem"],
        }
    ]
    assert "edited" in printed["problems"][0]["problem"]

    # the evidence folder is the one WEIJIAN_EVIDENCE_DIR names (the honest run above
    # found the photo there): altered bytes are reported next to the edited event
    sha = made["sha"]
    (case_api.settings.evidence_root / sha[:2] / sha).write_bytes(b"not the photo")
    result = cli("audit", "verify", "--json")
    assert result.exit_code == 1, result.output
    texts = [p["problem"] for p in json.loads(result.stdout)["problems"]]
    assert len(texts) == 2
    assert any("content changed" in t and sha[:12] in t for t in texts)

    # one case at a time: the other case is fine
    result = cli("audit", "verify", "--case", made["second"], "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["cases"] == 1


# -- concurrency ---------------------------------------------------------------------------


def race(api, number: str, bodies: list[tuple[str, dict]]) -> list[httpx.Response]:
    """Send every (user, body) at once, each from its own thread."""
    with ThreadPoolExecutor(WORKERS) as pool:
        futures = [pool.submit(post_transition, api, who, number, body) for who, body in bodies]
        return [f.result() for f in futures]


def test_twenty_officers_at_once_one_wins(engine, case_api):
    number = case_api.report("gridder", COMPOUND)["number"]
    sha = case_api.photo("ue_hj", number)
    for who in ("ue_hj", "ue_hj2"):
        case_api.headers(who)  # log in before the race
    version = case_api.case("ue_hj", number)["version"]

    # round 1: everyone records the same site visit
    bodies = [
        (
            "ue_hj" if i % 2 else "ue_hj2",
            {"action": "site_visit", "version": version, "evidence": [sha]},
        )
        for i in range(WORKERS)
    ]
    responses = race(case_api, number, bodies)
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {200: 1, 409: WORKERS - 1}, [r.text for r in responses]
    for r in responses:
        if r.status_code == 409:
            detail = r.json()["detail"]
            assert "version" in detail, detail
            assert f"you sent version {version}" in detail
    case = case_api.case("ue_hj", number)
    assert case["state"] == "visited"
    assert case["version"] == version + 1
    assert [e["action"] for e in case["events"]] == ["report", "add_evidence", "site_visit"]
    assert case["event_count"] == 3
    assert history.verify(engine, store_of(case_api))["ok"]

    # round 2: different actions, all valid from "visited"
    version = case["version"]
    choices = [
        ("confirm", {}, "confirmed"),
        ("dismiss", {"note": "经核查为合法临时建筑"}, "not_violation"),
        ("register_backlog", {}, "ledgered"),
    ]
    bodies = []
    for i in range(WORKERS):
        action, extra, _ = choices[i % len(choices)]
        who = "ue_hj" if i % 2 else "ue_hj2"
        bodies.append((who, {"action": action, "version": version, **extra}))
    responses = race(case_api, number, bodies)
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {200: 1, 409: WORKERS - 1}, [r.text for r in responses]
    [(winner, response)] = [
        (body, r) for (_, body), r in zip(bodies, responses, strict=True) if r.status_code == 200
    ]
    target = {action: to for action, _, to in choices}[winner["action"]]
    assert response.json()["state"] == target
    case = case_api.case("ue_hj", number)
    assert case["state"] == target
    assert case["version"] == version + 1
    assert [e["action"] for e in case["events"]] == [
        "report",
        "add_evidence",
        "site_visit",
        winner["action"],
    ]
    assert case["events"][-1]["to_state"] == target
    result = history.verify(engine, store_of(case_api))
    assert result["ok"], result["problems"]
    assert result["events"] == 4


def test_the_second_officer_gets_a_409_and_loses_nothing(engine, case_api):
    number = case_api.report("gridder", COMPOUND)["number"]
    sha = case_api.photo("ue_hj", number)
    case_api.act("ue_hj", number, "site_visit", evidence=[sha])
    seen_by_a = case_api.case("ue_hj", number)["version"]
    seen_by_b = case_api.case("ue_hj2", number)["version"]
    assert seen_by_a == seen_by_b

    case_api.act("ue_hj", number, "confirm", version=seen_by_a)
    late = post_transition(
        case_api,
        "ue_hj2",
        number,
        {"action": "dismiss", "version": seen_by_b, "note": "不构成违建"},
    )
    assert late.status_code == 409, late.text
    body = late.json()
    assert body["error"] == "ConflictError"
    assert "version" in body["detail"] and "confirmed" in body["detail"]
    assert body["code"] == "case.version_conflict"
    # who changed it, what and when; the version now and the one the change was based on
    assert body["message"].startswith(f"案件{number}已由ue_hj-姓名（城管执法部门）于")
    assert "办理“认定为违法建设”" in body["message"]
    assert (
        f"现为第{seen_by_a + 1}版（已认定违建），您提交时依据的是第{seen_by_b}版"
        in (body["message"])
    )
    assert "read the case again" in body["hint"]

    again = case_api.case("ue_hj2", number)
    assert again["state"] == "confirmed"
    assert again["version"] == seen_by_b + 1
    actions = [(e["action"], e["actor"]["name"]) for e in again["events"]]
    assert actions[-1] == ("confirm", "ue_hj-姓名")
    assert "dismiss" not in [a for a, _ in actions]
    assert history.verify(engine, store_of(case_api))["ok"]


def test_an_anchor_catches_a_chain_rewritten_consistently(
    engine,
    case_api,
    cli,
    tmp_path,
):
    """Rewriting a whole chain — every hash recomputed, the head moved on — passes the chain
    check; the anchor written before catches it."""
    built = build_history(case_api)
    anchor_file = tmp_path / "anchor.json.gz"
    result = cli("audit", "anchor", "--out", str(anchor_file))
    assert result.exit_code == 0, result.output
    assert len(result.stdout.strip()) == 64  # the digest to quote on paper
    case_api.photo("ue_hj", built["second"])  # history going on after the anchor is fine

    # the owner rewrites the first case's site visit note and re-hashes the chain
    number = built["first"]
    with triggers_disabled(engine, "case_event"), engine.begin() as conn:
        prev = None
        for event in events(engine, number):
            if event["action"] == "site_visit":
                event["note"] = "（事后改写）"
            event["hash"] = history.event_hash(number, event, prev)
            conn.execute(
                text(
                    "UPDATE case_event SET note = :note, prev_hash = :p, hash = :h WHERE id = :id"
                ),
                {"note": event["note"], "p": prev, "h": event["hash"], "id": event["id"]},
            )
            prev = event["hash"]
        conn.execute(
            text("UPDATE violation_case SET head_hash = :h WHERE number = :n"),
            {"h": prev, "n": number},
        )
    plain = cli("audit", "verify")
    assert plain.exit_code == 0  # the chain itself is consistent again
    checked = cli("audit", "verify", "--anchor", str(anchor_file), "--json")
    assert checked.exit_code == 1, checked.output
    problems = json.loads(checked.stdout)["problems"]
    assert [p["case"] for p in problems] == [number]
    assert "rewritten since the anchor" in problems[0]["problem"]
    # events added after the anchor are no rewrite
    case_api.report("gridder", COMPOUND, description="锚定之后的新案件")
    bad = tmp_path / "bad.json.gz"
    bad.write_bytes(b"not an anchor")
    assert cli("audit", "verify", "--anchor", str(bad)).exit_code == 2
    # a readable file that is no anchor: the Chinese message first, the English after it
    other = tmp_path / "other.json.gz"
    other.write_bytes(gzip.compress(b'{"format": "something else"}'))
    refused = cli("audit", "verify", "--anchor", str(other))
    assert refused.exit_code == 2
    assert "该文件不是本系统的办理记录锚定文件" in refused.output
    assert "this file is not a weijian history anchor" in refused.output
    with pytest.raises(InputError) as caught:
        history.check_anchor(engine, {"format": "something else"})
    assert caught.value.code == "audit.anchor_invalid"
