"""The delivery: the layers of one sample city written where and as the city hands them over
(paths, field names, formats), and the manifest that tells the importer what to load, in
load order."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import pandas as pd

from weijian.samples.common import METRIC_CRS, ZONE_PREFIXED_CRS
from weijian.samples.profiles import PROFILES
from weijian.samples.writers import (
    COMMUNITY_ARCHIVE,
    COMMUNITY_MEMBER_DIR,
    remove_shapefile,
    write_cases,
    write_community_archive,
    write_gbk_shapefile,
    write_geopackage,
)

PATH_DISTRICT = "grid_district/district.shp"
PATH_TOWN = "grid_town/town.shp"
PATH_COMMUNITY = COMMUNITY_ARCHIVE
PATH_COMPOUND = "grid_compound.gpkg"
PATH_URBAN = "zones/urban_managed.shp"
PATH_PLANNED = "zones/town_planned.shp"
PATH_LANDUSE = "landuse/landuse.shp"
PATH_CASES = "cases.csv"
PATH_MANIFEST = "manifest.json"


@dataclass(frozen=True)
class SampleCity:
    """Every layer of one sample city as built: frames in the metric CRS with the generator's
    column names (the cases' lon/lat already in WGS84 text)."""

    districts_source: str  # "shared-data" or "generated"
    districts: gpd.GeoDataFrame
    towns: gpd.GeoDataFrame
    communities: gpd.GeoDataFrame
    urban: gpd.GeoDataFrame
    planned: gpd.GeoDataFrame
    compounds: gpd.GeoDataFrame
    landuse: gpd.GeoDataFrame
    cases: pd.DataFrame


def import_plan() -> list[dict]:
    """What the importer needs for each file, in load order."""

    def grid(path: str, level: str, code: str, name: str, parent: str | None) -> dict:
        return {
            "family": "grids",
            "path": path,
            "level": level,
            "code_field": code,
            "name_field": name,
            "parent_field": parent,
            "responsible_field": "FZR",
            "phone_field": "LXDH",
        }

    return [
        grid(PATH_DISTRICT, "district", "XZQDM", "XZQMC", None),
        grid(PATH_TOWN, "town", "JDDM", "JDMC", "SJDM"),
        grid(PATH_COMMUNITY, "community", "SQDM", "SQMC", None),
        grid(PATH_COMPOUND, "compound", "XQDM", "XQMC", "SQDM"),
        {
            "family": "zones",
            "path": PATH_URBAN,
            "layer": "urban_managed",
            "title": "城市化管理区域",
            "kind": "urban_managed",
            "code_field": None,
            "name_field": "QYMC",
        },
        {
            "family": "zones",
            "path": PATH_PLANNED,
            "layer": "town_planned",
            "title": "县城、镇规划建设用地",
            "kind": "town_planned",
            "code_field": None,
            "name_field": "QYMC",
        },
        {
            "family": "zones",
            "path": PATH_LANDUSE,
            "layer": "landuse",
            "title": "土地利用现状（三调）",
            "kind": None,
            "code_field": "DLBM",
            "name_field": "DLMC",
        },
    ]


FILE_FORMATS = {
    PATH_DISTRICT: {"crs": "EPSG:4551", "encoding": "GBK", "cpg": "GBK"},
    PATH_TOWN: {"crs": "EPSG:4530", "encoding": "GBK", "cpg": None, "dbf_language_byte": 0},
    PATH_COMMUNITY: {
        "crs": "EPSG:4551",
        "encoding": "GBK",
        "cpg": "936",
        "member": f"{COMMUNITY_MEMBER_DIR}/{COMMUNITY_MEMBER_DIR}.shp",
        "member_name_encoding": "GBK",
    },
    PATH_COMPOUND: {"crs": "EPSG:4551", "layer": "compound"},
    PATH_URBAN: {"crs": "EPSG:4551", "encoding": "GBK", "cpg": "GBK"},
    PATH_PLANNED: {"crs": "EPSG:4551", "encoding": "GBK", "cpg": "GBK"},
    PATH_LANDUSE: {"crs": "EPSG:4551", "encoding": "GBK", "cpg": "GBK"},
    PATH_CASES: {"crs": "EPSG:4326", "encoding": "UTF-8"},
}


def remove_outputs(out_dir: Path) -> None:
    """Remove the files of an earlier sample city from ``out_dir`` (shapefiles with all their
    side files), so that none of its files outlives it."""
    for relative in (PATH_DISTRICT, PATH_TOWN, PATH_URBAN, PATH_PLANNED, PATH_LANDUSE):
        remove_shapefile(out_dir / relative)
    for relative in (PATH_COMMUNITY, PATH_COMPOUND, PATH_CASES, PATH_MANIFEST):
        (out_dir / relative).unlink(missing_ok=True)


def write_city(city: SampleCity, out_dir: Path) -> None:
    """Write every layer of ``city`` under its path in ``out_dir``, with the field names and in
    the format the city delivers it."""
    write_gbk_shapefile(
        city.districts.rename(
            columns={"code": "XZQDM", "name": "XZQMC", "fzr": "FZR", "lxdh": "LXDH"}
        )[["XZQDM", "XZQMC", "FZR", "LXDH", "geometry"]],
        out_dir / PATH_DISTRICT,
        METRIC_CRS,
        cpg_text="GBK",
    )
    write_gbk_shapefile(
        city.towns.rename(
            columns={
                "code": "JDDM",
                "name": "JDMC",
                "district_code": "SJDM",
                "fzr": "FZR",
                "lxdh": "LXDH",
            }
        )[["JDDM", "JDMC", "SJDM", "FZR", "LXDH", "geometry"]],
        out_dir / PATH_TOWN,
        ZONE_PREFIXED_CRS,
        cpg_text=None,
    )
    write_community_archive(
        city.communities.rename(
            columns={"code": "SQDM", "name": "SQMC", "fzr": "FZR", "lxdh": "LXDH"}
        )[["SQDM", "SQMC", "FZR", "LXDH", "geometry"]],
        out_dir / PATH_COMMUNITY,
    )
    write_geopackage(
        city.compounds.rename(
            columns={
                "code": "XQDM",
                "name": "XQMC",
                "community_code": "SQDM",
                "company": "WYGS",
                "fzr": "FZR",
                "lxdh": "LXDH",
            }
        )[["XQDM", "XQMC", "SQDM", "WYGS", "FZR", "LXDH", "geometry"]],
        out_dir / PATH_COMPOUND,
        "compound",
    )
    for frame, path in ((city.urban, PATH_URBAN), (city.planned, PATH_PLANNED)):
        write_gbk_shapefile(
            frame.rename(columns={"code": "QYDM", "name": "QYMC"})[["QYDM", "QYMC", "geometry"]],
            out_dir / path,
            METRIC_CRS,
            cpg_text="GBK",
        )
    write_gbk_shapefile(city.landuse, out_dir / PATH_LANDUSE, METRIC_CRS, cpg_text="GBK")
    write_cases(city.cases, out_dir / PATH_CASES)


def city_manifest(city: SampleCity, scale: str, seed: int) -> dict:
    """The manifest of ``city``: how it was made, what to import in load order, the counts and
    the files' formats."""
    return {
        "scale": scale,
        "seed": seed,
        "districts_source": city.districts_source,
        "imports": import_plan(),
        "counts": {
            PATH_DISTRICT: len(city.districts),
            PATH_TOWN: len(city.towns),
            PATH_COMMUNITY: len(city.communities),
            PATH_COMPOUND: len(city.compounds),
            PATH_URBAN: len(city.urban),
            PATH_PLANNED: len(city.planned),
            PATH_LANDUSE: len(city.landuse),
            PATH_CASES: len(city.cases),
        },
        "files": FILE_FORMATS,
        "case_id_prefixes": {p.name: p.case_prefix for p in PROFILES},
    }
