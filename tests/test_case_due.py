"""What the case service keeps of a case's deadlines after each step (``case_due``, migration
0020) and the monthly ledger that reads it: after many random steps through the API over three
months — stop orders and demolition decisions with their periods, documents served, reopened
cases, evidence between the steps — every kept row equals the domain's evaluation of the
case's events up to that step, the last one equals the evaluation of all its events, and each
town's ledger of every month (rows and workbook, cell by cell) is the one its deadlines
evaluated from the events give; the server's catch-up after an upgrade writes each open case's
last row, and ``keep_history`` the rows of a history loaded without them, the ledger from
which is the same again."""

from __future__ import annotations

import io
import random
from datetime import date, datetime, timedelta

import httpx
from openpyxl import load_workbook
from sqlalchemy import text

from tests import casekit
from tests.casekit import COMPOUND, RED_FLAG, STREET, TOWN1, TOWN2
from weijian.cases import deadlines, history, stages
from weijian.cases.clock import LOCAL
from weijian.cases.deadlines import WorkCalendar
from weijian.cases.workflow import default_workflow
from weijian.oversight import ledger

#: the steps the walk takes: action → (evidence, the data it sends, drawn at random)
STEPS = {
    "site_visit": (("photo",), lambda rng, day: {}),
    "confirm": ((), lambda rng, day: {}),
    "register_backlog": ((), lambda rng, day: {}),
    "dismiss": ((), lambda rng, day: {}),
    "stop_order": (("document",), lambda rng, day: {"compliance_days": rng.randint(1, 20)}),
    "seal": (("photo", "document"), lambda rng, day: {}),
    "demolish_continued": (("photo",), lambda rng, day: {"method": "forced"}),
    "determine": (
        ("document",),
        lambda rng, day: {"disposal": "demolish", "demolition_days": rng.randint(3, 30)},
    ),
    "demolition_order": (("document",), lambda rng, day: {"demolition_days": rng.randint(3, 30)}),
    "demolition_notice": (("document",), lambda rng, day: {"notice_days": rng.randint(1, 10)}),
    "record_service": (
        ("document",),
        lambda rng, day: {
            "served_on": (day - timedelta(days=rng.randint(0, 2))).isoformat(),
            "service_method": rng.choice(["direct", "left", "post"]),
        },
    ),
    "demolish": (("photo",), lambda rng, day: {"method": "agreed"}),
    "verify": (("photo",), lambda rng, day: {}),
    "sign_off": ((), lambda rng, day: {}),
    "reopen": ((), lambda rng, day: {}),
}
MONTHS = [date(2026, m, 1) for m in (2, 3, 4, 5, 6)]


def walk(api, rng: random.Random, numbers: list[str], rounds: int) -> int:
    """``rounds`` random steps, each allowed in its case's state, the clock moved between;
    the steps taken."""
    wf = default_workflow()
    taken = 0
    for _ in range(rounds):
        api.clock.advance(hours=rng.randint(1, 40))
        number = rng.choice(numbers)
        state = api.case("admin", number)["state"]
        allowed = [a for a in STEPS if state in wf.transitions[a].sources]
        if not allowed:
            continue
        action = rng.choice(allowed)
        needs, data = STEPS[action]
        evidence = [api.photo("admin", number) if k == "photo" else api.document("admin", number)
                    for k in needs]  # fmt: skip
        day = api.clock.now().astimezone(LOCAL).date()
        body = {"data": data(rng, day), "evidence": evidence, "note": "随机步骤"}
        r = api.post(
            f"/api/v1/cases/{number}/transitions",
            "admin",
            json={**body, "action": action, "version": api.case("admin", number)["version"]},
        )
        assert r.status_code == 200, (action, state, r.text)
        taken += 1
    return taken


def kept_rows(conn) -> dict[tuple[int, int], tuple]:
    return {
        (r.case_id, r.seq): (r.pending_due, r.rectification_due)
        for r in conn.execute(text("SELECT * FROM case_due"))
    }


def evaluated(case: dict, events: list[dict], calendar: WorkCalendar) -> tuple:
    """(pending due, rectification due) of the domain's evaluation of ``events``, with the
    track the case had after them."""
    wf = default_workflow()
    track = case["track"]
    for e in events:
        if e["action"] == "report":
            track = (e["data"] or {}).get("track") or track
        track = getattr(wf.transitions.get(e["action"]), "set_track", None) or track
    then = {**case, "track": track}
    found = deadlines.evaluate_case(wf, calendar, then, events, events[-1]["at"])
    return deadlines.pending_due(found), deadlines.rectification_due(found)


def ledgers(conn, calendar: WorkCalendar, now: datetime) -> dict:
    """Every town's ledger of every month, as rows and as the workbook's cells."""
    out = {}
    for town, name in ((TOWN1, "新建街道"), (TOWN2, "红旗街道")):
        for month in MONTHS:
            rows = ledger.ledger_rows(
                conn, default_workflow(), town, month, calendar=calendar, now=now
            )
            book = load_workbook(
                io.BytesIO(ledger.export_xlsx(rows, name, month, generated_at=now))
            )
            cells = [[c.value for c in row] for sheet in book for row in sheet.iter_rows()]
            out[town, month] = (rows, cells)
    return out


def patient_login(url: str, username: str, password: str) -> httpx.Response:
    """A login that waits as long as a busy machine takes to check a password (the walk logs
    in again whenever the moved clock has expired a token)."""
    return httpx.post(
        f"{url}/api/v1/auth/login", json={"username": username, "password": password}, timeout=120
    )


def test_kept_deadlines_equal_the_evaluation_and_the_ledger_reads_them(
    case_api, engine, monkeypatch
):
    monkeypatch.setattr(casekit, "login", patient_login)
    api = case_api
    rng = random.Random(20)
    numbers = [api.report("town1", STREET, channel="patrol")["number"] for _ in range(4)]
    numbers += [api.report("gridder", COMPOUND)["number"] for _ in range(3)]
    numbers += [api.report("town1", STREET, channel="patrol", track="backlog")["number"]]
    numbers += [api.report("town2", RED_FLAG, channel="patrol")["number"] for _ in range(3)]
    assert walk(api, rng, numbers, 90) > 50
    calendar = WorkCalendar()
    now = api.clock.now()

    with engine.connect() as conn:
        kept = kept_rows(conn)
        cases = conn.execute(text(f"SELECT {stages.CASE_FIELDS} FROM violation_case")).mappings()
        read = deadlines.read_actions(default_workflow())
        for case in cases:
            events = history.events_of(conn, case["id"])
            rows = {seq: v for (i, seq), v in kept.items() if i == case["id"]}
            # a row after the report and after every step the deadlines read
            assert {1} | {e["seq"] for e in events if e["action"] in read} <= set(rows)
            for seq, values in rows.items():
                assert values == evaluated(case, events[:seq], calendar), (case, seq)
            assert rows[max(rows)] == evaluated(case, events, calendar)
        assert any(p is not None and p < now for p, _ in kept.values())  # overdue ones
        assert any(r is not None for _, r in kept.values())  # periods given

        read_kept = ledgers(conn, calendar, now)
        conn.rollback()
        # the same ledgers with the deadlines evaluated from the events, as before 0020
        conn.execute(text("DELETE FROM case_due"))
        evaluated_again = ledgers(conn, calendar, now)
        conn.rollback()
    assert read_kept == evaluated_again
    all_rows = [r for rows, _ in read_kept.values() for r in rows]
    assert any(r["overdue"] for r in all_rows) and any(not r["overdue"] for r in all_rows)
    assert any(r["整改期限"] for r in all_rows)

    # after an upgrade, the server's start gives every open case the row of its last step
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM case_due"))
    stages.restage_all(engine, default_workflow(), calendar, now, unstaged_only=True)
    with engine.connect() as conn:
        caught_up = kept_rows(conn)
        last = dict(
            conn.execute(text("SELECT id, event_count FROM violation_case WHERE is_open")).all()
        )
    assert last and {key: kept[key] for key in last.items()} == caught_up

    # a history loaded without rows: keep_history writes what the service would have kept
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM case_due"))
    assert stages.keep_history(engine, default_workflow(), calendar, batch=4) == len(numbers)
    with engine.connect() as conn:
        rebuilt = kept_rows(conn)
        assert rebuilt and all(kept[key] == values for key, values in rebuilt.items())
        assert ledgers(conn, calendar, now) == read_kept
