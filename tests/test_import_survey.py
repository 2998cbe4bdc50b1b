"""A third national land survey (三调) file through the CLI and the API, into the real PostGIS:
the work classification's codes (05H1, 08H2A, 0810A, K codes …) become kinds, the settlement
code (城镇村属性码, CZCSXM) makes a village's construction land rural construction land, and
the jurisdiction look-up follows: natural resources in the village, not in the city."""

from __future__ import annotations

import json

import geopandas as gpd
import httpx
import pyproj
import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from tests import catalogue
from weijian.cli import app
from weijian.settings import get_settings

EPSG = catalogue.GK_PREFIXED  # CGCS2000 3° Gauss-Krüger with the zone number, as 三调 files are
SIDE = 200.0

#: (DLBM, DLMC, CZCSXM, the kind stored)
PARCELS = [
    ("0101", "水田", None, "farmland"),
    ("0201K", "可调整果园", None, "agricultural"),
    ("05H1", "商业服务业设施用地", "201", "construction"),
    ("08H1", "机关团体新闻出版用地", "202A", "construction"),
    ("08H2A", "高教用地", "201", "construction"),
    ("0810A", "广场用地", "203", "rural_construction"),
    ("1001", "铁路用地", None, "construction"),
    ("1207", "裸岩石砾地", None, "unused"),
    ("0702", "农村宅基地", "203", "homestead"),
    ("0601", "工业用地", "203A", "rural_construction"),
    ("0602", "采矿用地", "204", "construction"),
    ("0701", "城镇住宅用地", "201", "construction"),
    ("1004", "城镇村道路用地", "203", "rural_construction"),
]
HOMESTEAD = 8  # index of 0702 in a village (203)
CITY_HOUSING = 11  # index of 0701 in a city (201)
VILLAGE_ROAD = 12  # index of 1004 in a village (203)
SETTLEMENT_REPORT = {
    "field": "CZCSXM",
    "codes": {"201": 3, "202A": 1, "203": 3, "203A": 1, "204": 1},
    "empty": 4,
    "changed": 3,
}


def survey_frame(rows=PARCELS) -> gpd.GeoDataFrame:
    x0, y0 = catalogue.origin_in(EPSG)
    return gpd.GeoDataFrame(
        {
            "BSM": list(range(1, len(rows) + 1)),
            "DLBM": [r[0] for r in rows],
            "DLMC": [r[1] for r in rows],
            "CZCSXM": [r[2] for r in rows],
            "QSDWMC": ["红旗村民委员会"] * len(rows),
        },
        geometry=[catalogue.square(x0 + i * SIDE, y0, SIDE) for i in range(len(rows))],
        crs=f"EPSG:{EPSG}",
    )


def survey_shapefile(folder, rows=PARCELS):
    return catalogue.write_shapefile(survey_frame(rows), folder, "DLTB")


def centre(index: int) -> tuple[float, float]:
    """The CGCS2000 lon/lat of the middle of parcel ``index``."""
    x0, y0 = catalogue.origin_in(EPSG)
    to_lonlat = pyproj.Transformer.from_crs(EPSG, 4490, always_xy=True)
    return to_lonlat.transform(x0 + (index + 0.5) * SIDE, y0 + SIDE / 2)


def district_shapefile(folder):
    frame = catalogue.grid_squares(
        "district", ["220602"], ["浑江区"], epsg=EPSG, size=5000.0, x_offset=-1000, y_offset=-1000
    )
    return catalogue.write_shapefile(frame, folder, "XZQ")


def stored(engine, layer="landuse") -> list[dict]:
    with engine.connect() as conn:
        return [
            dict(r)
            for r in conn.execute(
                text(
                    "SELECT kind, code, name, attributes->>'CZCSXM' AS czcsxm FROM active_zone"
                    " WHERE layer = :layer ORDER BY (attributes->>'BSM')::int"
                ),
                {"layer": layer},
            ).mappings()
        ]


def active_version(engine, layer="landuse"):
    with engine.connect() as conn:
        return conn.execute(
            text(
                "SELECT v.number FROM layer l JOIN layer_version v ON v.id = l.active_version_id"
                " WHERE l.name = :n"
            ),
            {"n": layer},
        ).scalar()


@pytest.fixture
def cli(database_url, engine, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", database_url)
    get_settings.cache_clear()
    runner = CliRunner()

    def run(*args):
        return runner.invoke(app, [str(a) for a in args])

    yield run
    get_settings.cache_clear()


def import_survey(cli, path, *extra):
    return cli(
        "import",
        "zones",
        path,
        "--layer",
        "landuse",
        "--code-field",
        "DLBM",
        "--name-field",
        "DLMC",
        "--settlement-field",
        "CZCSXM",
        *extra,
    )


def test_cli_imports_a_survey_file_and_villages_go_to_natural_resources(cli, engine, tmp_path):
    district = cli(
        "import",
        "grids",
        district_shapefile(tmp_path / "xzq"),
        "--level",
        "district",
        "--code-field",
        "DM",
        "--name-field",
        "MC",
    )
    assert district.exit_code == 0, district.output
    shp = survey_shapefile(tmp_path / "dltb")

    dry = import_survey(cli, shp, "--dry-run", "--json")
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.stdout)["settlement"] == SETTLEMENT_REPORT
    assert active_version(engine) is None

    printed = import_survey(cli, shp)
    assert printed.exit_code == 0, printed.output
    assert "settlement (CZCSXM)" in printed.output
    assert "│ 3 changed kind; 4 without a code;" in printed.output

    result = import_survey(cli, shp, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["version"] == 2
    assert report["encoding"]["encoding"] == "gbk"
    assert report["source_crs"]["crs"].startswith("EPSG:4530")
    assert report["mapping"]["settlement_field"] == "CZCSXM"
    assert report["settlement"] == SETTLEMENT_REPORT
    assert report["kinds"] == {
        "agricultural": 1,
        "construction": 6,
        "farmland": 1,
        "homestead": 1,
        "rural_construction": 3,
        "unused": 1,
    }
    rows = stored(engine)
    assert [(r["code"], r["name"], r["kind"]) for r in rows] == [
        (code, name, kind) for code, name, _, kind in PARCELS
    ]
    assert rows[VILLAGE_ROAD]["czcsxm"] == "203"

    def lookup(index):
        lon, lat = centre(index)
        answer = cli("lookup", lon, lat, "--crs", "cgcs2000")
        assert answer.exit_code == 0, answer.output
        return json.loads(answer.stdout)

    village = lookup(VILLAGE_ROAD)
    assert village["status"] == "assigned"
    assert village["department"]["name"] == "浑江区自然资源局"
    assert (village["deciding_zone"]["kind"], village["deciding_zone"]["code"]) == (
        "rural_construction",
        "1004",
    )
    city = lookup(CITY_HOUSING)
    assert city["status"] == "unassigned" and city["reason"] == "no_rule"
    assert city["department"] is None
    assert [z["kind"] for z in city["zones"]] == ["construction"]
    homestead = lookup(HOMESTEAD)
    assert homestead["deciding_zone"]["kind"] == "homestead"
    assert homestead["department"]["type"] == "natural_resources"


def test_api_imports_a_zipped_survey_file(server, engine, tmp_path, admin_headers):
    from weijian.layers.importing import GridImport, import_grids

    import_grids(
        engine,
        GridImport(
            path=district_shapefile(tmp_path / "xzq"),
            level="district",
            code_field="DM",
            name_field="MC",
        ),
    )
    shp = survey_shapefile(tmp_path / "src")
    archive = catalogue.zip_gbk(
        catalogue.shapefile_parts(shp), tmp_path / "三调地类图斑.zip", folder_name="220602浑江区"
    )
    with archive.open("rb") as handle:
        response = httpx.post(
            f"{server}/api/v1/imports/zones",
            files={"file": (archive.name, handle)},
            data={
                "layer": "landuse",
                "code_field": "DLBM",
                "name_field": "DLMC",
                "settlement_field": "CZCSXM",
            },
            headers=admin_headers,
            timeout=60,
        )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["settlement"] == SETTLEMENT_REPORT
    assert body["mapping"]["settlement_field"] == "CZCSXM"
    assert [r["kind"] for r in stored(engine)] == [p[3] for p in PARCELS]

    refreshed = httpx.post(
        f"{server}/api/v1/jurisdiction/refresh", headers=admin_headers, timeout=30
    )
    assert refreshed.status_code == 200

    def lookup(index):
        lon, lat = centre(index)
        answer = httpx.get(
            f"{server}/api/v1/jurisdiction", params={"lon": lon, "lat": lat, "crs": "cgcs2000"}
        )
        assert answer.status_code == 200, answer.text
        return answer.json()

    village = lookup(VILLAGE_ROAD)
    assert village["department"]["type"] == "natural_resources"
    assert village["rule"]["name"].startswith("乡村建设用地")
    city = lookup(CITY_HOUSING)
    assert city["status"] == "unassigned" and city["department"] is None


def test_without_the_settlement_field_construction_land_stays_construction(engine, tmp_path):
    from weijian.layers.importing import ZoneImport, import_zones

    report = import_zones(
        engine,
        ZoneImport(path=survey_shapefile(tmp_path), layer="landuse", code_field="DLBM"),
    )
    assert "settlement" not in report and report["mapping"]["settlement_field"] is None
    assert report["kinds"]["construction"] == 9 and "rural_construction" not in report["kinds"]


def test_codes_in_no_classification_refused_and_the_active_version_kept(cli, engine, tmp_path):
    assert import_survey(cli, survey_shapefile(tmp_path / "good")).exit_code == 0
    before = stored(engine)

    bad_rows = list(PARCELS)
    bad_rows[1] = ("0999", "未知", None, "")
    bad_rows[2] = ("ABCD", "未知", "201", "")
    bad_rows[4] = ("0999", "未知", "201", "")
    bad_rows[7] = ("0103K", "旱地", None, "")
    result = import_survey(cli, survey_shapefile(tmp_path / "bad", bad_rows))
    assert result.exit_code == 2, result.output
    output = " ".join(result.output.split())  # as wrapped on the terminal, joined again
    assert "4 values that are not GB/T 21010" in output
    assert "'0999' ×2, '0103K' ×1, 'ABCD' ×1" in output
    assert "错误" in output and "hint:" in output
    assert active_version(engine) == 1
    assert stored(engine) == before


def test_unknown_settlement_codes_refused_over_the_api(server, engine, tmp_path, admin_headers):
    def upload(rows, folder):
        shp = survey_shapefile(tmp_path / folder, rows)
        archive = catalogue.zip_gbk(catalogue.shapefile_parts(shp), tmp_path / f"{folder}.zip")
        with archive.open("rb") as handle:
            return httpx.post(
                f"{server}/api/v1/imports/zones",
                files={"file": (archive.name, handle)},
                data={"layer": "landuse", "code_field": "DLBM", "settlement_field": "CZCSXM"},
                headers=admin_headers,
                timeout=60,
            )

    assert upload(PARCELS, "good").status_code == 201
    bad_rows = list(PARCELS)
    bad_rows[0] = ("0101", "水田", "206", "")
    bad_rows[3] = ("08H1", "机关团体新闻出版用地", "206", "")
    bad_rows[5] = ("0810A", "广场用地", "村庄", "")
    response = upload(bad_rows, "bad")
    assert response.status_code == 422, response.text
    body = response.json()
    assert "3 values that are not settlement codes" in body["detail"]
    assert "'206' ×2, '村庄' ×1" in body["detail"]
    assert "CZCSXM" in body["hint"]
    assert "“206” 2 个、“村庄” 1 个" in body["message"]
    assert body["code"] == "landuse.settlement_code_unknown"
    assert active_version(engine) == 1
    assert [r["kind"] for r in stored(engine)] == [p[3] for p in PARCELS]


def test_a_missing_settlement_field_is_named(cli, tmp_path):
    shp = catalogue.write_shapefile(
        survey_frame().drop(columns="CZCSXM"), tmp_path / "no-czcs", "DLTB"
    )
    result = import_survey(cli, shp)
    assert result.exit_code == 2
    assert "no field 'CZCSXM' (given as --settlement-field)" in result.output.replace("\n", " ")
