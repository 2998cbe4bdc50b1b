"""The demo's cases: the sample city's cases.csv reported and worked through the case service
on the test database — every history verifies, the states, deadlines and transfers are those
of the workflow, the clear-to-zero campaign has progress, and a second run adds nothing."""

from __future__ import annotations

import csv
import io
import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pypdf
from sqlalchemy import text

from tests.conftest import DEMO_USER_COLUMNS, Demo
from weijian import samples
from weijian.cases import history
from weijian.cases.clock import LOCAL
from weijian.cases.evidence import EvidenceStore
from weijian.cases.service import CaseService
from weijian.demo.cases import load_demo_cases
from weijian.demo.users import DEPARTMENT_USERS
from weijian.gis.points import point_to_cgcs2000
from weijian.jurisdiction.engine import lookup
from weijian.jurisdiction.snapshot import SnapshotHolder, load_snapshot
from weijian.oversight import progress


def _rows_in_city(engine, sample_dir: Path) -> int:
    snap = load_snapshot(engine)
    with (sample_dir / samples.PATH_CASES).open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    inside = 0
    for row in rows:
        lon, lat, _ = point_to_cgcs2000(float(row["lon"]), float(row["lat"]), "wgs84")
        inside += (lookup(snap, lon, lat).get("grid") or {}).get("district") is not None
    assert inside > 300
    return inside


def test_demo_cases_go_through_the_workflow(demo_database: Demo, sample_dir: Path) -> None:
    # the demo loaded once for the session (tests/conftest.py): the sample city's layers, the
    # demo users, then the cases
    engine, settings, demo_users = demo_database.engine, demo_database.settings, demo_database.users
    result, lines, now = demo_database.result, list(demo_database.lines), demo_database.started
    with engine.connect() as conn:
        # the squad leader dispatches the cases of the district's city management
        leader, officer = (
            conn.execute(
                text(
                    "SELECT role, department_code, department_type FROM app_user "
                    "WHERE username = :u"
                ),
                {"u": name},
            ).one()
            for name in ("duizhang", "chengguan")
        )
    assert leader.role == "department_leader" and leader.department_type == "urban_enforcement"
    assert leader.department_code == officer.department_code is not None

    assert result["errors"] == []
    # three construction projects drawn beside open cases, which they hold
    assert len(result["projects"]) == 3
    with engine.connect() as conn:
        stages = conn.execute(
            text(
                "SELECT p.stage, count(v.id) FROM construction_project p LEFT JOIN "
                "violation_case v ON v.project_id = p.id GROUP BY p.stage, p.id ORDER BY p.id"
            )
        ).all()
    assert [s for s, _ in stages] == ["under_construction", "completion_acceptance", "approved"]
    assert all(n >= 1 for _, n in stages)
    assert len(lines) == 1 and "campaign" in lines[0]
    assert result["seconds"] > 0  # reported; how fast depends on the machine, not on the code
    expected = _rows_in_city(engine, sample_dir)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM violation_case")).scalar() == expected
        assert result["created"] == expected
        states = dict(
            conn.execute(text("SELECT state, count(*) FROM violation_case GROUP BY 1")).all()
        )
        actions = dict(
            conn.execute(text("SELECT action, count(*) FROM case_event GROUP BY 1")).all()
        )
        # the existing demo users are untouched; every district has its three departments
        again = conn.execute(
            text(f"SELECT {DEMO_USER_COLUMNS} FROM app_user WHERE username = ANY(:u) ORDER BY id"),
            {"u": [u.username for u in demo_users]},
        ).all()
        assert again == demo_users
        departments = set(
            conn.execute(
                text("SELECT district_code, role FROM app_user WHERE username LIKE '%-%'")
            ).all()
        )
        districts = set(conn.execute(text("SELECT DISTINCT district_code FROM violation_case")))
        cases = conn.execute(
            text(
                "SELECT number, district_code, year, seq, reported_at, discovered_at, visit_due, "
                "visited_at, is_open, state, track, department_code, head_hash FROM "
                "violation_case ORDER BY district_code, year, seq"
            )
        ).all()
        events = conn.execute(text("SELECT min(at), max(at) FROM case_event")).one()
        evidence = dict(
            conn.execute(text("SELECT media_type, count(*) FROM case_evidence GROUP BY 1")).all()
        )
        flagged = conn.execute(text("SELECT count(*) FROM case_evidence WHERE flagged")).scalar()
        pdf = conn.execute(
            text("SELECT sha256 FROM case_evidence WHERE media_type = 'application/pdf' LIMIT 1")
        ).scalar()

    assert len(districts) == 6
    assert departments == {(d, role) for (d,) in districts for _, role, _ in DEPARTMENT_USERS}
    assert len(demo_users) == 10  # one per role, and the squad leader

    # a real mix of states: open and closed, both tracks, stalled on the way
    assert states.get("signed_off", 0) > 50
    assert states.get("not_violation", 0) > 5
    for state in ("reported", "stop_ordered", "ledgered", "determined"):
        assert states.get(state, 0) > 0, (state, states)
    assert sum(states.values()) - states["signed_off"] - states["not_violation"] > 50
    for action in (
        "site_visit", "confirm", "stop_order", "demolish_continued", "register_backlog",
        "determine", "demolish", "fine", "verify", "sign_off", "dismiss", "transfer",
        "accept_transfer", "add_evidence",
    ):  # fmt: skip
        assert actions.get(action, 0) > 0, (action, actions)
    assert actions["report"] == expected
    assert result["overdue"] > 0  # new cases nobody has visited yet

    # historical times: numbers follow the reports, every step lies in the past
    for prev, case in itertools.pairwise(cases):
        if (prev.district_code, prev.year) == (case.district_code, case.year):
            assert prev.reported_at <= case.reported_at
            assert case.seq == prev.seq + 1
    assert all(c.discovered_at <= c.reported_at for c in cases)
    assert all(c.year == c.reported_at.astimezone(LOCAL).year for c in cases)
    assert events[0] < now - timedelta(days=600)  # almost two years of history
    assert now - timedelta(days=7) < events[1] <= datetime.now(UTC)
    late = [c for c in cases if c.visited_at and c.visit_due and c.visited_at > c.visit_due]
    on_time = [c for c in cases if c.visited_at and c.visit_due and c.visited_at <= c.visit_due]
    assert 0 < len(late) < len(on_time)

    # evidence: photos and PDFs the service accepted, taken where the case is
    assert set(evidence) <= {"image/jpeg", "image/png", "application/pdf"}
    assert evidence["image/jpeg"] > 100 and evidence["application/pdf"] > 50
    assert flagged == 0
    store = EvidenceStore(settings.evidence_root, "disk")
    document = pypdf.PdfReader(io.BytesIO(store.open_bytes(pdf)), strict=True)
    assert "案件编号" in document.pages[0].extract_text()

    # every hash chain, the number sequences and the evidence bytes verify
    verified = history.verify(engine, store)
    assert verified["ok"], verified["problems"][:5]
    assert verified["cases"] == expected
    assert verified["evidence"] == sum(evidence.values())

    # the clear-to-zero campaign: started after most of the backlog, half-way through it
    campaign = result["campaign"]
    assert campaign["name"].endswith("年存量违建清零行动")
    assert campaign["baseline"] > campaign["signed_off"] > 0
    assert campaign["remaining"] == campaign["baseline"] - campaign["signed_off"]
    backlog = [c for c in cases if c.track == "backlog"]
    start = datetime.fromisoformat(campaign["start_date"]).replace(tzinfo=LOCAL)
    assert sum(c.reported_at < start for c in backlog) > 0.6 * len(backlog)
    service = CaseService(engine, SnapshotHolder(engine), settings)
    report = progress.campaign_progress(service, None, campaign["id"])
    rows = report["levels"]["district"]
    assert sum(r["baseline"] for r in rows) == campaign["baseline"]
    assert len({r["percent"] for r in rows}) > 2  # the districts differ
    trend = report["levels"]["city"][0]["trend"]
    assert trend[-1]["month"] == now.astimezone(LOCAL).strftime("%Y-%m")
    assert sum(a["signed_off"] < b["signed_off"] for a, b in itertools.pairwise(trend)) >= 5

    # the demo runs on every start: the second time it adds nothing
    lines.clear()
    second = load_demo_cases(engine, sample_dir, log=lines.append, settings=settings)
    assert second["skipped"] and second["created"] == 0
    assert "already" in lines[0]
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM violation_case")).scalar() == expected
