"""Cases of illegal construction (违法建设线索): one reported violation per row — where, what,
how large, through which channel, when, at which address — as the intake channels export
them."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer

from weijian.samples.common import METRIC_CRS, WGS84_CRS, Rng
from weijian.samples.geometry import sample_in
from weijian.samples.landscape import LandscapeModel
from weijian.samples.names import ROAD_NAMES
from weijian.samples.profiles import PROFILE_BY_CODE, ScaleSpec

CASE_SOURCES = (
    "patrol",
    "grid_worker",
    "property_company",
    "citizen",
    "hotline_12345",
    "leadership",
    "media",
    "project_tracking",
)
#: source weights by kind of place (same order as CASE_SOURCES)
CASE_SOURCE_WEIGHTS = {
    "compound": (18, 22, 20, 14, 16, 3, 3, 4),
    "street": (28, 22, 0, 15, 18, 4, 4, 9),
    "town": (26, 28, 0, 12, 16, 4, 3, 11),
    "village": (22, 40, 0, 12, 16, 4, 3, 3),
    "open": (34, 34, 0, 6, 12, 5, 4, 5),
}
CASE_DESCRIPTIONS = {
    "compound": (
        "小区内擅自搭建彩钢板房",
        "楼顶违法搭建阳光房",
        "一楼住户擅自扩建院落并搭建棚厦",
        "占用小区绿地建设车库",
        "擅自外扩阳台并封闭",
        "顶层住户加盖房屋一层",
        "占用消防通道搭建储物间",
        "小区院内私建仓房",
    ),
    "street": (
        "临街门市擅自扩建雨搭及彩钢房",
        "占用人行道搭建临时建筑",
        "未取得建设工程规划许可证建设厂房",
        "擅自建设大型广告牌钢结构",
        "院内违法建设砖混结构房屋",
        "工地围挡内超出规划许可范围施工",
        "擅自在屋顶搭建钢结构构筑物",
    ),
    "town": (
        "未经批准建设门市房",
        "擅自建设仓储用房",
        "未取得规划许可建设厂房",
        "沿街违法搭建彩钢棚",
        "擅自加盖二层",
    ),
    "village": (
        "农村宅基地超占面积建房",
        "未经批准新建住宅",
        "村内私搭乱建牛舍",
        "宅基地外扩建仓房",
        "未批先建二层楼房",
        "占用村道建设围墙",
    ),
    "open": (
        "占用耕地建设养殖大棚",
        "林地内违法建设看护房",
        "占用耕地堆放建材并建设临时工棚",
        "河道管理范围内违法搭建",
        "占用基本农田建设晾晒场",
        "山坡林地内新建房屋",
    ),
}
CASE_AREA_MEDIAN_M2 = {
    "compound": 22.0,
    "street": 45.0,
    "town": 70.0,
    "village": 110.0,
    "open": 160.0,
}
BUILDING_SIDES = ("东侧", "西侧", "南侧", "北侧", "东南侧", "西北侧", "院内", "楼顶")
STREET_SIDES = ("东侧", "西侧", "南侧", "北侧", "对面", "院内", "后院")
DIRECTIONS = ("东", "西", "南", "北", "东南", "东北", "西南", "西北")
FIRST_CASE_DAY = np.datetime64("2025-01-01")
LAST_NEW_CASE_DAY = np.datetime64("2026-11-20")
LAST_BACKLOG_CASE_DAY = np.datetime64("2026-03-31")
RURAL_CASES_IN_SURVEY = 0.6  # share of rural cases drawn inside the land-use survey's region


def _case_points(
    n: int,
    districts: gpd.GeoDataFrame,
    communities: gpd.GeoDataFrame,
    compounds: gpd.GeoDataFrame,
    urban: gpd.GeoDataFrame,
    planned: gpd.GeoDataFrame,
    landscape: LandscapeModel,
    rng: Rng,
) -> np.ndarray:
    """Candidate case locations (more than ``n``): in and around compounds and urban areas,
    town construction land, villages and hamlets, and a few anywhere. Most rural cases lie
    where the land-use survey is, so that their land use decides who is responsible."""
    share = {"compound": 0.42, "urban": 0.15, "planned": 0.10, "village": 0.23, "open": 0.10}
    counts = rng.multinomial(int(n * 1.2) + 20, list(share.values()))
    parts = []
    centroids = shapely.centroid(compounds.geometry.values)
    cxy = np.column_stack([shapely.get_x(centroids), shapely.get_y(centroids)])
    parts.append(cxy[rng.integers(0, len(cxy), counts[0])] + rng.normal(0.0, 45.0, (counts[0], 2)))
    parts.append(sample_in(shapely.union_all(urban.geometry.values), int(counts[1]), rng))
    parts.append(sample_in(shapely.union_all(planned.geometry.values), int(counts[2]), rng))
    villages = communities.loc[communities["kind"] == "village", ["seat_x", "seat_y"]].to_numpy()
    surveyed = landscape.settlements if len(landscape.settlements) else villages
    in_survey = int(counts[3] * RURAL_CASES_IN_SURVEY)
    near = np.concatenate(
        [
            surveyed[rng.integers(0, len(surveyed), in_survey)],
            villages[rng.integers(0, len(villages), counts[3] - in_survey)],
        ]
    )
    parts.append(near + rng.normal(0.0, 230.0, (counts[3], 2)))
    in_survey = int(counts[4] * RURAL_CASES_IN_SURVEY)
    parts.append(sample_in(landscape.region, in_survey, rng))
    parts.append(
        sample_in(shapely.union_all(districts.geometry.values), int(counts[4]) - in_survey, rng)
    )
    points = np.concatenate(parts)
    return points[rng.permutation(len(points))]


@dataclass(frozen=True)
class _Sites:
    """Where the cases are, in the order they were drawn."""

    xy: np.ndarray  # (n, 2) in the metric CRS
    community: np.ndarray  # (n,) row of the community each case lies in
    compound: np.ndarray  # (n,) row of the compound, or -1
    place: np.ndarray  # (n,) kind of place: compound, street, town, village or open


@dataclass(frozen=True)
class _Reports:
    """What the intake channels recorded of each case, in the order the cases were drawn."""

    source: np.ndarray
    description: np.ndarray
    area: np.ndarray  # m²
    backlog: np.ndarray  # reported before the platform, still open
    day: np.ndarray  # datetime64[D]: when it was discovered


def _case_sites(
    n: int,
    districts: gpd.GeoDataFrame,
    communities: gpd.GeoDataFrame,
    compounds: gpd.GeoDataFrame,
    urban: gpd.GeoDataFrame,
    planned: gpd.GeoDataFrame,
    landscape: LandscapeModel,
    rng: Rng,
) -> _Sites:
    """``n`` case locations inside the city, the community and compound each lies in, and its
    kind of place: in a compound, on an urban street, on town construction land, near a
    village or hamlet, or in the open."""
    candidates = _case_points(n, districts, communities, compounds, urban, planned, landscape, rng)
    points = shapely.points(candidates)
    hit = shapely.STRtree(communities.geometry.values).query(points, predicate="intersects")
    community_of = np.full(len(points), -1)
    community_of[hit[0][::-1]] = hit[1][::-1]  # first match wins on shared borders
    keep = np.flatnonzero(community_of >= 0)[:n]
    if len(keep) < n:
        raise RuntimeError("too few case locations fell inside the city")
    xy, community_of, points = candidates[keep], community_of[keep], points[keep]
    hit = shapely.STRtree(compounds.geometry.values).query(points, predicate="intersects")
    compound_of = np.full(n, -1)
    compound_of[hit[0][::-1]] = hit[1][::-1]
    urban_union = shapely.union_all(urban.geometry.values)
    planned_union = shapely.union_all(planned.geometry.values)
    shapely.prepare(urban_union)
    shapely.prepare(planned_union)
    villages = communities.loc[communities["kind"] == "village", ["seat_x", "seat_y"]].to_numpy()
    settlements = shapely.points(np.concatenate([villages, landscape.settlements]))
    _, to_settlement = shapely.STRtree(settlements).query_nearest(
        points, return_distance=True, all_matches=False
    )
    place = np.full(n, "open", dtype=object)
    place[to_settlement < 600.0] = "village"
    place[shapely.contains_xy(planned_union, *xy.T)] = "town"
    place[shapely.contains_xy(urban_union, *xy.T)] = "street"
    place[compound_of >= 0] = "compound"
    return _Sites(xy, community_of, compound_of, place)


def _case_reports(place: np.ndarray, rng: Rng) -> _Reports:
    """Source, description, area, backlog and day of each case: attributes drawn per kind of
    place in a fixed order, then the days."""
    n = len(place)
    source = np.empty(n, dtype=object)
    description = np.empty(n, dtype=object)
    area = np.empty(n)
    backlog = np.zeros(n, dtype=bool)
    for kind, weights in CASE_SOURCE_WEIGHTS.items():
        rows = np.flatnonzero(place == kind)
        w = np.asarray(weights, dtype=float)
        source[rows] = np.asarray(CASE_SOURCES, dtype=object)[
            rng.choice(len(CASE_SOURCES), len(rows), p=w / w.sum())
        ]
        texts = np.asarray(CASE_DESCRIPTIONS[kind], dtype=object)
        description[rows] = texts[rng.integers(0, len(texts), len(rows))]
        area[rows] = np.clip(
            rng.lognormal(math.log(CASE_AREA_MEDIAN_M2[kind]), 0.75, len(rows)), 2.0, 5000.0
        )
        backlog[rows] = rng.random(len(rows)) < (0.3 if kind in ("compound", "street") else 0.5)
    last_day = np.where(backlog, LAST_BACKLOG_CASE_DAY, LAST_NEW_CASE_DAY)
    span = (last_day - FIRST_CASE_DAY).astype(int) + 1
    day = FIRST_CASE_DAY + (rng.random(n) * span).astype(int).astype("timedelta64[D]")
    return _Reports(source, description, area, backlog, day)


def _case_addresses(
    sites: _Sites,
    districts: gpd.GeoDataFrame,
    towns: gpd.GeoDataFrame,
    communities: gpd.GeoDataFrame,
    compounds: gpd.GeoDataFrame,
    rng: Rng,
) -> np.ndarray:
    """The address of each case, worded by its kind of place: a building of a compound, a
    house number on a road, a village group, or a direction and distance from the community."""
    n = len(sites.place)
    community_of, compound_of = sites.community, sites.compound
    seat = communities[["seat_x", "seat_y"]].to_numpy()[community_of]
    to_seat = np.hypot(*(sites.xy - seat).T)
    community_names = communities["name"].to_numpy()[community_of]
    town_code = communities["town_code"].to_numpy()[community_of]
    town_names = towns.set_index("code")["name"].loc[town_code].to_numpy()
    district_code = communities["district_code"].to_numpy()[community_of]
    district_names = districts.set_index("code")["name"].loc[district_code].to_numpy()
    compound_names = np.append(compounds["name"].to_numpy(), "")[compound_of]
    road = np.empty(n, dtype=object)
    for code in districts["code"]:
        rows = np.flatnonzero(district_code == code)
        pool = np.asarray(PROFILE_BY_CODE[code].road_names + ROAD_NAMES, dtype=object)
        road[rows] = pool[rng.integers(0, len(pool), len(rows))]

    def pick(values: Sequence[str]) -> np.ndarray:
        return np.asarray(values, dtype=object)[rng.integers(0, len(values), n)]

    def text(values: np.ndarray) -> np.ndarray:
        return np.asarray(values).astype(str).astype(object)

    number = text(rng.integers(1, 400, n))
    building = text(rng.integers(1, 25, n))
    group = text(rng.integers(1, 9, n))
    building_side, street_side, direction = (
        pick(BUILDING_SIDES),
        pick(STREET_SIDES),
        pick(DIRECTIONS),
    )
    # as a person gives it: "约350米" near the seat, "约3.2公里" farther off
    distance = np.where(
        to_seat < 1000,
        np.char.mod("%d米", (to_seat // 50 * 50).astype(int)),
        np.char.replace(np.char.mod("%.1f公里", to_seat / 1000), ".0公里", "公里"),
    ).astype(object)
    details = {
        "compound": community_names + compound_names + building + "号楼" + building_side,
        "street": road + number + "号" + street_side,
        "town": community_names + road + number + "号",
        "village": community_names + group + "组",
        "open": community_names + direction + "约" + distance,
    }
    return (
        "白山市"
        + district_names
        + town_names
        + np.select([sites.place == kind for kind in details], list(details.values()), default="")
    )


def _case_ids(district_code: np.ndarray, day: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """The cases' order by date and, in that order, their ids: district prefix, year, running
    number per district and year."""
    order = np.lexsort((np.arange(len(day)), day))
    prefixes = np.array([PROFILE_BY_CODE[c].case_prefix for c in district_code], dtype=object)
    year = day.astype("datetime64[Y]").astype(int) + 1970
    prefixes, year = prefixes[order], year[order]
    running = (
        pd.DataFrame({"prefix": prefixes, "year": year})
        .groupby(["prefix", "year"], sort=False)
        .cumcount()
        .to_numpy()
        + 1
    )
    ids = [
        f"{p}-{y}-{r:06d}"
        for p, y, r in zip(prefixes, year.tolist(), running.tolist(), strict=True)
    ]
    return order, ids


def build_cases(
    districts: gpd.GeoDataFrame,
    towns: gpd.GeoDataFrame,
    communities: gpd.GeoDataFrame,
    compounds: gpd.GeoDataFrame,
    urban: gpd.GeoDataFrame,
    planned: gpd.GeoDataFrame,
    landscape: LandscapeModel,
    spec: ScaleSpec,
    rng: Rng,
) -> pd.DataFrame:
    """Reported violations, one row each, as the intake channels would export them."""
    sites = _case_sites(
        spec.cases, districts, communities, compounds, urban, planned, landscape, rng
    )
    reports = _case_reports(sites.place, rng)
    address = _case_addresses(sites, districts, towns, communities, compounds, rng)
    district_code = communities["district_code"].to_numpy()[sites.community]
    order, ids = _case_ids(district_code, reports.day)
    lon, lat = Transformer.from_crs(METRIC_CRS, WGS84_CRS, always_xy=True).transform(
        sites.xy[order, 0], sites.xy[order, 1]
    )
    return pd.DataFrame(
        {
            "id": ids,
            "lon": np.char.mod("%.7f", lon),
            "lat": np.char.mod("%.7f", lat),
            "address": address[order],
            "description": reports.description[order],
            "source": reports.source[order],
            "stage": np.where(reports.backlog[order], "backlog", "new"),
            "discovered_at": reports.day[order].astype(str),
            "area_m2": np.char.mod("%.1f", reports.area[order]),
        }
    )
