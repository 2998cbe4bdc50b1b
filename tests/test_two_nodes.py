"""Two app servers on one database, as two machines behind a load balancer would run: a case
reported on one is in the other's map tiles and inbox within 2 s, and a layer version activated
on one is used by the other's lookups (PostgreSQL's LISTEN/NOTIFY tells every node)."""

from __future__ import annotations

import time

import httpx
from sqlalchemy import text

from tests import catalogue
from tests.casekit import START, STREET, Api, city_with_users, lonlat
from tests.city import box, frame
from tests.conftest import serving
from tests.mapkit import decode, tile_path
from weijian.cases.clock import FixedClock
from weijian.layers.importing import ZoneImport, import_zones
from weijian.settings import Settings


def _within(seconds: float, check) -> float:
    """How long ``check()`` took to come true; fails past ``seconds``."""
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < seconds, f"not within {seconds} s"
        time.sleep(0.05)
    return time.monotonic() - started


def test_two_nodes_on_one_database(engine, tmp_path):
    from weijian.api.app import create_app

    city_with_users(engine, tmp_path / "city")
    settings = Settings(evidence_dir=tmp_path / "evidence", map_poll_seconds=0.5)
    clock = FixedClock(START)
    first = create_app(engine, clock=clock, settings=settings)
    second = create_app(engine, clock=clock, settings=settings)
    with serving(first) as one, serving(second) as two:
        api_one, api_two = Api(one, clock, settings), Api(two, clock, settings)
        number = api_one.report("ue_hj", STREET, channel="patrol")["number"]
        with engine.connect() as conn:
            case_id = conn.execute(
                text("SELECT id FROM violation_case WHERE number = :n"), {"n": number}
            ).scalar_one()

        def in_tile() -> bool:
            tile = decode(api_two.get(tile_path("cases", STREET, 16), "supervisor").content)
            cases = tile.get("cases", {}).get("features", [])
            return any(f.get("id") == case_id for f in cases)

        def in_inbox() -> bool:
            page = api_two.get("/api/v1/inbox", "ue_hj").json()
            return number in [i["number"] for i in page["items"]]

        assert _within(2.0, in_tile) < 2.0
        assert _within(2.0, in_inbox) < 2.0

        # a new version of the urban area, activated through the first node's process
        lon, lat = lonlat(STREET)

        def version(base: str) -> int:
            r = httpx.get(
                f"{base}/api/v1/jurisdiction", params={"lon": lon, "lat": lat, "crs": "cgcs2000"}
            )
            return r.json()["layer_versions"]["urban_managed"]

        assert version(one) == version(two) == 1
        path = catalogue.write_shapefile(
            frame([{"MC": "浑江区城市化管理区域（调整）", "geometry": box(0, 0, 1, 1)}]),
            tmp_path / "urban-v2",
            "urban",
        )
        import_zones(
            first.state.engine,
            ZoneImport(path=path, layer="urban_managed", kind="urban_managed", name_field="MC"),
        )
        # both processes learn of it the same way, by the notification, so both are awaited
        assert _within(5.0, lambda: version(two) == 2) < 5.0
        assert _within(5.0, lambda: version(one) == 2) < 5.0
