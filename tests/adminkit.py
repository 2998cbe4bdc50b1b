"""What the administration tests share: new versions of the hand-built city's layers as a city
hands them over — zipped GBK shapefiles with a Gauss-Krüger .prj (tests/city.py)."""

from __future__ import annotations

from pathlib import Path

from tests import catalogue, city


def zipped(folder: Path, stem: str, rows: list[dict]) -> Path:
    """``rows`` as a GBK shapefile with its .cpg and EPSG:4551 .prj, zipped as on Chinese
    Windows (member names in GBK, in a folder named after the archive)."""
    shp = catalogue.write_shapefile(city.frame(rows), folder / stem, stem)
    return catalogue.zip_gbk(catalogue.shapefile_parts(shp), folder / f"{stem}.zip", stem)


def urban_wider(folder: Path) -> Path:
    """The urban management area grown east over 红旗街道: 2×2 km → 4×2 km."""
    return zipped(
        folder, "城市化管理区域", [{"MC": "浑江区城市化管理区域", "geometry": city.box(0, 0, 4, 2)}]
    )


def landuse_resurveyed(folder: Path) -> Path:
    """The land-use survey again: 旱地 at (0,2) gone, the 乔木林地 at (1,2) now 农村宅基地, a new
    旱地 at (5,2); the rest as before."""
    return zipped(
        folder,
        "三调地类图斑",
        [
            {"DLBM": "0702", "DLMC": "农村宅基地", "geometry": city.box(1, 2, 2, 3)},
            {"DLBM": "0702", "DLMC": "农村宅基地", "geometry": city.box(2, 2, 3, 3)},
            {"DLBM": "0701", "DLMC": "城镇住宅用地", "geometry": city.box(3, 2, 4, 3)},
            {"DLBM": "0101", "DLMC": "水田", "geometry": city.box(0, 0, 1, 1)},
            {"DLBM": "0301", "DLMC": "乔木林地", "geometry": city.holed_forest()},
            {"DLBM": "0103", "DLMC": "旱地", "geometry": city.box(5, 2, 6, 3)},
        ],
    )
