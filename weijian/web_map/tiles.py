"""Mapbox vector tiles cut by PostGIS (``ST_AsMVT``) from the stored EPSG:3857 copies of the
geometries (``geom_3857``, migration 0005): grids, zones coloured by the department their rule
names, and cases. Each function returns the tile's bytes (empty when nothing is in it).

What a tile holds follows the zoom, so no view ever carries every feature:

- grids: districts from zoom 0, towns from 9, communities from 11, compounds from 13;
- zones: those big enough to see at the tile's zoom — twelve pixels' side in area up to zoom
  12, four at 13–14, two from 15 (a city's 100,000 land-use parcels appear as one zooms in;
  the big planning zones are there from the start), simplified to half a pixel, with only
  their department and kind below zoom 15 (id, layer, code and name from 15);
- cases: points from zoom 15, with their state and whether they are overdue (the feature id is
  the case's; below zoom 15 the map shows the server's aggregates instead).
"""

from __future__ import annotations

from sqlalchemy import Connection, text

from weijian.cases.service import overdue_sql
from weijian.errors import InputError
from weijian.layers import repository
from weijian.layers.model import GRID_LEVELS

EXTENT = 4096
WORLD_M = 2 * 20037508.342789244
MAX_ZOOM = 22
GRID_MIN_ZOOM = {"district": 0, "town": 9, "community": 11, "compound": 13}
CASE_MIN_ZOOM = 15
ZONE_DETAIL_ZOOM = 15  # from here zone features carry id, layer, code and name


def zone_min_pixels(z: int) -> float:
    """The side, in pixels, of the smallest zone drawn at zoom ``z``."""
    return 12.0 if z <= 12 else 4.0 if z < ZONE_DETAIL_ZOOM else 2.0


def check_tile(z: int, x: int, y: int) -> None:
    if not 0 <= z <= MAX_ZOOM:
        raise InputError(
            f"缩放级别 {z} 超出范围，应在 0～{MAX_ZOOM} 之间",
            code="map.zoom_invalid",
            detail=f"zoom {z} is out of range 0…{MAX_ZOOM}",
        )
    n = 1 << z
    if not (0 <= x < n and 0 <= y < n):
        raise InputError(
            f"瓦片 {z}/{x}/{y} 不存在：缩放级别 {z} 下 x 和 y 的取值为 0～{n - 1}",
            code="map.tile_invalid",
            detail=f"tile {z}/{x}/{y} does not exist: x and y run 0…{n - 1} at zoom {z}",
        )


def pixel_m(z: int) -> float:
    """Web Mercator metres per pixel of a 256-pixel tile at zoom ``z``."""
    return WORLD_M / 256 / (1 << z)


def grid_levels_at(z: int) -> list[str]:
    return [level for level in GRID_LEVELS if z >= GRID_MIN_ZOOM[level]]


def _scope_clause(scope_code: str | None, column: str) -> str:
    if scope_code is None:
        return "true"
    return (
        f"ST_Intersects({column}, (SELECT ST_Union(geom_3857) FROM active_grid "
        "WHERE code = :scope_code))"
    )


def grid_tile(
    conn: Connection, z: int, x: int, y: int, scope_codes: list[str] | None = None
) -> bytes:
    """The active grids of the levels shown at ``z``, a tile layer per level (features: id,
    code, name, level, parent). ``scope_codes``: only these grids (a user's grid and those
    below it)."""
    check_tile(z, x, y)
    levels = grid_levels_at(z)
    tol = pixel_m(z) / 2
    scoped = "" if scope_codes is None else "AND g.code = ANY(:codes)"
    parts = [
        f"""(SELECT coalesce(ST_AsMVT(t, '{level}', {EXTENT}, 'geom', 'id'), '')
            FROM (SELECT g.id, g.code, g.name, g.level, coalesce(g.parent_code, '') AS parent,
                         ST_AsMVTGeom(ST_Simplify(g.geom_3857, :tol, true), b.env, {EXTENT},
                                      64, true) AS geom
                  FROM active_grid g, b
                  WHERE g.level = '{level}' AND g.geom_3857 && b.env {scoped}) t
            WHERE t.geom IS NOT NULL)"""
        for level in levels
    ]
    sql = (
        "WITH b AS (SELECT ST_TileEnvelope(:z, :x, :y) AS env) SELECT "
        + " || ".join(parts)
        + " FROM b"
    )
    params = {"z": z, "x": x, "y": y, "tol": tol, "codes": scope_codes}
    return bytes(conn.execute(text(sql), params).scalar_one() or b"")


def zone_tile(
    conn: Connection,
    z: int,
    x: int,
    y: int,
    departments: list[tuple[str, str | None, str]],
    scope_code: str | None = None,
) -> bytes:
    """The zones of every active zone layer big enough to see at ``z`` (features: id, layer,
    kind, code, name, department). ``departments``: (kind, code or None for every code of
    the kind, department type) — what the rules in force name for each zone. ``scope_code``:
    only zones touching this grid."""
    check_tile(z, x, y)
    px = pixel_m(z)
    detailed = z >= ZONE_DETAIL_ZOOM
    id_column = ", 'id'" if detailed else ""
    detail = (
        "z.id, z.layer, coalesce(z.code, '') AS code, coalesce(z.name, '') AS name,"
        if detailed
        else ""
    )
    sql = f"""
    WITH b AS (SELECT ST_TileEnvelope(:z, :x, :y) AS env),
    m AS (SELECT * FROM unnest(CAST(:kinds AS text[]), CAST(:codes AS text[]),
                               CAST(:types AS text[])) AS m(kind, code, department))
    SELECT coalesce(ST_AsMVT(t, 'zones', {EXTENT}, 'geom'{id_column}), '') FROM (
        SELECT {detail} z.kind, coalesce(m.department, '') AS department,
               ST_AsMVTGeom(ST_Simplify(z.geom_3857, :tol, true), b.env, {EXTENT}, 64, true)
                   AS geom
        FROM {repository.active_zones(conn)} z CROSS JOIN b
        LEFT JOIN LATERAL (SELECT m.department FROM m WHERE m.kind = z.kind
                           AND (m.code IS NULL OR m.code = z.code) LIMIT 1) m ON true
        WHERE z.geom_3857 && b.env AND z.area_m2 >= :min_area
          AND {_scope_clause(scope_code, "z.geom_3857")}
    ) t WHERE t.geom IS NOT NULL
    """
    params = {
        "z": z,
        "x": x,
        "y": y,
        "tol": px / 2,
        # area_m2 is ground area; a Web Mercator pixel at Baishan's latitude covers ~0.75 of
        # its nominal side on the ground, which the factor below leaves to the safe side
        "min_area": (zone_min_pixels(z) * px * 0.7) ** 2,
        "kinds": [d[0] for d in departments],
        "codes": [d[1] for d in departments],
        "types": [d[2] for d in departments],
        "scope_code": scope_code,
    }
    return bytes(conn.execute(text(sql), params).scalar_one() or b"")


def case_tile(
    conn: Connection,
    z: int,
    x: int,
    y: int,
    where: str,
    params: dict,
) -> bytes:
    """Cases as points (feature id: the case's; properties: state, overdue) matching
    ``where`` over ``violation_case c`` (scope and filters; ``:now`` bound). Empty below
    :data:`CASE_MIN_ZOOM`."""
    check_tile(z, x, y)
    if z < CASE_MIN_ZOOM:
        return b""
    sql = f"""
    WITH b AS (SELECT ST_TileEnvelope(:z, :x, :y) AS env)
    SELECT coalesce(ST_AsMVT(t, 'cases', {EXTENT}, 'geom', 'id'), '') FROM (
        SELECT c.id, c.state, coalesce({overdue_sql("c")}, false) AS overdue,
               ST_AsMVTGeom(c.geom_3857, b.env, {EXTENT}, 16, true) AS geom
        FROM violation_case c, b
        WHERE c.geom_3857 && b.env AND {where}
    ) t WHERE t.geom IS NOT NULL
    """
    return bytes(conn.execute(text(sql), {**params, "z": z, "x": x, "y": y}).scalar_one() or b"")
