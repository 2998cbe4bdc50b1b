"""What a patrol page shows, read from PostGIS: the grid, its sub-grids and neighbours, the
zones shaded by the department responsible for them, its open cases with their deadlines, the
visiting order, the grid worker. Everything comes back in Gauss-Krüger metres (the 3° zone of
the grid), so the renderer draws to a true scale; nothing here draws.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

import shapely
from shapely.geometry.base import BaseGeometry
from sqlalchemy import Connection, text

from weijian.cases import deadlines
from weijian.cases.clock import LOCAL
from weijian.cases.workflow import Workflow
from weijian.errors import InputError, NotFoundError
from weijian.gis.crs import gk3_epsg_for_lon
from weijian.jurisdiction.snapshot import NO_RULE, Snapshot
from weijian.layers import repository
from weijian.layers.model import GRID_LEVELS
from weijian.patrol.layout import Frame, frame_for
from weijian.patrol.tour import Tour, plan
from weijian.text import plain

LEVEL_LABELS = {"district": "区县", "town": "镇（街道）", "community": "社区", "compound": "小区"}
CONTEXT = 0.12  # margin around the grid, as a share of its size


@dataclass
class GridShape:
    code: str
    name: str
    level: str
    geom: BaseGeometry  # Gauss-Krüger metres


@dataclass
class ZoneShape:
    geom: BaseGeometry
    department_type: str | None
    rank: int  # position of the deciding rule (lower wins); drawn last when lowest


@dataclass
class PageCase:
    order: int  # 1 … n: the visiting order, also the number on the map and in the table
    number: str
    address: str | None
    description: str
    state: str
    state_label: str
    track: str
    department: str | None
    department_type: str | None
    x: float
    y: float
    due: datetime | None  # the site-visit deadline, when one runs
    overdue_days: float  # 0 when not overdue
    overdue: bool


@dataclass
class ProjectShape:
    """A construction project's approved red line in the window (项目追踪), in metres."""

    geom: BaseGeometry
    name: str
    stage: str


@dataclass
class PageData:
    grid: GridShape
    chain: list[GridShape]  # district … parent, for the subtitle
    district: GridShape | None
    district_siblings: list[GridShape]  # same-level grids of the district, for the inset
    children: list[GridShape]
    neighbours: list[GridShape]
    zones: list[ZoneShape]
    cases: list[PageCase]
    tour: Tour
    start: tuple[float, float]
    responsible: list[dict]
    layer_versions: dict[str, int]
    epsg: int
    on: date
    frame: Frame | None = None
    projects: list[ProjectShape] = field(default_factory=list)

    @property
    def title(self) -> str:
        return f"{self.grid.name}违法建设巡查图"


def _grid_row(conn: Connection, code: str, epsg: int | None = None):
    row = conn.execute(
        text(
            "SELECT code, name, level, parent_code, responsible, attributes, "
            "ST_X(ST_PointOnSurface(geom)) AS lon, ST_Y(ST_PointOnSurface(geom)) AS lat "
            "FROM active_grid WHERE code = :c LIMIT 1"
        ),
        {"c": code},
    ).first()
    if row is None:
        raise NotFoundError(
            f"没有代码为“{code}”的在用网格，请核对网格代码",
            code="grid.not_found",
            detail=f"no active grid has the code {code!r}",
            hint="see GET /api/v1/layers and the grid layers' features for the codes",
        )
    return row


def _shapes(conn: Connection, sql: str, params: dict, epsg: int) -> list[GridShape]:
    rows = conn.execute(
        text(
            "SELECT code, name, level, ST_AsBinary(ST_Transform(geom, :epsg)) AS wkb "
            f"FROM active_grid WHERE {sql} ORDER BY code"
        ),
        {**params, "epsg": epsg},
    )
    return [GridShape(r.code, plain(r.name), r.level, shapely.from_wkb(bytes(r.wkb))) for r in rows]


def _chain(conn: Connection, row, epsg: int) -> list[GridShape]:
    """The grids above, district first."""
    chain: list[GridShape] = []
    parent, seen = row.parent_code, {row.code}
    while parent and parent not in seen:
        seen.add(parent)
        found = _shapes(conn, "code = :c", {"c": parent}, epsg)
        if not found:
            break
        chain.insert(0, found[0])
        parent = conn.execute(
            text("SELECT parent_code FROM active_grid WHERE code = :c LIMIT 1"), {"c": parent}
        ).scalar()
    return chain


def _start(row, grid: BaseGeometry, to_gk) -> tuple[float, float]:
    """Where the patrol starts: the grid's office when its attributes name one (start_lon /
    start_lat, or 起点经度 / 起点纬度), else a point inside the grid."""
    attrs = row.attributes or {}
    for lon_key, lat_key in (("start_lon", "start_lat"), ("起点经度", "起点纬度")):
        try:
            lon, lat = float(attrs[lon_key]), float(attrs[lat_key])
        except (KeyError, TypeError, ValueError):
            continue
        x, y = to_gk(lon, lat)
        return float(x), float(y)
    point = grid.representative_point()
    return point.x, point.y


def visiting_order(
    start: tuple[float, float], cases: list[PageCase]
) -> tuple[Tour, list[PageCase]]:
    """The order a patrol visits a grid's open cases from ``start`` (:func:`plan`), each
    case's ``order`` set 1 … n: the numbers of the printed patrol map and the field app's
    按巡查顺序 — one rule for both."""
    tour = plan(start, [(c.x, c.y) for c in cases])
    ordered = [cases[i] for i in tour.order]
    for n, case in enumerate(ordered, start=1):
        case.order = n
    return tour, ordered


def grid_tour(
    conn: Connection,
    workflow: Workflow,
    calendar: deadlines.WorkCalendar,
    code: str,
    now: datetime,
) -> list[PageCase]:
    """A grid's open cases in the patrol map's visiting order (what :func:`load_page` numbers,
    without the rest of the page)."""
    row = _grid_row(conn, code)
    epsg = gk3_epsg_for_lon(row.lon)
    import pyproj

    to_gk = pyproj.Transformer.from_crs(4490, epsg, always_xy=True).transform
    grid = _shapes(conn, "code = :c", {"c": code}, epsg)[0]
    cases = _cases(conn, workflow, calendar, row.level, code, now, epsg)
    return visiting_order(_start(row, grid.geom, to_gk), cases)[1]


def load_page(
    conn: Connection,
    snap: Snapshot,
    workflow: Workflow,
    calendar: deadlines.WorkCalendar,
    code: str,
    now: datetime,
    paper: str = "A4",
    orientation: str = "auto",
) -> PageData:
    row = _grid_row(conn, code)
    epsg = gk3_epsg_for_lon(row.lon)
    import pyproj

    to_gk = pyproj.Transformer.from_crs(4490, epsg, always_xy=True).transform
    grid = _shapes(conn, "code = :c", {"c": code}, epsg)[0]
    chain = _chain(conn, row, epsg)
    district = next((g for g in chain if g.level == "district"), None)
    if row.level == "district":
        district = grid
    minx, miny, maxx, maxy = grid.geom.bounds
    pad = CONTEXT * max(maxx - minx, maxy - miny, 50.0)
    extent = (minx - pad, miny - pad, maxx + pad, maxy + pad)
    # the page decides what the frame shows: fetch exactly that
    page = frame_for(paper, orientation, extent)
    shown = page.extent_m
    box_params = {"x0": shown[0], "y0": shown[1], "x1": shown[2], "y1": shown[3]}
    window = "geom && ST_Transform(ST_MakeEnvelope(:x0, :y0, :x1, :y1, :epsg), 4490)"
    position = GRID_LEVELS.index(row.level)
    children = (
        _shapes(
            conn,
            "level = :lvl AND parent_code = :c",
            {"lvl": GRID_LEVELS[position + 1], "c": code},
            epsg,
        )
        if position + 1 < len(GRID_LEVELS)
        else []
    )
    if position + 1 < len(GRID_LEVELS) and not children:
        children = [
            g
            for g in _shapes(
                conn,
                f"level = :lvl AND {window}",
                {"lvl": GRID_LEVELS[position + 1], **box_params},
                epsg,
            )
            if g.geom.representative_point().within(grid.geom)
        ]
    neighbours = _shapes(
        conn,
        f"level = :lvl AND code <> :c AND {window}",
        {"lvl": row.level, "c": code, **box_params},
        epsg,
    )
    siblings = []
    if district is not None and row.level != "district":
        siblings = [
            g
            for g in _shapes(
                conn,
                f"level = :lvl AND {window}",
                {
                    "lvl": row.level,
                    **dict(zip(("x0", "y0", "x1", "y1"), district.geom.bounds, strict=True)),
                },
                epsg,
            )
            if g.geom.representative_point().within(district.geom)
        ]
    zones = _zones(conn, snap, now.astimezone(LOCAL).date(), epsg, box_params)
    projects = _projects(conn, epsg, box_params)
    cases = _cases(conn, workflow, calendar, row.level, code, now, epsg)
    start = _start(row, grid.geom, to_gk)
    tour, ordered = visiting_order(start, cases)
    return PageData(
        grid=grid,
        chain=chain,
        district=district,
        district_siblings=siblings,
        children=children,
        neighbours=neighbours,
        zones=zones,
        cases=ordered,
        tour=tour,
        start=start,
        responsible=[
            {k: plain(v) if isinstance(v, str) else v for k, v in person.items()}
            if isinstance(person, dict)
            else person
            for person in row.responsible or []
        ],
        layer_versions=dict(snap.layer_versions),
        epsg=epsg,
        on=now.astimezone(LOCAL).date(),
        frame=page,
        projects=projects,
    )


_POSITIONS: dict[str, dict[int, tuple[int, int]]] = {}


def _zone_positions(snap: Snapshot) -> dict[int, tuple[int, int]]:
    """zone id → (layer, row) in the snapshot, built once per snapshot (an atlas asks for it
    on every page)."""
    found = _POSITIONS.get(snap.token)
    if found is None:
        found = {
            zone_id: (n, i)
            for n, layer in enumerate(snap.zone_layers)
            for i, zone_id in enumerate(layer.ids.tolist())
        }
        _POSITIONS.clear()  # only the snapshot in use is kept
        _POSITIONS[snap.token] = found
    return found


def _zones(conn: Connection, snap: Snapshot, on: date, epsg: int, box: dict) -> list[ZoneShape]:
    """Zones in the window, clipped to it, with the department type their best rule names."""
    department_of = zone_departments(snap, on)
    rows = conn.execute(
        text(
            "WITH w AS (SELECT ST_MakeEnvelope(:x0, :y0, :x1, :y1, :epsg) AS box) "
            "SELECT z.id, ST_AsBinary(ST_SimplifyPreserveTopology(ST_Intersection("
            "ST_Transform(z.geom, :epsg), w.box), 0.5)) AS wkb "
            f"FROM {repository.active_zones(conn)} z, w WHERE z.geom && ST_Transform(w.box, 4490)"
        ),
        {**box, "epsg": epsg},
    )
    out = []
    for r in rows:
        geom = shapely.from_wkb(bytes(r.wkb))
        if geom.is_empty or geom.area <= 0:
            continue
        department, rank = department_of(r.id)
        out.append(ZoneShape(geom, department, rank))
    return out


def _projects(conn: Connection, epsg: int, box: dict) -> list[ProjectShape]:
    """The red lines of the construction projects still tracked, clipped to the window."""
    rows = conn.execute(
        text(
            "WITH w AS (SELECT ST_MakeEnvelope(:x0, :y0, :x1, :y1, :epsg) AS box) "
            "SELECT p.name, p.stage, ST_AsBinary(ST_Intersection(ST_Transform(p.red_line, "
            ":epsg), w.box)) AS wkb FROM construction_project p, w WHERE p.stage <> 'done' "
            "AND p.red_line && ST_Transform(w.box, 4490) ORDER BY p.id"
        ),
        {**box, "epsg": epsg},
    )
    out = []
    for r in rows:
        geom = shapely.from_wkb(bytes(r.wkb))
        if not geom.is_empty and geom.area > 0:
            out.append(ProjectShape(geom, plain(r.name), r.stage))
    return out


def zone_departments(snap: Snapshot, on: date):
    """zone id → (the department type its best rule names or None, that rule's rank) on the
    day ``on``, from the snapshot's ranks (what the jurisdiction look-up decides by)."""
    ranks = snap.zone_ranks(on)
    rules = snap.rules_in_force(on)
    position = _zone_positions(snap)

    def department_of(zone_id: int) -> tuple[str | None, int]:
        where = position.get(zone_id)
        rank = int(ranks[where[0]][where[1]]) if where else NO_RULE
        return (rules[rank].department_type if rank < NO_RULE else None), rank

    return department_of


def _cases(
    conn: Connection,
    workflow: Workflow,
    calendar: deadlines.WorkCalendar,
    level: str,
    code: str,
    now: datetime,
    epsg: int,
) -> list[PageCase]:
    rows = conn.execute(
        text(
            "SELECT number, address, description, state, track, department_name, department_type, "
            "stage_due, ST_X(ST_Transform(geom, :epsg)) AS x, "
            "ST_Y(ST_Transform(geom, :epsg)) AS y FROM violation_case "
            f"WHERE {level}_code = :code AND is_open ORDER BY reported_at, id"
        ),
        {"code": code, "epsg": epsg},
    )
    out = []
    for r in rows:
        overdue = deadlines.missed(r.stage_due, None, now)
        state = workflow.states.get(r.state)
        out.append(
            PageCase(
                order=0,
                number=plain(r.number),
                address=plain(r.address) if r.address else None,
                description=plain(r.description),
                state=r.state,
                state_label=state.label if state else r.state,
                track=r.track,
                department=plain(r.department_name) if r.department_name else None,
                department_type=r.department_type,
                x=r.x,
                y=r.y,
                due=r.stage_due,
                overdue_days=round((now - r.stage_due).total_seconds() / 86400, 1)
                if overdue
                else 0.0,
                overdue=overdue,
            )
        )
    return out


def grids_of_district(conn: Connection, district: str, level: str) -> list[tuple[str, str]]:
    """(code, name) of every grid of ``level`` inside a district, by code."""
    if level not in ("town", "community", "compound"):
        raise InputError(
            f"图册的网格层级“{level}”无效，应为 town（镇街）、community（社区）或 compound（小区）",
            code="patrol.atlas_level_invalid",
            detail=f"an atlas is made of town, community or compound grids, not {level!r}",
            hint="--level community or --level compound",
        )
    found = conn.execute(
        text("SELECT 1 FROM active_grid WHERE code = :d AND level = 'district'"), {"d": district}
    ).first()
    if not found:
        raise NotFoundError(
            f"没有代码为“{district}”的在用区县网格，请填写区县网格代码",
            code="district.not_found",
            detail=f"no active district grid has the code {district!r}",
            hint="see the district grid layer for the codes",
        )
    rows = conn.execute(
        text(
            "SELECT g.code, g.name FROM active_grid g, active_grid d "
            "WHERE d.code = :d AND d.level = 'district' AND g.level = :lvl "
            "AND g.geom && d.geom AND ST_Within(ST_PointOnSurface(g.geom), d.geom) "
            "ORDER BY g.code"
        ),
        {"d": district, "lvl": level},
    )
    return [(r.code, r.name) for r in rows]
