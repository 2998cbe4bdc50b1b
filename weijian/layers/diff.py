"""What changed between two versions of one layer, computed in PostGIS: the features added,
removed and changed, and per kind (zones) or level (grids) the area gained and lost.

Grids are matched by their code (unique within a version). Zones have no unique key — a
land-use survey repeats its 地类编码 on thousands of parcels — so a zone is first matched to an
identical one (same kind, code, name, attributes and geometry: unchanged), then what is left
is paired, largest overlap first, with a zone of the same kind and code that overlaps it or
with one of exactly the same shape (a parcel whose code or attributes changed): changed. The
rest is added or removed.

Areas are on the CGCS2000 ellipsoid (PostGIS geography), in square metres: the area of a
kind gained is where the kind now lies and did not before, the area lost the reverse; only
the features that differ take part, so a small change to a large layer stays cheap.
"""

from __future__ import annotations

from sqlalchemy import Connection, text

from weijian.errors import InputError
from weijian.layers import repository

#: how many changed, added and removed features the answer lists (with their geometry)
LISTED = 300

_ZONE_ROWS = """
    SELECT id, kind, code, name,
           md5(coalesce(kind, '') || '|' || coalesce(code, '') || '|' || coalesce(name, '')
               || '|' || attributes::text || '|' || encode(ST_AsBinary(geom), 'hex')) AS digest
    FROM zone WHERE version_id = :v
"""
_GRID_ROWS = """
    SELECT id, level AS kind, code, name,
           md5(coalesce(name, '') || '|' || coalesce(parent_code, '') || '|'
               || attributes::text || '|' || responsible::text || '|'
               || encode(ST_AsBinary(geom), 'hex')) AS digest
    FROM grid WHERE version_id = :v
"""


def diff_versions(conn: Connection, name: str, old: int, new: int) -> dict:
    """The difference from version ``old`` to version ``new`` of layer ``name``."""
    if old == new:
        raise InputError(
            f"请选择两个不同的版本进行比较（现为第 {old} 版与第 {new} 版）",
            code="layer.diff_same_version",
            detail=f"compare two different versions, not {old} with itself.",
        )
    before = repository.get_version(conn, name, old)
    after = repository.get_version(conn, name, new)
    family = after["family"]
    table = "grid" if family == "grids" else "zone"
    rows = _ZONE_ROWS if table == "zone" else _GRID_ROWS
    old_rows = [dict(r) for r in conn.execute(text(rows), {"v": before["id"]}).mappings()]
    new_rows = [dict(r) for r in conn.execute(text(rows), {"v": after["id"]}).mappings()]
    if table == "grid":
        pairs, added, removed, same = _match_by_code(old_rows, new_rows)
    else:
        pairs, added, removed, same = _match_zones(conn, old_rows, new_rows)
    by_id = {r["id"]: r for r in old_rows + new_rows}
    versions = (before["id"], after["id"])
    kinds = _kinds(conn, table, versions, old_rows, new_rows, pairs, added, removed)
    listed = _listed(conn, table, by_id, pairs, added, removed)
    return {
        "layer": name,
        "family": family,
        "from": old,
        "to": new,
        "counts": {
            "added": len(added),
            "removed": len(removed),
            "changed": len(pairs),
            "unchanged": same,
            "from_features": len(old_rows),
            "to_features": len(new_rows),
        },
        "kinds": kinds,
        "features": listed,
        "listed_limit": LISTED,
    }


def _match_by_code(old_rows: list[dict], new_rows: list[dict]):
    olds = {r["code"]: r for r in old_rows}
    news = {r["code"]: r for r in new_rows}
    pairs = [
        (olds[c]["id"], news[c]["id"])
        for c in sorted(olds.keys() & news.keys())
        if olds[c]["digest"] != news[c]["digest"]
    ]
    same = len(olds.keys() & news.keys()) - len(pairs)
    added = [news[c]["id"] for c in sorted(news.keys() - olds.keys())]
    removed = [olds[c]["id"] for c in sorted(olds.keys() - news.keys())]
    return pairs, added, removed, same


def _match_zones(conn: Connection, old_rows: list[dict], new_rows: list[dict]):
    # identical zones first (duplicates paired one to one)
    waiting: dict[str, list[int]] = {}
    for row in old_rows:
        waiting.setdefault(row["digest"], []).append(row["id"])
    rest_new = []
    same = 0
    for row in new_rows:
        bucket = waiting.get(row["digest"])
        if bucket:
            bucket.pop()
            same += 1
        else:
            rest_new.append(row["id"])
    rest_old = [i for ids in waiting.values() for i in ids]
    pairs: list[tuple[int, int]] = []
    if rest_old and rest_new:
        candidates = conn.execute(
            text(
                """
                SELECT o.id AS old_id, n.id AS new_id,
                       CASE WHEN ST_Equals(o.geom, n.geom) THEN 'infinity'::float8
                            ELSE ST_Area(ST_Intersection(o.geom, n.geom)) END AS overlap
                FROM zone o JOIN zone n ON o.geom && n.geom
                WHERE o.id = ANY(:old) AND n.id = ANY(:new)
                  AND ((o.kind = n.kind AND o.code IS NOT DISTINCT FROM n.code
                        AND ST_Intersects(o.geom, n.geom)) OR ST_Equals(o.geom, n.geom))
                """
            ),
            {"old": rest_old, "new": rest_new},
        ).all()
        taken_old: set[int] = set()
        taken_new: set[int] = set()
        for c in sorted(candidates, key=lambda c: (-c.overlap, c.old_id, c.new_id)):
            if c.overlap > 0 and c.old_id not in taken_old and c.new_id not in taken_new:
                pairs.append((c.old_id, c.new_id))
                taken_old.add(c.old_id)
                taken_new.add(c.new_id)
        rest_old = [i for i in rest_old if i not in taken_old]
        rest_new = [i for i in rest_new if i not in taken_new]
    return sorted(pairs), sorted(rest_new), sorted(rest_old), same


def _kinds(conn, table, versions, old_rows, new_rows, pairs, added, removed):
    """Per kind (level): features before and after, and the area gained and lost."""
    old_version, new_version = versions
    differing_old = set(removed) | {o for o, _ in pairs}
    differing_new = set(added) | {n for _, n in pairs}
    column = "level" if table == "grid" else "kind"
    kinds = sorted({r["kind"] for r in old_rows} | {r["kind"] for r in new_rows})
    answer = []
    for kind in kinds:
        new_ids = [r["id"] for r in new_rows if r["kind"] == kind and r["id"] in differing_new]
        old_ids = [r["id"] for r in old_rows if r["kind"] == kind and r["id"] in differing_old]
        gained = _area_outside(conn, table, column, kind, new_ids, old_version)
        lost = _area_outside(conn, table, column, kind, old_ids, new_version)
        answer.append(
            {
                "kind": kind,
                "from_count": sum(r["kind"] == kind for r in old_rows),
                "to_count": sum(r["kind"] == kind for r in new_rows),
                "gained_m2": round(gained, 1),
                "lost_m2": round(lost, 1),
                "net_m2": round(gained - lost, 1),
            }
        )
    return answer


def _area_outside(conn, table, column, kind, ids, other_version) -> float:
    """The area (m², on the ellipsoid) of the union of features ``ids`` that lies outside
    every feature of ``kind`` in the other version."""
    if not ids:
        return 0.0
    value = conn.execute(
        text(
            f"""
            WITH mine AS (SELECT ST_Union(geom) AS g FROM {table} WHERE id = ANY(:ids)),
            theirs AS (
                SELECT ST_Union(t.geom) AS g FROM {table} t, mine
                WHERE t.version_id = :other AND t.{column} = :kind AND t.geom && mine.g
            )
            SELECT ST_Area(
                (CASE WHEN theirs.g IS NULL THEN mine.g
                      ELSE ST_Difference(mine.g, theirs.g) END)::geography)
            FROM mine, theirs
            """
        ),
        {"ids": ids, "other": other_version, "kind": kind},
    ).scalar()
    return float(value or 0.0)


def _listed(conn, table, by_id, pairs, added, removed) -> list[dict]:
    """The first :data:`LISTED` differing features, with their geometry (lon/lat GeoJSON)."""
    entries = (
        [("changed", o, n) for o, n in pairs]
        + [("added", None, n) for n in added]
        + [("removed", o, None) for o in removed]
    )[:LISTED]
    ids = [i for _, o, n in entries for i in (o, n) if i is not None]
    shapes = dict(
        conn.execute(
            text(f"SELECT id, ST_AsGeoJSON(geom, 7)::json FROM {table} WHERE id = ANY(:ids)"),
            {"ids": ids},
        ).all()
    )
    listed = []
    for status, o, n in entries:
        row = by_id[n if n is not None else o]
        item = {
            "status": status,
            "kind": row["kind"],
            "code": row["code"],
            "name": row["name"],
            "geometry": shapes.get(n if n is not None else o),
        }
        if status == "changed":
            before = by_id[o]
            item["from"] = {"kind": before["kind"], "code": before["code"], "name": before["name"]}
            item["geometry_before"] = shapes.get(o)
        listed.append(item)
    return listed
