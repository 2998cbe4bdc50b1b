"""Patrol maps at city scale: one grid's page, and a district's atlas.

The city prints patrol maps for its open cases. The city data's grids (6 districts, 56 towns,
595 communities, 5,000 compounds) and zones are imported, and the first 60,000 rows of
``cases.csv`` are decided and loaded as ``bench.cases`` loads the million (about a third open).

- One page: ``grid_map`` (the PostGIS reads of the grid, its neighbours, sub-grids, zones and
  open cases, the visiting order, the drawing, the PDF) for the community with the median
  number of open cases, on A4 and on A3 — seconds a page, split into the page data and the
  drawing, with the PDF's size and page count (the table of cases may continue). Goal ≤ 2 s.
  Also, on A4, the community with the most open cases (with the count of zone shapes
  in view).
- An atlas: ``atlas`` for a district's community grids when a district has 100 or more of them,
  else its compound grids (hundreds) — seconds a grid, projected to 100 grids, and the real
  time of the whole atlas, with 2 processes and (when it is short enough) 1. Goal: 100 grids in
  ≤ 2 min. The page data of its grids, read serially before the parallel rendering, is timed
  on its own too.
- The visiting order (``tour.plan``) of 400 random points in a 5 km square, with its default
  time budget, and how much shorter it is than the nearest neighbour's walk. Goal ≤ 2 s.

Baseline in the same run: a bare geopandas map of the same community — its boundary and its
open cases read from PostGIS with ``read_postgis``, ``GeoSeries.plot`` onto a Figure with a
title in "Noto Sans CJK SC", saved to PDF with TrueType fonts (fonttype 42), no layout.
"""

from __future__ import annotations

import io
import itertools
import json
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import matplotlib
import numpy as np
import psycopg

from bench.cases import load_million
from bench.harness import ScratchDatabase, best_of, table
from weijian.cases.service import CaseService
from weijian.db.engine import app_engine_for, engine_for
from weijian.demo.city import load_samples
from weijian.jurisdiction.snapshot import SnapshotHolder, load_snapshot
from weijian.patrol import render
from weijian.patrol.pages import grids_of_district
from weijian.patrol.service import atlas, grid_map, page_data
from weijian.patrol.tour import Tour, plan
from weijian.settings import get_settings

SUBSET = 60_000
ATLAS_GRIDS = 100
MM = 1 / 25.4


def _load_subset(db: ScratchDatabase, snap, city: Path) -> dict:
    """``load_million`` over a folder holding only the first ``SUBSET`` rows of cases.csv."""
    with tempfile.TemporaryDirectory() as tmp:
        with (city / "cases.csv").open(encoding="utf-8") as src:
            lines = itertools.islice(src, SUBSET + 1)  # the header and SUBSET rows
            (Path(tmp) / "cases.csv").write_text("".join(lines), encoding="utf-8")
        return load_million(db, snap, Path(tmp))


def _tour_of_400() -> Tour:
    """The visiting order of 400 random points in a 5 km square, by the default time budget."""
    rng = np.random.default_rng(400)
    points = np.array([39_500_000.0, 3_400_000.0]) + rng.uniform(0, 5000, (400, 2))
    return plan((39_500_000.0, 3_400_000.0), points)


def _open_per_community(db: ScratchDatabase) -> list[tuple[str, int]]:
    """(community, open cases) of the communities with any, fewest first."""
    with psycopg.connect(db.libpq) as conn:
        return conn.execute(
            "SELECT community_code, count(*) FROM violation_case "
            "WHERE is_open AND community_code IS NOT NULL GROUP BY 1 ORDER BY 2, 1"
        ).fetchall()


def _bare_map(engine, code: str, paper: str = "A4") -> bytes:
    """The baseline: boundary and open cases from PostGIS, plotted, a title, a PDF."""
    from matplotlib.figure import Figure

    grid = gpd.read_postgis(
        "SELECT name, geom FROM active_grid WHERE code = %(c)s LIMIT 1",
        engine,
        geom_col="geom",
        params={"c": code},
    )
    cases = gpd.read_postgis(
        "SELECT geom FROM violation_case WHERE community_code = %(c)s AND is_open",
        engine,
        geom_col="geom",
        params={"c": code},
    )
    width, height = render.PAPERS_MM[paper]
    with matplotlib.rc_context({"pdf.fonttype": 42}):
        fig = Figure(figsize=(width * MM, height * MM))
        ax = fig.add_subplot()
        grid.boundary.plot(ax=ax, color="#c00000", linewidth=2)
        cases.geometry.plot(ax=ax, color="#d62728", markersize=20)
        ax.set_title(f"{grid.loc[0, 'name']}违法建设巡查图", fontname=render.FONT, fontsize=16)
        buffer = io.BytesIO()
        fig.savefig(buffer, format="pdf")
    return buffer.getvalue()


def _atlas_target(engine) -> tuple[str, str, int, dict]:
    """The district with the most community grids if it has ≥ 100, else the district with the
    most compound grids: (district, level, grid count, counts per district and level)."""
    with engine.connect() as conn:
        districts = [
            r[0]
            for r in conn.exec_driver_sql(
                "SELECT code FROM active_grid WHERE level = 'district' ORDER BY code"
            )
        ]
        counts = {
            level: {d: len(grids_of_district(conn, d, level)) for d in districts}
            for level in ("community", "compound")
        }
    for level in ("community", "compound"):
        district = max(counts[level], key=counts[level].get)
        if counts[level][district] >= ATLAS_GRIDS or level == "compound":
            return district, level, counts[level][district], counts


def run(city: Path, repeat: int = 1) -> dict:
    results: dict = {}
    with ScratchDatabase() as db:
        engine = engine_for(db.url)
        load_samples(engine, city, log=lambda *_: None)
        snap = load_snapshot(engine)
        loaded = _load_subset(db, snap, city)
        del snap
        results["load"] = loaded
        print(
            f"  loaded {loaded['cases']:,} cases ({loaded['open']:,} open) of the first "
            f"{SUBSET:,} rows of cases.csv",
            flush=True,
        )
        app_engine = app_engine_for(db.url)
        service = CaseService(app_engine, SnapshotHolder(app_engine), get_settings())
        counts = _open_per_community(db)
        code, open_ = counts[len(counts) // 2]
        busiest, busiest_open = counts[-1]
        results["community"] = {"code": code, "open": open_, "communities_with_open": len(counts)}
        print(
            f"  median community {code}: {open_} open cases; busiest {busiest}: "
            f"{busiest_open} ({len(counts)} communities have open cases)",
            flush=True,
        )

        # cold: the first page of the process (snapshot, workflow, fonts, imports)
        started = time.perf_counter()
        grid_map(service, code, "A4", "auto")
        cold_s = time.perf_counter() - started
        results["cold_first_page_s"] = cold_s

        rows: list[tuple[str, str, str]] = [
            (
                "cases loaded",
                f"{loaded['cases']:,}",
                f"{loaded['open']:,} open; first {SUBSET:,} rows of cases.csv",
            )
        ]
        tour_s, tour = best_of(repeat, _tour_of_400)
        results["tour_400_points"] = {"seconds": tour_s, "method": tour.method}
        rows.append(
            (
                "visiting order, 400 points",
                f"{tour_s:.2f} s",
                f"{tour.method}, {tour.length_m / tour.nearest_neighbour_m:.1%} of the nearest "
                "neighbour's walk (goal ≤ 2 s)",
            )
        )
        for paper in ("A4", "A3"):
            seconds, (content, summary) = best_of(
                repeat, lambda p=paper: grid_map(service, code, p, "auto")
            )
            data_s, data = best_of(
                repeat, lambda p=paper: page_data(service, code, None, p, "auto")
            )
            draw_s, _ = best_of(repeat, lambda d=data: render.page_pdf(d))
            results[f"page_{paper}"] = {
                "seconds": seconds,
                "page_data_s": data_s,
                "render_s": draw_s,
                "pdf_bytes": len(content),
                **summary,
            }
            rows.append(
                (
                    f"one page, {paper} ({summary['orientation']})",
                    f"{seconds:.2f} s",
                    f"community {code}, {summary['cases']} open cases, {summary['pages']} "
                    f"page(s), {len(content) / 1024:,.0f} KiB, 1:{summary['scale']:,}; "
                    f"data {data_s:.2f} s + drawing/PDF {draw_s:.2f} s (goal ≤ 2 s)",
                )
            )
        seconds, (content, summary) = best_of(repeat, lambda: grid_map(service, busiest, "A4"))
        data_s, data = best_of(repeat, lambda: page_data(service, busiest))
        results["page_busiest_A4"] = {
            "seconds": seconds,
            "page_data_s": data_s,
            "zones": len(data.zones),
            "pdf_bytes": len(content),
            **summary,
        }
        rows.append(
            (
                "busiest community's page, A4",
                f"{seconds:.2f} s",
                f"community {busiest}, {summary['cases']} open cases, {summary['pages']} "
                f"page(s), {len(content) / 1024:,.0f} KiB, {len(data.zones):,} zone shapes in "
                f"view; data {data_s:.2f} s",
            )
        )
        del data
        bare_s, bare = best_of(repeat, lambda: _bare_map(engine, code))
        results["bare_map"] = {"seconds": bare_s, "pdf_bytes": len(bare)}
        page_s = results["page_A4"]["seconds"]
        rows += [
            (
                "bare geopandas map (baseline)",
                f"{bare_s:.2f} s",
                f"same community, A4: read_postgis + GeoSeries.plot + title, "
                f"{len(bare) / 1024:,.0f} KiB",
            ),
            ("weijian page ÷ bare map", f"{page_s / bare_s:.1f}", "A4"),
            ("first page in a process", f"{cold_s:.2f} s", "cold: snapshot, workflow, fonts"),
        ]
        table(rows)

        district, level, grids, counts = _atlas_target(app_engine)
        results["atlas_counts"] = counts
        print(
            f"  atlas: district {district}, {grids} {level} grids "
            f"(communities per district {json.dumps(counts['community'])}; compounds "
            f"{json.dumps(counts['compound'])})",
            flush=True,
        )
        with app_engine.connect() as conn:
            codes = [c for c, _ in grids_of_district(conn, district, level)]
        started = time.perf_counter()
        for grid in codes:
            page_data(service, grid)
        serial_s = time.perf_counter() - started
        results["atlas_page_data_s"] = serial_s
        rows = [
            (
                "atlas page data, one grid after another",
                f"{serial_s:.1f} s",
                f"the PostGIS reads of the {len(codes)} grids (the atlas spreads them over its "
                "processes); "
                f"{serial_s / len(codes):.2f} s a grid",
            )
        ]
        for processes in (2, 1):
            if processes == 1 and results["atlas_p2"]["seconds"] >= 180:
                rows.append(("atlas, 1 process", "not run", "the 2-process atlas took ≥ 3 min"))
                break
            seconds, (content, info) = best_of(
                repeat,
                lambda n=processes: atlas(service, district, level, "A4", "auto", processes=n),
            )
            per_grid = seconds / info["grids"]
            results[f"atlas_p{processes}"] = {
                "seconds": seconds,
                "per_grid_s": per_grid,
                "projected_100_s": per_grid * ATLAS_GRIDS,
                "pdf_bytes": len(content),
                **info,
            }
            rows += [
                (
                    f"atlas, {processes} process{'es' if processes > 1 else ''}",
                    f"{seconds:.1f} s",
                    f"district {district}: {info['grids']} {level} grids, {info['pages']} "
                    f"pages, {info['cases']:,} open cases, {len(content) / 2**20:,.1f} MiB",
                ),
                (
                    "  … a grid / 100 grids",
                    f"{per_grid:.2f} s",
                    f"projected {per_grid * ATLAS_GRIDS:.0f} s for {ATLAS_GRIDS} grids "
                    "(goal ≤ 120 s)",
                ),
            ]
        table(rows)
    return results


if __name__ == "__main__":
    from bench.harness import DEFAULT_CITY_DIR, ensure_city

    print(json.dumps(run(ensure_city(DEFAULT_CITY_DIR)), indent=2, default=str))
