"""Bad input: a clear message, a non-zero exit (CLI) or a 4xx (API), and the active version
untouched."""

from __future__ import annotations

import shutil

import httpx
import pytest
from sqlalchemy import text

from tests import catalogue


@pytest.fixture
def good_shapefile(tmp_path):
    return catalogue.write_shapefile(catalogue.parcels(), tmp_path / "good", "landuse")


def active_version(engine, layer="landuse"):
    with engine.connect() as conn:
        return conn.execute(
            text(
                "SELECT v.number FROM layer l JOIN layer_version v ON v.id = l.active_version_id"
                " WHERE l.name = :n"
            ),
            {"n": layer},
        ).scalar()


def zone_count(engine):
    with engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM active_zone")).scalar()


def _no_prj(tmp_path):
    # 6-digit Gauss-Krüger eastings say nothing of their zone
    return catalogue.write_shapefile(catalogue.parcels(), tmp_path / "bad", "landuse", prj=False)


def _no_dbf(tmp_path):
    shp = catalogue.write_shapefile(catalogue.parcels(), tmp_path / "bad", "landuse")
    (tmp_path / "bad" / "landuse.dbf").unlink()
    return shp


def _points(tmp_path):
    import geopandas as gpd

    frame = catalogue.parcels()
    points = gpd.GeoDataFrame(
        frame.drop(columns="geometry"), geometry=frame.geometry.centroid, crs=frame.crs
    )
    return catalogue.write_shapefile(points, tmp_path / "bad", "landuse")


def _empty_file(tmp_path):
    path = tmp_path / "bad" / "landuse.geojson"
    path.parent.mkdir()
    path.write_bytes(b"")
    return path


def _empty_collection(tmp_path):
    path = tmp_path / "bad" / "landuse.geojson"
    path.parent.mkdir()
    path.write_text('{"type": "FeatureCollection", "features": []}')
    return path


def _corrupt_zip(tmp_path):
    shp = catalogue.write_shapefile(catalogue.parcels(), tmp_path / "src", "landuse")
    archive = catalogue.zip_gbk(catalogue.shapefile_parts(shp), tmp_path / "landuse.zip")
    data = archive.read_bytes()
    archive.write_bytes(data[: len(data) // 2])
    return archive


def _gbk_as_utf8(tmp_path):
    return catalogue.write_shapefile(catalogue.parcels(), tmp_path / "bad", "landuse", cpg="UTF-8")


BAD_INPUTS = {
    "no-prj-no-crs": (_no_prj, [], "no .prj and no --crs"),
    "shp-without-dbf": (_no_dbf, [], "has no landuse.dbf"),
    "point-layer": (_points, [], "6 Point and 0 polygons"),
    "empty-file": (_empty_file, [], "is empty (0 bytes)"),
    "no-features": (_empty_collection, [], "holds no features"),
    "corrupt-zip": (_corrupt_zip, [], "not a readable zip"),
    "unknown-field": (
        lambda p: catalogue.write_shapefile(catalogue.parcels(), p / "bad", "landuse"),
        ["--name-field", "MINGCHENG"],
        "no field 'MINGCHENG'",
    ),
    "encoding-fails": (_gbk_as_utf8, [], "not valid utf-8"),
    "wrong-encoding-option": (
        lambda p: catalogue.write_shapefile(catalogue.parcels(), p / "bad", "landuse", cpg=False),
        ["--encoding", "utf-8"],
        "not valid utf-8",
    ),
    "not-land-use-codes": (
        lambda p: catalogue.write_shapefile(catalogue.parcels(), p / "bad", "landuse"),
        ["--code-field", "QSDWMC"],
        "not GB/T 21010",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_cli_refuses_and_keeps_the_active_version(cli, engine, tmp_path, good_shapefile, case):
    first = cli("import", "zones", good_shapefile, "--layer", "landuse", "--code-field", "DLBM")
    assert first.exit_code == 0, first.output
    assert active_version(engine) == 1

    make, extra, message = BAD_INPUTS[case]
    bad = make(tmp_path)
    args = ["import", "zones", bad, "--layer", "landuse"]
    if "--code-field" not in extra:
        args += ["--code-field", "DLBM"]
    result = cli(*args, *extra)
    assert result.exit_code != 0
    assert message in result.output.replace("\n", " "), result.output
    assert "hint:" in result.output or "error:" in result.output
    assert active_version(engine) == 1
    assert zone_count(engine) == 6


def test_cli_point_file_of_third_party_data_refused(cli, shared_data):
    """mapshaper's one-point file with an out-of-range coordinate: refused, clearly."""
    result = cli(
        "import",
        "zones",
        shared_data / "dbf_encoding" / "ldid_chinese.shp",
        "--layer",
        "x",
        "--kind",
        "forest",
    )
    assert result.exit_code == 2
    assert "1 Point and 0 polygons" in result.output


def test_cli_kind_and_code_field_exclusive(cli, good_shapefile):
    result = cli("import", "zones", good_shapefile, "--layer", "landuse")
    assert result.exit_code == 2 and "exactly one of --kind" in result.output
    assert "须且只须给出其中一个" in result.output


def test_versions_two_imports_then_a_failing_third(
    cli, engine, tmp_path, good_shapefile, server, admin_headers
):
    assert (
        cli(
            "import", "zones", good_shapefile, "--layer", "landuse", "--code-field", "DLBM"
        ).exit_code
        == 0
    )
    smaller = catalogue.write_shapefile(catalogue.parcels().iloc[:4], tmp_path / "v2", "landuse")
    assert (
        cli("import", "zones", smaller, "--layer", "landuse", "--code-field", "DLBM").exit_code == 0
    )
    assert active_version(engine) == 2 and zone_count(engine) == 4

    bad = _points(tmp_path / "v3")
    assert cli("import", "zones", bad, "--layer", "landuse", "--code-field", "DLBM").exit_code
    assert active_version(engine) == 2 and zone_count(engine) == 4

    versions = httpx.get(f"{server}/api/v1/layers/landuse/versions").json()
    assert [(v["number"], v["active"], v["feature_count"]) for v in versions] == [
        (1, False, 6),
        (2, True, 4),
    ]
    # the raw attributes are for staff (tests/test_personal_data.py)
    old = httpx.get(
        f"{server}/api/v1/layers/landuse/versions/1/features", headers=admin_headers
    ).json()
    assert old["version"] == 1 and len(old["features"]) == 6
    assert old["features"][1]["properties"]["name"] is None  # no --name-field given
    assert old["features"][1]["properties"]["attributes"]["DLMC"] == "农村宅基地"
    detail = httpx.get(f"{server}/api/v1/layers/landuse/versions/1").json()
    assert detail["report"]["features"]["imported"] == 6
    assert detail["report"]["encoding"]["encoding"] == "gbk"

    # roll back to version 1, through the CLI
    assert cli("layers", "activate", "landuse", "1").exit_code == 0
    assert active_version(engine) == 1 and zone_count(engine) == 6


def _upload(server, path, headers, **fields):
    with open(path, "rb") as handle:
        return httpx.post(
            f"{server}/api/v1/imports/zones",
            files={"file": (path.name, handle)},
            data=fields,
            headers=headers,
            timeout=60,
        )


def test_api_upload_zip(server, engine, tmp_path, admin_headers):
    shp = catalogue.write_shapefile(catalogue.parcels(), tmp_path / "src", "地类图斑")
    archive = catalogue.zip_gbk(
        catalogue.shapefile_parts(shp), tmp_path / "地类图斑.zip", folder_name="三调"
    )
    response = _upload(
        server, archive, admin_headers, layer="landuse", code_field="DLBM", name_field="DLMC"
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["version"] == 1 and body["features"]["imported"] == 6
    assert body["source"] == "地类图斑.zip"
    layers = httpx.get(f"{server}/api/v1/layers").json()
    assert layers[0]["name"] == "landuse" and layers[0]["active_version"] == 1
    health = httpx.get(f"{server}/api/v1/health").json()
    assert health["status"] == "ok" and health["layers"] == 1


API_REFUSALS = {
    "corrupt-zip": ("import.zip_unreadable", "不是可读取的 zip 压缩包"),
    "point-layer": ("import.not_polygons", "中有 6 个点（Point）和 0 个面"),
    "unknown-field": ("import.field_not_found", "中没有字段“NO_SUCH”（由 --name-field 指定）"),
    "bare-shp": (None, None),  # refused by the upload route before any file is read
}


@pytest.mark.parametrize("case", sorted(API_REFUSALS))
def test_api_refuses_with_4xx(server, engine, tmp_path, good_shapefile, case, admin_headers):
    archive = catalogue.zip_gbk(catalogue.shapefile_parts(good_shapefile), tmp_path / "ok.zip")
    # only an administrator imports
    assert _upload(server, archive, {}, layer="landuse", code_field="DLBM").status_code == 401
    assert (
        _upload(server, archive, admin_headers, layer="landuse", code_field="DLBM").status_code
        == 201
    )
    fields = {"layer": "landuse", "code_field": "DLBM"}
    if case == "corrupt-zip":
        upload = _corrupt_zip(tmp_path / "c")
    elif case == "point-layer":
        shp = _points(tmp_path / "p")
        upload = catalogue.zip_gbk(catalogue.shapefile_parts(shp), tmp_path / "points.zip")
    elif case == "unknown-field":
        upload = archive
        fields["name_field"] = "NO_SUCH"
    else:
        upload = tmp_path / "landuse.shp"
        shutil.copy(good_shapefile, upload)
    response = _upload(server, upload, admin_headers, **fields)
    assert 400 <= response.status_code < 500, response.text
    body = response.json()
    assert body["detail"]
    code, message = API_REFUSALS[case]
    if code:
        assert body["code"] == code and message in body["message"], body
    assert active_version(engine) == 1 and zone_count(engine) == 6


def test_api_unknown_layer_and_version_are_404(server, engine):
    missing = httpx.get(f"{server}/api/v1/layers/nope/versions")
    assert missing.status_code == 404
    assert missing.json()["code"] == "layer.not_found"
    assert missing.json()["message"].startswith("没有图层“nope”，请核对图层名")
    assert missing.json()["detail"] == "no layer 'nope'."
    assert httpx.get(f"{server}/api/v1/layers/nope/versions/3").status_code == 404
    bad_bbox = httpx.get(f"{server}/api/v1/layers/nope/versions/1/features?bbox=1,2")
    assert bad_bbox.status_code == 422


def test_api_docs_are_served_without_a_cdn(server):
    import re

    page = httpx.get(f"{server}/docs")
    assert page.status_code == 200
    urls = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page.text)
    assert urls and all(u.startswith("/") for u in urls), urls
    for url in urls:
        assert httpx.get(f"{server}{url}").status_code == 200, url
    # the schema is made on its first request: seconds on a busy machine
    spec = httpx.get(f"{server}/openapi.json", timeout=60).json()
    assert spec["paths"]["/api/v1/jurisdiction"]
    home = httpx.get(f"{server}/lookup")
    assert home.status_code == 200 and "违法建设长效管控平台" in home.text
    assert "/api/v1/receipts/{回执码}" in home.text and "/open311/v2/services.json" in home.text
    assert "http://" not in home.text and "https://" not in home.text


def test_grids_from_the_cli_options_and_the_upload_form(
    cli, engine, server, admin_headers, tmp_path
):
    """Both build the request from their fields by name; a blank optional form field counts as
    not given (no parent field: the parent is found spatially; no phone field: no phones)."""
    district = catalogue.grid_squares("district", ["220602"], ["浑江区"], size=4000)
    shp = catalogue.write_shapefile(district, tmp_path / "district", "district")
    result = cli(
        "import", "grids", shp, "--level", "district", "--code-field", "DM",
        "--name-field", "MC", "--responsible-field", "FZR", "--phone-field", "LXDH",
    )  # fmt: skip
    assert result.exit_code == 0, result.output

    town = catalogue.grid_squares("town", ["220602001"], ["新建街道"], size=1000)
    shp = catalogue.write_shapefile(town, tmp_path / "town", "town")
    archive = catalogue.zip_gbk(catalogue.shapefile_parts(shp), tmp_path / "town.zip")
    with open(archive, "rb") as handle:
        response = httpx.post(
            f"{server}/api/v1/imports/grids",
            files={"file": ("town.zip", handle)},
            data={
                "level": "town", "code_field": "DM", "name_field": "MC", "parent_field": "",
                "responsible_field": "FZR", "phone_field": "", "crs": "", "encoding": "",
            },
            headers=admin_headers,
            timeout=60,
        )  # fmt: skip
    assert response.status_code == 201, response.text
    assert response.json()["parents"]["derived_spatially"] == 1

    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT g.level, g.parent_code, g.responsible, v.created_by FROM grid g "
                "JOIN layer_version v ON v.id = g.version_id ORDER BY g.code"
            )
        ).all()
    assert [(r.level, r.parent_code, r.created_by) for r in rows] == [
        ("district", None, "cli"),
        ("town", "220602", "root"),  # the administrator who uploaded it
    ]
    assert rows[0].responsible == [
        {"name": "张伟", "phone": "13904391234"},
        {"name": "李娜", "phone": "13904395678"},
    ]
    assert [person["name"] for person in rows[1].responsible] == ["张伟", "李娜"]
    assert all(not person.get("phone") for person in rows[1].responsible)
