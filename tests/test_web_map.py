"""The map's server side over real HTTP and a real PostGIS: vector tiles read back, the
aggregates against the case list, scopes, filters, ETags, the click's figures against the
campaign and assessment APIs, the case table's catch-up, bad input."""

from __future__ import annotations

import re

import httpx
import numpy as np
import pyproj
import pytest
import shapely
from sqlalchemy import text

from tests.casekit import (
    COMPOUND,
    COMPOUND_CODE,
    FARMLAND,
    JIANGYUAN,
    RED_FLAG,
    STREET,
    TOWN1,
    lonlat,
)
from tests.city import zones as city_zones
from tests.mapkit import city_bbox, decode, spot_tile, tile_path, wait_until
from weijian.gis.chinese_datums import wgs84_to_gcj02
from weijian.web_map.casestore import CaseStore


def cells(api, who, **params):
    r = api.get("/api/v1/map/cells", who, bbox=city_bbox(), zoom=12, **params)
    assert r.status_code == 200, r.text
    return r.json()


def listed(api, who, **params) -> int:
    r = api.get("/api/v1/cases", who, with_total="true", limit=1, **params)
    assert r.status_code == 200, r.text
    return r.json()["total"]


def revalidate(api, path: str, tag: str, **params) -> httpx.Response:
    headers = {**api.headers("supervisor"), "If-None-Match": tag}
    return httpx.get(api.url + path, params=params, headers=headers)


def settled(api, who, expected: int, **params) -> dict:
    """The cells once the case table has caught up with ``expected`` cases."""
    return wait_until(lambda: (c := cells(api, who, **params))["total"] == expected and c) or (
        cells(api, who, **params)
    )


def test_grid_tiles_follow_the_zoom_and_carry_names(city):
    api = city.api
    low = decode(api.get(tile_path("grids", STREET, 8), "supervisor").content)
    assert set(low) == {"district"}
    names = {f["properties"]["name"] for f in low["district"]["features"]}
    assert names == {"浑江区", "江源区"}
    high = decode(api.get(tile_path("grids", COMPOUND, 14), "supervisor").content)
    assert set(high) == {"district", "town", "community", "compound"}
    compound = high["compound"]["features"][0]["properties"]
    assert compound["code"] == COMPOUND_CODE and compound["name"] == "江山花园"
    assert compound["level"] == "compound"


def zones_in_tile(z: int, x: int, y: int) -> list[tuple[str, str, str]]:
    """(layer, name, department) of the city's zones a tile must hold, computed apart from the
    server: the zones overlapping the tile's Web Mercator square. A zone farther from it than
    the tile's clipping buffer (64 of 4096 units) is left out; one in between would make the
    answer depend on the server's clipping, so the spots are chosen to have none."""
    world = 20037508.342789244
    size = 2 * world / (1 << z)
    tile = shapely.box(
        -world + x * size, world - (y + 1) * size, -world + (x + 1) * size, world - y * size
    )
    to_mercator = pyproj.Transformer.from_crs(4551, 3857, always_xy=True)
    inside = []
    for layer, name, ground_shape, department in city_zones():
        ground = shapely.segmentize(ground_shape, 10.0)
        zone = shapely.transform(ground, lambda xy: np.column_stack(to_mercator.transform(*xy.T)))
        if shapely.intersection(zone, tile).area > 0:
            inside.append((layer, name, department))
        else:
            assert shapely.distance(zone, tile) > size * 64 / 4096, (name, z, x, y)
    return sorted(inside)


def test_zone_tiles_are_coloured_by_the_department_the_jurisdiction_names(city):
    api = city.api
    expected = {
        STREET: ["浑江区城市化管理区域", "旱地", "乔木林地"],
        FARMLAND: ["旱地"],
        JIANGYUAN: ["江源区镇规划建设用地"],
    }
    for spot, names in expected.items():
        lon, lat = lonlat(spot)
        answer = api.get("/api/v1/jurisdiction", None, lon=lon, lat=lat, crs="cgcs2000").json()
        z, x, y = spot_tile(spot, 15)
        zones = decode(api.get(f"/api/v1/map/tiles/zones/{z}/{x}/{y}.mvt", "supervisor").content)
        features = zones["zones"]["features"]
        shown = sorted(
            (f["properties"]["layer"], f["properties"]["name"], f["properties"]["department"])
            for f in features
        )
        # exactly the zones that lie in the tile, each in its own department's colour
        assert shown == zones_in_tile(z, x, y), (spot, shown)
        assert sorted(name for _, name, _ in shown) == sorted(names), spot
        # and the department the jurisdiction names at the spot is the deciding zone's colour
        deciding = answer["deciding_zone"]
        assert (deciding["layer"], deciding["name"], answer["department"]["type"]) in shown


def test_case_tiles_points_scope_and_filters(city):
    api = city.api
    ids = {name: api.case("supervisor", n)["id"] for name, n in city.numbers.items()}
    z, x, y = spot_tile(STREET, 15)
    path = f"/api/v1/map/tiles/cases/{z}/{x}/{y}.mvt"
    everything = decode(api.get(path, "supervisor").content)["cases"]["features"]
    assert {ids["street_backlog"], ids["street_new"]} <= {f["id"] for f in everything}
    # overdue: the new case's site visit, and the backlog cases' nature determination (15 days
    # from their report on 2 March) — the stage deadlines of the workflow
    assert {f["id"] for f in everything if f["properties"]["overdue"]} == {
        ids["street_new"],
        ids["street_backlog"],
        ids["street_backlog2"],
    }
    states = {f["id"]: f["properties"]["state"] for f in everything}
    assert states[ids["street_new"]] == "reported" and states[ids["street_backlog"]] == "ledgered"
    backlog = decode(api.get(path, "supervisor", track="backlog").content)["cases"]["features"]
    assert ids["street_new"] not in {f["id"] for f in backlog}
    # 红旗街道's user sees none of 新建街道's cases
    assert decode(api.get(path, "town2").content) == {}
    # below zoom 15 the points are not shipped: the aggregates stand for them
    assert api.get(tile_path("cases", STREET, 14), "supervisor").content == b""


def test_cells_count_what_the_case_list_counts(city):
    api = city.api
    assert settled(api, "supervisor", 7)["total"] == listed(api, "supervisor") == 7
    for params in (
        {"category": "open"},
        {"track": "backlog"},
        {"channel": "hotline"},
        {"overdue": "true"},
        {"state": "signed_off"},
    ):
        assert cells(api, "supervisor", **params)["total"] == listed(api, "supervisor", **params), (
            params
        )
    # the new case's site visit and three backlog cases' nature determination (the fourth
    # was signed off)
    assert cells(api, "supervisor", overdue="true")["total"] == 4
    assert cells(api, "supervisor", district="220605")["total"] == 1
    assert cells(api, "supervisor", **{"from": "2026-03-24", "to": "2026-03-24"})["total"] == 2
    # a town's user counts only its town (and what it reported itself)
    town2 = cells(api, "town2")
    assert town2["total"] == listed(api, "town2") == 1
    lon, lat = lonlat(RED_FLAG)
    assert town2["cells"][0][:2] == pytest.approx([lon, lat], abs=1e-5)
    # by area: footprints' areas add up
    assert cells(api, "supervisor")["columns"] == [
        "lon",
        "lat",
        "count",
        "area_m2",
        "open",
        "overdue",
    ]


def test_cells_follow_new_cases_and_etags_change(city):
    api = city.api
    settled(api, "supervisor", 7)
    first = api.get("/api/v1/map/cells", "supervisor", bbox=city_bbox(), zoom=12)
    tag = first.headers["etag"]
    again = revalidate(api, "/api/v1/map/cells", tag, bbox=city_bbox(), zoom=12)
    assert again.status_code == 304 and again.content == b""
    api.report("town1", STREET, track="backlog", channel="patrol")
    after = settled(api, "supervisor", first.json()["total"] + 1)
    assert after["total"] == first.json()["total"] + 1
    fresh = api.get("/api/v1/map/cells", "supervisor", bbox=city_bbox(), zoom=12)
    assert fresh.headers["etag"] != tag
    tile = api.get(tile_path("grids", STREET, 12), "supervisor")
    repeat = revalidate(api, tile_path("grids", STREET, 12), tile.headers["etag"])
    assert repeat.status_code == 304


def test_grid_figures_are_the_apis_figures(city):
    api = city.api
    got = api.get(f"/api/v1/map/grids/{TOWN1}", "supervisor", campaign=city.campaign).json()
    progress = api.get(
        f"/api/v1/campaigns/{city.campaign}/progress", "supervisor", level="town"
    ).json()
    row = next(r for r in progress["levels"]["town"] if r["code"] == TOWN1)
    levels = api.get("/api/v1/assessment/levels", "supervisor", month="2026-03").json()
    unit = next(u for u in levels["town"] if u["code"] == TOWN1)
    f = got["figures"]
    assert (
        (f["baseline"], f["signed_off"], f["remaining"], f["percent"])
        == (
            row["baseline"],
            row["signed_off"],
            row["remaining"],
            row["percent"],
        )
        == (3, 1, 2, 33.3)
    )
    # overdue now, at the current stage: the rule of the totals and of the case list
    overdue = api.get(
        "/api/v1/cases", "supervisor", grid=TOWN1, overdue="true", with_total="true"
    ).json()["total"]
    assert f["overdue"] == overdue == 3
    assert f["new_this_month"] == unit["counts"]["reported"]
    assert got["grid"]["name"] == "新建街道" and got["grid"]["chain"][0] == "220602"
    choropleth = api.get(
        "/api/v1/map/choropleth", "supervisor", campaign=city.campaign, level="town"
    ).json()
    assert choropleth["grids"][TOWN1]["percent"] == 33.3
    # the grid under a click
    lon, lat = lonlat(COMPOUND)
    at = api.get("/api/v1/map/grid-at", "supervisor", lon=lon, lat=lat, level="community").json()
    assert at["level"] == "community" and at["code"] == "220602001001"
    # a town user cannot open the other town
    other = api.get(f"/api/v1/map/grids/{TOWN1}", "town2")
    assert other.status_code == 404 and other.json()["code"] == "grid.not_found"
    assert other.json()["message"] == f"未找到网格 {TOWN1}（或不在您的权限范围内），请核对网格代码"
    assert other.json()["detail"] == f"no grid {TOWN1} within your scope"
    outside = api.get("/api/v1/map/grid-at", "town2", lon=lon, lat=lat)
    assert outside.status_code == 404 and outside.json()["code"] == "map.no_grid_here"
    assert outside.json()["message"] == "点击处不在您负责的网格内，请在本辖区范围内点击"


def test_config_and_scope(city):
    api = city.api
    sup = api.get("/api/v1/map/config", "supervisor").json()
    assert {d["name"] for d in sup["districts"]} == {"浑江区", "江源区"}
    assert sup["scope"]["grid_name"] == "全市" and sup["campaigns"][0]["id"] == city.campaign
    town = api.get("/api/v1/map/config", "town2").json()
    assert town["scope"]["grid_name"] == "红旗街道"
    lo, hi = lonlat((2, 0)), lonlat((4, 2))
    assert town["scope"]["extent"] == pytest.approx([lo[0], lo[1], hi[0], hi[1]], abs=1e-4)
    # a town's grid tiles hold its own grids only
    tile = decode(api.get(tile_path("grids", RED_FLAG, 12), "town2").content)
    assert {f["properties"]["code"] for layer in tile.values() for f in layer["features"]} == {
        "220602002"
    }
    labels = api.get("/api/v1/map/labels", "town2", level="town", bbox=city_bbox()).json()
    assert [item["name"] for item in labels] == ["红旗街道"]


def test_bad_input_is_4xx(city):
    api = city.api
    assert api.get("/api/v1/map/cells", None, bbox=city_bbox(), zoom=12).status_code == 401
    cases = [
        ("/api/v1/map/cells", {"bbox": "1,2,3", "zoom": 12}),
        ("/api/v1/map/cells", {"bbox": "127,42,126,41", "zoom": 12}),
        ("/api/v1/map/cells", {"bbox": "70,10,140,55", "zoom": 18}),
        ("/api/v1/map/cells", {"bbox": city_bbox(), "zoom": 12, "state": "nonsense"}),
        ("/api/v1/map/cells", {"bbox": city_bbox(), "zoom": 12, "channel": "fax"}),
        ("/api/v1/map/cells", {"bbox": city_bbox(), "zoom": 12, "cell_px": 1}),
        ("/api/v1/map/tiles/grids/3/9/0.mvt", {}),
        ("/api/v1/map/tiles/zones/30/0/0.mvt", {}),
        ("/api/v1/map/tiles/cases/14/0/-1.mvt", {}),
        ("/api/v1/map/grids/999", {}),
        ("/api/v1/map/choropleth", {"campaign": 999}),
        ("/api/v1/map/gcj02-offset", {"lon": 500, "lat": 0}),
        ("/api/v1/map/grid-at", {"lon": "nan", "lat": "nan"}),
        ("/api/v1/map/case-at", {"lon": "inf", "lat": 41, "zoom": 15}),
        ("/api/v1/map/grids/220602", {"month": "2026-13"}),
    ]
    for path, params in cases:
        r = api.get(path, "supervisor", **params)
        assert 400 <= r.status_code < 500, (path, params, r.status_code, r.text)
        assert r.json()["detail"], (path, params)
        assert r.json()["message"] and r.json()["code"], (path, params)
    # the answers of the map's own checks: a code to key on, the Chinese to read
    for path, params, code, message in (
        (
            "/api/v1/map/cells",
            {"bbox": "127,42,126,41", "zoom": 12},
            "list.bbox_invalid",
            "范围 bbox（127.0,42.0,126.0,41.0）无效",
        ),
        (
            "/api/v1/map/cells",
            {"bbox": "70,10,140,55", "zoom": 18},
            "map.too_many_cells",
            "该视野范围将分成超过",
        ),
        (
            "/api/v1/map/tiles/grids/3/9/0.mvt",
            {},
            "map.tile_invalid",
            "瓦片 3/9/0 不存在：缩放级别 3 下 x 和 y 的取值为 0～7",
        ),
        ("/api/v1/map/tiles/zones/30/0/0.mvt", {}, "map.zoom_invalid", "缩放级别 30 超出范围"),
    ):
        r = api.get(path, "supervisor", **params)
        assert r.json()["code"] == code and r.json()["message"].startswith(message), r.text


def test_gcj02_offset_is_the_conversion(city):
    lon, lat = lonlat(STREET)
    got = city.api.get("/api/v1/map/gcj02-offset", None, lon=lon, lat=lat).json()
    glon, glat = wgs84_to_gcj02(lon, lat)
    assert got["dlon"] == pytest.approx(glon - lon) and got["dlat"] == pytest.approx(glat - lat)
    assert 0.001 < abs(got["dlon"]) < 0.02


def test_the_page_loads_only_its_own_assets(city):
    page = httpx.get(city.api.url + "/")
    assert page.status_code == 200 and "违法建设监管地图" in page.text
    urls = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page.text)
    assert urls and all(u.startswith("/") for u in urls), urls
    for url in urls:
        r = httpx.get(city.api.url + url)
        assert r.status_code == 200 and r.content, url
    script = httpx.get(city.api.url + "/static/map/map.js").text
    assert "http://" not in script and "https://" not in script
    css = httpx.get(city.api.url + "/static/vendor/leaflet/leaflet.css").text
    for image in re.findall(r"url\((images/[^)]+)\)", css):
        assert httpx.get(f"{city.api.url}/static/vendor/leaflet/{image}").status_code == 200
    assert httpx.get(city.api.url + "/static/vendor/../../pyproject.toml").status_code == 404


def test_missing_front_end_libraries_are_named(engine, tmp_path):
    from tests.conftest import serving
    from weijian.api.app import create_app
    from weijian.settings import Settings

    settings = Settings(web_assets_dir=tmp_path / "nothing")
    with serving(create_app(engine, settings=settings)) as url:
        r = httpx.get(url + "/")
    assert r.status_code == 503
    assert "npm ci" in r.json()["hint"]
    assert r.json()["code"] == "map.assets_missing"
    assert r.json()["message"].startswith("监管地图的前端组件未安装（")
    assert r.json()["detail"].startswith("the map's front-end libraries are not installed (")


def test_case_table_misses_no_commit_whatever_the_order(engine, case_api):
    """A transaction that wrote before a catch-up but committed after it is still read."""
    api = case_api
    first = api.report("town1", STREET, channel="patrol")["number"]
    second = api.report("town1", COMPOUND, channel="patrol")["number"]
    store = CaseStore(engine, poll_seconds=60)
    store.catch_up()
    assert len(store) == 2
    slow = engine.connect()
    slow_tx = slow.begin()
    slow.execute(text("UPDATE violation_case SET address = '慢' WHERE number = :n"), {"n": first})
    with engine.begin() as fast:  # a later transaction that commits first
        fast.execute(
            text("UPDATE violation_case SET track = 'backlog' WHERE number = :n"), {"n": second}
        )
    store.catch_up()
    backlog = store.code("track", "backlog")
    with engine.connect() as conn:
        ids = dict(conn.execute(text("SELECT number, id FROM violation_case")).all())
    assert store._cols["track"][ids[second]] == backlog
    # the slow one commits only now, and changes the state the map counts by
    slow.execute(
        text("UPDATE violation_case SET state = 'visited' WHERE number = :n"), {"n": first}
    )
    slow_tx.commit()
    slow.close()
    before = store.generation
    store.catch_up()
    assert store._cols["state"][ids[first]] == store.code("state", "visited")
    assert store.generation == before + 1
    store.catch_up()  # nothing new: the generation stays
    assert store.generation == before + 1
