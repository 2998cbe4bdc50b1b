"""The delivery: where each file goes, what the importer needs to load it (the manifest's
imports, in load order) and the formats the files are written in."""

from __future__ import annotations

from pathlib import Path

from weijian.samples.writers import COMMUNITY_ARCHIVE, COMMUNITY_MEMBER_DIR, remove_shapefile

PATH_DISTRICT = "grid_district/district.shp"
PATH_TOWN = "grid_town/town.shp"
PATH_COMMUNITY = COMMUNITY_ARCHIVE
PATH_COMPOUND = "grid_compound.gpkg"
PATH_URBAN = "zones/urban_managed.shp"
PATH_PLANNED = "zones/town_planned.shp"
PATH_LANDUSE = "landuse/landuse.shp"
PATH_CASES = "cases.csv"
PATH_MANIFEST = "manifest.json"


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
