"""The supervisors' map browser at city scale: what a view costs the server and the wire.

The city data's grids and zones are imported (6 districts, 56 towns, 595 communities, 5,000
compounds; 100,290 land-use parcels and the planning zones) and its 1,000,000 cases loaded as
``bench.cases`` loads them (about a third open), then VACUUM ANALYZE. The app is served by
uvicorn with **one worker** on loopback; one client (httpx, keep-alive, ``Accept-Encoding:
gzip``) asks one request at a time, so each figure is one request's server time.

The views: at zooms 10, 12, 14, 15 and 16, 20 views each, a 1280×800 viewport centred on a random
case (fixed seed: views fall where cases are dense). A view asks what the page asks: every
256-px tile of the viewport for ``grids`` and ``zones`` (and ``cases?category=open`` from
zoom 15, ``tiles.CASE_MIN_ZOOM``), ``/cells`` with ``cell_px=12`` (heatmap and totals) and,
below that zoom, with ``cell_px=56`` (clusters), all with the page's default filter (open
cases). Not counted: the grid-name labels (``/labels``) and, when a campaign exists, the
choropleth's second layer over the same grid tiles (the scratch database has no campaign).

1. Server time per tile and per aggregate, p50 / p95, measured at the client (time to the last
   byte): cold — each distinct tile of a zoom's views asked once of a freshly started app
   (once its start-up work is done, ``_settled``), so its tile cache
   (``MapService.tile_cache``) never answers; warm — the same tiles again with
   their ETag (304; a case tile's ETag holds the minute, so some come back 200), and grids
   and zones again without it (served from the tile cache). To separate HTTP from the
   database: the bare SQL of the zone and case tiles (``tiles.zone_tile``/``case_tile`` on a
   connection, same tiles), and what gzip at the middleware's level costs each body here.
2. Bytes per view: the sum over the view's tiles and cells responses, as sent (gzip) and
   uncompressed, p50 and max over the views; features per tile, and what their bytes are
   (geometry, attribute indexes, values, ids), read from the tiles themselves.
3. Baselines in the same run: (a) the view's case points as a GeoJSON FeatureCollection made by
   PostGIS (``json_agg``/``ST_AsGeoJSON``, the case tile's properties), open cases and all
   cases — SQL time and bytes (raw and gzip at the middleware's level), on fewer views
   at zooms 10 and 12 (their dumps run to tens of megabytes); (b) the z14 (and z10) zone tiles
   cut from ``ST_Transform(geom, 3857)`` on the fly instead of the stored ``geom_3857``;
   (c) the heat cells counted by a PostGIS ``GROUP BY`` of ``floor(ST_X/ST_Y(geom_3857) /
   cell)`` against the in-memory case table (``CaseStore.cells`` in this process), both over
   the same views.

Goals: p95 ≤ 50 ms per tile or aggregate, and ≤ 500 kB (500,000 bytes, as sent) per view, at
every zoom. A goal missed is explained after the table: the slowest tiles (bare SQL median of 3,
gzip, features, bytes by part), the slowest cells, the largest view by layer. About 5 minutes,
of which 2 load the city. ``repeat`` > 1 restarts the app for each cold pass and keeps each
request's median time; the SQL baselines take the median of as many runs.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import httpx
import numpy as np
import psycopg
from sqlalchemy import text

from bench import harness
from bench.cases import load_million
from bench.harness import ScratchDatabase, table
from bench.jurisdiction import _free_port, _wait
from weijian.api.routes.web_map import GZIP_LEVEL
from weijian.cases import users
from weijian.cases.clock import LOCAL
from weijian.cases.scope import scope_sql
from weijian.cases.service import overdue_sql
from weijian.cases.workflow import default_workflow
from weijian.db.engine import app_engine_for, engine_for
from weijian.demo.city import load_samples
from weijian.jurisdiction.snapshot import load_snapshot
from weijian.web_map import tiles
from weijian.web_map.casestore import CaseStore, lonlat_of
from weijian.web_map.filters import MapFilters
from weijian.web_map.service import MapService

ZOOMS = (10, 12, 14, 15, 16)  # the issue asks 10, 12, 14, 16; 15 is where points start
VIEWS = 20
VIEW_W, VIEW_H = 1280, 800
SEED = 20261201
HEAT_PX, CLUSTER_PX = 12, 56
GEOJSON_VIEWS = {10: 3, 12: 5, 14: VIEWS, 15: VIEWS, 16: VIEWS}  # z10/12 dumps: tens of MB
GOAL_MS = 50.0
GOAL_BYTES = 500_000
HALF_WORLD = tiles.WORLD_M / 2
KINDS = ("grids", "zones", "cases")
FILTER = {"category": "open"}  # the page's default: 在办案件


# -- views ---------------------------------------------------------------------------------


def _views(db: ScratchDatabase) -> dict[int, list[dict]]:
    """VIEWS viewports per zoom, each centred on a random case (Web Mercator metres)."""
    with psycopg.connect(db.libpq) as conn:
        ids = np.array([r[0] for r in conn.execute("SELECT id FROM violation_case")])
        rng = np.random.default_rng(SEED)
        pick = rng.choice(ids, len(ZOOMS) * VIEWS, replace=False).tolist()
        found = dict(
            (r[0], (r[1], r[2]))
            for r in conn.execute(
                "SELECT id, ST_X(geom_3857), ST_Y(geom_3857) FROM violation_case "
                "WHERE id = ANY(%s)",
                (pick,),
            )
        )
    out: dict[int, list[dict]] = {}
    for k, z in enumerate(ZOOMS):
        out[z] = [_view(z, *found[i]) for i in pick[k * VIEWS : (k + 1) * VIEWS]]
    return out


def _view(z: int, cx: float, cy: float) -> dict:
    """The viewport at ``z`` centred on (cx, cy): its box in metres and degrees, and the
    256-px tiles Leaflet asks for it (its ``_pxBoundsToTileRange``)."""
    px = tiles.pixel_m(z)
    x0, x1 = cx - VIEW_W / 2 * px, cx + VIEW_W / 2 * px
    y0, y1 = cy - VIEW_H / 2 * px, cy + VIEW_H / 2 * px
    # pixel coordinates from the world's top-left corner, in tiles
    tx0, tx1 = (x0 + HALF_WORLD) / px / 256, (x1 + HALF_WORLD) / px / 256
    ty0, ty1 = (HALF_WORLD - y1) / px / 256, (HALF_WORLD - y0) / px / 256
    tile_list = [
        (z, tx, ty)
        for tx in range(math.floor(tx0), math.ceil(tx1))
        for ty in range(math.floor(ty0), math.ceil(ty1))
    ]
    (lon0, lon1), (lat0, lat1) = (
        np.round(a, 6).tolist() for a in lonlat_of(np.array([x0, x1]), np.array([y0, y1]))
    )
    return {
        "z": z,
        "centre_m": (cx, cy),
        "bbox_m": (x0, y0, x1, y1),
        "bbox": f"{lon0:.6f},{lat0:.6f},{lon1:.6f},{lat1:.6f}",
        "tiles": tile_list,
    }


def _cells_requests(view: dict) -> list[tuple[str, dict]]:
    base = {**FILTER, "bbox": view["bbox"], "zoom": view["z"]}
    out = [("cells12", {**base, "cell_px": HEAT_PX})]
    if view["z"] < tiles.CASE_MIN_ZOOM:
        out.append(("cells56", {**base, "cell_px": CLUSTER_PX}))
    return out


def _kinds_at(z: int) -> tuple[str, ...]:
    return KINDS if z >= tiles.CASE_MIN_ZOOM else KINDS[:2]


# -- the vector tiles' contents ---------------------------------------------------------------


def _varint(buf: memoryview, i: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, i
        shift += 7


def _fields(buf: memoryview):
    i, n = 0, len(buf)
    while i < n:
        key, i = _varint(buf, i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(buf, i)
        elif wire == 2:
            length, i = _varint(buf, i)
            value, i = buf[i : i + length], i + length
        elif wire == 1:
            value, i = None, i + 8
        elif wire == 5:
            value, i = None, i + 4
        else:
            raise ValueError(f"protobuf wire type {wire}")
        yield field, wire, value


def mvt_layers(tile: bytes) -> dict[str, dict]:
    """{layer: {features, bytes, geometry, tags, values}} of a Mapbox vector tile: the layer's
    size, the bytes of its features' geometries and attribute indexes (tags), and of its table
    of attribute values."""
    out: dict[str, dict] = {}
    for field, wire, value in _fields(memoryview(tile)):
        if field != 3 or wire != 2:
            continue
        name, count, geometry, tags, values = "", 0, 0, 0, 0
        for f, _, v in _fields(value):
            if f == 1:
                name = bytes(v).decode()
            elif f == 2:
                count += 1
                for gf, _, g in _fields(v):
                    if gf == 4:
                        geometry += len(g)
                    elif gf == 2:
                        tags += len(g)
            elif f == 4:
                values += len(v)
        entry = out.setdefault(
            name, {"features": 0, "bytes": 0, "geometry": 0, "tags": 0, "values": 0}
        )
        entry["features"] += count
        entry["bytes"] += len(value)
        entry["geometry"] += geometry
        entry["tags"] += tags
        entry["values"] += values
    return out


# -- HTTP ------------------------------------------------------------------------------------


@contextmanager
def _serving(url: str):
    """The app under uvicorn, ONE worker, on a free loopback port; yields the port."""
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "weijian.api.app:create_app", "--factory",
         "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
         "--log-level", "warning", "--no-access-log"],
        env={**os.environ, "DATABASE_URL": url, "WEIJIAN_EVIDENCE_DIR": tempfile.mkdtemp()},
        start_new_session=True,
    )  # fmt: skip
    try:
        _wait(port, "/api/v1/health", seconds=300)
        yield port, server.pid
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def _settled(pid: int, libpq: str, seconds: float = 300) -> float:
    """Wait until the started app has done its start-up work — on threads of its own it gives
    the open cases loaded without a stage (the 350,000 of the bench's COPY, as after an
    upgrade) their stage and deadline, some minutes on the first start, and counts the
    statistics of this month and this year (``figures_warm_seconds``, 7 s the first time on
    a million cases): until, for a second, the app's process used under 5 % of a core and no
    other session of its database ran a query. Returns the seconds waited. The tiles are
    timed on a settled app, as a user meets it after its first minutes."""

    def cpu() -> float:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    started = time.perf_counter()
    quiet = 0
    with psycopg.connect(libpq, autocommit=True) as conn:
        before = cpu()
        while quiet < 2 and time.perf_counter() - started < seconds:
            time.sleep(0.5)
            now = cpu()
            busy = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND state = 'active' AND pid <> pg_backend_pid()"
            ).fetchone()[0]
            quiet = quiet + 1 if now - before < 0.025 and not busy else 0
            before = now
    return time.perf_counter() - started


def _get(client: httpx.Client, path: str, params=None, etag: str | None = None) -> dict:
    """One GET: seconds to the last byte, bytes on the wire, the body uncompressed."""
    headers = {"If-None-Match": etag} if etag else None
    started = time.perf_counter()
    with client.stream("GET", path, params=params, headers=headers) as r:
        raw = b"".join(r.iter_raw())
    seconds = time.perf_counter() - started
    if r.status_code not in (200, 304):
        raise RuntimeError(f"GET {path} {params}: {r.status_code} {raw[:300]!r}")
    body = gzip.decompress(raw) if r.headers.get("content-encoding") == "gzip" else raw
    return {
        "s": seconds,
        "status": r.status_code,
        "etag": r.headers.get("etag"),
        "wire": len(raw),
        "raw": len(body),
        "body": body,
    }


def _tile_path(kind: str, tile: tuple[int, int, int]) -> tuple[str, dict | None]:
    z, x, y = tile
    return f"/api/v1/map/tiles/{kind}/{z}/{x}/{y}.mvt", (FILTER if kind == "cases" else None)


def _http_pass(port: int, token: str, views: dict[int, list[dict]]) -> dict:
    """Against a freshly started app: every distinct tile once (cold), every view's cells;
    then the warm passes. Returns the per-request records."""
    headers = {"Authorization": f"Bearer {token}", "Accept-Encoding": "gzip"}
    tiles_: dict[tuple[str, tuple], dict] = {}
    cells: dict[tuple[int, int, str], dict] = {}
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=120) as client:
        _get(client, "/api/v1/map/config")  # the page's first request (and a warm-up)
        for kind in KINDS:  # warm-ups: tiles far from the city (in no view), one cells answer
            _get(client, *_tile_path(kind, (14, 0, 0)))
        _get(client, "/api/v1/map/cells", _cells_requests(views[ZOOMS[-1]][0])[0][1])
        for z in ZOOMS:
            for v, view in enumerate(views[z]):
                for kind in _kinds_at(z):
                    for tile in view["tiles"]:
                        if (kind, tile) in tiles_:
                            continue  # cold: asked once only
                        path, params = _tile_path(kind, tile)
                        got = _get(client, path, params)
                        got["layers"] = mvt_layers(got["body"])
                        tiles_[(kind, tile)] = got
                for name, params in _cells_requests(view):
                    got = _get(client, "/api/v1/map/cells", params)
                    got["cells"] = len(json.loads(got["body"])["cells"])
                    got["params"] = params
                    cells[(z, v, name)] = got
        revalidated: dict[tuple, float] = {}
        from_cache: dict[tuple, float] = {}
        for key, got in tiles_.items():
            kind, tile = key
            path, params = _tile_path(kind, tile)
            again = _get(client, path, params, etag=got["etag"])
            if again["status"] == 304:
                revalidated[key] = again["s"]
            else:  # a case tile's ETag holds the minute (overdue turns with time)
                assert kind == "cases", (key, again["status"])
        for key in tiles_:
            kind, tile = key
            if kind == "cases":
                continue  # case tiles are not cached on the server (they follow every change)
            path, params = _tile_path(kind, tile)
            from_cache[key] = _get(client, path, params)["s"]
        cells_304 = {}
        for key, got in cells.items():
            again = _get(client, "/api/v1/map/cells", got["params"], etag=got["etag"])
            cells_304[key] = (again["s"], again["status"])
    for got in [*tiles_.values(), *cells.values()]:  # GZipMiddleware's work (its level, ≥ 1 kB)
        body = got.pop("body")
        started = time.perf_counter()
        if len(body) >= 1024:
            gzip.compress(body, compresslevel=GZIP_LEVEL)
        got["gzip_s"] = time.perf_counter() - started if len(body) >= 1024 else 0.0
    return {
        "tiles": tiles_,
        "cells": cells,
        "revalidated": revalidated,
        "from_cache": from_cache,
        "cells_304": cells_304,
    }


def _merge_median(runs: list[dict]) -> dict:
    """Per request, the median of the repetitions (bytes are the same every time), as the SQL
    baselines take theirs."""
    merged = runs[0]
    for part in ("tiles", "cells"):
        for key, got in merged[part].items():
            got["s"] = float(np.median([r[part][key]["s"] for r in runs]))
    for part in ("revalidated", "from_cache"):
        for key in merged[part]:
            merged[part][key] = float(np.median([r[part][key] for r in runs if key in r[part]]))
    for key, (_, status) in merged["cells_304"].items():
        merged["cells_304"][key] = (
            float(np.median([r["cells_304"][key][0] for r in runs])),
            status,
        )
    return merged


# -- SQL baselines -------------------------------------------------------------------------


class _OnTheFly:
    """A connection whose zone-tile SQL reads ``ST_Transform(geom, 3857)`` instead of the
    stored ``geom_3857`` (the index on ``geom`` still picks the rows)."""

    SWAPS = (
        ("z.geom_3857 && b.env", "z.geom && ST_Transform(b.env, 4490)"),
        ("ST_Simplify(z.geom_3857,", "ST_Simplify(ST_Transform(z.geom, 3857),"),
        # the active zones' FROM item (layers/repository.py · active_zones) without the column
        ("z.geom, z.geom_3857 FROM zone z", "z.geom FROM zone z"),
    )

    def __init__(self, conn):
        self.conn = conn

    def execute(self, clause, params=None):
        sql = clause.text
        if "ST_AsMVT" not in sql:  # the look-up of the active versions the tile's SQL names
            return self.conn.execute(clause, params)
        for old, new in self.SWAPS:
            assert old in sql, f"zone_tile's SQL no longer holds {old!r}"
            sql = sql.replace(old, new)
        assert "geom_3857" not in sql
        return self.conn.execute(text(sql), params)


def _timed(fn, repeat: int) -> float:
    """The median of ``repeat`` timed runs (the statistic of every side)."""
    return harness.measure("sql", fn, repeat=repeat, warmup=0).median


FLY_ZOOMS = (10, 14)  # the on-the-fly baseline: z14 as asked, z10 for its biggest tiles


def _tile_sql(app_engine, principal, departments, tile_set: dict, now, repeat: int) -> dict:
    """The bare SQL of the tiles, no HTTP: ``tiles.zone_tile`` per distinct zone tile at
    every zoom (and, at :data:`FLY_ZOOMS`, the same tiles transformed on the fly), and
    ``tiles.case_tile`` per distinct case tile with the page's filter."""
    scope, params = scope_sql(principal)
    where, fparams = MapFilters(category="open").sql("c")
    case_params = {**params, **fparams, "now": now}
    out: dict = {"zones": {}, "on_the_fly": {}, "cases": {}, "size_check": []}
    with app_engine.connect() as conn:
        tiles.zone_tile(conn, *tile_set["zones"][ZOOMS[0]][0], departments)  # warm-up
        for z, tile_list in tile_set["zones"].items():
            out["zones"][z] = [
                _timed(lambda t=t: tiles.zone_tile(conn, *t, departments), repeat)
                for t in tile_list
            ]
        fly = _OnTheFly(conn)
        for z in FLY_ZOOMS:
            out["on_the_fly"][z] = [
                _timed(lambda t=t: tiles.zone_tile(fly, *t, departments), repeat)
                for t in tile_set["zones"][z]
            ]
            big = sorted(tile_set["zones"][z], key=lambda t: -tile_set["raw"][("zones", t)])
            for t in big[:3]:  # the same tiles either way (the simplification sees the same metres)
                a = tiles.zone_tile(conn, *t, departments)
                b = tiles.zone_tile(fly, *t, departments)
                out["size_check"].append((z, len(a), len(b)))
        for z, tile_list in tile_set["cases"].items():
            out["cases"][z] = [
                _timed(
                    lambda t=t: tiles.case_tile(conn, *t, f"{scope} AND {where}", case_params),
                    repeat,
                )
                for t in tile_list
            ]
    return out


def _geojson(app_engine, views: dict[int, list[dict]], now: datetime, repeat: int) -> dict:
    """The view's case points as a GeoJSON FeatureCollection from PostGIS: seconds, bytes."""
    sql = f"""
    SELECT count(*), json_build_object('type', 'FeatureCollection', 'features',
        coalesce(json_agg(json_build_object(
            'type', 'Feature', 'id', c.id,
            'geometry', ST_AsGeoJSON(c.geom, 6)::json,
            'properties', json_build_object(
                'state', c.state, 'overdue', coalesce({overdue_sql("c")}, false))
        )), '[]'::json))::text
    FROM violation_case c
    WHERE c.geom_3857 && ST_MakeEnvelope(:x0, :y0, :x1, :y1, 3857) AND {{where}}
    """
    out: dict = {}
    with app_engine.connect() as conn:
        for label, where in (("open", "c.is_open"), ("all", "true")):
            query = text(sql.format(where=where))
            for z in ZOOMS:
                rows = []
                for view in views[z][: GEOJSON_VIEWS[z]]:
                    x0, y0, x1, y1 = view["bbox_m"]
                    params = {"x0": x0, "y0": y0, "x1": x1, "y1": y1, "now": now}
                    body, features = b"", 0

                    def dump(p=params, q=query):
                        nonlocal body, features
                        features, dumped = conn.execute(q, p).one()
                        body = dumped.encode()

                    seconds = _timed(dump, repeat)
                    rows.append(
                        {
                            "s": seconds,
                            "raw": len(body),
                            "wire": len(gzip.compress(body, compresslevel=GZIP_LEVEL)),
                            "features": features,
                        }
                    )
                    del body
                out[(label, z)] = rows
    return out


def _heat_sql(app_engine, principal, views: dict[int, list[dict]], now, repeat: int) -> dict:
    """The heat cells (cell_px=12, open cases) by a PostGIS GROUP BY, against the in-memory
    table's ``cells`` in this process, view by view."""
    r = 6378137.0
    sql = text(
        f"""
        SELECT degrees(avg(x) / {r}) AS lon,
               degrees(2 * atan(exp(avg(y) / {r})) - pi() / 2) AS lat,
               count(*), sum(area), count(*) FILTER (WHERE is_open),
               count(*) FILTER (WHERE overdue)
        FROM (SELECT ST_X(c.geom_3857) AS x, ST_Y(c.geom_3857) AS y,
                     coalesce(c.area_m2, 0) AS area, c.is_open,
                     coalesce({overdue_sql("c")}, false) AS overdue
              FROM violation_case c
              WHERE c.geom_3857 && ST_MakeEnvelope(:x0, :y0, :x1, :y1, 3857)
                AND c.is_open) s
        WHERE x >= :x0 AND x < :x1 AND y >= :y0 AND y < :y1  -- the store's half-open box
        GROUP BY floor(x / :cell), floor(y / :cell)
        """
    )
    store = CaseStore(app_engine)
    started = time.perf_counter()
    store.catch_up()
    load_s = time.perf_counter() - started
    filters = MapFilters(category="open")
    out: dict = {"store_load_s": load_s, "sql": {}, "memory": {}, "check": []}
    with app_engine.connect() as conn:
        for z in ZOOMS:
            cell = tiles.pixel_m(z) * HEAT_PX
            sql_s, mem_s = [], []
            for view in views[z]:
                x0, y0, x1, y1 = view["bbox_m"]
                params = {"x0": x0, "y0": y0, "x1": x1, "y1": y1, "now": now, "cell": cell}
                rows: list = []
                found = None

                def by_sql(p=params):
                    nonlocal rows
                    rows = conn.execute(sql, p).all()

                def by_memory(b=view["bbox_m"], c=cell):
                    nonlocal found
                    found = store.cells(principal, filters, now, b, c)

                sql_s.append(_timed(by_sql, repeat))
                mem_s.append(_timed(by_memory, repeat))
                out["check"].append(
                    (len(rows), len(found.count), sum(r[2] for r in rows), found.total)
                )
            out["sql"][z] = sql_s
            out["memory"][z] = mem_s
    return out


# -- figures ---------------------------------------------------------------------------------


def _pct(seconds: list[float]) -> dict:
    if not seconds:
        return {"n": 0, "p50_ms": float("nan"), "p95_ms": float("nan"), "max_ms": float("nan")}
    arr = np.asarray(seconds) * 1000
    return {
        "n": len(arr),
        "p50_ms": float(np.percentile(arr, 50)),
        "p95_ms": float(np.percentile(arr, 95)),
        "max_ms": float(arr.max()),
    }


def _fmt(p: dict) -> str:
    return f"{p['p50_ms']:.1f} / {p['p95_ms']:.1f} ms"


def _kb(n: float) -> str:
    return f"{n / 1000:,.0f} kB" if n >= 10_000 else f"{n / 1000:,.1f} kB"


def _features(got: dict) -> int:
    return sum(layer["features"] for layer in got["layers"].values())


def _figures(http: dict, views: dict[int, list[dict]]) -> dict:
    t, c = http["tiles"], http["cells"]
    out: dict = {"zooms": {}}
    for z in ZOOMS:
        fz: dict = {}
        for kind in _kinds_at(z):
            keys = [k for k in t if k[0] == kind and k[1][0] == z]
            recs = [t[k] for k in keys]
            feats = [_features(g) for g in recs]
            slow = sorted(keys, key=lambda k: -t[k]["s"])[:5]
            fz[kind] = {
                "cold": _pct([g["s"] for g in recs]),
                "revalidate_304": _pct(
                    [http["revalidated"][k] for k in keys if k in http["revalidated"]]
                ),
                "revalidate_not_304": sum(k not in http["revalidated"] for k in keys),
                "tile_cache": _pct([http["from_cache"][k] for k in keys])
                if kind != "cases"
                else None,
                "tiles": len(keys),
                "features_p50": float(np.percentile(feats, 50)),
                "features_max": int(max(feats)),
                "wire_p50": float(np.percentile([g["wire"] for g in recs], 50)),
                "wire_max": int(max(g["wire"] for g in recs)),
                "raw_p50": float(np.percentile([g["raw"] for g in recs], 50)),
                "raw_max": int(max(g["raw"] for g in recs)),
                "gzip9": _pct([g["gzip_s"] for g in recs]),
                "over_goal": sum(g["s"] * 1000 > GOAL_MS for g in recs),
                "slowest": [
                    {
                        "tile": "/".join(map(str, k[1])),
                        "ms": t[k]["s"] * 1000,
                        "wire": t[k]["wire"],
                        "raw": t[k]["raw"],
                        "layers": t[k]["layers"],
                        "gzip_ms": t[k]["gzip_s"] * 1000,
                    }
                    for k in slow
                ],
            }
        for name in ("cells12", "cells56"):
            keys = [k for k in c if k[0] == z and k[2] == name]
            if not keys:
                continue
            fz[name] = {
                "cold": _pct([c[k]["s"] for k in keys]),
                "revalidate": _pct([http["cells_304"][k][0] for k in keys]),
                "revalidated_304": sum(http["cells_304"][k][1] == 304 for k in keys),
                "cells_p50": float(np.percentile([c[k]["cells"] for k in keys], 50)),
                "wire_p50": float(np.percentile([c[k]["wire"] for k in keys], 50)),
                "raw_p50": float(np.percentile([c[k]["raw"] for k in keys], 50)),
                "gzip9": _pct([c[k]["gzip_s"] for k in keys]),
                "per_view": [
                    {
                        "ms": c[k]["s"] * 1000,
                        "cells": c[k]["cells"],
                        "wire": c[k]["wire"],
                        "raw": c[k]["raw"],
                        "gzip_ms": c[k]["gzip_s"] * 1000,
                    }
                    for k in keys
                ],
            }
        # bytes per view
        per_view = []
        for v, view in enumerate(views[z]):
            parts = {}
            for kind in _kinds_at(z):
                recs = [t[(kind, tile)] for tile in view["tiles"]]
                parts[kind] = (
                    sum(g["wire"] for g in recs),
                    sum(g["raw"] for g in recs),
                    sum(_features(g) for g in recs),
                )
            cells_ = [c[k] for k in c if k[0] == z and k[1] == v]
            parts["cells"] = (sum(g["wire"] for g in cells_), sum(g["raw"] for g in cells_), 0)
            per_view.append(
                {
                    "tiles": len(view["tiles"]),
                    "wire": sum(p[0] for p in parts.values()),
                    "raw": sum(p[1] for p in parts.values()),
                    "by_kind_wire": {k: p[0] for k, p in parts.items()},
                    "by_kind_features": {k: p[2] for k, p in parts.items() if k != "cells"},
                }
            )
        wire = [p["wire"] for p in per_view]
        raw = [p["raw"] for p in per_view]
        worst = per_view[int(np.argmax(wire))]
        fz["warm_304"] = _pct([s for k, s in http["revalidated"].items() if k[1][0] == z])
        fz["warm_cache"] = _pct([s for k, s in http["from_cache"].items() if k[1][0] == z])
        fz["view"] = {
            "per_view": per_view,
            "tiles_per_kind": [p["tiles"] for p in per_view],
            "wire_p50": float(np.percentile(wire, 50)),
            "wire_max": int(max(wire)),
            "raw_p50": float(np.percentile(raw, 50)),
            "raw_max": int(max(raw)),
            "by_kind_wire_p50": {
                k: float(np.percentile([p["by_kind_wire"][k] for p in per_view], 50))
                for k in per_view[0]["by_kind_wire"]
            },
            "largest": worst,
        }
        out["zooms"][z] = fz
    return out


def _goal_notes(fz: dict, z: int) -> tuple[list[str], bool]:
    missed = []
    for name in (*_kinds_at(z), "cells12", "cells56"):
        if name in fz and fz[name]["cold"]["p95_ms"] > GOAL_MS:
            missed.append(f"{name} p95 {fz[name]['cold']['p95_ms']:.0f} ms")
    if fz["view"]["wire_max"] > GOAL_BYTES:
        over = sum(w > GOAL_BYTES for w in (p["wire"] for p in fz["view"]["per_view"]))
        missed.append(
            f"largest view {_kb(fz['view']['wire_max'])} ({over} of {len(fz['view']['per_view'])}"
            " views over)"
        )
    return missed, not missed


# -- the benchmark --------------------------------------------------------------------------


def run(city: Path, repeat: int = 1) -> dict:
    started = time.perf_counter()
    with ScratchDatabase() as db:
        snap, principal, load = _prepare(db, city)
        results = _measure(db, snap, principal, load, repeat)
    results["total_s"] = time.perf_counter() - started
    print(f"  total {results['total_s']:.0f} s", flush=True)
    return results


def _prepare(db: ScratchDatabase, city: Path):
    """Grids, zones and the million cases in ``db``; the supervisor the page logs in as."""
    engine = engine_for(db.url)
    started = time.perf_counter()
    load_samples(engine, city, log=lambda *_: None)
    import_s = time.perf_counter() - started
    snap = load_snapshot(engine)
    loaded = load_million(db, snap, city)
    with psycopg.connect(db.libpq, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
        # write out the load's gigabyte of WAL now, not during the measurements
        with contextlib.suppress(psycopg.errors.InsufficientPrivilege):
            conn.execute("CHECKPOINT")
        zones = conn.execute("SELECT count(*) FROM active_zone").fetchone()[0]
        grids = conn.execute("SELECT count(*) FROM active_grid").fetchone()[0]
    with engine.begin() as conn:
        principal = users.add_user(
            conn,
            snap,
            default_workflow(),
            username="bench-map",
            password="bench-password",
            role="supervisor",
        )
    load = {**loaded, "import_s": import_s, "zones": zones, "grids": grids}
    print(
        f"  imported {zones:,} zones and {grids:,} grids in {import_s:.0f} s; "
        f"{loaded['cases']:,} cases ({loaded['open']:,} open) loaded in "
        f"{loaded['prepare_s'] + loaded['copy_s']:.0f} s",
        flush=True,
    )
    return snap, principal, load


def _measure(db, snap, principal, load: dict, repeat: int) -> dict:
    results: dict = {"load": load}
    loaded, zones, grids = load, load["zones"], load["grids"]
    views = _views(db)
    results["views"] = {
        z: [{"centre_m": v["centre_m"], "bbox": v["bbox"]} for v in views[z]] for z in ZOOMS
    }

    results["loadavg_before"] = os.getloadavg()
    runs, http_s, settle_s = [], 0.0, []
    for _ in range(repeat):
        with _serving(db.url) as (port, pid):
            settle_s.append(_settled(pid, db.libpq))
            token = httpx.post(
                f"http://127.0.0.1:{port}/api/v1/auth/login",
                json={"username": "bench-map", "password": "bench-password"},
                timeout=30,
            ).json()["access_token"]
            started = time.perf_counter()
            runs.append(_http_pass(port, token, views))
            http_s += time.perf_counter() - started
    http = _merge_median(runs)
    print(
        f"  HTTP passes: {http_s:.0f} s, each after the app's start-up work "
        f"({', '.join(f'{x:.0f}' for x in settle_s)} s)",
        flush=True,
    )
    results["settle_s"] = settle_s
    figures = _figures(http, views)
    results["http"] = figures

    app_engine = app_engine_for(db.url)
    now = datetime.now(LOCAL)
    departments = MapService(None, None).zone_departments(snap, now.date())
    tile_set = {
        kind: {
            z: sorted({t for k, t in http["tiles"] if k == kind and t[0] == z})
            for z in ZOOMS
            if kind in _kinds_at(z)
        }
        for kind in ("zones", "cases")
    }
    tile_set["raw"] = {k: got["raw"] for k, got in http["tiles"].items()}
    started = time.perf_counter()
    tsql = _tile_sql(app_engine, principal, departments, tile_set, now, repeat)
    heat = _heat_sql(app_engine, principal, views, now, repeat)
    geo = _geojson(app_engine, views, now, repeat)
    print(f"  SQL baselines: {time.perf_counter() - started:.0f} s", flush=True)

    results["loadavg_after"] = os.getloadavg()
    rows: list[tuple[str, str, str]] = [
        (
            "city loaded",
            f"{loaded['cases']:,}",
            f"cases ({loaded['open']:,} open); {zones:,} zones, {grids:,} grids; "
            "1 uvicorn worker, one request at a time over loopback; load average "
            f"{results['loadavg_before'][0]:.1f} before, {results['loadavg_after'][0]:.1f} "
            f"after, {os.cpu_count()} CPUs",
        )
    ]
    results["tile_sql"] = {
        "zones": {z: _pct(v) for z, v in tsql["zones"].items()},
        "cases": {z: _pct(v) for z, v in tsql["cases"].items()},
        "zones_on_the_fly": {z: _pct(v) for z, v in tsql["on_the_fly"].items()},
        "on_the_fly_size_check": tsql["size_check"],
    }
    goals: dict = {}
    for z in ZOOMS:
        fz = figures["zooms"][z]
        for kind in _kinds_at(z):
            f = fz[kind]
            rows.append(
                (
                    f"z{z} {kind} tile, cold",
                    _fmt(f["cold"]),
                    f"p50 / p95 (max {f['cold']['max_ms']:.0f}); {f['tiles']} distinct tiles; "
                    f"features p50 {f['features_p50']:,.0f} max {f['features_max']:,}; gzip "
                    f"p50 {_kb(f['wire_p50'])} max {_kb(f['wire_max'])} (raw max "
                    f"{_kb(f['raw_max'])}; gzip -{GZIP_LEVEL} of the body here: p95 "
                    f"{f['gzip9']['p95_ms']:.1f} ms, max {f['gzip9']['max_ms']:.1f})",
                )
            )
        for name, label in (("cells12", "heat/totals"), ("cells56", "clusters")):
            if name in fz:
                f = fz[name]
                rows.append(
                    (
                        f"z{z} /cells {name[5:]} px ({label})",
                        _fmt(f["cold"]),
                        f"max {f['cold']['max_ms']:.0f}; {f['cold']['n']} views; "
                        f"{f['cells_p50']:,.0f} cells, gzip {_kb(f['wire_p50'])} of "
                        f"{_kb(f['raw_p50'])} JSON (p50; gzip -{GZIP_LEVEL} of it here p95 "
                        f"{f['gzip9']['p95_ms']:.1f} ms)",
                    )
                )
        for kind in ("zones", "cases"):
            if z not in results["tile_sql"][kind]:
                continue
            bare = results["tile_sql"][kind][z]
            cold = fz[kind]["cold"]
            rows.append(
                (
                    f"z{z} {kind} tile, bare SQL",
                    _fmt(bare),
                    f"tiles.{kind[:-1]}_tile on a connection, same tiles; HTTP adds "
                    f"{cold['p50_ms'] - bare['p50_ms']:.1f} ms at p50, "
                    f"{cold['p95_ms'] - bare['p95_ms']:.1f} at p95",
                )
            )
        per_kind = ", ".join(
            f"{k} {fz[k]['revalidate_304']['p50_ms']:.1f}/{fz[k]['revalidate_304']['p95_ms']:.1f}"
            for k in _kinds_at(z)
        )
        rows.append(
            (
                f"z{z} warm: ETag → 304",
                _fmt(fz["warm_304"]),
                f"every tile again with If-None-Match; p50/p95 by kind: {per_kind}"
                + (
                    f"; {fresh} case tiles 200 instead (their ETag's minute had turned)"
                    if (fresh := sum(fz[k]["revalidate_not_304"] for k in _kinds_at(z)))
                    else ""
                ),
            )
        )
        per_kind = ", ".join(
            f"{k} {fz[k]['tile_cache']['p50_ms']:.1f}/{fz[k]['tile_cache']['p95_ms']:.1f}"
            for k in ("grids", "zones")
        )
        rows.append(
            (
                f"z{z} warm: from the tile cache",
                _fmt(fz["warm_cache"]),
                f"grids and zones again, no ETag (gzip still done per response); {per_kind}",
            )
        )
        v = fz["view"]
        kinds = ", ".join(f"{k} {_kb(b)}" for k, b in v["by_kind_wire_p50"].items())
        rows.append(
            (
                f"z{z} bytes per view (gzip)",
                f"{_kb(v['wire_p50'])}",
                f"p50; max {_kb(v['wire_max'])}; uncompressed p50 {_kb(v['raw_p50'])} max "
                f"{_kb(v['raw_max'])}; {min(v['tiles_per_kind'])}–"
                f"{max(v['tiles_per_kind'])} tiles a kind; p50 by kind: {kinds}",
            )
        )
        missed, met = _goal_notes(fz, z)
        goals[z] = {"met": met, "missed": missed}
        rows.append(
            (
                f"z{z} goals",
                "MET" if met else "MISSED",
                "p95 ≤ 50 ms every tile kind and aggregate, ≤ 500 kB every view"
                + ("" if met else ": " + "; ".join(missed)),
            )
        )
    results["goals"] = goals

    # baselines
    for z in FLY_ZOOMS:
        fly, stored = results["tile_sql"]["zones_on_the_fly"][z], results["tile_sql"]["zones"][z]
        rows.append(
            (
                f"z{z} zones, ST_Transform on the fly",
                _fmt(fly),
                f"baseline, bare SQL over the same {fly['n']} tiles; ÷ stored geom_3857: "
                f"p50 {fly['p50_ms'] / stored['p50_ms']:.1f}×, p95 "
                f"{fly['p95_ms'] / stored['p95_ms']:.1f}×, max "
                f"{fly['max_ms'] / stored['max_ms']:.1f}×",
            )
        )
    results["heat"] = {
        "store_load_s": heat["store_load_s"],
        "sql": {z: _pct(s) for z, s in heat["sql"].items()},
        "memory": {z: _pct(s) for z, s in heat["memory"].items()},
        "check": heat["check"],
    }
    agree = all(a == b and n == m for a, b, n, m in heat["check"])
    results["heat"]["counts_agree"] = agree
    for z in ZOOMS:
        s, m = results["heat"]["sql"][z], results["heat"]["memory"][z]
        http12 = figures["zooms"][z]["cells12"]["cold"]
        rows.append(
            (
                f"z{z} heat cells, PostGIS GROUP BY",
                _fmt(s),
                f"baseline; in-memory CaseStore.cells {_fmt(m)} "
                f"(÷ {s['p50_ms'] / m['p50_ms']:.0f}× p50, "
                f"{s['p95_ms'] / m['p95_ms']:.0f}× p95); via HTTP {_fmt(http12)}"
                + ("; same cells and counts" if agree else "; COUNTS DIFFER"),
            )
        )
    results["geojson"] = {}
    for label in ("open", "all"):
        for z in ZOOMS:
            g = geo[(label, z)]
            mine = figures["zooms"][z]["view"]["per_view"][: len(g)]
            if z >= tiles.CASE_MIN_ZOOM:  # the map's points: its case tiles
                ours = [p["by_kind_wire"]["cases"] for p in mine]
                points = sum(p["by_kind_features"]["cases"] for p in mine)
                what = "its case tiles"
            else:  # no points below CASE_MIN_ZOOM: the cells stand for them
                ours = [p["by_kind_wire"]["cells"] for p in mine]
                points = 0
                what = "its cells"
            fig = {
                "views": len(g),
                "sql": _pct([r["s"] for r in g]),
                "features_p50": float(np.percentile([r["features"] for r in g], 50)),
                "features_max": int(max(r["features"] for r in g)),
                "wire_p50": float(np.percentile([r["wire"] for r in g], 50)),
                "wire_max": int(max(r["wire"] for r in g)),
                "raw_p50": float(np.percentile([r["raw"] for r in g], 50)),
                "raw_max": int(max(r["raw"] for r in g)),
                "map_wire_p50": float(np.percentile(ours, 50)),
                "bytes_per_point_gzip": sum(r["wire"] for r in g)
                / max(1, sum(r["features"] for r in g)),
                "map_bytes_per_point": sum(ours) / points if points else None,
            }
            results["geojson"][f"{label}_z{z}"] = fig
            per_point = (
                f"; gzip bytes a point {fig['bytes_per_point_gzip']:.0f} vs MVT "
                f"{fig['map_bytes_per_point']:.0f} (its open cases; tiles reach past the view)"
                if points
                else ""
            )
            rows.append(
                (
                    f"z{z} GeoJSON of {label} cases",
                    _fmt(fig["sql"]),
                    f"baseline, SQL over {len(g)} views; points p50 {fig['features_p50']:,.0f} "
                    f"max {fig['features_max']:,}; gzip p50 {_kb(fig['wire_p50'])} max "
                    f"{_kb(fig['wire_max'])} (raw p50 {_kb(fig['raw_p50'])}, max "
                    f"{_kb(fig['raw_max'])}); the map sends {what}: p50 "
                    f"{_kb(fig['map_wire_p50'])} (GeoJSON ÷ map "
                    f"{fig['wire_p50'] / fig['map_wire_p50']:.1f}×){per_point}",
                )
            )
    table(rows)
    scope, sparams = scope_sql(principal)
    where, fparams = MapFilters(category="open").sql("c")

    def retime(kind: str, tile: tuple) -> float:
        """The bare SQL of one tile, median of 3 (ms)."""
        with app_engine.connect() as conn:
            make = {
                "grids": lambda: tiles.grid_tile(conn, *tile),
                "zones": lambda: tiles.zone_tile(conn, *tile, departments),
                "cases": lambda: tiles.case_tile(
                    conn, *tile, f"{scope} AND {where}", {**sparams, **fparams, "now": now}
                ),
            }[kind]
            return _timed(make, 3) * 1000

    results["missed"] = _explain(figures, goals, retime)
    return results


def _explain(figures: dict, goals: dict, retime) -> list[dict]:
    """Why a goal is missed or close: at each zoom, the slowest tiles of every kind with tiles
    over 50 ms (their bare SQL, median of 3, their gzip, features and what their bytes are), the
    slowest cells answers when over, the largest view when over 500 kB. Printed and returned."""
    out = []
    for z, goal in goals.items():
        fz = figures["zooms"][z]
        head = "goals met" if goal["met"] else "missed: " + "; ".join(goal["missed"])
        print(f"  z{z} {head}", flush=True)
        for kind in _kinds_at(z):
            f = fz[kind]
            if not f["over_goal"]:
                continue
            print(
                f"    {kind}: {f['over_goal']} of {f['tiles']} tiles over {GOAL_MS:.0f} ms; "
                "the slowest:",
                flush=True,
            )
            for s in f["slowest"][:3]:
                tile = tuple(int(v) for v in s["tile"].split("/"))
                sql = retime(kind, tile)
                out.append({"zoom": z, "kind": kind, **s, "sql_median_ms": sql})
                layers = ", ".join(
                    f"{n} {v['features']:,} features ({_kb(v['geometry'])} geometry, "
                    f"{_kb(v['tags'])} attribute indexes, {_kb(v['values'])} attribute values, "
                    f"{_kb(v['bytes'] - v['geometry'] - v['tags'] - v['values'])} ids and framing)"
                    for n, v in s["layers"].items()
                )
                print(
                    f"      {s['tile']}: {s['ms']:.0f} ms over HTTP, bare SQL {sql:.0f} ms "
                    f"(median of 3), gzip -{GZIP_LEVEL} {s['gzip_ms']:.0f} ms; "
                    f"{_kb(s['raw'])} raw → "
                    f"{_kb(s['wire'])} sent; {layers}",
                    flush=True,
                )
        for name in ("cells12", "cells56"):
            if name in fz and fz[name]["cold"]["max_ms"] > GOAL_MS:
                slow = sorted(fz[name]["per_view"], key=lambda r: -r["ms"])[:3]
                over = sum(r["ms"] > GOAL_MS for r in fz[name]["per_view"])
                out.append({"zoom": z, "kind": name, "slowest": slow})
                print(
                    f"    /cells {name[5:]} px: {over} of {len(fz[name]['per_view'])} over "
                    f"{GOAL_MS:.0f} ms; the slowest: "
                    + "; ".join(
                        f"{r['ms']:.0f} ms for {r['cells']:,} cells, {_kb(r['raw'])} JSON → "
                        f"{_kb(r['wire'])} sent (gzip -{GZIP_LEVEL} {r['gzip_ms']:.0f} ms)"
                        for r in slow
                    ),
                    flush=True,
                )
        v = fz["view"]["largest"]
        if v["wire"] > GOAL_BYTES:
            out.append({"zoom": z, "kind": "view", **v})
            print(
                f"    largest view: {_kb(v['wire'])} sent, {v['tiles']} tiles a kind; by kind "
                f"{', '.join(f'{k} {_kb(b)}' for k, b in v['by_kind_wire'].items())}; "
                f"features {', '.join(f'{k} {n:,}' for k, n in v['by_kind_features'].items())}",
                flush=True,
            )
    return out


if __name__ == "__main__":
    from bench.harness import DEFAULT_CITY_DIR, ensure_city

    print(json.dumps(run(ensure_city(DEFAULT_CITY_DIR)), indent=2, default=str))
