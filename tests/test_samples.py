"""The sample-city generator: files exactly as a city hands them over, and sound geometry.

Pure tests: no database. The small city is generated once per module into a temp folder."""

from __future__ import annotations

import csv
import hashlib
import json
import re
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import shapely

from weijian import samples
from weijian.settings import get_settings

SHARED_DATA = Path(get_settings().shared_data_dir)
#: ``sha256sum`` listings of the small city's files (default seed), recorded in the repository
RECORDED_HASHES = Path(__file__).parent / "data"
SHARED_DISTRICTS = SHARED_DATA / samples.SHARED_DISTRICTS_FILE
DISTRICT_NAMES = {
    "220602": "浑江区",
    "220605": "江源区",
    "220621": "抚松县",
    "220622": "靖宇县",
    "220623": "长白朝鲜族自治县",
    "220681": "临江市",
}
SHAPEFILE_PATHS = (
    samples.PATH_DISTRICT,
    samples.PATH_TOWN,
    samples.PATH_URBAN,
    samples.PATH_PLANNED,
    samples.PATH_LANDUSE,
)


@pytest.fixture(scope="module")
def manifest(sample_dir: Path) -> dict:
    return json.loads((sample_dir / "manifest.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def districts(sample_dir: Path) -> gpd.GeoDataFrame:
    return pyogrio.read_dataframe(sample_dir / samples.PATH_DISTRICT)


@pytest.fixture(scope="module")
def towns(sample_dir: Path) -> gpd.GeoDataFrame:
    return pyogrio.read_dataframe(sample_dir / samples.PATH_TOWN, encoding="GBK")


@pytest.fixture(scope="module")
def community_dir(sample_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("community")
    with zipfile.ZipFile(sample_dir / samples.PATH_COMMUNITY, metadata_encoding="gbk") as zf:
        zf.extractall(target)
    return target / "社区网格"


@pytest.fixture(scope="module")
def communities(community_dir: Path) -> gpd.GeoDataFrame:
    return pyogrio.read_dataframe(community_dir / "社区网格.shp")


@pytest.fixture(scope="module")
def compounds(sample_dir: Path) -> gpd.GeoDataFrame:
    return pyogrio.read_dataframe(sample_dir / samples.PATH_COMPOUND, layer="compound")


@pytest.fixture(scope="module")
def landuse(sample_dir: Path) -> gpd.GeoDataFrame:
    return pyogrio.read_dataframe(sample_dir / samples.PATH_LANDUSE)


def _overlap_area(frame: gpd.GeoDataFrame) -> float:
    """Total area where two polygons of ``frame`` overlap."""
    geometries = frame.geometry.values
    left, right = shapely.STRtree(geometries).query(geometries, predicate="intersects")
    pairs = left < right
    return float(
        shapely.area(shapely.intersection(geometries[left[pairs]], geometries[right[pairs]])).sum()
    )


# -- files and formats ---------------------------------------------------------------------------


def test_every_file_is_written(sample_dir: Path, manifest: dict) -> None:
    for path in SHAPEFILE_PATHS:
        for suffix in (".shp", ".shx", ".dbf", ".prj"):
            assert (sample_dir / path).with_suffix(suffix).is_file(), path
    for path in (samples.PATH_COMMUNITY, samples.PATH_COMPOUND, samples.PATH_CASES):
        assert (sample_dir / path).is_file(), path
    assert set(manifest["counts"]) == {
        *SHAPEFILE_PATHS,
        samples.PATH_COMMUNITY,
        samples.PATH_COMPOUND,
        samples.PATH_CASES,
    }
    total = sum(f.stat().st_size for f in sample_dir.rglob("*") if f.is_file())
    assert total < 5_000_000


def test_manifest_lists_the_imports_in_load_order(manifest: dict) -> None:
    assert manifest["scale"] == "small"
    assert manifest["seed"] == samples.DEFAULT_SEED
    assert manifest["districts_source"] == "shared-data"
    imports = manifest["imports"]
    assert imports[0] == {
        "family": "grids",
        "path": "grid_district/district.shp",
        "level": "district",
        "code_field": "XZQDM",
        "name_field": "XZQMC",
        "parent_field": None,
        "responsible_field": "FZR",
        "phone_field": "LXDH",
    }
    assert [(i["family"], i.get("level") or i["layer"]) for i in imports] == [
        ("grids", "district"),
        ("grids", "town"),
        ("grids", "community"),
        ("grids", "compound"),
        ("zones", "urban_managed"),
        ("zones", "town_planned"),
        ("zones", "landuse"),
    ]
    assert [i["path"] for i in imports] == [
        "grid_district/district.shp",
        "grid_town/town.shp",
        "社区网格.zip",
        "grid_compound.gpkg",
        "zones/urban_managed.shp",
        "zones/town_planned.shp",
        "landuse/landuse.shp",
    ]
    assert [i.get("parent_field") for i in imports[:4]] == [None, "SJDM", None, "SQDM"]
    assert imports[4] == {
        "family": "zones",
        "path": "zones/urban_managed.shp",
        "layer": "urban_managed",
        "title": "城市化管理区域",
        "kind": "urban_managed",
        "code_field": None,
        "name_field": "QYMC",
    }
    assert imports[6] == {
        "family": "zones",
        "path": "landuse/landuse.shp",
        "layer": "landuse",
        "title": "土地利用现状（三调）",
        "kind": None,
        "code_field": "DLBM",
        "name_field": "DLMC",
    }


def test_district_shapefile_is_gbk_with_cpg(sample_dir: Path, districts: gpd.GeoDataFrame) -> None:
    path = sample_dir / samples.PATH_DISTRICT
    assert path.with_suffix(".cpg").read_bytes() == b"GBK"
    assert "CGCS2000_3_Degree_GK_CM_126E" in path.with_suffix(".prj").read_text()
    assert districts.crs.to_epsg() == 4551
    assert list(districts.columns) == ["XZQDM", "XZQMC", "FZR", "LXDH", "geometry"]
    assert dict(zip(districts["XZQDM"], districts["XZQMC"], strict=True)) == DISTRICT_NAMES
    dbf = path.with_suffix(".dbf").read_bytes()
    assert "浑江区".encode("gbk") in dbf
    assert "浑江区".encode() not in dbf
    assert dbf[1:4] == bytes([2026 - 1900, 1, 1])  # a fixed date, not the day of generation
    assert all(re.fullmatch(r"1[358]\d{9}", phone) for phone in districts["LXDH"])
    assert all(2 <= len(name) <= 3 for name in districts["FZR"])


def test_town_shapefile_has_no_cpg_and_no_language_byte(
    sample_dir: Path, towns: gpd.GeoDataFrame
) -> None:
    path = sample_dir / samples.PATH_TOWN
    assert not path.with_suffix(".cpg").exists()
    assert path.with_suffix(".dbf").read_bytes()[29] == 0x00
    assert towns.crs.to_epsg() == 4530
    minx, _, maxx, _ = towns.total_bounds
    assert 42_000_000 < minx < maxx < 43_000_000  # zone-prefixed eastings
    assert list(towns.columns) == ["JDDM", "JDMC", "SJDM", "FZR", "LXDH", "geometry"]
    assert all(name.endswith(("街道", "镇")) for name in towns["JDMC"])
    assert (towns["JDDM"].str[:6] == towns["SJDM"]).all()
    assert set(towns["SJDM"]) == set(DISTRICT_NAMES)
    for _, group in towns.groupby("SJDM"):
        assert group["JDMC"].is_unique


def test_community_zip_has_gbk_member_names(
    sample_dir: Path, community_dir: Path, communities: gpd.GeoDataFrame
) -> None:
    with zipfile.ZipFile(sample_dir / samples.PATH_COMMUNITY) as zf:
        infos = zf.infolist()
    assert all(info.flag_bits & 0x800 == 0 for info in infos)
    names = [info.filename.encode("cp437").decode("gbk") for info in infos]
    assert "社区网格/社区网格.shp" in names
    assert {n.rsplit(".", 1)[-1] for n in names if "." in n} == {"shp", "shx", "dbf", "prj", "cpg"}
    assert (community_dir / "社区网格.cpg").read_bytes() == b"936"
    assert communities.crs.to_epsg() == 4551
    assert list(communities.columns) == ["SQDM", "SQMC", "FZR", "LXDH", "geometry"]
    assert all(name.endswith(("社区", "村")) for name in communities["SQMC"])
    assert communities["SQDM"].is_unique


def test_compound_geopackage(sample_dir: Path, compounds: gpd.GeoDataFrame) -> None:
    assert pyogrio.list_layers(sample_dir / samples.PATH_COMPOUND)[:, 0].tolist() == ["compound"]
    assert compounds.crs.to_epsg() == 4551
    assert list(compounds.columns) == ["XQDM", "XQMC", "SQDM", "WYGS", "FZR", "LXDH", "geometry"]
    assert compounds["XQDM"].is_unique and compounds["XQMC"].is_unique
    assert (compounds["XQDM"].str[:12] == compounds["SQDM"]).all()
    assert compounds["WYGS"].str.contains("物业|社区代管").all()
    assert shapely.is_valid(compounds.geometry.values).all()
    side = np.sqrt(compounds.area)
    assert side.min() > 90 and side.max() < 300


def test_zone_shapefiles(sample_dir: Path, districts: gpd.GeoDataFrame) -> None:
    urban = pyogrio.read_dataframe(sample_dir / samples.PATH_URBAN)
    planned = pyogrio.read_dataframe(sample_dir / samples.PATH_PLANNED)
    for path, frame in ((samples.PATH_URBAN, urban), (samples.PATH_PLANNED, planned)):
        assert (sample_dir / path).with_suffix(".cpg").read_bytes() == b"GBK"
        assert frame.crs.to_epsg() == 4551
        assert list(frame.columns) == ["QYDM", "QYMC", "geometry"]
    assert "浑江区城市化管理区域" in set(urban["QYMC"])
    assert planned["QYMC"].str.endswith("总体规划建设用地").all()
    assert len(urban) == 6 and len(planned) >= 6
    overlap = shapely.intersection(
        shapely.union_all(urban.geometry.values), shapely.union_all(planned.geometry.values)
    )
    assert overlap.area < 1.0
    city = shapely.union_all(districts.geometry.values)
    assert shapely.difference(shapely.union_all(urban.geometry.values), city).area < 1.0


# -- geometry ------------------------------------------------------------------------------------


def test_towns_tile_their_districts(districts: gpd.GeoDataFrame, towns: gpd.GeoDataFrame) -> None:
    towns = towns.to_crs(4551)
    district_area = districts.set_index("XZQDM").area
    town_area = towns.groupby("SJDM").apply(lambda g: g.area.sum(), include_groups=False)
    relative = (town_area / district_area - 1.0).abs()
    assert (relative < 0.001).all(), relative
    assert _overlap_area(towns) < 1e-6 * district_area.sum()


def test_communities_tile_their_towns(
    towns: gpd.GeoDataFrame, communities: gpd.GeoDataFrame
) -> None:
    towns = towns.to_crs(4551)
    town_area = towns.set_index("JDDM").area
    community_area = communities.groupby(communities["SQDM"].str[:9]).apply(
        lambda g: g.area.sum(), include_groups=False
    )
    relative = (community_area / town_area - 1.0).abs()
    assert (relative < 0.001).all(), relative
    assert _overlap_area(communities) < 1e-6 * town_area.sum()
    # villages in towns, communities in streets
    kind = towns.set_index("JDDM")["JDMC"].str.endswith("镇")
    is_village = communities["SQMC"].str.endswith("村")
    assert (is_village.to_numpy() == kind.loc[communities["SQDM"].str[:9]].to_numpy()).all()


def test_each_compound_lies_in_its_community(
    compounds: gpd.GeoDataFrame, communities: gpd.GeoDataFrame
) -> None:
    community = communities.set_index("SQDM").geometry.loc[compounds["SQDM"]].to_numpy()
    assert shapely.within(compounds.geometry.to_numpy(), community).all()
    assert _overlap_area(compounds) < 1.0


def test_counts_near_the_targets(manifest: dict, landuse: gpd.GeoDataFrame) -> None:
    counts = manifest["counts"]
    assert counts[samples.PATH_DISTRICT] == 6
    assert 16 <= counts[samples.PATH_TOWN] <= 26
    assert 65 <= counts[samples.PATH_COMMUNITY] <= 100
    assert counts[samples.PATH_COMPOUND] == 400
    assert 4_500 <= counts[samples.PATH_LANDUSE] <= 5_600
    assert 200 <= counts[samples.PATH_CASES] <= 600
    assert counts[samples.PATH_LANDUSE] == len(landuse)


def test_landuse_parcels(landuse: gpd.GeoDataFrame) -> None:
    assert landuse.crs.to_epsg() == 4551
    assert list(landuse.columns) == ["BSM", "DLBM", "DLMC", "QSDWMC", "TBMJ", "geometry"]
    assert landuse["BSM"].is_unique
    assert (landuse["DLMC"] == landuse["DLBM"].map(samples.LAND_USE_NAMES)).all()
    assert {"0701", "0702", "0103", "0301", "1003", "1101", "1006"} <= set(landuse["DLBM"])
    geometries = landuse.geometry.to_numpy()
    valid = shapely.is_valid(geometries)
    reasons = [shapely.is_valid_reason(g) for g in geometries[~valid]]
    assert 3 <= len(reasons) <= 5
    assert any(r.startswith("Self-intersection") for r in reasons)  # bow-tie
    assert any(r.startswith("Ring Self-intersection") for r in reasons)  # self-touching ring
    assert (shapely.get_num_interior_rings(geometries) > 0).sum() >= 2
    repaired = shapely.make_valid(geometries)
    assert np.allclose(shapely.area(repaired), landuse["TBMJ"], atol=0.01)
    # parcels share their edges: no overlaps, and the union is as large as the parts
    assert _overlap_area(landuse[valid]) < 1.0
    union = shapely.coverage_union_all(geometries[valid])
    assert abs(union.area - shapely.area(geometries[valid]).sum()) < 1.0


def test_cases_csv(sample_dir: Path, manifest: dict) -> None:
    with open(sample_dir / samples.PATH_CASES, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == [
        "id",
        "lon",
        "lat",
        "address",
        "description",
        "source",
        "stage",
        "discovered_at",
        "area_m2",
    ]
    assert len(rows) == manifest["counts"][samples.PATH_CASES]
    prefixes = set(manifest["case_id_prefixes"].values())
    assert len(prefixes) == 6
    assert len({r["id"] for r in rows}) == len(rows)
    for row in rows:
        prefix, year, number = row["id"].split("-")
        assert prefix in prefixes and year in ("2025", "2026") and re.fullmatch(r"\d{6}", number)
        assert row["discovered_at"].startswith(year)
        assert re.fullmatch(r"\d{3}\.\d{7}", row["lon"]) and re.fullmatch(
            r"\d{2}\.\d{7}", row["lat"]
        )
        assert 126.0 < float(row["lon"]) < 128.4 and 41.2 < float(row["lat"]) < 42.9
        assert row["address"].startswith("白山市")
        assert row["source"] in samples.CASE_SOURCES
        assert row["stage"] in ("new", "backlog")
        assert float(row["area_m2"]) > 0
    assert {r["source"] for r in rows} >= {"patrol", "grid_worker", "citizen"}


def test_shared_districts_keep_their_real_area(districts: gpd.GeoDataFrame) -> None:
    assert SHARED_DISTRICTS.is_file(), f"third-party test data expected at {SHARED_DISTRICTS}"
    assert districts.area.sum() / 1e6 == pytest.approx(17_425, rel=0.01)


# -- determinism and fallbacks -------------------------------------------------------------------


def test_same_seed_gives_identical_files(sample_dir: Path, tmp_path: Path) -> None:
    samples.generate(tmp_path, scale="small", shared_data_dir=SHARED_DATA, log=lambda _: None)
    for path in sorted(p.relative_to(sample_dir) for p in sample_dir.rglob("*") if p.is_file()):
        assert (tmp_path / path).read_bytes() == (sample_dir / path).read_bytes(), path


def _file_hashes(folder: Path) -> dict[str, str]:
    """The SHA-256 of every file under ``folder``, by path relative to it."""
    return {
        path.relative_to(folder).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in folder.rglob("*")
        if path.is_file()
    }


def _recorded_hashes(name: str) -> dict[str, str]:
    """A ``sha256sum`` listing of ``tests/data``, as path → hash."""
    lines = (RECORDED_HASHES / name).read_text(encoding="utf-8").splitlines()
    return {path: digest for digest, path in (line.split("  ", 1) for line in lines)}


# The recorded hashes pin the output byte for byte: a change to the generator that alters any
# file (or a GDAL, GEOS or NumPy that writes other bytes) fails here and has to record the new
# listing on purpose (``sha256sum`` of every file of the output folder).


def test_small_city_matches_the_recorded_files(sample_dir: Path) -> None:
    assert _file_hashes(sample_dir) == _recorded_hashes("samples-small.sha256")


def test_small_city_with_generated_districts_matches_the_recorded_files(tmp_path: Path) -> None:
    out = tmp_path / "out"
    samples.generate(out, scale="small", shared_data_dir=tmp_path / "nothing", log=lambda _: None)
    assert _file_hashes(out) == _recorded_hashes("samples-small-generated-districts.sha256")


def test_generated_districts_without_shared_data(tmp_path: Path) -> None:
    manifest = samples.generate(
        tmp_path / "out",
        scale="small",
        seed=7,
        shared_data_dir=tmp_path / "nothing",
        log=lambda _: None,
    )
    assert manifest["districts_source"] == "generated"
    districts = pyogrio.read_dataframe(tmp_path / "out" / samples.PATH_DISTRICT)
    assert dict(zip(districts["XZQDM"], districts["XZQMC"], strict=True)) == DISTRICT_NAMES
    assert 12_000 < districts.area.sum() / 1e6 < 25_000
    assert _overlap_area(districts) < 1.0
    lon, lat = districts.to_crs(4490).geometry.union_all().centroid.coords[0]
    assert 126.0 < lon < 128.3 and 41.3 < lat < 42.8


def test_unknown_scale_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown scale"):
        samples.generate(tmp_path, scale="planet")
