"""我的网格 of the field app: the user's grid, its zones shaded by the department responsible
for them, and its open cases — nearest first from where the phone is, with distance and
direction, and numbered in the printed patrol map's visiting order (:func:`grid_tour`, one rule
for paper and phone).

Coordinates go out in CGCS2000 degrees, which are WGS84 within centimetres: what a phone's GPS
and Leaflet take as they are."""

from __future__ import annotations

import json

from pyproj import Geod
from sqlalchemy import Connection, text

from weijian.cases.clock import LOCAL
from weijian.cases.scope import CITIZEN, PUBLIC, Principal
from weijian.cases.service import CaseService
from weijian.errors import InputError, NotFoundError, PermissionDenied
from weijian.gis.points import point_to_cgcs2000
from weijian.layers import repository
from weijian.layers.model import GRID_LEVELS
from weijian.patrol.pages import grid_tour, zone_departments
from weijian.styles import DEPARTMENT_COLOURS, UNASSIGNED_COLOUR

#: the eight directions a person is told, clockwise from north
DIRECTIONS = ("北", "东北", "东", "东南", "南", "西南", "西", "西北")
#: a thumbnail's width in pixels (the evidence endpoint's ``thumb``)
THUMB_WIDTH = 240
#: zones simplified to about a metre (degrees), enough for a phone's screen
SIMPLIFY_DEG = 0.00001
_GEOD = Geod(ellps="GRS80")


def direction(bearing_deg: float) -> str:
    """The Chinese name of the compass direction nearest ``bearing_deg`` (0 = north, 90 =
    east): 东北 for 45°."""
    return DIRECTIONS[int(((bearing_deg % 360) + 22.5) // 45) % 8]


def _position(lon: float | None, lat: float | None, crs: str) -> tuple[float, float] | None:
    if lon is None and lat is None:
        return None
    if lon is None or lat is None:
        raise InputError(
            "位置需同时给出经度 lon 和纬度 lat",
            code="field.position_incomplete",
            detail="give both lon and lat, or neither",
        )
    x, y, _source = point_to_cgcs2000(lon, lat, crs)
    return x, y


def _grid_code(conn: Connection, principal: Principal, here: tuple[float, float] | None) -> str:
    """The user's own grid; for a user of the whole city, the finest grid under the phone."""
    if principal.role in (CITIZEN, PUBLIC) or principal.api_client_id is not None:
        raise PermissionDenied(
            "“我的网格”仅供工作人员使用",
            code="field.staff_only",
            detail="my grid is for staff accounts",
        )
    if principal.grid_code:
        return principal.grid_code
    if here is None:
        raise InputError(
            "您的账号未分配网格，请打开定位后再查看所在网格",
            code="field.position_needed",
            detail="a city-wide user's grid is the one under the position: give lon and lat",
            hint="GET /api/v1/field/grid?lon=…&lat=…&crs=wgs84",
        )
    levels = ", ".join(f"'{level}'" for level in GRID_LEVELS)
    code = conn.execute(
        text(
            "SELECT code FROM active_grid WHERE ST_Covers(geom, ST_SetSRID(ST_MakePoint(:x, :y), "
            f"4490)) ORDER BY array_position(ARRAY[{levels}], level) DESC, code LIMIT 1"
        ),
        {"x": here[0], "y": here[1]},
    ).scalar()
    if code is None:
        raise NotFoundError(
            "您所在位置不在任何网格内",
            code="field.no_grid_here",
            detail="no active grid covers the position",
        )
    return code


def _grid(conn: Connection, code: str) -> dict:
    row = conn.execute(
        text(
            "SELECT code, name, level, ST_AsGeoJSON(geom, 6) AS geometry FROM active_grid "
            "WHERE code = :c LIMIT 1"
        ),
        {"c": code},
    ).first()
    if row is None:
        raise NotFoundError(
            f"没有代码为“{code}”的在用网格，请联系系统管理员核对您的网格",
            code="grid.not_found",
            detail=f"no active grid has the code {code!r}",
        )
    return {
        "code": row.code,
        "name": row.name,
        "level": row.level,
        "geometry": json.loads(row.geometry),
    }


def _zones(conn: Connection, cases: CaseService, code: str) -> list[dict]:
    department_of = zone_departments(
        cases.jurisdiction.snapshot, cases.clock.now().astimezone(LOCAL).date()
    )
    rows = conn.execute(
        text(
            "SELECT z.id, z.kind, ST_AsGeoJSON(ST_SimplifyPreserveTopology("
            "ST_Intersection(z.geom, g.geom), :tol), 6) AS geometry "
            f"FROM {repository.active_zones(conn)} z, active_grid g "
            "WHERE g.code = :c AND z.geom && g.geom "
            "AND ST_Intersects(z.geom, g.geom) ORDER BY z.id"
        ),
        {"c": code, "tol": SIMPLIFY_DEG},
    )
    out = []
    for r in rows:
        geometry = json.loads(r.geometry)
        if geometry["type"] not in ("Polygon", "MultiPolygon"):
            continue
        department, _rank = department_of(r.id)
        colour, label = DEPARTMENT_COLOURS.get(department or "", UNASSIGNED_COLOUR)
        out.append(
            {
                "kind": r.kind,
                "department": department,
                "label": label,
                "colour": colour,
                "geometry": geometry,
            }
        )
    return out


def _places(conn: Connection, numbers: list[str]) -> dict[str, tuple[float, float, str | None]]:
    """number → (lon, lat, the first photo's sha256 or None)."""
    rows = conn.execute(
        text(
            "SELECT c.number, ST_X(c.geom) AS lon, ST_Y(c.geom) AS lat, ("
            "SELECT e.sha256 FROM case_evidence e WHERE e.case_id = c.id AND e.kind = 'photo' "
            "ORDER BY e.uploaded_at, e.id LIMIT 1) AS photo "
            "FROM violation_case c WHERE c.number = ANY(:n)"
        ),
        {"n": numbers},
    )
    return {r.number: (r.lon, r.lat, r.photo) for r in rows}


def my_grid(
    cases: CaseService,
    principal: Principal,
    lon: float | None = None,
    lat: float | None = None,
    crs: str = "wgs84",
) -> dict:
    """The answer of ``GET /api/v1/field/grid``: ``grids``, ``zones``, ``cases`` (nearest
    first when the position is given, else in the visiting order) and ``order``."""
    here = _position(lon, lat, crs)
    now = cases.clock.now()
    with cases.engine.connect() as conn:
        code = _grid_code(conn, principal, here)
        grid = _grid(conn, code)
        zones = _zones(conn, cases, code)
        toured = grid_tour(conn, cases.workflow, cases.calendar, code, now)
        places = _places(conn, [c.number for c in toured])
    out = []
    for case in toured:
        clon, clat, photo = places[case.number]
        item = {
            "number": case.number,
            "state": case.state,
            "state_label": case.state_label,
            "lon": round(clon, 7),
            "lat": round(clat, 7),
            "address": case.address,
            "description": case.description,
            "distance_m": None,
            "bearing_deg": None,
            "direction": None,
            "tour_rank": case.order,
            "overdue": case.overdue,
            "thumb": f"/api/v1/cases/{case.number}/evidence/{photo}?thumb={THUMB_WIDTH}"
            if photo
            else None,
        }
        if here is not None:
            bearing, _back, metres = _GEOD.inv(here[0], here[1], clon, clat)
            bearing %= 360
            item.update(
                distance_m=round(metres),
                bearing_deg=round(bearing),
                direction=direction(bearing) if metres >= 1 else "此处",
            )
        out.append(item)
    if here is not None:
        out.sort(key=lambda c: (c["distance_m"], c["tour_rank"]))
    return {
        "grids": [grid],
        "zones": zones,
        "cases": out,
        "order": "nearest" if here is not None else "tour",
        "position": {"lon": here[0], "lat": here[1]} if here is not None else None,
        "as_of": now.isoformat(),
    }
