"""Importing 100,000 land-use parcels (GBK shapefile, Gauss-Krüger) into PostGIS.

weijian does what the baselines do not: encoding detection and check, CRS from the .prj,
validity check and repair, MultiPolygon promotion, Gauss-Krüger areas, a version and its report.
Baselines in the same run on the same file, to the same target (a PostGIS table with a GiST
index, EPSG:4490 from the .prj's Gauss-Krüger): ogr2ogr (PG driver, -t_srs EPSG:4490, COPY
mode) where installed, and geopandas (read, to_crs, to_postgis).

Every side is measured alike: each gets a fresh database made before its clock starts (weijian's
migrated, the baselines' with PostGIS only), one untimed warm-up run, then ``--repeat`` timed
runs taken in rounds — weijian, ogr2ogr, geopandas, then again — so a busy machine weighs on all
of them alike. The median is reported with its spread (min–max), and the ratio weijian ÷ ogr2ogr
as the ratio of the medians and, per round, the spread of the paired ratios."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import shapely
from sqlalchemy import text

from bench import harness
from bench.harness import ScratchDatabase, Timing, manifest, table
from weijian.db.engine import engine_for
from weijian.layers.importing import ZoneImport, import_zones


def _landuse(city: Path) -> tuple[Path, dict]:
    for item in manifest(city)["imports"]:
        if item["family"] == "zones" and item.get("code_field"):
            return city / item["path"], item
    raise SystemExit("the city data has no land-use layer")


def _weijian(path: Path, item: dict) -> Callable[[ScratchDatabase], object]:
    def run(db: ScratchDatabase) -> tuple[dict, int]:
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

    return run


def _ogr2ogr(path: Path, ogr2ogr: str) -> Callable[[ScratchDatabase], object]:
    def run(db: ScratchDatabase) -> None:
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

    return run


def _geopandas(path: Path) -> Callable[[ScratchDatabase], object]:
    def run(db: ScratchDatabase) -> int:
        frame = gpd.read_file(path).to_crs(4490)
        frame.to_postgis("landuse", engine_for(db.url), if_exists="replace", index=False)
        return len(frame)

    return run


def _in_rounds(
    sides: dict[str, tuple[bool, Callable[[ScratchDatabase], object]]], repeat: int, warmup: int
) -> dict[str, Timing]:
    """``warmup`` untimed runs of every side, then ``repeat`` rounds in which each side runs
    once, timed; each run on a fresh database made (and dropped) outside its clock."""
    seconds: dict[str, list[float]] = {name: [] for name in sides}
    results: dict[str, object] = {}
    for round_ in range(warmup + repeat):
        for name, (migrated, fn) in sides.items():
            with ScratchDatabase(migrated=migrated) as db:
                started = time.perf_counter()
                results[name] = fn(db)
                elapsed = time.perf_counter() - started
            if round_ >= warmup:
                seconds[name].append(elapsed)
    return {name: Timing(name, seconds[name], warmup, results[name]) for name in sides}


def run(city: Path, repeat: int | None = None) -> dict:
    repeat = harness.REPEAT if repeat is None else repeat
    path, item = _landuse(city)
    sides: dict[str, tuple[bool, Callable[[ScratchDatabase], object]]] = {
        "weijian": (True, _weijian(path, item))
    }
    ogr2ogr = shutil.which("ogr2ogr")
    if ogr2ogr:
        sides["ogr2ogr"] = (False, _ogr2ogr(path, ogr2ogr))
    sides["geopandas"] = (False, _geopandas(path))
    timings = _in_rounds(sides, repeat, harness.WARMUP)

    ours = timings["weijian"]
    report, count = ours.result
    frame = gpd.read_file(path, columns=[])
    vertices = round(float(shapely.get_num_coordinates(frame.geometry.values).mean()), 1)
    results: dict = {
        "file": str(path),
        "features": count,
        "vertices_per_feature": vertices,
        "weijian_s": round(ours.median, 2),
        "weijian": ours.as_dict(),
        "weijian_phases_s": report["seconds"],
        "weijian_streamed": report.get("streamed"),
        "weijian_repaired": report["geometry"]["repaired"],
        "geopandas_to_postgis_s": round(timings["geopandas"].median, 2),
        "geopandas": timings["geopandas"].as_dict(),
        "ogr2ogr_s": None,
    }
    rows = [
        (
            "weijian import zones",
            ours.text(),
            f"{count} parcels, {vertices} vertices each on average; phases of the last run "
            f"{report['seconds']}, streamed {report.get('streamed')}",
        ),
        (
            "geopandas to_postgis",
            timings["geopandas"].text(),
            f"ratio weijian/geopandas = {harness.ratio(ours, timings['geopandas']):.2f}",
        ),
    ]
    if ogr2ogr:
        ogr = timings["ogr2ogr"]
        paired = [a / b for a, b in zip(ours.seconds, ogr.seconds, strict=True)]
        results.update(
            ogr2ogr_s=round(ogr.median, 2),
            ogr2ogr=ogr.as_dict(),
            ratio_ogr2ogr=round(harness.ratio(ours, ogr), 3),
            ratio_ogr2ogr_rounds=[round(min(paired), 3), round(max(paired), 3)],
        )
        rows.append(
            (
                "ogr2ogr (COPY, GiST)",
                ogr.text(),
                f"ratio weijian/ogr2ogr = {results['ratio_ogr2ogr']:.2f} of the medians "
                f"(per round {min(paired):.2f}–{max(paired):.2f}; goal ≤ 1.5)",
            )
        )
    else:
        rows.append(("ogr2ogr", "not installed", "apt-get install gdal-bin to compare"))
    table(rows)
    return results
