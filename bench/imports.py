"""Importing 100,000 land-use parcels (GBK shapefile, Gauss-Krüger) into PostGIS.

weijian does what the baselines do not: encoding detection and check, CRS from the .prj,
validity check and repair, MultiPolygon promotion, Gauss-Krüger areas, a version and its report.
Baselines in the same run on the same file: geopandas (read, to_crs, to_postgis) and ogr2ogr
(PG driver, -t_srs EPSG:4490, COPY mode) where installed."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import geopandas as gpd
from sqlalchemy import text

from bench.harness import ScratchDatabase, best_of, manifest, table
from weijian.db.engine import engine_for
from weijian.layers.importing import ZoneImport, import_zones


def _landuse(city: Path) -> tuple[Path, dict]:
    for item in manifest(city)["imports"]:
        if item["family"] == "zones" and item.get("code_field"):
            return city / item["path"], item
    raise SystemExit("the city data has no land-use layer")


def run(city: Path, repeat: int = 2) -> dict:
    path, item = _landuse(city)
    results: dict = {"file": str(path)}

    def weijian_import():
        with ScratchDatabase() as db:
            engine = engine_for(db.url)
            report = import_zones(
                engine,
                ZoneImport(
                    path=path,
                    layer="landuse",
                    code_field=item["code_field"],
                    name_field=item.get("name_field"),
                ),
            )
            with engine.connect() as conn:
                count = conn.execute(text("SELECT count(*) FROM active_zone")).scalar()
            return report, count

    seconds, (report, count) = best_of(repeat, weijian_import)
    results["features"] = count
    results["vertices_per_feature"] = None
    results["weijian_s"] = round(seconds, 2)
    results["weijian_phases_s"] = report["seconds"]
    results["weijian_repaired"] = report["geometry"]["repaired"]

    def geopandas_import():
        with ScratchDatabase(migrated=False) as db:
            frame = gpd.read_file(path).to_crs(4490)
            frame.to_postgis("landuse", engine_for(db.url), if_exists="replace", index=False)
            return len(frame)

    seconds, _ = best_of(repeat, geopandas_import)
    results["geopandas_to_postgis_s"] = round(seconds, 2)

    ogr2ogr = shutil.which("ogr2ogr")
    if ogr2ogr:

        def ogr_import():
            with ScratchDatabase(migrated=False) as db:
                subprocess.run(
                    [
                        ogr2ogr,
                        "-f",
                        "PostgreSQL",
                        f"PG:{db.libpq}",
                        str(path),
                        "-nln",
                        "landuse",
                        "-t_srs",
                        "EPSG:4490",
                        "-nlt",
                        "PROMOTE_TO_MULTI",
                        "-lco",
                        "SPATIAL_INDEX=GIST",
                        "--config",
                        "PG_USE_COPY",
                        "YES",
                    ],
                    check=True,
                    capture_output=True,
                )

        seconds, _ = best_of(repeat, ogr_import)
        results["ogr2ogr_s"] = round(seconds, 2)
    else:
        results["ogr2ogr_s"] = None

    import shapely

    frame = gpd.read_file(path, columns=[])
    results["vertices_per_feature"] = round(
        float(shapely.get_num_coordinates(frame.geometry.values).mean()), 1
    )
    rows = [
        (
            "weijian import zones",
            f"{results['weijian_s']:.2f} s",
            f"{count} parcels, {results['vertices_per_feature']} vertices each on average; "
            f"phases {report['seconds']}",
        ),
        (
            "geopandas to_postgis",
            f"{results['geopandas_to_postgis_s']:.2f} s",
            "ratio weijian/geopandas = "
            f"{results['weijian_s'] / results['geopandas_to_postgis_s']:.2f}",
        ),
    ]
    if results["ogr2ogr_s"]:
        rows.append(
            (
                "ogr2ogr (COPY)",
                f"{results['ogr2ogr_s']:.2f} s",
                f"ratio weijian/ogr2ogr = {results['weijian_s'] / results['ogr2ogr_s']:.2f} "
                "(goal ≤ 2)",
            )
        )
    else:
        rows.append(("ogr2ogr", "not installed", "apt-get install gdal-bin to compare"))
    table(rows)
    return results
