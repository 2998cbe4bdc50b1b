"""Patrol tracks: a walk recorded in batches (repeats, out of order, bad points dropped), read
only by those in scope, the coverage of a grid checked against shapely, and the retention."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyproj
import pytest
import shapely
from sqlalchemy import text

from tests import city
from tests.casekit import COMMUNITY, COMPOUND_CODE, START, TOWN1
from tests.conftest import serving
from weijian.layers.importing import GridImport, import_grids

#: the compounds of 东山社区 (km from the city's corner): 江山花园 as in tests/city.py, and three
COMPOUNDS = {
    COMPOUND_CODE: ("江山花园", (0.2, 0.2, 0.4, 0.4)),
    "220602001001002": ("东山小区", (0.6, 0.2, 0.8, 0.4)),
    "220602001001003": ("和平里", (0.2, 0.6, 0.4, 0.8)),
    "220602001001004": ("新华苑", (0.6, 0.6, 0.8, 0.8)),
}
#: the walk (km): east along y = 0.3, then north-west to 36 m from 新华苑's corner
WALK = [(0.1, 0.3), (0.9, 0.3), (0.83, 0.58)]
STEP_M, STEP_S = 20.0, 15


def add_compounds(engine, folder) -> None:
    rows = [
        {"DM": code, "MC": name, "FZR": "周敏", "DH": "13904390005", "geometry": city.box(*b)}
        for code, (name, b) in COMPOUNDS.items()
    ]
    path = city.catalogue.write_shapefile(city.frame(rows), folder / "compounds", "compounds")
    import_grids(
        engine,
        GridImport(
            path=path, level="compound", code_field="DM", name_field="MC",
            responsible_field="FZR", phone_field="DH",
        ),
    )  # fmt: skip


def walk_points(start: datetime) -> list[tuple[float, float, datetime]]:
    """Points every 20 m along :data:`WALK`, 15 s apart: (x km, y km, time)."""
    line = shapely.LineString(WALK)
    count = int(line.length * 1000 // STEP_M)
    out = []
    for i in range(count + 1):
        p = line.interpolate(min(i * STEP_M / 1000, line.length))
        out.append((p.x, p.y, start + timedelta(seconds=STEP_S * (i + 1))))
    return out


def body(points, **extra) -> dict:
    out = []
    for x, y, t in points:
        lon, lat = city.lonlat(x, y)
        out.append({"lon": lon, "lat": lat, "t": t.isoformat(), "accuracy": 8.0, **extra})
    return {"points": out, "crs": "cgcs2000"}


def record(api, who: str, start: datetime, points) -> int:
    r = api.post("/api/v1/patrols", who, json={"made_at": start.isoformat()})
    assert r.status_code == 201, r.text
    track = r.json()["id"]
    r = api.post(f"/api/v1/patrols/{track}/points", who, json=body(points))
    assert r.status_code == 200, r.text
    return track


def test_track_privacy_and_coverage(case_api, engine, tmp_path):
    api = case_api
    add_compounds(engine, tmp_path)
    start = START
    points = walk_points(start)
    r = api.post("/api/v1/patrols", "gridder", json={"made_at": start.isoformat()})
    assert r.status_code == 201, r.text
    track = r.json()["id"]
    # the app retries its start: the same track
    again = api.post("/api/v1/patrols", "gridder", json={"made_at": start.isoformat()})
    assert again.json()["id"] == track
    # batches out of order, the first sent twice, with a GPS jump and an inaccurate point
    half = len(points) // 2
    late, early = points[half:], points[:half]
    jump = [(3.5, 3.5, early[5][2] + timedelta(seconds=2))]  # 4 km in 2 s
    for batch in (body(late), body(early + jump), body(late)):
        r = api.post(f"/api/v1/patrols/{track}/points", "gridder", json=batch)
        assert r.status_code == 200, r.text
    blurred = body([(0.5, 0.9, early[3][2] + timedelta(seconds=1))])
    blurred["points"][0]["accuracy"] = 350.0
    r = api.post(f"/api/v1/patrols/{track}/points", "gridder", json=blurred)
    summary = r.json()
    assert summary["point_count"] == len(points)
    assert summary["dropped_jump"] == 1 and summary["dropped_inaccurate"] == 1
    to_gk = pyproj.Transformer.from_crs(4490, 4551, always_xy=True)
    metric = [to_gk.transform(*city.lonlat(x, y)) for x, y, _t in points]
    assert abs(summary["length_m"] - shapely.LineString(metric).length) < 0.5
    assert {COMMUNITY, TOWN1, COMPOUND_CODE} <= set(summary["grids_crossed"])
    stop = (points[-1][2] + timedelta(seconds=30)).isoformat()
    r = api.post(f"/api/v1/patrols/{track}/stop", "gridder", json={"made_at": stop})
    assert r.status_code == 200 and r.json()["ended_at"] is not None

    # GeoJSON: the vertices in time order, their times given
    feature = api.get(f"/api/v1/patrols/{track}", "gridder").json()
    coords = feature["geometry"]["coordinates"]
    assert len(coords) == len(points) == len(feature["properties"]["times"])
    assert abs(coords[0][0] - city.lonlat(*WALK[0])[0]) < 1e-6
    assert feature["properties"]["times"][0] == points[0][2].isoformat()

    # personal data: the worker, administrators, and the overseers of the worker's grid only
    for who in ("gridder", "admin", "supervisor", "town1", "community"):
        assert api.get(f"/api/v1/patrols/{track}", who).status_code == 200, who
        assert [t["id"] for t in api.get("/api/v1/patrols", who).json()["tracks"]] == [track]
    for who in ("town2", "ue_hj", "property"):
        r = api.get(f"/api/v1/patrols/{track}", who)
        assert r.status_code == 404, (who, r.text)
        assert api.get("/api/v1/patrols", who).json()["tracks"] == []
    assert api.get(f"/api/v1/patrols/{track}").status_code == 401
    # only the worker adds points or stops
    r = api.post(f"/api/v1/patrols/{track}/points", "town1", json=body(points[:1]))
    assert r.status_code == 404
    assert "message" in r.json()

    # coverage: compounds within 50 m of the track, computed by hand in Gauss-Krüger metres
    api.clock.advance(days=3)
    walked = shapely.LineString(metric)
    expected = {
        code: walked.distance(city.box(*b)) <= 50.0 for code, (_name, b) in COMPOUNDS.items()
    }
    assert sum(expected.values()) == 3  # 江山花园, 东山小区 crossed; 新华苑 passed at 36 m
    r = api.get("/api/v1/patrols/coverage", "town1", grid=TOWN1, period="2026-03")
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["coverage"] == round(sum(expected.values()) / len(expected), 4)
    (sub,) = answer["subgrids"]
    assert sub["code"] == COMMUNITY and sub["compounds"] == len(COMPOUNDS)
    for item in sub["detail"]:
        assert item["passed"] == expected[item["code"]], item
        assert item["days_since_last"] == (3 if expected[item["code"]] else None)
    # the assessment's indicators, per unit and period: the same share, one patrol in 31 days
    levels = api.get("/api/v1/assessment", "supervisor", level="community", month="2026-03")
    assert levels.status_code == 200, levels.text
    (row,) = [u for u in levels.json()["units"] if u["code"] == COMMUNITY]
    shown = {i["code"]: i["value"] for i in row["indicators"]}
    assert shown["patrol_coverage"] == pytest.approx(sum(expected.values()) / len(expected))
    assert shown["patrols_per_week"] == pytest.approx(round(1 * 7 / 31, 4))
    assert row["counts"]["patrols"] == 1 and row["counts"]["compounds"] == len(COMPOUNDS)
    # another period: nothing patrolled
    april = api.get("/api/v1/patrols/coverage", "town1", grid=COMMUNITY, period="2026-04")
    assert april.json()["passed"] == 0
    # out of scope: refused with a Chinese message; unknown grid 404
    r = api.get("/api/v1/patrols/coverage", "town2", grid=TOWN1)
    assert r.status_code == 403 and "范围" in r.json()["message"]
    assert api.get("/api/v1/patrols/coverage", "admin", grid="999").status_code == 404
    lon, lat = city.lonlat(0.5, 0.5)
    bad = api.post(
        f"/api/v1/patrols/{track}/points", "gridder",
        json={"points": [{"lon": lon, "lat": lat, "t": "昨天"}], "crs": "cgcs2000"},
    )  # fmt: skip
    assert bad.status_code == 422 and bad.json()["code"] == "patrol.time_invalid"
    abroad = {"points": [{"lon": 2.35, "lat": 48.85, "t": START.isoformat()}], "crs": "wgs84"}
    r = api.post(f"/api/v1/patrols/{track}/points", "gridder", json=abroad)
    assert r.status_code == 422 and "境外" in r.json()["message"]
    ahead = (api.clock.now() + timedelta(days=1)).isoformat()
    r = api.post("/api/v1/patrols", "gridder", json={"made_at": ahead})
    assert r.status_code == 422 and r.json()["code"] == "patrol.time_future"
    early = (START - timedelta(hours=1)).isoformat()
    r = api.post(f"/api/v1/patrols/{track}/stop", "gridder", json={"made_at": early})
    assert r.status_code == 409


def test_retention(case_api, engine, cli):
    from weijian.api.app import create_app
    from weijian.cases.clock import FixedClock
    from weijian.settings import Settings

    api = case_api
    old = record(api, "gridder", START - timedelta(days=200), walk_points(START - timedelta(200)))
    recent = record(api, "gridder", START, walk_points(START))

    def ids() -> set[int]:
        with engine.connect() as conn:
            return set(conn.execute(text("SELECT id FROM patrol_track")).scalars())

    assert ids() == {old, recent}
    settings = Settings(evidence_dir=api.settings.evidence_dir, track_retention_days=180)
    with serving(create_app(engine, clock=FixedClock(START), settings=settings)):
        pass  # the start purges
    assert ids() == {recent}
    age = (datetime.now(UTC) - START).days
    assert cli("patrol", "purge-tracks", "--days", age + 2).exit_code == 0
    assert ids() == {recent}
    result = cli("patrol", "purge-tracks", "--days", age - 2)
    assert result.exit_code == 0, result.output
    assert ids() == set()
