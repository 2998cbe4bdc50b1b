"""Residential compounds (小区): blocks on a rotated street grid around the seats, each
inside one community, with a name, a property company and a responsible person."""

from __future__ import annotations

import math
from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import shapely
from shapely.geometry import Point, Polygon

from weijian.samples.common import METRIC_CRS, XY, Rng
from weijian.samples.names import (
    COMPOUND_HEADS,
    COMPOUND_PHASES,
    COMPOUND_TAILS,
    PROPERTY_HEADS,
    WORK_UNITS,
    NamePicker,
    combos,
)
from weijian.samples.people import PeopleRegistry
from weijian.samples.profiles import PROFILE_BY_CODE, ScaleSpec


def _quotas(total: int, weights: Sequence[float]) -> list[int]:
    """Split ``total`` in proportion to ``weights`` (largest remainder)."""
    w = np.asarray(weights, dtype=float) / sum(weights)
    raw = w * total
    base = np.floor(raw).astype(int)
    for i in np.argsort(-(raw - base), kind="stable")[: total - int(base.sum())]:
        base[i] += 1
    return [int(b) for b in base]


def _block(rng: Rng, pitch: float, gap: float) -> np.ndarray:
    """Local coordinates (centred) of one block: a rectangle, one in four L-shaped."""
    usable = pitch - gap
    w = rng.uniform(0.55, 1.0) * usable
    h = rng.uniform(0.55, 1.0) * usable
    if rng.random() < 0.25:
        a = rng.uniform(0.35, 0.5) * w
        b = rng.uniform(0.35, 0.5) * h
        coords = np.array([(0, 0), (w, 0), (w, h - b), (w - a, h - b), (w - a, h), (0, h)])
    else:
        coords = np.array([(0, 0), (w, 0), (w, h), (0, h)])
    coords = coords - np.array([w / 2.0, h / 2.0])
    if rng.random() < 0.5:
        coords = coords[::-1] * np.array([-1.0, 1.0])  # mirror, keep orientation
    offset = rng.uniform(-1.0, 1.0, 2) * (usable - np.array([w, h])) / 2.0
    return coords + offset


def _block_candidates(
    seat: XY, area: shapely.Geometry, pitch: float, angle: float, rng: Rng
) -> list[Polygon]:
    """Blocks on a rotated street grid around ``seat`` that lie inside ``area``."""
    gap = max(22.0, pitch * 0.1)
    minx, miny, maxx, maxy = area.bounds
    reach = max(math.hypot(x - seat[0], y - seat[1]) for x in (minx, maxx) for y in (miny, maxy))
    steps = int(reach / pitch) + 1
    cos_a, sin_a = math.cos(angle), math.sin(angle)
    shapely.prepare(area)
    blocks = []
    for i in range(-steps, steps):
        for j in range(-steps, steps):
            local = _block(rng, pitch, gap)
            tilt = math.radians(rng.uniform(-3.0, 3.0))
            ct, st = math.cos(tilt), math.sin(tilt)
            local = local @ np.array([[ct, st], [-st, ct]])
            local = local + np.array([(i + 0.5) * pitch, (j + 0.5) * pitch])
            x = seat[0] + local[:, 0] * cos_a - local[:, 1] * sin_a
            y = seat[1] + local[:, 0] * sin_a + local[:, 1] * cos_a
            block = Polygon(np.column_stack([x, y]))
            if area.contains(block):
                blocks.append(block)
    return blocks


class CompoundNamer:
    """Unique compound names: mostly estate names (江山花园, 丽景小区 …), some old work-unit
    housing (林业局家属楼 …); phases (一期, 二期 …) when the plain names run out."""

    def __init__(self, rng: Rng) -> None:
        self._rng = rng
        estates = combos(COMPOUND_HEADS, COMPOUND_TAILS)
        self._estates = NamePicker(rng, [], estates, True)
        self._others = NamePicker(
            rng,
            [u + "家属楼" for u in WORK_UNITS],
            [n + p for n in estates for p in COMPOUND_PHASES],
            True,
        )

    def take(self) -> str:
        if self._rng.random() < 0.07:
            return self._others.take()
        try:
            return self._estates.take()
        except RuntimeError:
            return self._others.take()


def build_compounds(
    districts: gpd.GeoDataFrame,
    communities: gpd.GeoDataFrame,
    urban: gpd.GeoDataFrame,
    planned: gpd.GeoDataFrame,
    spec: ScaleSpec,
    rng: Rng,
    people: PeopleRegistry,
) -> gpd.GeoDataFrame:
    """Residential compounds: blocks (~150–300 m) on a rotated street grid around each seat,
    inside the urban management area (and, at city scale, town-planned land), each inside one
    community. Codes: community code + 001…"""
    community_tree = shapely.STRtree(communities.geometry.values)
    quotas = _quotas(spec.compounds, [PROFILE_BY_CODE[c].weight for c in districts["code"]])
    chosen: list[tuple[Polygon, int]] = []
    for district, quota in zip(districts.itertuples(), quotas, strict=True):
        seat = (district.seat_x, district.seat_y)
        zones = list(urban.loc[urban["district_code"] == district.code, "geometry"])
        if spec.compounds_in_towns:
            zones += list(planned.loc[planned["district_code"] == district.code, "geometry"])
        angle = rng.uniform(-0.5, 0.5)
        pitch = spec.compound_pitch_m
        for _ in range(8):
            blocks: list[Polygon] = []
            for zone in zones:
                # the grid is centred on the seat, or on the town-planned land it covers
                if zone.contains(Point(seat)):
                    centre = seat
                else:
                    inner = zone.representative_point()
                    centre = (inner.x, inner.y)
                blocks += _block_candidates(centre, zone, pitch, angle, rng)
            pairs = community_tree.query(np.array(blocks, dtype=object), predicate="within")
            if pairs.shape[1] >= quota:
                break
            pitch *= 0.88
        else:
            raise RuntimeError(f"not enough room for {quota} compounds in {district.name}")
        block_index, community_index = pairs
        centroids = shapely.centroid(np.array(blocks, dtype=object)[block_index])
        distance = shapely.distance(centroids, Point(seat))
        score = distance / (PROFILE_BY_CODE[district.code].urban_radius_m) + rng.uniform(
            0.0, 0.6, len(distance)
        )
        for k in np.argsort(score, kind="stable")[:quota]:
            chosen.append((blocks[block_index[k]], int(community_index[k])))
    # number the compounds within each community from north-west to south-east
    order = sorted(
        range(len(chosen)),
        key=lambda k: (
            communities["code"].iat[chosen[k][1]],
            -round(chosen[k][0].centroid.y, 3),
            round(chosen[k][0].centroid.x, 3),
        ),
    )
    names = CompoundNamer(rng)
    companies = {
        code: [
            f"白山市{PROPERTY_HEADS[i]}物业服务有限公司"
            if rng.random() < 0.7
            else f"{PROFILE_BY_CODE[code].short_name}{PROPERTY_HEADS[i]}物业管理有限公司"
            for i in rng.choice(len(PROPERTY_HEADS), 6 + spec.index * 10, replace=False)
        ]
        for code in districts["code"]
    }
    counters: dict[str, int] = {}
    rows = []
    for k in order:
        block, community_idx = chosen[k]
        community_code = communities["code"].iat[community_idx]
        district_code = community_code[:6]
        counters[community_code] = counters.get(community_code, 0) + 1
        name = names.take()
        if name.endswith("家属楼") or rng.random() < 0.08:
            company = "社区代管"
        else:
            pool = companies[district_code]
            company = pool[min(int(rng.pareto(1.0) * 1.5), len(pool) - 1)]
        fzr, phone = people.person(PROFILE_BY_CODE[district_code].korean_share)
        rows.append(
            {
                "code": f"{community_code}{counters[community_code]:03d}",
                "name": name,
                "community_code": community_code,
                "company": company,
                "fzr": fzr,
                "lxdh": phone,
                "geometry": block,
            }
        )
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=METRIC_CRS)
