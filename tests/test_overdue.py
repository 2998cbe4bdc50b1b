"""Overdue only when due: a deadline later in the month in progress is pending everywhere —
the case list, the assessment, the ledger, responsibility tracing, the map's figures and the
printed patrol map — and overdue everywhere once it has passed (one test, ``deadlines.missed``)."""

from __future__ import annotations

from datetime import timedelta

from tests.casekit import START, STREET, TOWN1
from tests.mapkit import city_bbox
from weijian.cases.clock import LOCAL
from weijian.cases.deadlines import missed


def _patrol_map_overdue(engine, now) -> int:
    from weijian.cases.deadlines import WorkCalendar
    from weijian.cases.workflow import default_workflow
    from weijian.jurisdiction.snapshot import load_snapshot
    from weijian.patrol.pages import load_page

    with engine.connect() as conn:
        page = load_page(
            conn, load_snapshot(engine), default_workflow(), WorkCalendar(), TOWN1, now
        )
    return sum(c.overdue for c in page.cases)


def _everywhere(api, engine) -> dict:
    """How many overdue cases each figure counts, for March 2026 and now."""
    listed = api.get("/api/v1/cases", "supervisor", overdue="true", with_total="true").json()
    town = next(
        u
        for u in api.get("/api/v1/assessment", "supervisor", month="2026-03", level="town").json()[
            "units"
        ]
        if u["code"] == TOWN1
    )
    ledger = api.get(f"/api/v1/ledger/{TOWN1}/2026-03", "town1").json()["rows"]
    tracing = api.get(
        "/api/v1/assessment/tracing", "supervisor", grid=TOWN1, month="2026-03"
    ).json()["problems"]
    cells = api.get(
        "/api/v1/map/cells", "supervisor", bbox=city_bbox(), zoom=12, overdue="true"
    ).json()
    return {
        "list": listed["total"],
        "visits_overdue": town["counts"]["visits_overdue"],
        "overdue_open": town["counts"]["overdue_open"],
        "ledger": sum(r["overdue"] for r in ledger),
        "ledger_text": sorted({r["是否超期"] for r in ledger}),
        "tracing": len([p for p in tracing if p["step"] == "site_visit"]),
        "map": cells["total"],
        "patrol_map": _patrol_map_overdue(engine, api.clock.now()),
    }


def test_a_site_visit_due_tomorrow_is_overdue_nowhere_until_it_passes(case_api, engine) -> None:
    api = case_api
    case = api.report("town1", STREET, channel="patrol")  # Monday 09:00, visit due Tuesday 09:00
    due = START + timedelta(days=1)
    api.clock.set(START + timedelta(hours=2))
    assert _everywhere(api, engine) == {
        "list": 0,
        "visits_overdue": 0,
        "overdue_open": 0,
        "ledger": 0,
        "ledger_text": ["否"],
        "tracing": 0,
        "map": 0,
        "patrol_map": 0,
    }
    detail = api.case("supervisor", case["number"])
    assert detail["overdue"] is False
    assert {d["code"]: d["status"] for d in detail["deadlines"]}["site_visit"] == "pending"

    api.clock.set(due)  # the deadline's moment itself is still on time
    assert _everywhere(api, engine)["list"] == 0
    api.clock.set(due + timedelta(hours=1))
    assert _everywhere(api, engine) == {
        "list": 1,
        "visits_overdue": 1,
        "overdue_open": 1,
        "ledger": 1,
        "ledger_text": ["是"],
        "tracing": 1,
        "map": 1,
        "patrol_map": 1,
    }
    assert api.case("supervisor", case["number"])["overdue"] is True


def test_a_disposal_due_later_in_the_month_in_progress_is_not_overdue(case_api) -> None:
    api = case_api
    api.report("town1", STREET, channel="patrol")
    api.clock.set(START + timedelta(days=30, hours=-1))  # 1 April 08:00: due at 09:00
    april = {"month": "2026-04", "level": "town"}

    def disposals_overdue() -> int:
        result = api.get("/api/v1/assessment", "supervisor", **april).json()
        return next(u for u in result["units"] if u["code"] == TOWN1)["counts"]["disposals_overdue"]

    assert disposals_overdue() == 0
    api.clock.set(START + timedelta(days=30, hours=1))
    assert disposals_overdue() == 1


def test_missed_is_the_one_test() -> None:
    due = START.astimezone(LOCAL)
    assert not missed(due, None, due)  # the deadline's moment is on time
    assert missed(due, None, due + timedelta(seconds=1))
    assert not missed(due, due - timedelta(hours=1), due + timedelta(days=1))  # done in time
    assert missed(due, due + timedelta(days=2), due + timedelta(days=1))  # not done by then
    assert not missed(None, None, due)
