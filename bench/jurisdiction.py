"""Jurisdiction on the city-scale data (≈100,000 parcels, 5,000 compounds, 1,000,000 case
points), each figure beside baselines measured in the same run:

- batch: weijian's decision (all layers, the rule, the department, the grid chain) and its full
  answer (plus boundary distance and ambiguity), in points/s, against shapely's raw STRtree on
  the parcels alone (unsorted and sorted points), geopandas.sjoin, and a PostGIS join;
- single lookup, full answer, in-process: p50 / p99 µs against a PostGIS prepared query for the
  zones and grids of one point;
- HTTP: requests/s and p50 / p99 at 16 connections with 2 workers, load from wrk in a second
  process, against a no-op FastAPI endpoint.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import psycopg
import shapely

from bench.harness import ScratchDatabase, table
from weijian.db.engine import engine_for
from weijian.demo.city import load_samples
from weijian.jurisdiction.batch import Answerer
from weijian.jurisdiction.engine import decide_arrays, lookup, morton_order
from weijian.jurisdiction.snapshot import load_snapshot

WORKERS = 2


def _cases(city: Path, limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    frame = pd.read_csv(city / "cases.csv", usecols=["lon", "lat"], nrows=limit)
    return frame["lon"].to_numpy(np.float64), frame["lat"].to_numpy(np.float64)


def _rate(count: int, seconds: float) -> str:
    return f"{count / seconds / 1e6:.2f} M/s"


def _batch(snap, lon, lat, db, results: dict) -> list[tuple[str, str, str]]:
    n = len(lon)
    on = date.today()
    rows = []
    answerer = Answerer(snap, WORKERS)
    try:
        answerer.answer(lon[:5000], lat[:5000], on, 10.0)  # warm the workers
        pool = answerer.pool

        def decide_parallel():
            order = morton_order(lon, lat)
            bounds = np.linspace(0, n, WORKERS * 4 + 1).astype(int)
            parts = [order[a:b] for a, b in itertools.pairwise(bounds)]
            return list(pool.map(_decide_slice, [(lon[p], lat[p], on) for p in parts]))

        decide_parallel()  # untimed: the workers touch every page they will use once
        decision_s = min(_timed(decide_parallel) for _ in range(2))
        full_s = _timed(lambda: answerer.answer(lon, lat, on, 10.0))
    finally:
        answerer.close()
    started = time.perf_counter()
    order = morton_order(lon, lat)
    decide_arrays(snap, lon[order], lat[order], on)
    single_core_s = time.perf_counter() - started
    results.update(
        decision_pts_s=n / decision_s,
        full_pts_s=n / full_s,
        decision_one_core_pts_s=n / single_core_s,
    )

    landuse = next(layer for layer in snap.zone_layers if layer.name == "landuse")
    parcels = landuse.index.geoms
    points = shapely.points(lon, lat)
    tree = shapely.STRtree(parcels)
    started = time.perf_counter()
    tree.query(points, predicate="intersects")
    strtree_s = time.perf_counter() - started
    sorted_points = points[order]
    started = time.perf_counter()
    tree.query(sorted_points, predicate="intersects")
    strtree_sorted_s = time.perf_counter() - started
    left = gpd.GeoDataFrame(geometry=points, crs=4490)
    right = gpd.GeoDataFrame(geometry=parcels, crs=4490)
    started = time.perf_counter()
    gpd.sjoin(left, right, predicate="intersects", how="inner")
    sjoin_s = time.perf_counter() - started
    postgis_s = _postgis_join(db, points)
    results.update(
        strtree_pts_s=n / strtree_s,
        strtree_sorted_pts_s=n / strtree_sorted_s,
        sjoin_pts_s=n / sjoin_s,
        postgis_pts_s=n / postgis_s,
    )
    best = max(n / strtree_s, n / strtree_sorted_s, n / sjoin_s, n / postgis_s)
    rows += [
        (
            "weijian decision, 2 processes",
            _rate(n, decision_s),
            f"all {len(snap.zone_layers)} zone layers + rule + department + 4-level grid chain; "
            f"ratio to best baseline {n / decision_s / best:.2f} (goal ≥ 1 M/s)",
        ),
        ("weijian decision, 1 process", _rate(n, single_core_s), ""),
        (
            "weijian full answer, 2 processes",
            _rate(n, full_s),
            "+ boundary distance (Gauss-Krüger) and ambiguity at 10 m",
        ),
        ("shapely STRtree.query (parcels only)", _rate(n, strtree_s), "baseline"),
        ("  … sorted points", _rate(n, strtree_sorted_s), "baseline"),
        ("geopandas.sjoin (parcels only)", _rate(n, sjoin_s), "baseline"),
        (
            "PostGIS join (parcels only)",
            _rate(n, postgis_s),
            "baseline: COPY'd points, GiST on both, 2 parallel workers",
        ),
    ]
    return rows


def _timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def _decide_slice(args):
    from weijian.jurisdiction import batch

    lon, lat, on = args
    decision = decide_arrays(batch._SNAPSHOT, lon, lat, on)
    return decision.rule_pos


def _postgis_join(db: ScratchDatabase, points: np.ndarray) -> float:
    with psycopg.connect(db.libpq, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_pts")
        conn.execute("CREATE TABLE bench_pts (i int, geom geometry(Point, 4490))")
        with (
            conn.cursor() as cursor,
            cursor.copy("COPY bench_pts (i, geom) FROM STDIN (FORMAT BINARY)") as copy,
        ):
            copy.set_types(["int4", "bytea"])
            wkb = shapely.to_wkb(shapely.set_srid(points, 4490), include_srid=True)
            for i, blob in enumerate(wkb):
                copy.write_row((i, blob))
        conn.execute("CREATE INDEX ON bench_pts USING gist (geom)")
        conn.execute("ANALYZE bench_pts")
        conn.execute("ANALYZE zone")
        conn.execute("SET max_parallel_workers_per_gather = 2")
        # the best plan: polygons outer, each probing the points' GiST index (left to itself
        # the planner probes the polygons' index once per point, about 7 times slower)
        conn.execute("SET enable_seqscan = off")
        version = conn.execute(
            "SELECT l.active_version_id FROM layer l WHERE l.name = 'landuse'"
        ).fetchone()[0]
        started = time.perf_counter()
        conn.execute(
            "SELECT count(*) FROM zone z JOIN bench_pts p ON ST_Covers(z.geom, p.geom) "
            "WHERE z.version_id = %s",
            (version,),
        ).fetchone()
        return time.perf_counter() - started


def _single(snap, lon, lat, db, results: dict) -> list[tuple[str, str, str]]:
    rng = np.random.default_rng(1)
    pick = rng.choice(len(lon), 20_000, replace=False)
    rows = []
    for tolerance in (10.0, 0.0):
        for k in pick[:500]:
            lookup(snap, float(lon[k]), float(lat[k]), tolerance_m=tolerance)
        timings = []
        for k in pick:
            started = time.perf_counter_ns()
            lookup(snap, float(lon[k]), float(lat[k]), tolerance_m=tolerance)
            timings.append(time.perf_counter_ns() - started)
        p50, p99 = np.percentile(np.array(timings) / 1000, [50, 99])
        results[f"single_tol{int(tolerance)}_p50_us"] = p50
        results[f"single_tol{int(tolerance)}_p99_us"] = p99
        rows.append(
            (
                f"weijian lookup, tolerance {tolerance:g} m",
                f"{p50:.0f} / {p99:.0f} µs",
                "p50 / p99, full answer, in-process (goal p99 ≤ 50 µs)",
            )
        )
    with psycopg.connect(db.libpq, autocommit=True) as conn:
        query = (
            "WITH p AS (SELECT ST_SetSRID(ST_MakePoint(%s, %s), 4490) AS geom) "
            "SELECT (SELECT array_agg(z.id) FROM active_zone z, p WHERE ST_Covers(z.geom, p.geom)),"
            " (SELECT array_agg(g.code) FROM active_grid g, p WHERE ST_Covers(g.geom, p.geom))"
        )
        for k in pick[:500]:  # server-side prepared after a few runs
            conn.execute(query, (float(lon[k]), float(lat[k])), prepare=True).fetchone()
        timings = []
        for k in pick[:5000]:
            started = time.perf_counter_ns()
            conn.execute(query, (float(lon[k]), float(lat[k])), prepare=True).fetchone()
            timings.append(time.perf_counter_ns() - started)
    p50, p99 = np.percentile(np.array(timings) / 1000, [50, 99])
    results.update(postgis_single_p50_us=p50, postgis_single_p99_us=p99)
    rows.append(
        (
            "PostGIS prepared query",
            f"{p50:.0f} / {p99:.0f} µs",
            "baseline: zones + grids of the point, one round trip on loopback",
        )
    )
    return rows


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait(port: int, path: str, seconds: float = 120) -> None:
    import httpx

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}{path}", timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"server on {port} did not answer {path}")


def _wrk(port: int, paths: list[str], seconds: int) -> dict:
    """GETs of random ``paths``, 16 connections."""
    script = Path(tempfile.mkdtemp()) / "paths.lua"
    quoted = ",\n".join(f'"{p}"' for p in paths)
    script.write_text(
        f"local paths = {{\n{quoted}\n}}\nlocal n = #paths\n"
        "request = function()\n  return wrk.format('GET', paths[math.random(n)])\nend\n"
    )
    return run_wrk(port, script, seconds)


def run_wrk(port: int, script: Path, seconds: int) -> dict:
    """wrk with a Lua ``script``, 2 threads, 16 connections, on loopback."""
    done = subprocess.run(
        ["wrk", "-t2", "-c16", f"-d{seconds}s", "--latency", "-s", str(script),
         f"http://127.0.0.1:{port}"],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
    )  # fmt: skip
    return parse_wrk(done.stdout)


def parse_wrk(text: str) -> dict:
    def latency(label: str) -> float:
        match = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)", text, re.M)
        if not match:
            return float("nan")
        value, unit = float(match.group(1)), match.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    total = re.search(r"(\d+) requests in", text)
    return {
        "rps": float(rps.group(1)) if rps else float("nan"),
        "p50_ms": latency("50"),
        "p99_ms": latency("99"),
        "requests": int(total.group(1)) if total else 0,
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
    }


@contextmanager
def serving(url: str, command: list[str], check: str, env: dict | None = None):
    """``command`` (a uvicorn app) served with WORKERS workers on a free loopback port over
    the database at ``url``; yields the port once ``check`` answers, stops it afterwards."""
    port = _free_port()
    server = subprocess.Popen(
        [*command, "--host", "127.0.0.1", "--port", str(port), "--workers", str(WORKERS),
         "--log-level", "warning", "--no-access-log"],
        env={**os.environ, "DATABASE_URL": url, **(env or {})},
        start_new_session=True,
    )  # fmt: skip
    try:
        _wait(port, check)
        yield port
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def _http(
    db: ScratchDatabase, lon, lat, results: dict, seconds: int = 10
) -> list[tuple[str, str, str]]:
    if not shutil.which("wrk"):
        return [("HTTP", "not measured", "wrk is not installed (apt-get install wrk)")]
    rng = np.random.default_rng(2)
    pick = rng.choice(len(lon), 2000, replace=False)
    paths = [f"/api/v1/jurisdiction?lon={lon[k]:.7f}&lat={lat[k]:.7f}" for k in pick]
    rows = []
    for label, command, check, load in (
        (
            "no-op FastAPI endpoint",
            [sys.executable, "-m", "uvicorn", "bench.noop:app"],
            "/noop",
            ["/noop"],
        ),
        (
            "weijian GET /api/v1/jurisdiction",
            [sys.executable, "-m", "uvicorn", "weijian.api.app:create_app", "--factory"],
            "/api/v1/health",
            paths,
        ),
    ):
        with serving(db.url, command, check) as port:
            _wrk(port, load, 2)  # warm-up
            figures = _wrk(port, load, seconds)
        results[label] = figures
        rows.append(
            (
                label,
                f"{figures['rps']:,.0f} req/s",
                f"p50 {figures['p50_ms']:.2f} ms, p99 {figures['p99_ms']:.2f} ms, "
                f"non-2xx {figures['non_2xx']}",
            )
        )
    noop, ours = results["no-op FastAPI endpoint"], results["weijian GET /api/v1/jurisdiction"]
    rows.append(
        (
            "ratio to no-op",
            f"{ours['rps'] / noop['rps']:.2f}",
            "goal ≥ 0.60 with p99 ≤ 10 ms; 16 connections, 2 workers, wrk on loopback",
        )
    )
    return rows


def run(city: Path, repeat: int = 1) -> dict:
    results: dict = {}
    with ScratchDatabase() as db:
        engine = engine_for(db.url)
        started = time.perf_counter()
        load_samples(engine, city, log=lambda *_: None)
        results["import_city_s"] = time.perf_counter() - started
        started = time.perf_counter()
        snap = load_snapshot(engine)
        results["snapshot_s"] = time.perf_counter() - started
        lon, lat = _cases(city)
        from weijian.gis.points import to_cgcs2000

        lon, lat, _ = to_cgcs2000(lon, lat, "wgs84")
        rows = [
            (
                "import the whole city",
                f"{results['import_city_s']:.1f} s",
                f"{sum(len(layer.ids) for layer in snap.zone_layers):,} zones, "
                f"{sum(len(g.codes) for g in snap.grids.values()):,} grids",
            ),
            (
                "load the in-memory snapshot",
                f"{results['snapshot_s']:.1f} s",
                "indexes for every active layer version; once per process and activation",
            ),
        ]
        table(rows)
        table(_batch(snap, lon, lat, db, results))
        table(_single(snap, lon, lat, db, results))
        table(_http(db, lon, lat, results))
    return results
