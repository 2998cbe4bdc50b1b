"""Zones: the urban management area (城市化管理区域) around each district seat, and the
construction land of the town master plans (县城、镇总体规划确定的建设用地)."""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import shapely

from weijian.samples.common import METRIC_CRS, Rng
from weijian.samples.geometry import blob, part_containing
from weijian.samples.profiles import PROFILE_BY_CODE


def build_urban_managed(districts: gpd.GeoDataFrame, rng: Rng) -> gpd.GeoDataFrame:
    """One irregular urban management area (城市化管理区域) around each district seat."""
    rows = []
    for district in districts.itertuples():
        profile = PROFILE_BY_CODE[district.code]
        seat = (district.seat_x, district.seat_y)
        outline = blob(seat, profile.urban_radius_m, rng, roughness=0.3)
        piece = part_containing(shapely.intersection(outline, district.geometry), seat)
        rows.append(
            {
                "code": f"CSGL-{district.code}",
                "name": f"{district.name}城市化管理区域",
                "district_code": district.code,
                "geometry": piece,
            }
        )
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=METRIC_CRS)


def build_town_planned(
    districts: gpd.GeoDataFrame, towns: gpd.GeoDataFrame, urban: gpd.GeoDataFrame, rng: Rng
) -> gpd.GeoDataFrame:
    """Construction land of the town master plans around each town seat, plus an extension of
    each county town (县城) beside its urban management area; never overlapping that area."""
    taken = shapely.union_all(urban.geometry.values)
    rows = []
    for town in towns[towns["kind"] == "town"].itertuples():
        seat = (town.seat_x, town.seat_y)
        outline = blob(seat, rng.uniform(650.0, 1400.0), rng, roughness=0.35)
        piece = part_containing(
            shapely.difference(shapely.intersection(outline, town.geometry), taken), seat
        )
        if piece is None or piece.area < 50_000.0:
            continue
        taken = shapely.union(taken, piece)
        rows.append(
            {
                "code": f"JSYD-{town.code}",
                "name": f"{town.name}总体规划建设用地",
                "district_code": town.district_code,
                "geometry": piece,
            }
        )
    for district in districts.itertuples():
        profile = PROFILE_BY_CODE[district.code]
        if not profile.is_county:
            continue
        angle = rng.uniform(0.0, 2.0 * np.pi)
        reach = profile.urban_radius_m * 1.05
        centre = (
            district.seat_x + reach * math.cos(angle),
            district.seat_y + reach * math.sin(angle),
        )
        outline = blob(centre, profile.urban_radius_m * 0.55, rng, roughness=0.3)
        piece = part_containing(
            shapely.difference(shapely.intersection(outline, district.geometry), taken), centre
        )
        if piece is None or piece.area < 100_000.0:
            continue
        taken = shapely.union(taken, piece)
        rows.append(
            {
                "code": f"JSYD-{district.code}",
                "name": f"{district.name}县城总体规划建设用地",
                "district_code": district.code,
                "geometry": piece,
            }
        )
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=METRIC_CRS)
