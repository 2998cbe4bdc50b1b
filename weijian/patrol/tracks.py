"""Patrol tracks (巡查轨迹): a worker's walk, recorded by the field app in batches of GPS points.

A track is started (``start``: the moment the worker tapped 开始巡查, sent again by a retrying
app it finds the same track), fed points (``append``: each point once by its time, batches in
any order and any number of times) and stopped (``stop``). After every batch the line is built
again from every point received, in time order: a point less accurate than
:data:`MAX_ACCURACY_M` or implying a speed above :data:`MAX_SPEED_KMH` from the last point kept
is dropped and counted. The length is measured in Gauss-Krüger metres.

Tracks are personal data. A track is read by the worker who walked it, by administrators, and by
the supervisors, towns and communities whose grid is the worker's grid or one above it (the
chain frozen when the patrol began); to anyone else it does not exist. Plain Python and SQL.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from functools import lru_cache

import pyproj
from sqlalchemy import Connection, Engine, text

from weijian.cases.scope import Principal
from weijian.errors import ConflictError, InputError, NotFoundError, PermissionDenied
from weijian.gis.crs import CHINA_LAT, CHINA_LON, gk3_epsg_for_lon
from weijian.gis.points import to_cgcs2000

MAX_ACCURACY_M = 100.0
"""Points whose accuracy (metres, as the device reports it) is worse than this are dropped."""
MAX_SPEED_KMH = 150.0
"""A point that implies a faster move from the last point kept is a GPS jump: dropped."""
FIRST_YEAR, LAST_YEAR = 2000, 2100
"""The years a patrol's moments may fall in."""
MAX_BATCH = 5000
"""Most points in one batch."""
#: roles that read the tracks of the workers in their grid (besides administrators)
OVERSEERS = ("supervisor", "town", "community")
#: how far a track's moment may lie ahead of the server's clock (devices' clocks drift)
CLOCK_SLACK = timedelta(minutes=10)


def _moment(value, field: str) -> datetime:
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
        except ValueError:
            moment = None
    if moment is not None and not FIRST_YEAR <= moment.year <= LAST_YEAR:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise InputError(
            f"时间“{value}”格式不正确，应为带时区的 ISO 时间，如 2026-03-02T09:00:00+08:00",
            code="patrol.time_invalid",
            detail=f"{field}: {value!r} is not an ISO time with a zone",
            hint="send e.g. 2026-03-02T09:00:00+08:00",
        )
    return moment


def _recorder(principal: Principal) -> int:
    if principal.id is None or principal.api_client_id is not None:
        raise PermissionDenied(
            "只有登录的工作人员才能记录巡查轨迹",
            code="patrol.staff_only",
            detail="only a logged-in staff user records patrol tracks",
        )
    return principal.id


def grid_chain(conn: Connection, code: str | None) -> list[str]:
    """``code`` and the codes of the active grids above it, bottom up."""
    if not code:
        return []
    rows = conn.execute(
        text(
            "WITH RECURSIVE up(code, parent_code, depth) AS ("
            " SELECT code, parent_code, 0 FROM active_grid WHERE code = :code"
            " UNION SELECT g.code, g.parent_code, up.depth + 1 FROM active_grid g"
            " JOIN up ON g.code = up.parent_code WHERE up.depth < 8)"
            " SELECT DISTINCT code, depth FROM up ORDER BY depth"
        ),
        {"code": code},
    ).all()
    return [r.code for r in rows] or [code]


def may_read(principal: Principal, track: dict) -> bool:
    """Whether ``principal`` reads the track (its columns user_id and grid_chain)."""
    if principal.api_client_id is not None or principal.id is None:
        return False
    if principal.id == track["user_id"] or principal.role == "admin":
        return True
    if principal.role not in OVERSEERS:
        return False
    return principal.city_wide or principal.grid_code in (track["grid_chain"] or [])


def start(engine: Engine, principal: Principal, made_at, now: datetime) -> dict:
    """A new track begun at ``made_at``; the same track again for the same moment."""
    user_id = _recorder(principal)
    started = _moment(made_at, "made_at")
    if started > now + CLOCK_SLACK:
        raise InputError(
            "开始时间晚于服务器当前时间，请检查手机的时间设置",
            code="patrol.time_future",
            detail=f"made_at {started.isoformat()} lies in the future",
        )
    with engine.begin() as conn:
        chain = grid_chain(conn, principal.grid_code)
        row = conn.execute(
            text(
                "INSERT INTO patrol_track (user_id, grid_code, grid_chain, started_at) "
                "VALUES (:user, :grid, :chain, :started) "
                "ON CONFLICT (user_id, started_at) DO UPDATE SET user_id = EXCLUDED.user_id "
                "RETURNING id"
            ),
            {"user": user_id, "grid": principal.grid_code, "chain": chain, "started": started},
        ).one()
    return summary(engine, principal, row.id)


def _own_track(conn: Connection, principal: Principal, track_id: int) -> dict:
    row = (
        conn.execute(
            text("SELECT id, user_id, ended_at FROM patrol_track WHERE id = :id FOR UPDATE"),
            {"id": track_id},
        )
        .mappings()
        .first()
    )
    if row is None or row["user_id"] != principal.id:
        raise NotFoundError(
            f"巡查轨迹 {track_id} 不存在",
            code="patrol.track_not_found",
            detail=f"no track {track_id} of yours",
        )
    return dict(row)


def _points(points: list[dict], crs: str) -> list[tuple]:
    if len(points) > MAX_BATCH:
        raise InputError(
            f"一次最多上传 {MAX_BATCH} 个轨迹点，请分批上传",
            code="patrol.batch_too_large",
            detail=f"{len(points)} points in one batch; at most {MAX_BATCH}",
        )
    if not points:
        return []
    xs = [float(p["lon"]) for p in points]
    ys = [float(p["lat"]) for p in points]
    lon, lat, _source = to_cgcs2000(xs, ys, crs or "wgs84")
    outside = [
        i for i in range(len(points))
        if not (CHINA_LON[0] <= lon[i] <= CHINA_LON[1] and CHINA_LAT[0] <= lat[i] <= CHINA_LAT[1])
    ]  # fmt: skip
    if outside:
        i = outside[0]
        raise InputError(
            f"有 {len(outside)} 个轨迹点位于中国境外（第一个：第 {i + 1} 个点），"
            "请核对坐标和坐标系",
            code="patrol.point_outside_china",
            detail=f"{len(outside)} points lie outside China (first: point {i + 1})",
            hint="GPS coordinates are crs=wgs84",
        )
    out = []
    for i, p in enumerate(points):
        accuracy = p.get("accuracy")
        if accuracy is not None and not (math.isfinite(accuracy) and accuracy >= 0):
            raise InputError(
                f"第 {i + 1} 个轨迹点的精度“{accuracy}”不正确",
                code="patrol.accuracy_invalid",
                detail=f"point {i + 1}: accuracy {accuracy!r}",
            )
        out.append((_moment(p["t"], "t"), float(lon[i]), float(lat[i]), accuracy))
    return out


def _metric(lon: float) -> pyproj.Transformer:
    return _transformer(gk3_epsg_for_lon(lon))


@lru_cache(maxsize=16)
def _transformer(epsg: int) -> pyproj.Transformer:
    return pyproj.Transformer.from_crs(4490, epsg, always_xy=True)


def filter_points(rows: list[tuple]) -> tuple[list[tuple], int, int, float]:
    """Points ``(t, lon, lat, accuracy)`` in time order → the points kept, the count dropped
    for accuracy, the count dropped as jumps, and the kept line's length in metres."""
    kept: list[tuple] = []
    metric: list[tuple[float, float]] = []
    inaccurate = jumps = 0
    length = 0.0
    to_gk = _metric(rows[0][1]) if rows else None
    for t, lon, lat, accuracy in rows:
        if accuracy is not None and accuracy > MAX_ACCURACY_M:
            inaccurate += 1
            continue
        x, y = to_gk.transform(lon, lat)
        if kept:
            step = math.dist(metric[-1], (x, y))
            seconds = (t - kept[-1][0]).total_seconds()
            if seconds <= 0 or step / seconds * 3.6 > MAX_SPEED_KMH:
                jumps += 1
                continue
            length += step
        kept.append((t, lon, lat, accuracy))
        metric.append((x, y))
    return kept, inaccurate, jumps, length


def _rebuild(conn: Connection, track_id: int) -> None:
    rows = conn.execute(
        text("SELECT t, lon, lat, accuracy FROM patrol_point WHERE track_id = :id ORDER BY t"),
        {"id": track_id},
    ).all()
    kept, inaccurate, jumps, length = filter_points([tuple(r) for r in rows])
    wkt = None
    if len(kept) >= 2:
        wkt = (
            "LINESTRING M ("
            + ", ".join(f"{lon!r} {lat!r} {t.timestamp()!r}" for t, lon, lat, _a in kept)
            + ")"
        )
    conn.execute(
        text(
            "UPDATE patrol_track SET point_count = :count, dropped_inaccurate = :inaccurate, "
            "dropped_jump = :jumps, length_m = :length, "
            "geom = ST_GeomFromText(CAST(:wkt AS text), 4490), "
            "grids_crossed = COALESCE((SELECT array_agg(g.code ORDER BY g.code) "
            " FROM active_grid g WHERE :wkt IS NOT NULL "
            " AND ST_Intersects(g.geom, ST_Force2D(ST_GeomFromText(CAST(:wkt AS text), 4490)))),"
            " '{}') WHERE id = :id"
        ),
        {
            "id": track_id,
            "count": len(kept),
            "inaccurate": inaccurate,
            "jumps": jumps,
            "length": length,
            "wkt": wkt,
        },
    )


def append(engine: Engine, principal: Principal, track_id: int, points: list[dict], crs: str):
    """Add a batch of points (each ``{lon, lat, t, accuracy}``) to the user's own track."""
    _recorder(principal)
    rows = _points(points, crs)
    with engine.begin() as conn:
        _own_track(conn, principal, track_id)
        if rows:
            conn.execute(
                text(
                    "INSERT INTO patrol_point (track_id, t, lon, lat, accuracy) "
                    "VALUES (:id, :t, :lon, :lat, :accuracy) ON CONFLICT DO NOTHING"
                ),
                [
                    {"id": track_id, "t": t, "lon": lon, "lat": lat, "accuracy": accuracy}
                    for t, lon, lat, accuracy in rows
                ],
            )
            _rebuild(conn, track_id)
    return summary(engine, principal, track_id)


def stop(engine: Engine, principal: Principal, track_id: int, made_at) -> dict:
    """End the user's own track at ``made_at`` (sent again: the first end stays)."""
    _recorder(principal)
    ended = _moment(made_at, "made_at")
    with engine.begin() as conn:
        _own_track(conn, principal, track_id)
        started = conn.execute(
            text("SELECT started_at FROM patrol_track WHERE id = :id"), {"id": track_id}
        ).scalar_one()
        if ended < started:
            raise ConflictError(
                "结束时间早于开始时间，请检查手机的时间设置",
                code="patrol.ends_before_start",
                detail=f"made_at {ended.isoformat()} is before the start {started.isoformat()}",
            )
        conn.execute(
            text("UPDATE patrol_track SET ended_at = COALESCE(ended_at, :ended) WHERE id = :id"),
            {"id": track_id, "ended": ended},
        )
    return summary(engine, principal, track_id)


_COLUMNS = (
    "t.id, t.user_id, u.username, u.display_name, t.grid_code, t.grid_chain, t.started_at, "
    "t.ended_at, t.point_count, t.dropped_inaccurate, t.dropped_jump, t.length_m, "
    "t.grids_crossed"
)


def _public(row: dict) -> dict:
    out = dict(row)
    out.pop("grid_chain", None)
    for key in ("started_at", "ended_at"):
        out[key] = out[key].isoformat() if out[key] else None
    out["length_m"] = round(out["length_m"], 1)
    out["grids_crossed"] = list(out["grids_crossed"] or [])
    return out


def _not_found(track_id: int) -> NotFoundError:
    return NotFoundError(
        f"巡查轨迹 {track_id} 不存在或您无权查看",
        code="patrol.track_not_found",
        detail=f"no track {track_id} visible to you",
    )


def _row(conn: Connection, principal: Principal, track_id: int, geometry: bool = False):
    geom = ", ST_AsGeoJSON(ST_Force2D(t.geom), 7) AS geojson, " if geometry else ", "
    row = (
        conn.execute(
            text(
                f"SELECT {_COLUMNS}{geom}"
                "(SELECT json_agg(ST_M(d.geom) ORDER BY d.path) FROM ST_DumpPoints(t.geom) d) "
                "AS times FROM patrol_track t JOIN app_user u ON u.id = t.user_id "
                "WHERE t.id = :id"
            ),
            {"id": track_id},
        )
        .mappings()
        .first()
    )
    if row is None or not may_read(principal, row):
        raise _not_found(track_id)
    return dict(row)


def summary(engine: Engine, principal: Principal, track_id: int) -> dict:
    with engine.connect() as conn:
        row = _row(conn, principal, track_id)
    row.pop("times", None)
    return _public(row)


def feature(engine: Engine, principal: Principal, track_id: int) -> dict:
    """One track as a GeoJSON Feature (CGCS2000 lon/lat); ``properties.times`` holds the ISO
    time of every vertex."""
    import json

    with engine.connect() as conn:
        row = _row(conn, principal, track_id, geometry=True)
    geojson = row.pop("geojson")
    epochs = row.pop("times") or []
    props = _public(row)
    props["times"] = [datetime.fromtimestamp(e, tz=row["started_at"].tzinfo).isoformat()
                      for e in epochs]  # fmt: skip
    return {
        "type": "Feature",
        "id": row["id"],
        "geometry": json.loads(geojson) if geojson else None,
        "properties": props,
    }


def listing(
    engine: Engine,
    principal: Principal,
    since: datetime | None = None,
    until: datetime | None = None,
    user: str | None = None,
    limit: int = 200,
) -> list[dict]:
    """The tracks ``principal`` may read, newest first (optionally of one user, in a period)."""
    if principal.id is None or principal.api_client_id is not None:
        return []
    where = ["true"]
    params: dict = {"limit": limit}
    if principal.role != "admin":
        if principal.role in OVERSEERS and principal.city_wide:
            pass
        elif principal.role in OVERSEERS:
            where.append("(t.user_id = :me OR :grid = ANY(t.grid_chain))")
            params.update(me=principal.id, grid=principal.grid_code)
        else:
            where.append("t.user_id = :me")
            params["me"] = principal.id
    if since is not None:
        where.append("t.started_at >= :since")
        params["since"] = since
    if until is not None:
        where.append("t.started_at < :until")
        params["until"] = until
    if user:
        where.append("u.username = :username")
        params["username"] = user
    with engine.connect() as conn:
        found = conn.execute(
            text(
                f"SELECT {_COLUMNS} FROM patrol_track t JOIN app_user u ON u.id = t.user_id "
                f"WHERE {' AND '.join(where)} ORDER BY t.started_at DESC LIMIT :limit"
            ),
            params,
        ).mappings()
        return [_public(dict(r)) for r in found]


def purge(engine: Engine, now: datetime, days: int) -> int:
    """Delete the tracks that ended (or, never stopped, began) more than ``days`` days before
    ``now``: the number deleted. ``days`` ≤ 0 keeps everything."""
    if days <= 0:
        return 0
    with engine.begin() as conn:
        return conn.execute(
            text("DELETE FROM patrol_track WHERE COALESCE(ended_at, started_at) < :cutoff"),
            {"cutoff": now - timedelta(days=days)},
        ).rowcount
