"""The map browser's answers, over the domain core: which zones each department holds, which
grids a user sees, the grid under a click and its figures, the legend, the GCJ-02 offset of a
basemap. No HTTP here; :mod:`weijian.api.routes.web_map` serves it."""

from __future__ import annotations

import contextlib
import hashlib
import threading
from datetime import date, datetime

import cachetools
from sqlalchemy import text

from weijian.cases.clock import LOCAL
from weijian.cases.rows import overdue_sql
from weijian.cases.scope import Principal, scope_sql
from weijian.cases.service import CaseService
from weijian.cases.users import ancestors, grid_of
from weijian.errors import InputError, NotFoundError, PermissionDenied
from weijian.gis.chinese_datums import in_china, wgs84_to_gcj02
from weijian.gis.points import point_to_cgcs2000
from weijian.jurisdiction.engine import grid_chain
from weijian.jurisdiction.snapshot import NO_RULE, Snapshot
from weijian.layers.model import GRID_LEVELS
from weijian.oversight import periods, progress, units
from weijian.styles import (
    DEPARTMENT_COLOURS,
    OVERDUE_COLOUR,
    UNASSIGNED_COLOUR,
    shape_svg,
    state_legend,
    state_shape,
    state_style,
)
from weijian.web_map import tiles
from weijian.web_map.casestore import CaseStore, mercator_of


def _state_entry(code: str, label: str, is_open: bool) -> dict:
    """A state as the page draws it: its colour and its shape, plain and overdue."""
    colour, group = state_style(code, is_open)
    shape = state_shape(code, is_open)
    return {
        "code": code,
        "label": label,
        "open": is_open,
        "group": group,
        "colour": colour,
        "icon": shape_svg(shape, colour),
        "icon_overdue": shape_svg(shape, colour, overdue=True),
    }


FIGURE_LABELS = {
    "baseline": "清零基数（存量）",
    "signed_off": "已销号",
    "remaining": "剩余",
    "percent": "清零进度（%）",
    "overdue": "超期未办",
    "new_this_month": "本月新发现",
}
MAX_CELLS = 40_000


PROGRESS_KEYS = ("baseline", "signed_off", "remaining", "percent")


TILE_CACHE_BYTES = 64 << 20  # gzip-compressed grid and zone tiles kept in memory
ANSWER_CACHE_ENTRIES = 32  # a level's figures, by scope, generation and day


class SharedCache:
    """A ``cachetools`` cache shared by the server's threads: every access under one lock.
    ``get`` counts as a use (the least recently used go first); a value larger than the whole
    cache is not kept."""

    def __init__(self, cache: cachetools.Cache):
        self.cache = cache
        self._lock = threading.Lock()

    def get(self, key):
        with self._lock:
            return self.cache.get(key)

    def put(self, key, value) -> None:
        with self._lock:
            if key in self.cache:
                return
            with contextlib.suppress(ValueError):  # too large for the cache: not kept
                self.cache[key] = value


def tile_cache(max_bytes: int = TILE_CACHE_BYTES) -> SharedCache:
    """Tiles by their ETag, up to ``max_bytes`` of them in all."""
    return SharedCache(cachetools.LRUCache(max_bytes, getsizeof=len))


def answer_cache(entries: int = ANSWER_CACHE_ENTRIES) -> SharedCache:
    """The domain core's answers, up to ``entries`` of them."""
    return SharedCache(cachetools.LRUCache(entries))


def scope_key(principal: Principal) -> tuple:
    """What decides which cases and grids a user sees (for ETags and cached answers)."""
    return (
        principal.role,
        principal.grid_code,
        principal.department_code,
        principal.id,
        principal.api_client_id,
    )


def etag(*parts) -> str:
    return '"' + hashlib.sha256(repr(parts).encode()).hexdigest()[:24] + '"'


class MapService:
    def __init__(self, cases: CaseService, store: CaseStore):
        self.cases = cases
        self.store = store
        # grids and zones change only when a layer version is activated or the rules change,
        # so a supervisor's panning is served from memory
        self.tile_cache = tile_cache()
        self._answers = answer_cache()
        self._departments: dict[tuple[str, date], list[tuple[str, str | None, str]]] = {}
        self._children: dict[str, dict[str, list[str]]] = {}

    @property
    def snapshot(self) -> Snapshot:
        return self.cases.jurisdiction.snapshot

    def now(self) -> datetime:
        return self.cases.clock.now()

    def today(self) -> date:
        return self.now().astimezone(LOCAL).date()

    def require_map_user(self, principal: Principal) -> None:
        if principal.api_client_id is not None or principal.id is None:
            raise PermissionDenied(
                "监管地图只供本市工作人员使用，请以用户身份登录（接口密钥不能打开地图）",
                code="map.user_required",
                detail="the map is for the city's staff: log in as a user",
            )

    def _memo(self, principal: Principal, key: tuple, compute) -> dict:
        """An answer of the domain core for every unit of a level, kept until a case changes
        (the case table's generation) or the day turns: the first click on a grid computes the
        level, the next clicks on its neighbours read it."""
        full = (*key, self.store.generation, self.today(), *scope_key(principal))
        found = self._answers.get(full)
        if found is None:
            found = compute()
            self._answers.put(full, found)
        return found

    def _progress(self, principal: Principal, campaign_id: int, level: str) -> dict:
        return self._memo(
            principal,
            ("progress", campaign_id, level),
            lambda: progress.campaign_progress(self.cases, principal, campaign_id, level=level),
        )

    # -- zones by department -----------------------------------------------------------------
    def zone_departments(self, snap: Snapshot, on: date) -> list[tuple[str, str | None, str]]:
        """(kind, code or None for the whole kind, department type) of every zone kind and
        code in the active layers, as the rules in force on ``on`` decide them for the zone
        alone (the patrol maps shade zones the same way)."""
        key = (snap.token, on)
        found = self._departments.get(key)
        if found is not None:
            return found
        ranks = snap.zone_ranks(on)
        rules = snap.rules_in_force(on)
        by_kind: dict[str, dict[str | None, str]] = {}
        for layer, rank in zip(snap.zone_layers, ranks, strict=True):
            pair_ranks = rank[layer.pair_first].tolist()
            for (kind, code), r in zip(layer.pairs, pair_ranks, strict=True):
                dept = rules[r].department_type if r < NO_RULE else ""
                by_kind.setdefault(str(kind), {})[code if code else None] = dept
        out: list[tuple[str, str | None, str]] = []
        for kind, codes in sorted(by_kind.items()):
            if len(set(codes.values())) == 1:
                out.append((kind, None, next(iter(codes.values()))))
            else:
                out.extend((kind, code, dept) for code, dept in codes.items() if code)
                if None in codes:
                    out.append((kind, None, codes[None]))
        self._departments = {key: out}
        return out

    # -- scope -----------------------------------------------------------------------------
    def _child_map(self, snap: Snapshot) -> dict[str, list[str]]:
        found = self._children.get(snap.token)
        if found is None:
            found = {}
            for grid in snap.grids.values():
                for code, parent in zip(grid.codes, grid.parents, strict=True):
                    if parent:
                        found.setdefault(str(parent), []).append(str(code))
            self._children = {snap.token: found}
        return found

    def scope_codes(self, principal: Principal) -> list[str] | None:
        """The grids a user sees: its own and every grid below it (None: all)."""
        if principal.city_wide:
            return None
        snap = self.snapshot
        children = self._child_map(snap)
        out, todo = [], [principal.grid_code]
        while todo:
            code = todo.pop()
            out.append(code)
            todo.extend(children.get(code, ()))
        return sorted(out)

    def _extents(self, where: str, params: dict) -> dict[str, list[float]]:
        """[min lon, min lat, max lon, max lat] of the active grids matching ``where``, by
        code."""
        with self.cases.read_engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT code, ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM ("
                    f"SELECT code, ST_Extent(geom) AS e FROM active_grid WHERE {where} "
                    "GROUP BY code) s"
                ),
                params,
            )
            return {r[0]: [r[1], r[2], r[3], r[4]] for r in rows}

    def scope_extent(self, principal: Principal, districts: dict) -> list[float] | None:
        """The extent of the user's grid (of every district for the city-wide)."""
        boxes = (
            list(districts.values())
            if principal.city_wide
            else list(self._extents("code = :c", {"c": principal.grid_code}).values())
        )
        if not boxes:
            return None
        return [
            min(b[0] for b in boxes),
            min(b[1] for b in boxes),
            max(b[2] for b in boxes),
            max(b[3] for b in boxes),
        ]

    # -- the legend and what the page needs first ------------------------------------------
    def config(self, principal: Principal, basemap: dict) -> dict:
        self.require_map_user(principal)
        wf = self.cases.workflow
        snap = self.snapshot
        districts = snap.grids.get("district")
        codes = self.scope_codes(principal)
        extents = self._extents("level = 'district'", {})
        visible_districts = (
            [
                {"code": str(c), "name": str(n), "extent": extents.get(str(c))}
                for c, n in zip(districts.codes, districts.names, strict=True)
                if codes is None or str(c) in codes or principal.district_code == str(c)
            ]
            if districts is not None
            else []
        )
        with self.cases.read_engine.connect() as conn:
            campaigns = [
                {
                    "id": r.id,
                    "name": r.name,
                    "start_date": r.start_date.isoformat(),
                    "district": r.district_code,
                }
                for r in conn.execute(
                    text("SELECT id, name, start_date, district_code FROM campaign ORDER BY id")
                )
                if principal.city_wide or r.district_code in (None, principal.district_code)
            ]
        return {
            "user": principal.as_json(),
            "scope": {
                "grid_code": principal.grid_code,
                "grid_level": principal.grid_level,
                "grid_name": grid_of(snap, principal.grid_code)[1]
                if principal.grid_code
                else "全市",
                "extent": self.scope_extent(principal, extents),
            },
            "districts": visible_districts,
            "levels": [
                {
                    "level": lvl,
                    "label": units.LEVEL_LABELS[lvl],
                    "min_zoom": tiles.GRID_MIN_ZOOM[lvl],
                }
                for lvl in GRID_LEVELS
            ],
            "case_min_zoom": tiles.CASE_MIN_ZOOM,
            "states": [
                _state_entry(code, state.label, state.category == "open")
                for code, state in wf.states.items()
            ],
            "state_groups": [
                {"colour": c, "label": label, "icon": shape_svg(shape, c)}
                for c, label, shape in state_legend()
            ],
            "overdue_icon": shape_svg("o", "#ffffff", overdue=True),
            "overdue_colour": OVERDUE_COLOUR,
            "channels": [{"code": k, "label": v} for k, v in wf.channels.items()],
            "tracks": [{"code": k, "label": v["label"]} for k, v in wf.tracks.items()],
            "departments": [
                {"type": k, "colour": c, "label": label}
                for k, (c, label) in DEPARTMENT_COLOURS.items()
            ]
            + [{"type": "", "colour": UNASSIGNED_COLOUR[0], "label": UNASSIGNED_COLOUR[1]}],
            "campaigns": campaigns,
            "figure_labels": FIGURE_LABELS,
            "basemap": basemap,
            "today": self.today().isoformat(),
        }

    # -- aggregates ------------------------------------------------------------------------
    def cells(
        self,
        principal,
        filters,
        bbox: tuple[float, float, float, float],
        zoom: int,
        cell_px: int = 24,
    ) -> dict:
        """The heatmap's and the clusters' cells: the view's cases (in scope, filtered) counted
        into squares of ``cell_px`` screen pixels at ``zoom``."""
        self.require_map_user(principal)
        lon0, lat0, lon1, lat1 = bbox
        if not (lon0 < lon1 and lat0 < lat1):
            raise InputError(
                f"范围 bbox（{lon0},{lat0},{lon1},{lat1}）无效：应为“最小经度,最小纬度,最大经度,"
                "最大纬度”，且最小值小于最大值，如 bbox=126.3,41.9,126.5,42.0",
                code="list.bbox_invalid",
                detail="bbox must be min_lon,min_lat,max_lon,max_lat with min < max",
                hint="e.g. bbox=126.3,41.9,126.5,42.0",
            )
        if not 0 <= zoom <= tiles.MAX_ZOOM:
            raise InputError(
                f"缩放级别 zoom 应在 0～{tiles.MAX_ZOOM} 之间（收到 {zoom}）",
                code="map.zoom_invalid",
                detail=f"zoom must be 0…{tiles.MAX_ZOOM}",
            )
        if not 4 <= cell_px <= 256:
            raise InputError(
                f"格子大小 cell_px 应在 4～256 像素之间（收到 {cell_px}）",
                code="map.cell_px_invalid",
                detail="cell_px must be 4…256",
            )
        cell_m = tiles.pixel_m(zoom) * cell_px
        x0, y0 = mercator_of(lon0, lat0)
        x1, y1 = mercator_of(lon1, lat1)
        if (x1 - x0) / cell_m * (y1 - y0) / cell_m > MAX_CELLS:
            raise InputError(
                f"该视野范围将分成超过 {MAX_CELLS:,} 个格子，请缩小范围或加大格子（cell_px）",
                code="map.too_many_cells",
                detail=f"the view would make more than {MAX_CELLS:,} cells",
                hint="ask for the view on screen at its zoom, or for bigger cells (cell_px)",
            )
        now = self.now()
        found = self.store.cells(principal, filters, now, (x0, y0, x1, y1), cell_m)
        return {
            "zoom": zoom,
            "cell_m": round(cell_m, 3),
            "total": found.total,
            "open": int(found.open.sum()),
            "overdue": int(found.overdue.sum()),
            "area_m2": round(float(found.area.sum()), 1),
            "cells": [
                [round(lo, 6), round(la, 6), int(n), round(float(a), 1), int(o), int(d)]
                for lo, la, n, a, o, d in zip(
                    found.lon.tolist(),
                    found.lat.tolist(),
                    found.count.tolist(),
                    found.area.tolist(),
                    found.open.tolist(),
                    found.overdue.tolist(),
                    strict=True,
                )
            ],
            "columns": ["lon", "lat", "count", "area_m2", "open", "overdue"],
            "generation": self.store.generation,
        }

    @staticmethod
    def case_condition(principal: Principal, filters, now) -> tuple[str, dict]:
        """The cases the user sees with the filters, as SQL over ``violation_case c``."""
        scope, params = scope_sql(principal)
        where, fparams = filters.sql("c")
        return f"{scope} AND {where}", {**params, **fparams, "now": now}

    def case_tile(self, principal: Principal, filters, z: int, x: int, y: int, now) -> bytes:
        """The cases the user sees with the filters, as a vector tile."""
        where, params = self.case_condition(principal, filters, now)
        with self.cases.read_engine.connect() as conn:
            return tiles.case_tile(conn, z, x, y, where, params)

    def labels(self, principal: Principal, level: str, bbox) -> list[dict]:
        """Names of the grids of ``level`` in a view (of those the user sees), each at a point
        inside its grid."""
        self.require_map_user(principal)
        codes = self.scope_codes(principal)
        scoped = "" if codes is None else "AND code = ANY(:codes)"
        x0, y0, x1, y1 = bbox
        with self.cases.read_engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT code, name, ST_X(p) AS lon, ST_Y(p) AS lat FROM ("
                    "SELECT code, name, ST_PointOnSurface(geom) AS p FROM active_grid "
                    "WHERE level = :level AND geom && ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4490) "
                    f"{scoped} ORDER BY area_m2 DESC NULLS LAST LIMIT 2000) s"
                ),
                {"level": level, "x0": x0, "y0": y0, "x1": x1, "y1": y1, "codes": codes},
            )
            return [
                {"code": r.code, "name": r.name, "lon": round(r.lon, 6), "lat": round(r.lat, 6)}
                for r in rows
            ]

    # -- what lies under a click -----------------------------------------------------------
    def case_at(
        self, principal: Principal, filters, lon: float, lat: float, zoom: int, px: int = 10
    ) -> dict:
        """The case drawn nearest to a click, within ``px`` screen pixels at ``zoom``, among
        those the user sees with the filters in force."""
        self.require_map_user(principal)
        lon, lat, _ = point_to_cgcs2000(lon, lat, "cgcs2000")
        if not 0 <= zoom <= tiles.MAX_ZOOM or not 1 <= px <= 50:
            raise InputError(
                f"缩放级别 zoom 应在 0～{tiles.MAX_ZOOM} 之间，点击半径 px 应在 1～50 像素之间"
                f"（收到 zoom={zoom}，px={px}）",
                code="map.click_invalid",
                detail=f"zoom must be 0…{tiles.MAX_ZOOM} and px 1…50",
            )
        where, params = self.case_condition(principal, filters, self.now())
        x, y = mercator_of(lon, lat)
        with self.cases.read_engine.connect() as conn:
            row = conn.execute(
                text(
                    "WITH p AS (SELECT ST_SetSRID(ST_MakePoint(:x, :y), 3857) AS g) "
                    "SELECT c.number, ST_Distance(c.geom_3857, p.g) AS d FROM violation_case c, p "
                    f"WHERE ST_DWithin(c.geom_3857, p.g, :r) AND {where} "
                    "ORDER BY c.geom_3857 <-> p.g LIMIT 1"
                ),
                {**params, "x": x, "y": y, "r": tiles.pixel_m(zoom) * px},
            ).first()
        if row is None:
            raise NotFoundError(
                "点击处附近没有您可查看的案件，请放大地图后点在案件标记上",
                code="map.no_case_here",
                detail="no case of yours is drawn here",
            )
        return {"number": row.number, "distance_px": round(row.d / tiles.pixel_m(zoom), 1)}

    # -- a grid ----------------------------------------------------------------------------
    def grid_at(self, principal: Principal, lon: float, lat: float, level: str) -> dict:
        """The grid of ``level`` (or the lowest one found above it) under a point."""
        self.require_map_user(principal)
        lon, lat, _ = point_to_cgcs2000(lon, lat, "cgcs2000")
        if level not in GRID_LEVELS:
            raise InputError(
                f"未知的网格层级“{level}”，可选：{'、'.join(GRID_LEVELS)}",
                code="grid.level_unknown",
                detail=f"level must be one of {', '.join(GRID_LEVELS)}",
            )
        snap = self.snapshot
        chain = grid_chain(snap, lon, lat)
        allowed = self.scope_codes(principal)
        for lvl in reversed(GRID_LEVELS[: GRID_LEVELS.index(level) + 1]):
            row = chain.get(lvl)
            if row is None:
                continue
            code = str(snap.grids[lvl].codes[row])
            if allowed is not None and code not in allowed:
                break
            return {"code": code, "level": lvl, "name": str(snap.grids[lvl].names[row])}
        raise NotFoundError(
            "点击处不在您负责的网格内，请在本辖区范围内点击",
            code="map.no_grid_here",
            detail="no grid of yours lies here",
            hint="click inside your own area",
        )

    def grid_figures(
        self, principal: Principal, code: str, campaign_id: int | None, month: str | None
    ) -> dict:
        """The figures of one grid — those ``GET /api/v1/campaigns/{id}/progress`` and
        ``GET /api/v1/assessment/levels`` give it — read from the counts the database keeps
        current (``campaign_count``, ``case_count``) and, for what turns with time alone
        (overdue), from the indexed due dates: a click reads a handful of rows."""
        self.require_map_user(principal)
        snap = self.snapshot
        level, name = grid_of(snap, code)
        allowed = self.scope_codes(principal)
        if allowed is not None and code not in allowed:
            raise NotFoundError(
                f"未找到网格 {code}（或不在您的权限范围内），请核对网格代码",
                code="grid.not_found",
                detail=f"no grid {code} within your scope",
            )
        first, _ = periods.month_period(month or self.today().strftime("%Y-%m"))
        out: dict = {
            "grid": {
                "code": code,
                "name": name,
                "level": level,
                "level_label": units.LEVEL_LABELS[level],
                "chain": list(reversed(ancestors(snap, code))),
                "responsible": snap.grids[level].responsible[snap.grids[level].row_of[code]],
                "extent": self._extents("code = :c", {"c": code}).get(code),
            },
            "month": first.strftime("%Y-%m"),
            "campaign": None,
        }
        figures = {}
        if campaign_id is not None:
            prog = progress.grid_progress(self.cases, principal, campaign_id, level, code)
            out["campaign"] = prog["campaign"]
            out["as_of"] = prog["as_of"]
            figures.update({k: prog[k] for k in PROGRESS_KEYS})
        figures.update(
            overdue=self._overdue_in_grid(principal, level, code),
            new_this_month=self._reported_in_grid(level, code, first),
        )
        out["figures"] = figures
        out["labels"] = FIGURE_LABELS
        return out

    def _reported_in_grid(self, level: str, code: str, month: date) -> int:
        """Cases reported in ``month`` in the grid (as frozen at intake): the rows of
        ``case_count`` the database keeps current as cases come and change — the ``reported``
        count of ``GET /api/v1/assessment/levels`` for that grid."""
        with self.cases.read_engine.connect() as conn:
            return conn.execute(
                text(
                    "SELECT coalesce(sum(n), 0) FROM case_count "
                    "WHERE level = :l AND code = :g AND month = :m"
                ),
                {"l": level, "g": code, "m": month},
            ).scalar_one()

    def _overdue_in_grid(self, principal: Principal, level: str, code: str) -> int:
        """The grid's open cases overdue at their current stage now: the rule of the totals,
        the case list's ``overdue=true`` and a grid's 督办."""
        scope, params = scope_sql(principal)
        with self.cases.read_engine.connect() as conn:
            return conn.execute(
                text(
                    f"SELECT count(*) FROM violation_case c WHERE c.{level}_code = :g "
                    f"AND {overdue_sql('c')} AND {scope}"
                ),
                {"g": code, "now": self.now(), **params},
            ).scalar_one()

    def choropleth(self, principal: Principal, campaign_id: int, level: str) -> dict:
        """Clear-to-zero progress of every grid of ``level``, as the campaign API gives it,
        with the classes of the legend."""
        self.require_map_user(principal)
        if level not in GRID_LEVELS:
            raise InputError(
                f"未知的网格层级“{level}”，可选：{'、'.join(GRID_LEVELS)}",
                code="grid.level_unknown",
                detail=f"level must be one of {', '.join(GRID_LEVELS)}",
            )
        prog = self._progress(principal, campaign_id, level)
        return {
            "campaign": prog["campaign"],
            "as_of": prog["as_of"],
            "level": level,
            "grids": {
                r["code"]: {"name": r["name"], **{k: r[k] for k in PROGRESS_KEYS}}
                for r in prog["levels"][level]
                if r["code"]
            },
            "classes": CHOROPLETH_CLASSES,
        }

    # -- basemaps ---------------------------------------------------------------------------
    @staticmethod
    def gcj02_offset(lon: float, lat: float) -> dict:
        """How far GCJ-02 (AMap, Tencent) puts a point from where it is, in degrees: a GCJ-02
        basemap is drawn shifted back by it, so the overlays fall on their places."""
        lon, lat, _ = point_to_cgcs2000(lon, lat, "cgcs2000")
        if not in_china(lon, lat):
            return {"dlon": 0.0, "dlat": 0.0, "in_china": False}
        glon, glat = wgs84_to_gcj02(lon, lat)
        return {"dlon": glon - lon, "dlat": glat - lat, "in_china": True}


CHOROPLETH_CLASSES = [  # one sequential hue, pale = lagging: red on the map means overdue
    {"min": 0, "max": 20, "colour": "#ffffcc", "label": "0–20%"},
    {"min": 20, "max": 40, "colour": "#d9f0a3", "label": "20–40%"},
    {"min": 40, "max": 60, "colour": "#addd8e", "label": "40–60%"},
    {"min": 60, "max": 80, "colour": "#78c679", "label": "60–80%"},
    {"min": 80, "max": 100, "colour": "#31a354", "label": "80–<100%"},
    {"min": 100, "max": 100, "colour": "#006837", "label": "已清零 100%"},
]
