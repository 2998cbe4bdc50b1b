"""Patrol coverage (巡查覆盖率): for a grid and a period, the share of its compounds (grids of
level ``compound``) that some patrol track of the period passed within :data:`PASS_RADIUS_M`,
and for every compound the days (calendar days, Beijing time) since a track last passed it.

Reads the track table the field app fills (``patrol_track``) and the active grids; distances
are measured in the 3° Gauss-Krüger zone of the grid. A track belongs to the period it began
in. Street length shares are not computed: the layer core holds polygons only (no roads line
layer). Plain SQL over the database; no HTTP.
"""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import Engine, text

from weijian.cases.clock import LOCAL
from weijian.cases.scope import CITIZEN, PUBLIC, Principal
from weijian.errors import NotFoundError, PermissionDenied
from weijian.gis.crs import gk3_epsg_for_lon

PASS_RADIUS_M = 50.0
"""A compound is patrolled when a track passes within this many metres of it."""

_COMPOUNDS = """
WITH RECURSIVE down(code, name, level, top) AS (
    SELECT code, name, level, code FROM active_grid WHERE code = ANY(:tops)
    UNION
    SELECT g.code, g.name, g.level, down.top FROM active_grid g
    JOIN down ON g.parent_code = down.code AND g.code <> down.code
)
SELECT d.top, c.code, c.name,
       CASE WHEN :geometry THEN ST_AsGeoJSON(c.geom, 7) END AS geojson,
       EXISTS (
           SELECT 1 FROM patrol_track t
           WHERE t.started_at >= :since AND t.started_at < :until
             AND t.geom && ST_Expand(c.geom, :pad)
             AND ST_DWithin(ST_Transform(ST_Force2D(t.geom), :epsg),
                            ST_Transform(c.geom, :epsg), :radius)
       ) AS passed,
       (
           SELECT max(COALESCE(t.ended_at, t.started_at)) FROM patrol_track t
           WHERE t.started_at < :until
             AND t.geom && ST_Expand(c.geom, :pad)
             AND ST_DWithin(ST_Transform(ST_Force2D(t.geom), :epsg),
                            ST_Transform(c.geom, :epsg), :radius)
       ) AS last_patrolled
FROM (SELECT DISTINCT top, code FROM down WHERE level = 'compound') d
JOIN active_grid c ON c.code = d.code
ORDER BY d.top, c.code
"""


def _check_scope(principal: Principal, chain: list[str]) -> None:
    if principal.role in (CITIZEN, PUBLIC) or principal.api_client_id is not None:
        raise PermissionDenied(
            "巡查覆盖率仅限工作人员查看",
            code="coverage.staff_only",
            detail="patrol coverage is for staff",
        )
    if principal.city_wide or principal.grid_code in chain:
        return
    raise PermissionDenied(
        f"网格 {chain[0]} 不在您的管辖范围内",
        code="coverage.out_of_scope",
        detail=f"grid {chain[0]} is outside your scope",
    )


def _grid(conn, code: str) -> tuple[dict, list[str]]:
    row = (
        conn.execute(
            text(
                "SELECT code, name, level, ST_X(ST_Centroid(geom)) AS lon, "
                "ST_Y(ST_Centroid(geom)) AS lat FROM active_grid WHERE code = :code"
            ),
            {"code": code},
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFoundError(
            f"网格 {code} 不存在", code="coverage.grid_not_found", detail=f"no grid {code}"
        )
    chain = conn.execute(
        text(
            "WITH RECURSIVE up(code, parent_code, depth) AS ("
            " SELECT code, parent_code, 0 FROM active_grid WHERE code = :code"
            " UNION SELECT g.code, g.parent_code, up.depth + 1 FROM active_grid g"
            " JOIN up ON g.code = up.parent_code WHERE up.depth < 8)"
            " SELECT code FROM up ORDER BY depth"
        ),
        {"code": code},
    ).scalars()
    return dict(row), list(chain)


def _share(passed: int, total: int) -> float | None:
    return round(passed / total, 4) if total else None


def coverage(
    engine: Engine,
    principal: Principal,
    grid: str,
    since: datetime,
    until: datetime,
    now: datetime,
    geometry: bool = False,
) -> dict:
    """The coverage of ``grid`` over [since, until): the grid's total and one row per sub-grid
    (the grid itself when it is a compound), each with its compounds (with ``geometry``: the
    outlines too, as GeoJSON in CGCS2000, for the map)."""
    with engine.connect() as conn:
        top, chain = _grid(conn, grid)
        _check_scope(principal, chain)
        subs = [
            dict(r)
            for r in conn.execute(
                text(
                    "SELECT code, name, level, "
                    "CASE WHEN :geometry THEN ST_AsGeoJSON(geom, 7) END AS geojson "
                    "FROM active_grid WHERE parent_code = :code AND code <> :code ORDER BY code"
                ),
                {"code": grid, "geometry": geometry},
            ).mappings()
        ]
        if top["level"] == "compound" or not subs:
            subs = [
                dict(
                    conn.execute(
                        text(
                            "SELECT code, name, level, CASE WHEN :geometry "
                            "THEN ST_AsGeoJSON(geom, 7) END AS geojson "
                            "FROM active_grid WHERE code = :code"
                        ),
                        {"code": grid, "geometry": geometry},
                    )
                    .mappings()
                    .one()
                )
            ]
        rows = conn.execute(
            text(_COMPOUNDS),
            {
                "tops": [s["code"] for s in subs],
                "since": since,
                "until": until,
                "epsg": gk3_epsg_for_lon(top["lon"]),
                "radius": PASS_RADIUS_M,
                "geometry": geometry,
                "pad": 0.002,  # degrees, well beyond 50 m in China: the index's first cut
            },
        ).mappings()
        by_top: dict[str, list[dict]] = {s["code"]: [] for s in subs}
        reference = min(until, now)
        for r in rows:
            last = r["last_patrolled"]
            days = None
            if last is not None:
                days = max(
                    0, (reference.astimezone(LOCAL).date() - last.astimezone(LOCAL).date()).days
                )
            item = {
                "code": r["code"],
                "name": r["name"],
                "passed": r["passed"],
                "last_patrolled": last.isoformat() if last else None,
                "days_since_last": days,
            }
            if geometry:
                item["geometry"] = json.loads(r["geojson"])
            by_top[r["top"]].append(item)
    out_subs = []
    for s in subs:
        items = by_top[s["code"]]
        outline = s.pop("geojson", None)
        if geometry:
            s["geometry"] = json.loads(outline) if outline else None
        passed = sum(1 for i in items if i["passed"])
        out_subs.append(
            {**s, "compounds": len(items), "passed": passed,
             "coverage": _share(passed, len(items)), "detail": items}
        )  # fmt: skip
    total = sum(s["compounds"] for s in out_subs)
    passed = sum(s["passed"] for s in out_subs)
    return {
        "grid": {"code": top["code"], "name": top["name"], "level": top["level"]},
        "since": since.isoformat(),
        "until": until.isoformat(),
        "radius_m": PASS_RADIUS_M,
        "compounds": total,
        "passed": passed,
        "coverage": _share(passed, total),
        "subgrids": out_subs,
    }


#: the patrol counts of the assessment per leaf of the grid chain (the active grids): every
#: compound once (and whether a track begun in [:start, :end) passed it within 50 m), every
#: such track once, at the grid its worker had when the patrol began. Columns as the cases'
#: (``district_code`` … ``compound_code``); :func:`figures.add_patrols` groups them.
PATROL_LEAVES = """
SELECT d.code AS district_code, t.code AS town_code, m.code AS community_code,
       c.code AS compound_code, 1 AS compounds,
       CASE WHEN EXISTS (
           SELECT 1 FROM patrol_track p
           WHERE p.started_at >= :start AND p.started_at < :end
             AND p.geom && ST_Expand(c.geom, 0.002)
             AND ST_DWithin(ST_Transform(ST_Force2D(p.geom), :epsg),
                            ST_Transform(c.geom, :epsg), 50.0)
       ) THEN 1 ELSE 0 END AS compounds_patrolled,
       0 AS patrols
FROM active_grid c
LEFT JOIN active_grid m ON m.code = c.parent_code AND m.level = 'community'
LEFT JOIN active_grid t ON t.code = m.parent_code AND t.level = 'town'
LEFT JOIN active_grid d ON d.code = t.parent_code AND d.level = 'district'
WHERE c.level = 'compound'
UNION ALL
SELECT max(g.code) FILTER (WHERE g.level = 'district'), max(g.code) FILTER (WHERE g.level = 'town'),
       max(g.code) FILTER (WHERE g.level = 'community'),
       max(g.code) FILTER (WHERE g.level = 'compound'), 0, 0, 1
FROM patrol_track p LEFT JOIN active_grid g ON g.code = ANY(p.grid_chain)
WHERE p.started_at >= :start AND p.started_at < :end
GROUP BY p.id
"""


def metric_epsg(conn) -> int:
    """The Gauss-Krüger zone of the compounds (of the grids' middle)."""
    lon = conn.execute(
        text("SELECT ST_X(ST_Centroid(ST_Extent(geom))) FROM active_grid WHERE level = 'compound'")
    ).scalar()
    return gk3_epsg_for_lon(lon if lon is not None else 126.0)
