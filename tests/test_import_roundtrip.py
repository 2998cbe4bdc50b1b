"""Round trips of real files through the import core into the real PostGIS and back."""

from __future__ import annotations

import json

import numpy as np
import pyproj
import pytest
import shapely
from sqlalchemy import text

from tests import catalogue
from weijian.gis import crs as crs_mod
from weijian.layers.importing import GridImport, ZoneImport, import_grids, import_zones


def stored_zones(engine, layer: str) -> list[dict]:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT z.kind, z.code, z.name, z.attributes, z.area_m2,"
                " ST_AsBinary(z.geom) AS wkb,"
                " ST_SRID(z.geom) AS srid, GeometryType(z.geom) AS type, ST_IsValid(z.geom) AS ok"
                " FROM active_zone z WHERE z.layer = :layer ORDER BY (z.attributes->>'BSM')::int"
            ),
            {"layer": layer},
        ).mappings()
        return [dict(r) for r in rows]


@pytest.mark.parametrize(
    ("cpg", "language_byte", "expected_source", "expected_encoding"),
    [
        (True, None, "cpg", "gbk"),  # GBK with .cpg
        ("936", None, "cpg", "gbk"),  # ArcGIS writes the code page number
        (False, 0x00, "detected", "gb18030"),  # GBK, no .cpg, no language byte
        (False, 0x4D, "ldid", "gbk"),  # GBK announced by the DBF language byte
    ],
)
def test_gbk_dbf(engine, tmp_path, cpg, language_byte, expected_source, expected_encoding):
    shp = catalogue.write_shapefile(
        catalogue.parcels(),
        tmp_path,
        "landuse",
        encoding="GBK",
        cpg=cpg,
        language_byte=language_byte,
    )
    report = import_zones(
        engine, ZoneImport(path=shp, layer="landuse", code_field="DLBM", name_field="DLMC")
    )
    assert report["encoding"]["source"] == expected_source
    assert report["encoding"]["encoding"] == expected_encoding
    rows = stored_zones(engine, "landuse")
    assert [r["name"] for r in rows] == list(catalogue.parcels()["DLMC"])
    assert rows[0]["attributes"]["QSDWMC"] == "新华村村民委员会"
    assert [r["kind"] for r in rows] == [
        "farmland",
        "homestead",
        "forest",
        "construction",
        "agricultural",
        "farmland",
    ]


@pytest.mark.parametrize(("cpg", "expected_source"), [(True, "cpg"), (False, "detected")])
def test_utf8_dbf_not_mistaken_for_gbk(engine, tmp_path, cpg, expected_source):
    shp = catalogue.write_shapefile(
        catalogue.parcels(), tmp_path, "landuse", encoding="UTF-8", cpg=cpg, language_byte=0
    )
    report = import_zones(
        engine, ZoneImport(path=shp, layer="landuse", code_field="DLBM", name_field="DLMC")
    )
    assert report["encoding"] == {
        "encoding": "utf-8",
        "source": expected_source,
        "detail": report["encoding"]["detail"],
    }
    assert [r["name"] for r in stored_zones(engine, "landuse")][:2] == ["水田", "农村宅基地"]


def test_repairs_and_counts(engine, tmp_path):
    frame = catalogue.parcels()
    shp = catalogue.write_shapefile(frame, tmp_path, "landuse")
    report = import_zones(engine, ZoneImport(path=shp, layer="landuse", code_field="DLBM"))
    assert report["geometry"]["repaired"] == 1  # the bow-tie
    assert report["features"] == {"read": 6, "imported": 6}
    rows = stored_zones(engine, "landuse")
    assert all(r["ok"] and r["srid"] == 4490 and r["type"] == "MULTIPOLYGON" for r in rows)
    # the bow-tie became two triangles of 100 m² × 100 … its area is half the square
    areas = [r["area_m2"] for r in rows]
    assert areas[0] == pytest.approx(40_000, rel=1e-3)
    assert areas[1] == pytest.approx(40_000 - 10_000, rel=1e-3)  # the hole is kept
    assert areas[2] == pytest.approx(20_000, rel=1e-3)
    assert len(shapely.get_parts(shapely.from_wkb(rows[3]["wkb"]))) == 2  # multipart kept


def test_empty_and_z_geometries_counted(engine, tmp_path):
    frame = catalogue.parcels().iloc[:3].copy()
    x, y = catalogue.origin_in(catalogue.GK_PLAIN)
    frame.loc[1, "geometry"] = shapely.Polygon(
        [(x, y, 5), (x + 50, y, 5), (x + 50, y + 50, 6), (x, y, 5)]
    )
    frame.loc[2, "geometry"] = None
    shp = catalogue.write_shapefile(frame, tmp_path, "landuse")
    report = import_zones(engine, ZoneImport(path=shp, layer="landuse", code_field="DLBM"))
    assert report["geometry"]["dropped"]["null"] + report["geometry"]["dropped"]["empty"] == 1
    assert report["geometry"]["z_dropped"] == 2  # a PolygonZ file: every shape has Z
    assert report["features"] == {"read": 3, "imported": 2}


def test_zip_with_gbk_names_in_subfolder(engine, tmp_path):
    shp = catalogue.write_shapefile(catalogue.parcels(), tmp_path / "src", "土地利用现状")
    archive = catalogue.zip_gbk(
        catalogue.shapefile_parts(shp), tmp_path / "三调地类图斑.zip", folder_name="白山市三调"
    )
    report = import_zones(
        engine, ZoneImport(path=archive, layer="landuse", code_field="DLBM", name_field="DLMC")
    )
    assert report["source"] == "三调地类图斑.zip!白山市三调/土地利用现状.shp"
    assert report["features"]["imported"] == 6
    assert stored_zones(engine, "landuse")[1]["name"] == "农村宅基地"


@pytest.mark.parametrize(
    "epsg",
    [catalogue.GK_PLAIN, catalogue.GK_PREFIXED, 4490, 4502 + (123 - 75) // 6],
    ids=["gk3-cm126", "gk3-zone42", "cgcs2000-geographic", "gk6-cm123"],
)
def test_coordinates_back_within_a_centimetre(engine, tmp_path, epsg):
    frame = catalogue.parcels(epsg)
    shp = catalogue.write_shapefile(frame, tmp_path, "landuse")
    report = import_zones(engine, ZoneImport(path=shp, layer="landuse", code_field="DLBM"))
    assert report["source_crs"]["origin"] == "prj"
    assert report["source_crs"]["crs"].startswith(f"EPSG:{epsg} ")
    rows = stored_zones(engine, "landuse")
    source = crs_mod.SourceCRS(label="", origin="test", crs=pyproj.CRS.from_epsg(epsg))
    back = crs_mod.from_storage(np.array([shapely.from_wkb(r["wkb"]) for r in rows]), source)
    metric = pyproj.CRS.from_epsg(epsg).is_projected
    for original, returned in zip(frame.geometry[[0, 1, 4, 5]], back[[0, 1, 4, 5]], strict=True):
        # the same vertices (ring start and orientation may differ after storage)
        a = shapely.get_coordinates(original)
        b = shapely.get_coordinates(returned)
        assert a.shape == b.shape
        nearest = np.abs(a[:, None, :] - b[None, :, :]).max(axis=2).min(axis=1)
        assert nearest.max() < (0.01 if metric else 1e-7)  # 1 cm (1e-7° ≈ 1 cm)


def test_geopackage_and_geojson(engine, tmp_path):
    frame = catalogue.parcels()
    gpkg = tmp_path / "landuse.gpkg"
    frame.to_file(gpkg, layer="dltb", driver="GPKG")
    report = import_zones(engine, ZoneImport(path=gpkg, layer="landuse", code_field="DLBM"))
    assert report["format"] == "GPKG" and report["features"]["imported"] == 6
    assert report["source_crs"]["crs"].startswith("EPSG:4551")
    geojson = tmp_path / "urban.geojson"
    collection = json.loads(frame.to_crs(4326).to_json())
    collection.pop("crs", None)  # as RFC 7946 writers do
    geojson.write_text(json.dumps(collection, ensure_ascii=False), encoding="utf-8")
    report = import_zones(
        engine, ZoneImport(path=geojson, layer="urban", kind="urban_managed", name_field="DLMC")
    )
    assert report["format"] == "GeoJSON" and report["kinds"] == {"urban_managed": 6}
    assert any("RFC 7946" in note for note in report["notes"])


def test_guess_only_when_coordinates_leave_no_doubt(engine, tmp_path):
    prefixed = catalogue.write_shapefile(
        catalogue.parcels(catalogue.GK_PREFIXED), tmp_path / "a", "landuse", prj=False
    )
    report = import_zones(
        engine, ZoneImport(path=prefixed, layer="landuse", code_field="DLBM", dry_run=True)
    )
    assert report["source_crs"]["origin"] == "assumed"
    assert report["source_crs"]["crs"].startswith("EPSG:4530")
    assert any("zone prefix 42" in n for n in report["notes"])
    degrees = catalogue.write_shapefile(
        catalogue.parcels(4490), tmp_path / "b", "landuse", prj=False
    )
    report = import_zones(
        engine, ZoneImport(path=degrees, layer="landuse", code_field="DLBM", dry_run=True)
    )
    assert report["source_crs"]["crs"].startswith("EPSG:4490")
    assert any("gcj02" in n for n in report["notes"])


def test_dry_run_writes_nothing(engine, tmp_path):
    shp = catalogue.write_shapefile(catalogue.parcels(), tmp_path, "landuse")
    report = import_zones(
        engine, ZoneImport(path=shp, layer="landuse", code_field="DLBM", dry_run=True)
    )
    assert report["version"] is None and report["features"]["imported"] == 6
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM layer_version")).scalar() == 0
        assert conn.execute(text("SELECT count(*) FROM zone")).scalar() == 0


def test_third_party_gbk_without_cpg(engine, shared_data):
    """GeoTools' province polygon: GBK, no .cpg, language byte 0 — mojibake if read naively."""
    path = shared_data / "dbf_encoding" / "chinese_poly.shp"
    report = import_zones(
        engine,
        ZoneImport(path=path, layer="province", kind="forest", code_field=None, name_field="NAME"),
    )
    assert report["encoding"]["source"] == "detected"
    assert report["encoding"]["encoding"] == "gb18030"
    rows = stored_zones_any(engine, "province")
    assert rows[0]["name"] == "黑龙江省"
    assert str(rows[0]["attributes"]["ADCODE99"]) == "230000"


def stored_zones_any(engine, layer):
    with engine.connect() as conn:
        return [
            dict(r)
            for r in conn.execute(
                text("SELECT name, attributes FROM active_zone WHERE layer = :l"), {"l": layer}
            ).mappings()
        ]


def test_baishan_districts_in_gcj02(engine, shared_data):
    path = shared_data / "baishan_districts" / "baishan_districts_gcj02.geojson"
    report = import_grids(
        engine,
        GridImport(
            path=path, level="district", code_field="adcode", name_field="name", crs="gcj02"
        ),
    )
    assert report["features"]["imported"] == 6
    assert report["source_crs"]["crs"].startswith("GCJ-02")
    with engine.connect() as conn:
        rows = (
            conn.execute(
                text(
                    "SELECT code, name, ST_Area(ST_Transform(geom, 4551)) / 1e6 AS km2, "
                    "ST_AsBinary(ST_Centroid(geom)) AS c FROM active_grid ORDER BY code"
                )
            )
            .mappings()
            .all()
        )
    assert [r["code"] for r in rows] == ["220602", "220605", "220621", "220622", "220623", "220681"]
    assert rows[0]["name"] == "浑江区"
    assert sum(r["km2"] for r in rows) == pytest.approx(17_425, rel=0.01)
    # the GCJ-02 offset was removed: ~560 m between the naive and the converted positions
    naive = import_grids(
        engine,
        GridImport(
            path=path, level="district", code_field="adcode", name_field="name", dry_run=True
        ),
    )
    assert any("DataV" in note and "--crs gcj02" in note for note in naive["notes"])
    assert naive["bbox"] != report["bbox"]
    shift = pyproj.Geod(ellps="GRS80").inv(
        naive["bbox"][0], naive["bbox"][1], report["bbox"][0], report["bbox"][1]
    )[2]
    assert 400 < shift < 700


def test_requests_are_built_from_named_fields(tmp_path):
    """One constructor for the command line's options, the upload form and the samples'
    manifest: fields by name, other names left out, blank optional fields not given, the
    keywords over the mapping."""
    shp = tmp_path / "urban.shp"
    fields = {
        "family": "zones",  # a manifest's, not a request's
        "path": "urban.shp",
        "layer": "urban",
        "kind": "urban_managed",
        "code_field": "",
        "name_field": "MC",
        "dry_run": False,
        "as_json": True,  # a command's, not a request's
    }
    assert ZoneImport.from_fields(fields, path=shp, created_by="api") == ZoneImport(
        path=shp, layer="urban", kind="urban_managed", name_field="MC", created_by="api"
    )
    grid = GridImport.from_fields(
        {"level": "town", "code_field": "DM", "name_field": "MC", "parent_field": ""}, path=shp
    )
    assert grid == GridImport(path=shp, level="town", code_field="DM", name_field="MC")
    with pytest.raises(TypeError):  # a required field missing
        GridImport.from_fields({"level": "town", "code_field": "DM"}, path=shp)
