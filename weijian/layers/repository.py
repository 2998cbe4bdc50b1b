"""SQL for layers and their versions. Functions take a SQLAlchemy connection inside a transaction
owned by the caller; none of them commits."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

from sqlalchemy import Connection, text

from weijian.errors import ConflictError, NotFoundError
from weijian.layers.model import GRID_LEVELS, NOTIFY_CHANNEL

GRID_LAYER_PREFIX = "grid_"
GRID_TITLES = {
    "district": "区县网格",
    "town": "镇办网格",
    "community": "社区网格",
    "compound": "小区网格",
}
FAMILY_WORDS = {"zones": "分区", "grids": "网格"}  # the layer families as people say them


def grid_layer_name(level: str) -> str:
    return GRID_LAYER_PREFIX + level


def parent_level(level: str) -> str | None:
    index = GRID_LEVELS.index(level)
    return GRID_LEVELS[index - 1] if index else None


def lock_layer(
    conn: Connection, name: str, family: str, grid_level: str | None, title: str | None
) -> int:
    """The layer's id, creating it when new; the row stays locked until the transaction ends,
    so two imports into one layer take turns (and two zone imports, whatever their layer)."""
    if family == "zones":
        # zone imports take turns, whatever their layer: attaching a version's table locks
        # ``zone`` and ``layer_version`` (against new rows) until commit, so two imports that
        # had both created their versions would each wait on the other's attachment. (The
        # figures' stamp, written by the INSERT below, serialises them too; this says why.)
        conn.execute(text("LOCK TABLE ONLY zone IN SHARE UPDATE EXCLUSIVE MODE"))
    conn.execute(
        text(
            "INSERT INTO layer (name, family, grid_level, title) "
            "VALUES (:name, :family, :grid_level, :title) ON CONFLICT (name) DO NOTHING"
        ),
        {"name": name, "family": family, "grid_level": grid_level, "title": title},
    )
    row = conn.execute(
        text("SELECT id, family FROM layer WHERE name = :name FOR UPDATE"), {"name": name}
    ).one()
    if title:
        conn.execute(
            text("UPDATE layer SET title = :title WHERE id = :id"), {"title": title, "id": row.id}
        )
    if row.family != family:
        raise ConflictError(
            f"图层“{name}”存放的是{FAMILY_WORDS.get(row.family, row.family)}，"
            f"不能导入{FAMILY_WORDS.get(family, family)}。请换一个图层名（--layer）",
            code="layer.family_conflict",
            detail=f"layer {name!r} holds {row.family}, not {family}.",
            hint="choose another --layer name",
        )
    return row.id


def create_version(
    conn: Connection,
    layer_id: int,
    *,
    source: str,
    sha256: str,
    feature_count: int,
    bbox: Sequence[float],
    report: dict,
    created_by: str | None,
) -> tuple[int, int]:
    number = conn.execute(
        text("SELECT coalesce(max(number), 0) + 1 FROM layer_version WHERE layer_id = :id"),
        {"id": layer_id},
    ).scalar_one()
    version_id = conn.execute(
        text(
            "INSERT INTO layer_version (layer_id, number, source, source_sha256, feature_count,"
            " bbox, report, created_by) VALUES (:layer_id, :number, :source, :sha256, :count,"
            " ST_MakeEnvelope(:minx, :miny, :maxx, :maxy, 4490), CAST(:report AS jsonb), :by)"
            " RETURNING id"
        ),
        {
            "layer_id": layer_id,
            "number": number,
            "source": source,
            "sha256": sha256,
            "count": feature_count,
            "minx": bbox[0],
            "miny": bbox[1],
            "maxx": bbox[2],
            "maxy": bbox[3],
            "report": json.dumps(report, ensure_ascii=False),
            "by": created_by,
        },
    ).scalar_one()
    return version_id, number


def update_report(conn: Connection, version_id: int, report: dict) -> None:
    conn.execute(
        text("UPDATE layer_version SET report = CAST(:report AS jsonb) WHERE id = :id"),
        {"report": json.dumps(report, ensure_ascii=False), "id": version_id},
    )


def _copy(conn: Connection, statement: str, types: list[str], rows: Iterable[tuple]) -> int:
    """Binary COPY on the connection's own transaction; geometries travel as EWKB."""
    raw = conn.connection.driver_connection
    count = 0
    with raw.cursor() as cursor, cursor.copy(statement) as copy:
        copy.set_types(types)
        for row in rows:
            copy.write_row(row)
            count += 1
    return count


def copy_zones(conn: Connection, version_id: int, rows: Iterable[tuple]) -> int:
    """rows: (version_id, kind, code, name, area_m2, attributes, geom), all of ``version_id``,
    the attributes in ``jsonb``'s binary form (``b"\\x01"`` and the JSON text) and the geometry
    as EWKB, both sent as they are. COPYed into the version's own table, bare, which is then
    attached to ``zone``, its indexes built once from all the rows (migration 0026)."""
    part = conn.execute(text("SELECT weijian_zone_partition(:v)"), {"v": version_id}).scalar_one()
    count = _copy(
        conn,
        f'COPY "{part}" (version_id, kind, code, name, area_m2, attributes, geom) '
        "FROM STDIN (FORMAT BINARY)",
        ["int4", "text", "text", "text", "float8", "bytea", "bytea"],
        rows,
    )
    conn.execute(text("SELECT weijian_zone_attach(:v)"), {"v": version_id})
    return count


def copy_grids(conn: Connection, rows: Iterable[tuple]) -> int:
    """rows: (version_id, level, code, name, parent_code, responsible Jsonb, area_m2,
    attributes Jsonb, geom EWKB)."""
    return _copy(
        conn,
        "COPY grid (version_id, level, code, name, parent_code, responsible, area_m2, "
        "attributes, geom) FROM STDIN (FORMAT BINARY)",
        ["int4", "text", "text", "text", "text", "jsonb", "float8", "jsonb", "bytea"],
        rows,
    )


def active_zones(conn: Connection) -> str:
    """``active_zone`` as a FROM item (columns id, layer, kind, code, name, area_m2, attributes,
    geom, geom_3857) that names the active versions: PostgreSQL then plans and locks only their
    tables, where the view's join would take in every version's table ever imported (``zone``
    is partitioned per version, migration 0026). For the queries a map or a page makes often."""
    ids = conn.execute(
        text("SELECT active_version_id FROM layer WHERE family = 'zones'"
             " AND active_version_id IS NOT NULL ORDER BY 1")
    ).scalars().all()  # fmt: skip
    named = ", ".join(str(int(v)) for v in ids) or "NULL"
    return (
        "(SELECT z.id, l.name AS layer, z.kind, z.code, z.name, z.area_m2, z.attributes,"
        " z.geom, z.geom_3857 FROM zone z JOIN layer l ON l.active_version_id = z.version_id"
        f" WHERE z.version_id IN ({named}))"
    )


def active_version(conn: Connection, name: str) -> dict | None:
    row = conn.execute(
        text(
            "SELECT v.id, v.number FROM layer l JOIN layer_version v "
            "ON v.id = l.active_version_id WHERE l.name = :name"
        ),
        {"name": name},
    ).first()
    return {"id": row.id, "number": row.number} if row else None


def derive_parents(conn: Connection, version_id: int, parent_version_id: int) -> int:
    """Set each grid's parent to the parent-level grid that covers a point inside it
    (ties on a shared edge: the smallest code)."""
    result = conn.execute(
        text(
            """
            UPDATE grid g SET parent_code = p.code
            FROM grid c
            CROSS JOIN LATERAL (
                SELECT code FROM grid p
                WHERE p.version_id = :parent AND ST_Covers(p.geom, ST_PointOnSurface(c.geom))
                ORDER BY code LIMIT 1
            ) p
            WHERE g.id = c.id AND c.version_id = :version
            """
        ),
        {"version": version_id, "parent": parent_version_id},
    )
    return result.rowcount


def unknown_parent_codes(conn: Connection, version_id: int, parent_version_id: int) -> list[str]:
    return list(
        conn.execute(
            text(
                "SELECT DISTINCT g.parent_code FROM grid g WHERE g.version_id = :version "
                "AND g.parent_code IS NOT NULL AND NOT EXISTS (SELECT 1 FROM grid p "
                "WHERE p.version_id = :parent AND p.code = g.parent_code) ORDER BY 1"
            ),
            {"version": version_id, "parent": parent_version_id},
        ).scalars()
    )


def count_without_parent(conn: Connection, version_id: int) -> int:
    return conn.execute(
        text("SELECT count(*) FROM grid WHERE version_id = :v AND parent_code IS NULL"),
        {"v": version_id},
    ).scalar_one()


def activate(conn: Connection, layer_id: int, version_id: int) -> None:
    conn.execute(
        text("UPDATE layer SET active_version_id = :v WHERE id = :id"),
        {"v": version_id, "id": layer_id},
    )
    conn.execute(
        text("UPDATE layer_version SET activated_at = now() WHERE id = :v"), {"v": version_id}
    )
    payload = conn.execute(
        text(
            "SELECT json_build_object('layer', l.name, 'version', v.number)::text "
            "FROM layer l JOIN layer_version v ON v.id = :v WHERE l.id = :id"
        ),
        {"v": version_id, "id": layer_id},
    ).scalar_one()
    conn.execute(
        text("SELECT pg_notify(:channel, :payload)"),
        {"channel": NOTIFY_CHANNEL, "payload": payload},
    )


def activate_number(conn: Connection, name: str, number: int) -> None:
    row = conn.execute(
        text(
            "SELECT l.id AS layer_id, v.id AS version_id FROM layer l JOIN layer_version v "
            "ON v.layer_id = l.id WHERE l.name = :name AND v.number = :number FOR UPDATE OF l"
        ),
        {"name": name, "number": number},
    ).first()
    if not row:
        raise NotFoundError(
            f"图层“{name}”没有第 {number} 版，请核对版本号",
            code="layer.version_not_found",
            detail=f"layer {name!r} has no version {number}.",
        )
    activate(conn, row.layer_id, row.version_id)


# -- reading ---------------------------------------------------------------------------------


def list_layers(conn: Connection) -> list[dict]:
    rows = conn.execute(
        text(
            """
            SELECT l.name, l.family, l.grid_level, l.title, av.number AS active_version,
                   av.feature_count, av.activated_at,
                   (SELECT count(*) FROM layer_version v WHERE v.layer_id = l.id) AS versions
            FROM layer l LEFT JOIN layer_version av ON av.id = l.active_version_id
            ORDER BY l.family, array_position(ARRAY['district','town','community','compound'],
                     l.grid_level), l.name
            """
        )
    ).mappings()
    return [dict(r) for r in rows]


def _layer_id(conn: Connection, name: str) -> int:
    layer_id = conn.execute(text("SELECT id FROM layer WHERE name = :n"), {"n": name}).scalar()
    if layer_id is None:
        names = list(conn.execute(text("SELECT name FROM layer ORDER BY name")).scalars())
        known = ", ".join(names)
        raise NotFoundError(
            f"没有图层“{name}”，请核对图层名。现有图层：{'、'.join(names) or '尚未导入任何图层'}",
            code="layer.not_found",
            detail=f"no layer {name!r}.",
            hint=f"layers: {known or 'none imported'}",
        )
    return layer_id


def list_versions(conn: Connection, name: str) -> list[dict]:
    layer_id = _layer_id(conn, name)
    rows = conn.execute(
        text(
            """
            SELECT v.number, v.source, v.feature_count, v.created_at, v.created_by,
                   v.activated_at, (l.active_version_id IS NOT DISTINCT FROM v.id) AS active,
                   v.report -> 'seconds' -> 'total' AS seconds
            FROM layer_version v JOIN layer l ON l.id = v.layer_id
            WHERE v.layer_id = :id ORDER BY v.number
            """
        ),
        {"id": layer_id},
    ).mappings()
    return [dict(r) for r in rows]


def get_version(conn: Connection, name: str, number: int | None = None) -> dict:
    """One version (the active one when ``number`` is None), with its stored report."""
    layer_id = _layer_id(conn, name)
    condition = "v.number = :number" if number is not None else "v.id = l.active_version_id"
    row = (
        conn.execute(
            text(
                f"""
            SELECT v.id, v.number, v.source, v.source_sha256, v.feature_count, v.created_at,
                   v.created_by, v.activated_at,
                   (l.active_version_id IS NOT DISTINCT FROM v.id) AS active,
                   v.report, l.family, l.grid_level
            FROM layer_version v JOIN layer l ON l.id = v.layer_id
            WHERE v.layer_id = :id AND {condition}
            """
            ),
            {"id": layer_id, "number": number},
        )
        .mappings()
        .first()
    )
    if row is None and number is not None:
        raise NotFoundError(
            f"图层“{name}”没有第 {number} 版，请核对版本号",
            code="layer.version_not_found",
            detail=f"layer {name!r} has no version {number}.",
        )
    if row is None:
        raise NotFoundError(
            f"图层“{name}”还没有生效的版本，请先导入或启用一个版本",
            code="layer.no_active_version",
            detail=f"layer {name!r} has no an active version.",
        )
    return dict(row)


def version_features(
    conn: Connection,
    name: str,
    number: int | None,
    bbox: Sequence[float] | None,
    limit: int,
    offset: int = 0,
) -> dict:
    """A GeoJSON FeatureCollection of one version's features (storage CRS, lon/lat)."""
    version = get_version(conn, name, number)
    table = "grid" if version["family"] == "grids" else "zone"
    columns = (
        "code, name, parent_code, level, responsible, area_m2, attributes"
        if table == "grid"
        else "kind, code, name, area_m2, attributes"
    )
    where = "version_id = :v"
    params: dict = {"v": version["id"], "limit": limit, "offset": offset}
    if bbox:
        where += " AND geom && ST_MakeEnvelope(:minx, :miny, :maxx, :maxy, 4490)"
        params.update(zip(("minx", "miny", "maxx", "maxy"), bbox, strict=True))
    rows = conn.execute(
        text(
            f"SELECT id, {columns}, ST_AsGeoJSON(geom, 7)::json AS geometry FROM {table} "
            f"WHERE {where} ORDER BY id LIMIT :limit OFFSET :offset"
        ),
        params,
    ).mappings()
    features = []
    for row in rows:
        properties = {k: v for k, v in row.items() if k not in ("id", "geometry")}
        features.append(
            {
                "type": "Feature",
                "id": row["id"],
                "properties": properties,
                "geometry": row["geometry"],
            }
        )
    return {
        "type": "FeatureCollection",
        "layer": name,
        "version": version["number"],
        "features": features,
    }
