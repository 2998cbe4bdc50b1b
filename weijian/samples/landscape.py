"""The landscape model the land use and the rural cases are drawn from: the land-use survey's
windows, rivers and highways along the valley through each seat, main streets in the urban
management areas, villages and hamlets tied together by country roads, and the terrain."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import shapely
from shapely.geometry import LineString, Polygon

from weijian.samples.common import Rng
from weijian.samples.geometry import WarpField, meander, min_distance, polygonal, sample_in
from weijian.samples.profiles import PROFILE_BY_CODE, ScaleSpec


@dataclass(frozen=True)
class LandscapeModel:
    """Where things are, to choose plausible land use: seats, villages, rivers, roads."""

    region: shapely.Geometry  # the parcels' extent (windows ∩ city)
    window: shapely.Geometry  # the windows (without the city clip)
    district_seats: np.ndarray  # (6, 2) in district order
    urban_radius: np.ndarray  # (6,)
    settlements: np.ndarray  # (m, 2): villages and hamlets
    rivers: shapely.Geometry  # centre lines
    corridors: tuple[tuple[str, shapely.Geometry], ...]  # (DLBM, polygon), by priority
    terrain: WarpField  # a smooth random scalar field: the x displacement of a warp


def _landuse_window(districts: gpd.GeoDataFrame, spec: ScaleSpec) -> shapely.Geometry:
    seats = districts.set_index("code")[["seat_x", "seat_y"]]
    squares = []
    for code, side_km in spec.landuse_windows_km:
        x, y = seats.loc[code]
        half = side_km * 500.0
        squares.append(shapely.box(x - half, y - half, x + half, y + half))
    return shapely.union_all(squares)


def _hamlets(
    rural: shapely.Geometry,
    existing: np.ndarray,
    rng: Rng,
    per_km2: float = 0.12,
    spacing_m: float = 1300.0,
) -> np.ndarray:
    """Natural villages (自然屯) scattered over rural land, at least ``spacing_m`` apart."""
    target = int(rural.area / 1e6 * per_km2)
    if target == 0:
        return np.empty((0, 2))
    candidates = sample_in(rural, target * 3, rng)
    accepted = [tuple(p) for p in existing]
    chosen: list[np.ndarray] = []
    for point in candidates:
        if len(chosen) >= target:
            break
        if min_distance(point, accepted) >= spacing_m:
            accepted.append(tuple(point))
            chosen.append(point)
    return np.asarray(chosen).reshape(-1, 2)


def _rural_road_tree(
    settlements: np.ndarray, hubs: np.ndarray, rng: Rng, max_length_m: float = 9000.0
) -> list[LineString]:
    """Country roads: each settlement, nearest first, joins the closest settlement or hub that
    is already connected — a tree of roads branching out from the towns."""
    connected = [tuple(h) for h in hubs]
    if not connected or not len(settlements):
        return []
    hub_distance = np.array([min_distance(p, connected) for p in settlements])
    roads = []
    for k in np.argsort(hub_distance, kind="stable"):
        point = settlements[k]
        others = np.asarray(connected)
        distance = np.hypot(*(others - point).T)
        j = int(np.argmin(distance))
        length = float(distance[j])
        connected.append(tuple(point))
        if length < 1.0 or length > max_length_m:
            continue
        target = others[j]
        angle = math.atan2(target[1] - point[1], target[0] - point[0])
        middle = ((point[0] + target[0]) / 2, (point[1] + target[1]) / 2)
        roads.append(
            meander(
                middle,
                angle,
                length / 2,
                rng,
                ((length * 0.06, length * 1.6),),
                vertices=max(8, int(length / 120)),
            )
        )
    return roads


def _corridor(
    lines: Sequence[shapely.Geometry],
    width: float,
    extent: shapely.Geometry,
    minus: shapely.Geometry | None = None,
) -> shapely.Geometry:
    """The strip of land along ``lines`` (a road or river parcel band), clipped to ``extent``."""
    lines = [g for g in lines if g is not None and not g.is_empty]
    if not lines:
        return Polygon()
    strip = shapely.union_all(
        shapely.buffer(
            np.array(lines, dtype=object),
            width / 2.0,
            cap_style="flat",
            join_style="round",
            quad_segs=2,
        )
    )
    if minus is not None:
        strip = shapely.difference(strip, minus)
    return polygonal(shapely.intersection(strip, extent)) or Polygon()


def build_landscape(
    districts: gpd.GeoDataFrame,
    towns: gpd.GeoDataFrame,
    communities: gpd.GeoDataFrame,
    urban: gpd.GeoDataFrame,
    planned: gpd.GeoDataFrame,
    spec: ScaleSpec,
    rng: Rng,
) -> LandscapeModel:
    """Rivers and highways along the valley through each seat, a grid of main streets in the
    urban management area, villages and hamlets tied together by country roads."""
    window = _landuse_window(districts, spec)
    region = shapely.intersection(window, shapely.union_all(districts.geometry.values))
    shapely.prepare(region)
    seats = districts[["seat_x", "seat_y"]].to_numpy()
    radius = np.array([PROFILE_BY_CODE[c].urban_radius_m for c in districts["code"]])
    built = shapely.union_all([*urban.geometry.values, *planned.geometry.values])
    village_seats = communities.loc[
        communities["kind"] == "village", ["seat_x", "seat_y"]
    ].to_numpy()
    village_seats = village_seats[shapely.contains_xy(region, *village_seats.T)]
    town_seats = towns.loc[towns["kind"] == "town", ["seat_x", "seat_y"]].to_numpy()
    hubs = np.concatenate([seats, town_seats])
    hubs = hubs[shapely.contains_xy(region, *hubs.T)]
    rural_land = polygonal(shapely.difference(region, built.buffer(800.0)))
    hamlets = (
        _hamlets(rural_land, np.concatenate([village_seats, hubs]), rng)
        if rural_land is not None
        else np.empty((0, 2))
    )
    settlements = np.concatenate([village_seats, hamlets])
    rivers, highways, streets = [], [], []
    for code, side_km in spec.landuse_windows_km:
        i = int(np.flatnonzero(districts["code"].to_numpy() == code)[0])
        seat = (seats[i, 0], seats[i, 1])
        half = side_km * 800.0
        river_angle = math.radians(35.0) + rng.normal(0.0, 0.3)
        across = rng.uniform(250.0, 600.0) * rng.choice([-1.0, 1.0])
        river_origin = (
            seat[0] - across * math.sin(river_angle),
            seat[1] + across * math.cos(river_angle),
        )
        rivers.append(
            meander(
                river_origin,
                river_angle,
                half,
                rng,
                ((700.0, 6000.0), (250.0, 1900.0), (60.0, 600.0)),
            )
        )
        valley_offset = -across * rng.uniform(1.5, 3.0)
        road_origin = (
            seat[0] - valley_offset * math.sin(river_angle),
            seat[1] + valley_offset * math.cos(river_angle),
        )
        highways.append(
            meander(road_origin, river_angle, half, rng, ((500.0, 6500.0), (120.0, 2200.0)))
        )
        cross_angle = river_angle + rng.uniform(1.1, 2.0)
        highways.append(meander(seat, cross_angle, half, rng, ((400.0, 5000.0),)))
        urban_zone = shapely.union_all(urban.loc[urban["district_code"] == code].geometry.values)
        grid_angle = river_angle + rng.normal(0.0, 0.1)
        spacing = rng.uniform(900.0, 1200.0)
        reach = PROFILE_BY_CODE[code].urban_radius_m * 1.6
        for along in (grid_angle, grid_angle + math.pi / 2):
            for k in range(-int(reach / spacing), int(reach / spacing) + 1):
                shift = (k + 0.37) * spacing
                origin = (seat[0] - shift * math.sin(along), seat[1] + shift * math.cos(along))
                line = meander(origin, along, reach, rng, ((15.0, 3000.0),), vertices=60)
                streets.append(shapely.intersection(line, urban_zone))
    extent = window.buffer(2000.0)
    return LandscapeModel(
        region=region,
        window=window,
        district_seats=seats,
        urban_radius=radius,
        settlements=settlements,
        rivers=shapely.union_all(rivers),
        corridors=(
            ("1101", _corridor(rivers, 70.0, extent)),
            ("1003", _corridor(highways, 28.0, extent)),
            ("1004", _corridor(streets, 22.0, extent)),
            ("1006", _corridor(_rural_road_tree(settlements, hubs, rng), 7.0, extent, built)),
        ),
        terrain=WarpField.random(rng, ((9000.0, 1.0), (4000.0, 0.7), (1800.0, 0.35))),
    )
