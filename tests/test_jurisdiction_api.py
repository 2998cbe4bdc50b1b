"""The jurisdiction answer over real HTTP, the CLI and in-process, on a city whose every answer
is known (tests/city.py)."""

from __future__ import annotations

import csv
import io
import json
import time

import httpx
import pyproj
import pytest
import shapely

from tests import city
from weijian.api.routes.jurisdiction import Answer
from weijian.gis import chinese_datums


@pytest.fixture
def api(engine, tmp_path, server, admin_headers):
    city.built_once(engine, "city", city.TABLES, lambda: city.build(engine, tmp_path))
    response = httpx.post(
        f"{server}/api/v1/jurisdiction/refresh", headers=admin_headers, timeout=30
    )
    assert response.status_code == 200
    return server


def ask(api, x_km, y_km, headers=None, **params):
    lon, lat = city.lonlat(x_km, y_km)
    response = httpx.get(
        f"{api}/api/v1/jurisdiction",
        params={"lon": lon, "lat": lat, "crs": "cgcs2000", **params},
        headers=headers,
        timeout=30,  # the first look-up after a refresh, on a busy machine
    )
    assert response.status_code == 200, response.text
    Answer.model_validate(response.json())  # the documented response model, field by field
    return response.json()


def test_urban_area_goes_to_city_management_of_its_district(api):
    answer = ask(api, 0.3, 0.3)
    assert answer["status"] == "assigned"
    assert answer["department"] == {
        "type": "urban_enforcement",
        "code": "220602-urban_enforcement",
        "name": "浑江区城市管理行政执法局",
    }
    assert answer["rule"]["name"] == "城市化管理区域由城管执法部门负责"
    assert answer["rule"]["version"] == 1
    assert answer["deciding_zone"]["layer"] == "urban_managed"
    assert {(z["layer"], z["kind"]) for z in answer["zones"]} == {
        ("urban_managed", "urban_managed"),
        ("landuse", "farmland"),
    }
    grid = answer["grid"]
    assert [grid[level]["name"] for level in ("district", "town", "community", "compound")] == [
        "浑江区",
        "新建街道",
        "东山社区",
        "江山花园",
    ]
    # the people responsible only for a logged-in user in scope (tests/test_personal_data.py)
    assert "responsible" not in grid["compound"]
    # 300 m from the urban area's west edge, which is also the district's
    assert answer["boundary_distance_m"] == pytest.approx(300, abs=1)
    assert answer["ambiguous"] is False and answer["alternatives"] == []
    assert answer["layer_versions"]["landuse"] == 1
    assert answer["point"]["input"]["crs"].startswith("EPSG:4490")


@pytest.mark.parametrize(
    ("x", "y", "department", "kind"),
    [
        (0.5, 2.5, "浑江区自然资源局", "farmland"),
        (1.5, 2.5, "浑江区自然资源局", "forest"),
        (2.5, 2.5, "浑江区自然资源局", "homestead"),
        (4.5, 0.5, "江源区人民政府", "town_planned"),
        (5.2, 0.5, "江源区自然资源局", "forest"),
    ],
)
def test_rules_by_zone_kind(api, x, y, department, kind):
    answer = ask(api, x, y)
    assert answer["department"]["name"] == department
    assert answer["deciding_zone"]["kind"] == kind


@pytest.mark.parametrize(
    ("x", "y", "reason"),
    [
        (3.5, 2.5, "no_rule"),  # urban housing land outside the urban management area
        (3.5, 3.5, "no_zone"),
        (5.5, 0.5, "no_zone"),  # inside the forest parcel's hole
        (9.0, 1.0, "outside_city"),
    ],
)
def test_unassigned_with_a_reason_never_a_guess(api, x, y, reason):
    answer = ask(api, x, y)
    assert answer["status"] == "unassigned" and answer["reason"] == reason
    assert answer["department"] is None and answer["rule"] is None
    assert answer["reason_text"]


#: the engine's Gauss-Krüger series and PROJ agree to well under a millimetre; the answer
#: rounds to the centimetre
DISTANCE_TOLERANCE_M = 0.02
TO_GK = pyproj.Transformer.from_crs(4490, 4551, always_xy=True)


def gk(x_km: float, y_km: float) -> shapely.Point:
    """The spot in EPSG:4551, from the lon/lat the API is given (not from the km directly)."""
    return shapely.Point(TO_GK.transform(*city.lonlat(x_km, y_km)))


def answer_regions() -> list[tuple[shapely.Geometry, tuple]]:
    """The hand-built city as regions of one answer each, known by heart (tests/city.py):
    (department type, reason, district code), the urban area winning over the paddy under it."""
    hj, jy = (city.box(*city.DISTRICTS[code]) for code in ("220602", "220605"))
    urban, natural, housing = city.box(0, 0, 2, 2), city.box(0, 2, 3, 3), city.box(3, 2, 4, 3)
    planned, forest = city.box(4, 0, 5, 1), city.holed_forest()
    world = city.box(-100, -100, 100, 100)
    return [
        (urban, ("urban_enforcement", None, "220602")),
        (natural, ("natural_resources", None, "220602")),
        (housing, (None, "no_rule", "220602")),
        (hj - shapely.union_all([urban, natural, housing]), (None, "no_zone", "220602")),
        (planned, ("county_government", None, "220605")),
        (forest, ("natural_resources", None, "220605")),
        (jy - (planned | forest), (None, "no_zone", "220605")),
        (world - (hj | jy), (None, "outside_city", None)),
    ]


def answer_key(answer: dict) -> tuple:
    department = answer["department"]
    district = (answer["grid"]["district"] or {}).get("code")
    return (department and department["type"], answer["reason"], district)


def shown_key(key: tuple) -> tuple:
    """What an alternative shows of an answer: its department's code, or its reason."""
    department_type, reason, district = key
    return (f"{district}-{department_type}" if department_type else None, reason)


def expected_distance(answer: dict, point: shapely.Point) -> float | None:
    """Metres to the deciding boundary: the deciding zone's or the district's, the nearer; none
    for an unassigned point."""
    if answer["deciding_zone"] is None:
        return None
    layer, name = answer["deciding_zone"]["layer"], answer["deciding_zone"]["name"]
    zone = min(
        (geometry for lay, nam, geometry, _ in city.zones() if (lay, nam) == (layer, name)),
        key=lambda geometry: geometry.distance(point),
    )
    district = city.box(*city.DISTRICTS[answer["grid"]["district"]["code"]])
    return min(zone.boundary.distance(point), district.boundary.distance(point))


@pytest.mark.parametrize(
    ("x", "y", "ambiguous"),
    [
        (4.0, 0.5, True),  # on the district border, in town-planned land: 0 m
        (3.996, 2.5, True),  # 4 m west of the district border, in urban housing land (no rule)
        (3.996, 3.5, True),  # 4 m west of it, no zone on either side: another district's
        (0.995, 2.5, False),  # 5 m from the farmland/forest edge: the same department
        (2.003, 1.0, True),  # 3 m east of the urban area, in no zone
        (1.5, 1.5, False),  # the urban area's middle
        (5.395, 0.5, True),  # in the forest, 5 m from the edge of its hole
        (5.405, 0.5, True),  # in the hole, 5 m from the forest
        (5.5, 0.5, False),  # the hole's middle, 100 m from the forest
    ],
)
def test_border_distance_and_ambiguity_are_what_the_map_says(api, x, y, ambiguous):
    answer = ask(api, x, y)
    assert ask(api, x, y) == answer  # deterministic, also on a shared edge
    point = gk(x, y)
    distance = expected_distance(answer, point)
    if distance is None:
        assert answer["boundary_distance_m"] is None
    else:
        assert answer["boundary_distance_m"] == pytest.approx(distance, abs=DISTANCE_TOLERANCE_M)

    regions = answer_regions()
    own = answer_key(answer)
    # the answer is the region's the point is in (on a shared edge: one of them)
    assert any(key == own and g.distance(point) < DISTANCE_TOLERANCE_M for g, key in regions)
    tolerance = answer["tolerance_m"]
    near = {key for g, key in regions if key != own and g.distance(point) <= tolerance}
    # another answer within the tolerance: ambiguous; none: not
    assert bool(near) is ambiguous
    assert answer["ambiguous"] is ambiguous
    shown = sorted(
        ((a["department"] or {}).get("code"), a["reason"]) for a in answer["alternatives"]
    )
    assert shown == sorted({shown_key(key) for key in near})
    if ambiguous:
        assert answer["alternatives"]
        strict = ask(api, x, y, tolerance_m=0)
        assert strict["ambiguous"] is False and strict["alternatives"] == []


def test_ambiguity_names_the_answer_across_the_border(api):
    edge = ask(api, 2.003, 1.0)  # 3 m east of the urban area: natural resources? no zone
    assert edge["status"] == "unassigned" and edge["reason"] == "no_zone"
    assert edge["ambiguous"] is True
    assert [a["department"]["name"] for a in edge["alternatives"] if a["department"]] == [
        "浑江区城市管理行政执法局"
    ]
    near = ask(api, 3.996, 2.5)
    across = ask(api, 4.004, 2.5)  # 江源区, no zone
    assert (near["reason"], across["reason"]) == ("no_rule", "no_zone")
    assert [(a["status"], a["reason"]) for a in near["alternatives"]] == [("unassigned", "no_zone")]


def test_input_crs_all_give_the_same_answer(api):
    lon, lat = city.lonlat(1.5, 2.5)
    gcj_lon, gcj_lat = chinese_datums.wgs84_to_gcj02(lon, lat)
    bd_lon, bd_lat = chinese_datums.wgs84_to_bd09(lon, lat)
    import pyproj

    x, y = pyproj.Transformer.from_crs(4490, 4530, always_xy=True).transform(lon, lat)
    answers = [
        httpx.get(f"{api}/api/v1/jurisdiction", params=p).json()
        for p in (
            {"lon": lon, "lat": lat},
            {"lon": lon, "lat": lat, "crs": "wgs84"},
            {"lon": gcj_lon, "lat": gcj_lat, "crs": "gcj02"},
            {"lon": bd_lon, "lat": bd_lat, "crs": "bd09"},
            {"lon": x, "lat": y, "crs": "EPSG:4530"},
        )
    ]
    assert {a["department"]["name"] for a in answers} == {"浑江区自然资源局"}
    assert max(abs(a["point"]["lon"] - lon) for a in answers) < 1e-6


@pytest.mark.parametrize(
    ("params", "message", "code", "chinese"),
    [
        ({"lon": "nan", "lat": 41.9}, "not numbers", "point.coordinates_missing", "缺失或不是数字"),
        ({"lon": 41.9, "lat": 126.4}, "swapped", "point.lonlat_swapped", "经度和纬度似乎写反了"),
        ({"lon": 200, "lat": 41.9}, "out of range", "point.out_of_range", "经度应在 ±180 以内"),
        (
            {"lon": 2.35, "lat": 48.85, "crs": "gcj02"},
            "outside China",
            "point.outside_china",
            "有 1 个 GCJ02 坐标点位于中国境外（第一个：2.35，48.85）",
        ),
        (
            {"lon": 126.4, "lat": 41.9, "crs": "mars"},
            "unknown coordinate system",
            "crs.unknown",
            "无法识别坐标系“mars”",
        ),
        ({"lon": 126.4}, "lat", None, None),
    ],
)
def test_bad_points_are_422_with_a_message(api, params, message, code, chinese):
    response = httpx.get(f"{api}/api/v1/jurisdiction", params=params)
    assert response.status_code == 422
    assert message in json.dumps(response.json(), ensure_ascii=False)
    if code:
        assert response.json()["code"] == code
        assert chinese in response.json()["message"]


def test_batch_csv_and_geojson_stream(api):
    spots = {"a": (0.3, 0.3), "b": (2.5, 2.5), "c": (9.0, 1.0), "d": (5.5, 0.5)}
    rows = ["id,lon,lat"] + [
        f"{k},{city.lonlat(*v)[0]},{city.lonlat(*v)[1]}" for k, v in spots.items()
    ]
    response = httpx.post(
        f"{api}/api/v1/jurisdiction/batch",
        params={"crs": "cgcs2000"},
        content="\n".join(rows),
        headers={"content-type": "text/csv"},
        timeout=120,  # a machine's first batch compiles the loops (their cache is empty)
    )
    assert response.status_code == 200, response.text
    table = list(csv.DictReader(io.StringIO(response.text)))
    by_id = {r["id"]: r for r in table}
    assert by_id["a"]["department_name"] == "浑江区城市管理行政执法局"
    assert by_id["a"]["compound_name"] == "江山花园"
    assert by_id["b"]["department_name"] == "浑江区自然资源局"
    assert by_id["c"]["reason"] == "outside_city" and by_id["d"]["reason"] == "no_zone"
    # the same answers as the single lookups
    for key, spot in spots.items():
        single = ask(api, *spot)
        assert by_id[key]["status"] == single["status"]
        distance = single["boundary_distance_m"]
        assert (by_id[key]["boundary_distance_m"] or None) == (
            None if distance is None else str(distance)
        )

    features = [
        {
            "type": "Feature",
            "id": k,
            "properties": {},
            "geometry": {"type": "Point", "coordinates": list(city.lonlat(*v))},
        }
        for k, v in spots.items()
    ]
    response = httpx.post(
        f"{api}/api/v1/jurisdiction/batch",
        params={"crs": "cgcs2000"},
        json={"type": "FeatureCollection", "features": features},
        headers={"content-type": "application/geo+json"},
    )
    assert response.status_code == 200
    collection = response.json()
    assert [f["id"] for f in collection["features"]] == list(spots)
    assert collection["features"][1]["properties"]["rule_name"].startswith("乡村建设用地")


@pytest.mark.parametrize(
    ("body", "content_type", "message", "code", "chinese"),
    [
        ("x,y\n1,2", "text/csv", "no id column", "batch.column_missing", "CSV 文件中没有 id 列"),
        (
            "id,lon,lat\na,abc,41",
            "text/csv",
            "not numbers",
            "batch.coordinate_invalid",
            "CSV 第 2 行：经度“abc”或纬度“41”不是数字（或为空）",
        ),
        ("id,lon,lat\na,41.9,126.4", "text/csv", "swapped", "point.lonlat_swapped", "写反了"),
        (
            '{"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": '
            '{"type": "LineString", "coordinates": [[1, 2], [3, 4]]}}]}',
            "application/geo+json",
            "not a Point",
            "batch.not_point",
            "第 1 个要素是 LineString，不是点（Point）",
        ),
        ("", "text/csv", "empty", None, None),
        ("id,lon,lat\n1,2,3", "application/xml", "Content-Type", None, None),
    ],
)
def test_batch_bad_input_is_4xx(api, body, content_type, message, code, chinese):
    response = httpx.post(
        f"{api}/api/v1/jurisdiction/batch", content=body, headers={"content-type": content_type}
    )
    assert 400 <= response.status_code < 500
    assert message in response.json()["detail"]
    if code:
        assert response.json()["code"] == code
        assert chinese in response.json()["message"]


def test_rules_change_is_a_new_version_that_lookups_name(api, admin_headers):
    rules = httpx.get(f"{api}/api/v1/jurisdiction/rules").json()
    assert rules["version"] == 1 and len(rules["rules"]) == 3
    new_rules = [{k: v for k, v in r.items() if k != "id"} for r in rules["rules"]]
    new_rules.append(
        {
            "priority": 25,
            "name": "农村宅基地由农业农村部门负责",
            "department_type": "agriculture_rural",
            "code_patterns": ["0702"],
        }
    )
    refused = httpx.post(
        f"{api}/api/v1/jurisdiction/rules", json={"rules": new_rules, "reason": "x"}
    )
    assert refused.status_code == 401  # rules are changed by an administrator only
    response = httpx.post(
        f"{api}/api/v1/jurisdiction/rules",
        headers=admin_headers,
        json={
            "rules": new_rules,
            "changed_by": "市城管局 王科长",
            "reason": "土地管理法第七十八条",
        },
    )
    assert response.status_code == 201, response.text
    assert response.json()["version"] == 2
    answer = ask(api, 2.5, 2.5)
    assert answer["department"]["name"] == "浑江区农业农村局"
    assert answer["rule"] == {
        "id": answer["rule"]["id"],
        "version": 2,
        "name": "农村宅基地由农业农村部门负责",
        "priority": 25,
    }
    versions = httpx.get(f"{api}/api/v1/jurisdiction/rules/versions").json()
    assert [(v["version"], v["active"], v["created_by"]) for v in versions] == [
        (1, False, "system"),
        (2, True, "市城管局 王科长"),
    ]
    bad = httpx.post(
        f"{api}/api/v1/jurisdiction/rules",
        headers=admin_headers,
        json={
            "rules": [
                {"priority": 1, "name": "x", "department_type": "police", "zone_kinds": ["forest"]}
            ],
            "changed_by": "a",
            "reason": "b",
        },
    )
    assert bad.status_code == 422 and "unknown department type" in bad.json()["detail"]
    assert bad.json()["code"] == "rules.department_type_unknown"
    assert bad.json()["message"].startswith("规则“x”：未知的责任部门类型“police”")
    missing = httpx.get(f"{api}/api/v1/jurisdiction/rules/versions/99")
    assert missing.status_code == 404
    assert missing.json()["code"] == "rules.version_not_found"
    assert missing.json()["message"] == "没有第 99 版管辖规则集，请核对版本号"
    assert missing.json()["detail"] == "no rule set version 99."


def test_transfer_endpoint(api):
    lon, lat = city.lonlat(1.5, 2.5)
    response = httpx.post(
        f"{api}/api/v1/jurisdiction/transfer",
        json={
            "current_department_code": "220602-urban_enforcement",
            "lon": lon,
            "lat": lat,
            "crs": "cgcs2000",
        },
    )
    body = response.json()
    assert body["must_transfer"] is True and body["to"]["name"] == "浑江区自然资源局"
    assert "乔木林地" in body["explanation"]


def test_new_layer_version_reaches_the_running_server(api, engine, tmp_path):
    """Activation NOTIFYs every process: the answer changes without a restart."""
    assert ask(api, 3.5, 3.5)["reason"] == "no_zone"
    from weijian.layers.importing import ZoneImport, import_zones

    shp = city.catalogue.write_shapefile(
        city.frame([{"MC": "扩展区", "geometry": city.box(3, 3, 4, 4)}]), tmp_path / "u2", "u2"
    )
    import_zones(
        engine, ZoneImport(path=shp, layer="urban_managed", kind="urban_managed", name_field="MC")
    )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        answer = ask(api, 3.5, 3.5)
        if answer["status"] == "assigned":
            break
        time.sleep(0.2)
    assert answer["department"]["name"] == "浑江区城市管理行政执法局"
    assert answer["layer_versions"]["urban_managed"] == 2


def test_cli_lookup_and_assign_print_the_same_answer(api, admin_headers, cli, tmp_path):
    lon, lat = city.lonlat(1.5, 2.5)
    result = cli("lookup", str(lon), str(lat), "--crs", "cgcs2000")
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    over_http = ask(api, 1.5, 2.5, headers=admin_headers)  # the operator sees it all
    for key in ("status", "department", "rule", "zones", "grid", "boundary_distance_m"):
        assert printed[key] == over_http[key]
    points = tmp_path / "points.csv"
    points.write_text(f"id,lon,lat\n1,{lon},{lat}\n")
    out_file = tmp_path / "answers.csv"
    result = cli("assign", str(points), str(out_file), "--crs", "cgcs2000", "--workers", "1")
    assert result.exit_code == 0, result.output
    row = next(csv.DictReader(io.StringIO(out_file.read_text(encoding="utf-8-sig"))))
    assert row["department_name"] == "浑江区自然资源局"


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/layers/landuse/versions/99999999999",
        "/api/v1/jurisdiction/rules/versions/99999999999",
        "/api/v1/jurisdiction?lon=126.4&lat=41.9&crs=EPSG:5773",
        "/api/v1/jurisdiction?lon=1e400&lat=41.9",
    ],
)
def test_odd_values_are_4xx_never_500(api, path):
    response = httpx.get(f"{api}{path}")
    assert 400 <= response.status_code < 500, response.text


def test_the_batch_routes_refusals_read_chinese_with_a_code(api):
    def batch(body: str, content_type: str) -> dict:
        response = httpx.post(
            f"{api}/api/v1/jurisdiction/batch",
            content=body,
            headers={"content-type": content_type},
        )
        assert response.status_code == 422, response.text
        return response.json()

    wrong = batch("id,lon,lat\n1,2,3", "application/xml")
    assert wrong["code"] == "batch.format_unsupported"
    assert wrong["message"].startswith("不支持的请求内容类型 Content-Type：application/xml")
    assert wrong["detail"] == "unsupported Content-Type application/xml."
    empty = batch("", "text/csv")
    assert empty["code"] == "batch.body_empty"
    assert empty["message"] == "请求内容为空，请以 CSV 或 GeoJSON 格式发送要查询的点位"
    assert empty["hint"] == "send points as CSV or GeoJSON"
    features = httpx.get(f"{api}/api/v1/layers/landuse/versions/1/features?bbox=2,2,1,1")
    assert features.status_code == 422 and features.json()["code"] == "list.bbox_invalid"


def test_cli_rules_and_departments_and_gpkg_assign(api, cli, tmp_path):
    added = cli(
        "rules",
        "add",
        "--name",
        "农村宅基地由农业农村部门负责",
        "--priority",
        "25",
        "--department-type",
        "agriculture_rural",
        "--code",
        "0702",
        "--by",
        "市城管局",
        "--reason",
        "土地管理法第七十八条",
    )
    assert added.exit_code == 0, added.output
    refused = cli(
        "rules",
        "add",
        "--name",
        "x",
        "--priority",
        "26",
        "--department-type",
        "police",
        "--kind",
        "forest",
        "--by",
        "a",
        "--reason",
        "b",
    )
    assert refused.exit_code == 2 and "unknown department type" in refused.output
    named = cli("departments", "set", "agriculture_rural", "220602", "白山市浑江区农业农村局")
    assert named.exit_code == 0, named.output
    versions = json.loads(cli("rules", "versions", "--json").stdout)
    assert [(v["version"], v["created_by"], v["reason"]) for v in versions][-1] == (
        2,
        "市城管局",
        "土地管理法第七十八条",
    )
    assert "土地管理法第七十八" in cli("rules", "versions").output

    lon, lat = city.lonlat(2.5, 2.5)  # homestead
    points = tmp_path / "points.geojson"
    points.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "id": "h1",
                        "properties": {},
                        "geometry": {"type": "Point", "coordinates": [lon, lat]},
                    }
                ],
            }
        )
    )
    out_file = tmp_path / "answers.gpkg"
    result = cli("assign", str(points), str(out_file), "--crs", "cgcs2000", "--workers", "1")
    assert result.exit_code == 0, result.output
    import pyogrio

    frame = pyogrio.read_dataframe(out_file)
    assert frame.loc[0, "department_name"] == "白山市浑江区农业农村局"
    assert frame.loc[0, "rule_version"] == 2 and frame.crs.to_epsg() == 4490
