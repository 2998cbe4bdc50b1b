"""The supervisors' map browser: its page and assets (all served here, nothing from outside),
vector tiles, aggregates, and the figures behind a click."""

from __future__ import annotations

import gzip
from datetime import date
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import quote

import orjson
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, Response

from weijian.api.dependencies import CurrentUser
from weijian.errors import EnvironmentProblem, InputError
from weijian.web_map import tiles
from weijian.web_map.basemaps import basemap_config
from weijian.web_map.export import export_html
from weijian.web_map.filters import MapFilters
from weijian.web_map.service import MapService, etag, scope_key

STATIC = Path(__file__).resolve().parents[2] / "web_map" / "static"
MVT = "application/vnd.mapbox-vector-tile"
GZIP_LEVEL = 5  # as small as 9 within a percent or two, in half the time (bench/web_map.py)
# the front-end libraries the page loads, from the npm packages of web_map/package.json
VENDOR = {
    "leaflet/leaflet.js": "leaflet/dist/leaflet.js",
    "leaflet/leaflet.css": "leaflet/dist/leaflet.css",
    "leaflet/images/layers.png": "leaflet/dist/images/layers.png",
    "leaflet/images/layers-2x.png": "leaflet/dist/images/layers-2x.png",
    "leaflet/images/marker-icon.png": "leaflet/dist/images/marker-icon.png",
    "leaflet/images/marker-icon-2x.png": "leaflet/dist/images/marker-icon-2x.png",
    "leaflet/images/marker-shadow.png": "leaflet/dist/images/marker-shadow.png",
    "vectorgrid/vectorgrid.js": "leaflet.vectorgrid/dist/Leaflet.VectorGrid.bundled.min.js",
    "heat/leaflet-heat.js": "leaflet.heat/dist/leaflet-heat.js",
    "chartjs/chart.umd.js": "chart.js/dist/chart.umd.js",  # the dashboard's monthly trend
    "sha256/sha256.min.js": "js-sha256/build/sha256.min.js",  # the public form's proof of work
}
OWN = {"map.js": "text/javascript", "map.css": "text/css", "favicon.svg": "image/svg+xml"}

router = APIRouter(tags=["map"])
api = APIRouter(prefix="/api/v1/map", tags=["map"])


def _service(request: Request) -> MapService:
    return request.app.state.map


def _assets_dir(request: Request) -> Path:
    return request.app.state.cases.settings.web_assets_dir


# -- the page and its files ------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def page(request: Request) -> Response:
    assets = _assets_dir(request)
    missing = [name for name, rel in VENDOR.items() if not (assets / rel).is_file()]
    if missing:
        raise EnvironmentProblem(
            f"监管地图的前端组件未安装（{'、'.join(missing)}），地图无法打开，请联系系统管理员",
            code="map.assets_missing",
            detail="the map's front-end libraries are not installed (" + ", ".join(missing) + ")",
            hint="run ./dev setup (it runs npm ci in weijian/web_map), or set "
            "WEIJIAN_WEB_ASSETS_DIR to a node_modules folder holding them",
        )
    return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8")


@router.get("/static/map/{name}", include_in_schema=False)
def own_asset(name: str) -> Response:
    if name not in OWN:
        return Response(status_code=404)
    return FileResponse(STATIC / name, media_type=OWN[name])


@router.get("/static/vendor/{path:path}", include_in_schema=False)
def vendor_asset(request: Request, path: str) -> Response:
    rel = VENDOR.get(path)
    assets = _assets_dir(request)
    if rel is None or not (assets / rel).is_file():
        return Response(status_code=404)
    return FileResponse(assets / rel, headers={"Cache-Control": "public, max-age=86400"})


# -- helpers ---------------------------------------------------------------------------------


def _held(request: Request, tag: str) -> bool:
    """Whether the client holds the answer ``tag`` names already."""
    return tag in [t.strip() for t in request.headers.get("if-none-match", "").split(",")]


def _minute(now) -> int:
    """Overdue flags turn with time as well as with changes: such answers hold a minute."""
    return int(now.timestamp()) // 60


def _conditional(request: Request, tag: str, make, media_type: str) -> Response:
    """304 when the client holds ``tag`` already, else the body ``make()`` returns."""
    headers = {"ETag": tag, "Cache-Control": "private, no-cache"}
    if _held(request, tag):
        return Response(status_code=304, headers=headers)
    body = make()
    if isinstance(body, (dict, list)):
        body = orjson.dumps(body)
    return Response(body, media_type=media_type, headers=headers)


def _cached_tile(request: Request, svc: MapService, tag: str, make) -> Response:
    """A grid or zone tile: 304 for a client holding it, else from the tile cache, where it
    is kept gzip-compressed (and sent so to a client that accepts it: compressed once)."""
    headers = {"ETag": tag, "Cache-Control": "private, no-cache", "Vary": "Accept-Encoding"}
    if _held(request, tag):
        return Response(status_code=304, headers=headers)
    packed = svc.tile_cache.get(tag)
    if packed is None:
        raw = make()
        packed = gzip.compress(raw, compresslevel=GZIP_LEVEL, mtime=0) if raw else b""
        svc.tile_cache.put(tag, packed)
    if packed and "gzip" in request.headers.get("accept-encoding", ""):
        return Response(packed, media_type=MVT, headers={**headers, "Content-Encoding": "gzip"})
    return Response(gzip.decompress(packed) if packed else b"", media_type=MVT, headers=headers)


def _bbox(value: str) -> tuple[float, float, float, float]:
    try:
        parts = tuple(float(v) for v in value.split(","))
    except ValueError:
        parts = ()
    if len(parts) != 4 or not all(-180 <= v <= 180 for v in parts):
        raise InputError(
            f"范围 bbox“{value}”格式不正确：应为“最小经度,最小纬度,最大经度,最大纬度”四个数"
            "（单位为度），如 bbox=126.3,41.9,126.5,42.0",
            code="list.bbox_invalid",
            detail=f"bbox {value!r} is not min_lon,min_lat,max_lon,max_lat in degrees",
            hint="e.g. bbox=126.3,41.9,126.5,42.0",
        )
    return parts  # type: ignore[return-value]


Level = Literal["district", "town", "community", "compound"]
State = Annotated[str | None, Query(description="state code(s), comma-separated")]
Category = Annotated[Literal["open", "closed"] | None, Query(description="open | closed")]
Channel = Annotated[str | None, Query(description="source channel(s), comma-separated")]
Track = Annotated[Literal["new", "backlog"] | None, Query(description="new | backlog")]
From = Annotated[date | None, Query(alias="from", description="reported on or after (day)")]
To = Annotated[date | None, Query(alias="to", description="reported on or before (day)")]
District = Annotated[str | None, Query(description="district grid code")]
Overdue = Annotated[bool | None, Query(description="only (or no) overdue cases")]


def map_filters(
    request: Request,
    state: State = None,
    category: Category = None,
    channel: Channel = None,
    track: Track = None,
    start: From = None,
    end: To = None,
    district: District = None,
    overdue: Overdue = None,
) -> MapFilters:
    """The filters of the query string, checked against the workflow in force."""
    return MapFilters.parse(
        _service(request).cases.workflow,
        state=state,
        category=category,
        channel=channel,
        track=track,
        start=start,
        end=end,
        district=district,
        overdue=overdue,
    )


Filters = Annotated[MapFilters, Depends(map_filters)]


# -- the API ---------------------------------------------------------------------------------


@api.get("/config", summary="What the map page needs first: user, scope, legend, campaigns")
def config(request: Request, user: CurrentUser) -> dict:
    return _service(request).config(user, basemap_config(request.app.state.cases.settings))


@api.get("/tiles/grids/{z}/{x}/{y}.mvt", summary="Grid boundaries (levels by zoom), a vector tile")
def grid_tile(request: Request, z: int, x: int, y: int, user: CurrentUser) -> Response:
    svc = _service(request)
    svc.require_map_user(user)
    tiles.check_tile(z, x, y)
    snap = svc.snapshot
    codes = svc.scope_codes(user)
    tag = etag("grids", snap.token, z, x, y, codes)

    def make() -> bytes:
        with svc.cases.engine.connect() as conn:
            return tiles.grid_tile(conn, z, x, y, codes)

    return _cached_tile(request, svc, tag, make)


@api.get("/tiles/zones/{z}/{x}/{y}.mvt", summary="Zones by responsible department, a vector tile")
def zone_tile(request: Request, z: int, x: int, y: int, user: CurrentUser) -> Response:
    svc = _service(request)
    svc.require_map_user(user)
    tiles.check_tile(z, x, y)
    snap = svc.snapshot
    today = svc.today()
    scope = None if user.city_wide else user.grid_code
    tag = etag("zones", snap.token, today, z, x, y, scope)

    def make() -> bytes:
        departments = svc.zone_departments(snap, today)
        with svc.cases.engine.connect() as conn:
            return tiles.zone_tile(conn, z, x, y, departments, scope)

    return _cached_tile(request, svc, tag, make)


@api.get("/tiles/cases/{z}/{x}/{y}.mvt", summary="Cases in your scope as points (zoom ≥ 14)")
def case_tile(
    request: Request,
    z: int,
    x: int,
    y: int,
    user: CurrentUser,
    filters: Filters,
) -> Response:
    svc = _service(request)
    svc.require_map_user(user)
    tiles.check_tile(z, x, y)
    now = svc.now()
    tag = etag(
        "cases",
        svc.store.generation,
        _minute(now),
        z,
        x,
        y,
        filters.key,
        scope_key(user),
    )

    return _conditional(request, tag, lambda: svc.case_tile(user, filters, z, x, y, now), MVT)


@api.get("/cells", summary="Cases of a view counted into cells: the heatmap and the clusters")
def cells(
    request: Request,
    user: CurrentUser,
    bbox: Annotated[str, Query(description="min_lon,min_lat,max_lon,max_lat (CGCS2000)")],
    zoom: Annotated[int, Query(description="the map's zoom: cells are cell_px pixels at it")],
    filters: Filters,
    cell_px: Annotated[int, Query(description="cell side in screen pixels")] = 24,
) -> Response:
    svc = _service(request)
    box = _bbox(bbox)
    now = svc.now()
    tag = etag(
        "cells",
        svc.store.generation,
        _minute(now),
        box,
        zoom,
        cell_px,
        filters.key,
        scope_key(user),
    )
    return _conditional(
        request,
        tag,
        lambda: svc.cells(user, filters, box, zoom, cell_px),
        "application/json",
    )


@api.get("/case-at", summary="The case drawn nearest to a click (within px pixels)")
def case_at(
    request: Request,
    user: CurrentUser,
    lon: float,
    lat: float,
    zoom: int,
    filters: Filters,
    px: int = 10,
) -> dict:
    svc = _service(request)
    return svc.case_at(user, filters, lon, lat, zoom, px)


@api.get("/grid-at", summary="The grid under a point (the finest of level and above it)")
def grid_at(
    request: Request,
    user: CurrentUser,
    lon: float,
    lat: float,
    level: Level = "compound",
) -> dict:
    return _service(request).grid_at(user, lon, lat, level)


@api.get("/grids/{code}", summary="A grid's figures: clear-to-zero, overdue, new this month")
def grid_figures(
    request: Request,
    code: str,
    user: CurrentUser,
    campaign: Annotated[int | None, Query(description="clear-to-zero campaign id")] = None,
    month: Annotated[str | None, Query(description="YYYY-MM (default: this month)")] = None,
) -> dict:
    return _service(request).grid_figures(user, code, campaign, month)


@api.get("/choropleth", summary="Clear-to-zero progress of every grid of a level")
def choropleth(
    request: Request,
    user: CurrentUser,
    campaign: int,
    level: Level = "community",
) -> dict:
    return _service(request).choropleth(user, campaign, level)


@api.get(
    "/export.html",
    summary="The view as one standalone HTML file (folium; scripts inline, no CDN, no tiles)",
)
def export(
    request: Request,
    user: CurrentUser,
    filters: Filters,
    bbox: str,
    level: Level = "district",
    campaign: int | None = None,
) -> Response:
    svc = _service(request)
    assets = request.app.state.cases.settings.web_assets_dir
    body = export_html(svc, user, filters, _bbox(bbox), level, campaign, assets)
    name = f"监管地图-{svc.today():%Y%m%d}.html"
    return Response(
        body,
        media_type="text/html; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="weijian-map-{svc.today():%Y%m%d}.html";'
            f" filename*=UTF-8''{quote(name)}",
            "Cache-Control": "no-store",
        },
    )


@api.get("/labels", summary="Names of the grids of a level in a view, at a point inside each")
def labels(
    request: Request,
    user: CurrentUser,
    level: Level,
    bbox: str,
) -> Response:
    svc = _service(request)
    box = _bbox(bbox)
    tag = etag("labels", svc.snapshot.token, level, box, svc.scope_codes(user))
    return _conditional(request, tag, lambda: svc.labels(user, level, box), "application/json")


@api.get("/gcj02-offset", summary="GCJ-02's shift at a point, for a GCJ-02 basemap")
def gcj02_offset(lon: float, lat: float) -> dict:
    return MapService.gcj02_offset(lon, lat)
