"""The land-use survey layer (三调-style, GB/T 21010-2017 codes) of the windows around the
seats: parcels sharing their edges exactly, their use and owner chosen by place, with a few
holes and broken rings as real files have them."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import Point, Polygon

from weijian.samples.common import METRIC_CRS, Log, Rng
from weijian.samples.geometry import WarpField, blob, sample_in
from weijian.samples.landscape import LandscapeModel, build_landscape
from weijian.samples.profiles import PROFILE_BY_CODE, ScaleSpec

LAND_USE_NAMES = {
    "0101": "水田",
    "0102": "水浇地",
    "0103": "旱地",
    "0201": "果园",
    "0204": "其他园地",
    "0301": "乔木林地",
    "0305": "灌木林地",
    "0307": "其他林地",
    "0401": "天然牧草地",
    "0404": "其他草地",
    "0501": "零售商业用地",
    "0502": "批发市场用地",
    "0503": "餐饮用地",
    "0504": "旅馆用地",
    "0505": "商务金融用地",
    "0507": "其他商服用地",
    "0601": "工业用地",
    "0602": "采矿用地",
    "0604": "仓储用地",
    "0701": "城镇住宅用地",
    "0702": "农村宅基地",
    "0801": "机关团体用地",
    "0803": "教育用地",
    "0805": "医疗卫生用地",
    "0807": "文化设施用地",
    "0808": "体育用地",
    "0809": "公用设施用地",
    "0810": "公园与绿地",
    "1003": "公路用地",
    "1004": "城镇村道路用地",
    "1005": "交通服务场站用地",
    "1006": "农村道路",
    "1101": "河流水面",
    "1104": "坑塘水面",
    "1107": "沟渠",
    "1201": "空闲地",
    "1202": "设施农用地",
    "1207": "裸岩石砾地",
}

#: land-use mixes by kind of place: code → weight
LAND_USE_MIXES: dict[str, dict[str, float]] = {
    "urban_core": {
        "0701": 45,
        "0501": 8,
        "0505": 5,
        "0503": 3,
        "0504": 2,
        "0502": 2,
        "0507": 2,
        "0801": 5,
        "0803": 5,
        "0805": 3,
        "0807": 2,
        "0808": 1,
        "0809": 2,
        "0810": 6,
        "1005": 2,
        "1201": 2,
        "0601": 2,
        "0604": 1,
    },
    "urban_edge": {
        "0701": 40,
        "0601": 14,
        "0604": 6,
        "0602": 3,
        "0501": 4,
        "0502": 2,
        "0801": 3,
        "0803": 4,
        "0805": 2,
        "0809": 4,
        "0810": 5,
        "1005": 2,
        "1201": 4,
        "0702": 3,
        "0103": 4,
    },
    "town_built": {
        "0701": 38,
        "0702": 20,
        "0601": 10,
        "0604": 5,
        "0501": 6,
        "0503": 2,
        "0801": 5,
        "0803": 4,
        "0805": 2,
        "0809": 3,
        "1201": 3,
        "1005": 2,
    },
    "village": {
        "0702": 68,
        "0103": 10,
        "1202": 6,
        "0201": 4,
        "0204": 2,
        "1104": 3,
        "0801": 2,
        "0803": 1,
        "1201": 2,
        "0601": 2,
    },
    "farmland_valley": {
        "0101": 35,
        "0102": 10,
        "0103": 42,
        "1104": 4,
        "1202": 3,
        "1107": 3,
        "0404": 3,
    },
    "farmland": {"0103": 76, "0102": 6, "0101": 3, "1202": 4, "0201": 4, "1104": 2, "0404": 5},
    "hillside": {
        "0201": 12,
        "0204": 18,
        "0401": 14,
        "0404": 10,
        "0307": 26,
        "0305": 12,
        "0103": 8,
    },
    "forest": {"0301": 82, "0307": 8, "0305": 6, "0401": 2, "1207": 2},
}
COLLECTIVE_CODES = (
    "0101",
    "0102",
    "0103",
    "0201",
    "0204",
    "0305",
    "0307",
    "0401",
    "0404",
    "0702",
    "1006",
    "1104",
    "1107",
    "1202",
)


def _parcel_seeds(model: LandscapeModel, count: int, rng: Rng) -> np.ndarray:
    """Seeds of the parcel tessellation from a density mixture: a uniform background, dense
    bumps at the seats (small urban parcels) and smaller bumps at the villages."""
    region = model.region
    components: list[tuple[float, Callable[[int], np.ndarray]]] = []
    components.append((region.area * 1.0, lambda n: sample_in(region, n, rng)))
    for seat, radius in zip(model.district_seats, model.urban_radius, strict=True):
        if shapely.distance(Point(seat), region) > radius:
            continue
        sigma = radius / math.sqrt(2.0)
        components.append(
            (12.0 * math.pi * radius**2, lambda n, s=seat, g=sigma: s + rng.normal(0.0, g, (n, 2)))
        )
    for seat in model.settlements:
        components.append(
            (3.0 * math.pi * 420.0**2, lambda n, s=seat: s + rng.normal(0.0, 300.0, (n, 2)))
        )
    masses = np.array([m for m, _ in components])
    counts = rng.multinomial(int(count * 1.15), masses / masses.sum())
    points = np.concatenate(
        [draw(int(n)) for (_, draw), n in zip(components, counts, strict=True) if n > 0]
    )
    points = points[rng.permutation(len(points))]
    points = points[shapely.contains_xy(region, *points.T)][:count]
    # one Lloyd step evens out the spacing a little: fewer needle-thin cells
    cells = shapely.get_parts(
        shapely.voronoi_polygons(shapely.multipoints(points), extend_to=region, ordered=True)
    )
    centroids = shapely.centroid(shapely.intersection(cells, region.envelope))
    moved = np.column_stack([shapely.get_x(centroids), shapely.get_y(centroids)])
    return 0.5 * points + 0.5 * moved


def _parcel_faces(
    model: LandscapeModel,
    districts: gpd.GeoDataFrame,
    seeds: np.ndarray,
    segments_per_spacing: float,
    rng: Rng,
    log: Log,
) -> np.ndarray:
    """Parcels sharing their edges exactly: Voronoi edges, densified and warped by one smooth
    field, noded with the district borders, the windows and the corridors, then polygonized."""
    started = time.perf_counter()
    region = model.region
    bounds = region.envelope.buffer(3000.0).envelope
    edges = shapely.get_parts(
        shapely.voronoi_polygons(shapely.multipoints(seeds), extend_to=bounds, only_edges=True)
    )
    keep = shapely.STRtree(edges).query(region.buffer(500.0), predicate="intersects")
    edges = edges[np.sort(keep)]
    # local spacing: twice the distance from an edge's midpoint to the nearest seed
    midpoints = shapely.line_interpolate_point(edges, 0.5, normalized=True)
    seed_points = shapely.points(seeds)
    _, distance = shapely.STRtree(seed_points).query_nearest(
        midpoints, return_distance=True, all_matches=False
    )
    segment = np.maximum(2.0 * distance / segments_per_spacing, 4.0)
    edges = shapely.segmentize(edges, segment)
    warp = WarpField.random(rng, ((2600.0, 110.0), (850.0, 26.0), (320.0, 7.0)))
    edges = shapely.transform(edges, warp)
    log(
        f"  land use: {len(edges)} Voronoi edges densified and warped "
        f"({time.perf_counter() - started:.1f} s)"
    )
    xmin, ymin, xmax, ymax = bounds.bounds
    borders = [
        shapely.clip_by_rect(shapely.boundary(g), xmin, ymin, xmax, ymax)
        for g in districts.geometry.values
    ]
    cuts = [*borders, shapely.boundary(model.window)]
    cuts += [shapely.boundary(poly) for _, poly in model.corridors if not poly.is_empty]
    linework = shapely.union_all(np.concatenate([edges, np.array(cuts, dtype=object)]))
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(linework)))
    inside = shapely.point_on_surface(faces)
    faces = faces[shapely.contains_xy(region, shapely.get_x(inside), shapely.get_y(inside))]
    coverage = shapely.area(faces).sum() / region.area
    log(
        f"  land use: {len(faces)} faces polygonized, {coverage:.6f} of the region "
        f"({time.perf_counter() - started:.1f} s)"
    )
    if abs(coverage - 1.0) > 1e-6:
        raise RuntimeError(f"land-use parcels cover {coverage:.6f} of their region, not 1")
    return faces


def _choose(rng: Rng, mix: str, n: int, mining: np.ndarray) -> np.ndarray:
    codes = list(LAND_USE_MIXES[mix])
    weights = np.array([LAND_USE_MIXES[mix][c] for c in codes], dtype=float)
    picks = rng.choice(len(codes), size=n, p=weights / weights.sum())
    out = np.array(codes, dtype=object)[picks]
    if "0602" in codes:
        out[(out == "0602") & ~mining] = "0601"
    return out


def _classify_parcels(
    faces: np.ndarray,
    model: LandscapeModel,
    districts: gpd.GeoDataFrame,
    communities: gpd.GeoDataFrame,
    urban: gpd.GeoDataFrame,
    planned: gpd.GeoDataFrame,
    rng: Rng,
) -> pd.DataFrame:
    """DLBM and QSDWMC for each face, chosen by place: corridors, urban core and edge, town
    construction land, villages, then farmland in valleys, orchards on slopes, forest above."""
    points = shapely.point_on_surface(faces)
    x, y = shapely.get_x(points), shapely.get_y(points)
    n = len(faces)
    district_index = np.full(n, -1)
    hit = shapely.STRtree(districts.geometry.values).query(points, predicate="intersects")
    district_index[hit[0]] = hit[1]
    community_index = np.full(n, -1)
    hit = shapely.STRtree(communities.geometry.values).query(points, predicate="intersects")
    community_index[hit[0]] = hit[1]
    urban_union = shapely.union_all(urban.geometry.values)
    planned_union = shapely.union_all(planned.geometry.values)
    shapely.prepare(urban_union)
    shapely.prepare(planned_union)
    in_urban = shapely.contains_xy(urban_union, x, y)
    in_planned = shapely.contains_xy(planned_union, x, y)
    seat = model.district_seats[district_index]
    u = np.hypot(x - seat[:, 0], y - seat[:, 1]) / model.urban_radius[district_index]
    if len(model.settlements):
        _, d_village = shapely.STRtree(shapely.points(model.settlements)).query_nearest(
            points, return_distance=True, all_matches=False
        )
    else:
        d_village = np.full(n, np.inf)
    d_river = shapely.distance(points, model.rivers)
    # terrain: a smooth random field, low along the rivers and around the settlements
    noise = model.terrain(np.column_stack([x, y]))[:, 0] - x
    height = (
        noise
        - 1.6 * np.exp(-((d_river / 1800.0) ** 2))
        - 0.9 * np.exp(-((d_village / 1400.0) ** 2))
        + rng.normal(0.0, 0.12, n)
    )
    mining = np.array([PROFILE_BY_CODE[c].mining for c in districts["code"]])[district_index]
    area = shapely.area(faces)

    mix = np.full(n, "", dtype=object)
    built_urban = in_urban & (rng.random(n) < np.clip(1.1 - 0.75 * u**2, 0.2, 0.97))
    mix[built_urban & (u < 0.35)] = "urban_core"
    mix[built_urban & (u >= 0.35)] = "urban_edge"
    mix[(mix == "") & in_planned & (rng.random(n) < 0.82)] = "town_built"
    mix[(mix == "") & (d_village < 260.0 + rng.uniform(0.0, 140.0, n))] = "village"
    # the rest by height: the lowest 30 % of the land (by area) is farmland, then 10 % of
    # orchards, grass and scrub on the slopes, then forest — Baishan is mostly forest
    rural = mix == ""
    by_height = np.argsort(height[rural], kind="stable")
    share = np.cumsum(area[rural][by_height]) / max(area[rural].sum(), 1.0)
    rank = np.interp(height, height[rural][by_height], share) if rural.any() else height * 0
    mix[rural & (rank < 0.30) & (d_river < 900.0)] = "farmland_valley"
    mix[rural & (rank < 0.30) & (d_river >= 900.0)] = "farmland"
    mix[rural & (rank >= 0.30) & (rank < 0.40)] = "hillside"
    mix[mix == ""] = "forest"
    dlbm = np.full(n, "", dtype=object)
    for name in LAND_USE_MIXES:
        chosen = mix == name
        dlbm[chosen] = _choose(rng, name, int(chosen.sum()), mining[chosen])
    corridor_code = np.full(n, "", dtype=object)
    for code, corridor in reversed(model.corridors):  # the first corridor wins
        if corridor.is_empty:
            continue
        shapely.prepare(corridor)
        corridor_code[shapely.contains_xy(corridor, x, y)] = code
    dlbm = np.where(corridor_code != "", corridor_code, dlbm)

    # owner unit (权属单位): village or residents' committee for collective land, the state for
    # urban land, roads, rivers and the high forest (国有林场)
    district_names = districts["name"].to_numpy()[district_index]
    committee = np.array(
        [
            f"{name}村民委员会" if kind == "village" else f"{name}居民委员会"
            for name, kind in zip(communities["name"], communities["kind"], strict=True)
        ],
        dtype=object,
    )[community_index]
    state_forest = (dlbm == "0301") & (rank > 0.8)
    collective = np.isin(dlbm, COLLECTIVE_CODES) | ((dlbm == "0301") & ~state_forest)
    owner = np.where(collective, committee, district_names + "国有土地")
    owner = np.where(state_forest, district_names + "国有林场", owner)
    return pd.DataFrame(
        {"DLBM": dlbm, "QSDWMC": owner, "district": district_index, "corridor": corridor_code != ""}
    )


def _shared_edges(faces: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs of faces (i < j) whose rings share segments exactly, with the shared length."""
    rings, ring_face = shapely.get_rings(faces, return_index=True)
    coords, ring_of = shapely.get_coordinates(rings, return_index=True)
    same_ring = ring_of[:-1] == ring_of[1:]
    a, b = coords[:-1][same_ring], coords[1:][same_ring]
    face = ring_face[ring_of[:-1][same_ring]]
    swap = (a[:, 0] > b[:, 0]) | ((a[:, 0] == b[:, 0]) & (a[:, 1] > b[:, 1]))
    low = np.where(swap[:, None], b, a)
    high = np.where(swap[:, None], a, b)
    order = np.lexsort((high[:, 1], high[:, 0], low[:, 1], low[:, 0]))
    key = np.column_stack([low, high])[order]
    face = face[order]
    twin = np.all(key[1:] == key[:-1], axis=1) & (face[1:] != face[:-1])
    first, second = face[:-1][twin], face[1:][twin]
    length = np.hypot(*(key[1:, 2:] - key[1:, :2])[twin].T)
    pairs = pd.DataFrame(
        {"i": np.minimum(first, second), "j": np.maximum(first, second), "length": length}
    )
    pairs = pairs.groupby(["i", "j"], sort=True)["length"].sum().reset_index()
    return pairs["i"].to_numpy(), pairs["j"].to_numpy(), pairs["length"].to_numpy()


class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = np.arange(n)

    def find(self, i: int) -> int:
        root = i
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[i] != root:
            self.parent[i], i = root, self.parent[i]
        return int(root)

    def roots(self) -> np.ndarray:
        return np.array([self.find(i) for i in range(len(self.parent))])


def _merge_parcels(
    faces: np.ndarray, attributes: pd.DataFrame, max_run: int = 6, sliver_m2: float = 80.0
) -> tuple[np.ndarray, pd.DataFrame]:
    """Join road and river pieces into runs of up to ``max_run`` pieces, and slivers into the
    neighbour they share the longest edge with (within one district). Joined parcels keep the
    attributes of their largest piece; edges stay exactly shared (coverage union)."""
    i, j, length = _shared_edges(faces)
    district = attributes["district"].to_numpy()
    i, j, length = (v[district[i] == district[j]] for v in (i, j, length))
    codes = attributes["DLBM"].to_numpy()
    corridor = attributes["corridor"].to_numpy()
    area = shapely.area(faces)
    groups = _UnionFind(len(faces))
    size = np.ones(len(faces), dtype=int)
    group_area = area.copy()

    def join(a: int, b: int) -> None:
        ra, rb = groups.find(a), groups.find(b)
        if ra != rb:
            groups.parent[rb] = ra
            size[ra] += size[rb]
            group_area[ra] += group_area[rb]

    runs = corridor[i] & corridor[j] & (codes[i] == codes[j])
    run_i, run_j = i[runs], j[runs]
    for k in np.argsort(-length[runs], kind="stable"):
        a, b = int(run_i[k]), int(run_j[k])
        if size[groups.find(a)] + size[groups.find(b)] <= max_run:
            join(a, b)
    slivers = np.flatnonzero(
        np.array([group_area[groups.find(k)] for k in range(len(faces))]) < sliver_m2
    )
    neighbours = pd.DataFrame(
        {
            "face": np.concatenate([i, j]),
            "other": np.concatenate([j, i]),
            "length": np.concatenate([length, length]),
        }
    )
    neighbours = neighbours[neighbours["face"].isin(slivers)].sort_values(
        ["face", "length", "other"], ascending=[True, False, True], kind="stable"
    )
    for face, rows in neighbours.groupby("face", sort=True):
        if group_area[groups.find(int(face))] >= sliver_m2:
            continue
        for other in rows["other"].to_numpy():
            if groups.find(int(other)) != groups.find(int(face)):
                join(int(other), int(face))
                break
    roots = groups.roots()
    order = np.lexsort((-area, roots))  # each group's largest piece first
    starts = np.flatnonzero(np.r_[True, roots[order][1:] != roots[order][:-1]])
    ends = np.r_[starts[1:], len(order)]
    merged, keep = [], []
    for start, end in zip(starts, ends, strict=True):
        members = order[start:end]
        keep.append(members[0])
        merged.append(
            faces[members[0]] if len(members) == 1 else shapely.coverage_union_all(faces[members])
        )
    keep_index = np.asarray(keep)
    return np.array(merged, dtype=object), attributes.iloc[keep_index].reset_index(drop=True)


def _simple_polygons(faces: np.ndarray) -> np.ndarray:
    """Which faces are single polygons without holes."""
    return (shapely.get_type_id(faces) == 3) & (shapely.get_num_interior_rings(faces) == 0)


def _add_islands(
    faces: list[shapely.Geometry], attributes: pd.DataFrame, count: int, rng: Rng
) -> None:
    """Cut a small pond or homestead out of ``count`` large parcels (a hole) and add it as a
    parcel of its own (in place)."""
    candidates = np.flatnonzero(
        _simple_polygons(faces)
        & (shapely.area(faces) > 40_000.0)
        & attributes["DLBM"].isin(["0101", "0102", "0103", "0301"]).to_numpy()
    )
    added = 0
    for i in rng.permutation(candidates):
        if added >= count:
            break
        face = faces[i]
        centre = face.representative_point()
        room = face.exterior.distance(centre)
        radius = min(45.0, room * 0.4)
        if radius < 12.0:
            continue
        island = blob((centre.x, centre.y), radius, rng, roughness=0.2, vertices=12)
        if not face.contains(island.buffer(3.0)):
            continue
        faces[i] = Polygon(face.exterior.coords, [island.exterior.coords])
        faces.append(island)
        code = str(rng.choice(["1104", "0702", "1202"]))
        attributes.loc[len(attributes)] = [code, attributes["QSDWMC"].iat[i]]
        added += 1


def _bow_tie(face: Polygon, rng: Rng) -> Polygon | None:
    """Swap two neighbouring vertices: a small figure-eight, as digitising slips make."""
    coords = np.asarray(face.exterior.coords)[:-1]
    for i in rng.permutation(len(coords) - 1):
        broken = coords.copy()
        broken[[i, i + 1]] = broken[[i + 1, i]]
        polygon = Polygon(broken)
        if polygon.is_valid or "Self-intersection" not in shapely.is_valid_reason(polygon):
            continue
        if abs(shapely.make_valid(polygon).area - face.area) < 0.02 * face.area:
            return polygon
    return None


def _self_touching(face: Polygon, rng: Rng) -> tuple[Polygon, Polygon] | None:
    """An 'inverted hole': the ring returns to one of its vertices and runs round a triangle
    inside the parcel before closing — a self-touching ring. Returns (broken, triangle)."""
    coords = np.asarray(face.exterior.coords)[:-1]
    centre = np.asarray(face.representative_point().coords[0])
    for i in rng.permutation(len(coords))[:20]:
        start = coords[i]
        toward = centre - start
        length = float(np.hypot(*toward))
        if length < 30.0:
            continue
        unit = toward / length
        normal = np.array([-unit[1], unit[0]])
        tip = start + unit * min(length * 0.6, 60.0)
        half = min(length * 0.15, 10.0)
        a, b = tip + normal * half, tip - normal * half
        triangle = Polygon([start, a, b])
        if not face.contains(triangle.buffer(-0.5)) or triangle.area < 20.0:
            continue
        # the triangle must run the other way round than the ring, to enclose a hole
        if shapely.is_ccw(triangle.exterior) == shapely.is_ccw(face.exterior):
            a, b = b, a
        ring = np.concatenate([np.roll(coords, -i, axis=0), [start, a, b]])
        polygon = Polygon(ring)
        if polygon.is_valid or "Ring Self-intersection" not in shapely.is_valid_reason(polygon):
            continue
        repaired = shapely.make_valid(polygon)
        if abs(repaired.area - (face.area - triangle.area)) < 1.0:
            return polygon, triangle
    return None


def _break_rings(
    faces: list[shapely.Geometry], attributes: pd.DataFrame, count: int, rng: Rng
) -> int:
    """Make ``count`` parcels invalid the way real files are: half bow-ties, half self-touching
    rings (whose inner triangle becomes a parcel of its own). Returns how many were made."""
    candidates = np.flatnonzero(
        _simple_polygons(faces)
        & (shapely.get_num_coordinates(faces) >= 10)
        & (shapely.area(faces) > 2_000.0)
        & ~attributes["DLBM"].isin(["1003", "1004", "1006", "1101"]).to_numpy()
    )
    made = 0
    for i in rng.permutation(candidates):
        if made >= count:
            break
        if made % 2 == 0:
            broken = _bow_tie(faces[i], rng)
            if broken is None:
                continue
            faces[i] = broken
        else:
            result = _self_touching(faces[i], rng)
            if result is None:
                continue
            faces[i], triangle = result
            faces.append(triangle)
            attributes.loc[len(attributes)] = ["1202", attributes["QSDWMC"].iat[i]]
        made += 1
    return made


def build_landuse(
    districts: gpd.GeoDataFrame,
    towns: gpd.GeoDataFrame,
    communities: gpd.GeoDataFrame,
    urban: gpd.GeoDataFrame,
    planned: gpd.GeoDataFrame,
    spec: ScaleSpec,
    rng: Rng,
    log: Log,
) -> tuple[gpd.GeoDataFrame, LandscapeModel]:
    """The land-use survey layer (三调-style) of the windows around the seats, and the
    landscape model it was drawn from (its region and settlements place the rural cases)."""
    model = build_landscape(districts, towns, communities, urban, planned, spec, rng)
    seeds = _parcel_seeds(model, int(spec.parcels * spec.seeds_per_parcel), rng)
    faces = _parcel_faces(model, districts, seeds, spec.segments_per_spacing, rng, log)
    attributes = _classify_parcels(faces, model, districts, communities, urban, planned, rng)
    faces, attributes = _merge_parcels(faces, attributes)
    attributes = attributes[["DLBM", "QSDWMC"]].copy()
    face_list = list(faces)
    _add_islands(face_list, attributes, spec.holed_parcels, rng)
    broken = _break_rings(face_list, attributes, spec.invalid_parcels, rng)
    geometries = np.array(face_list, dtype=object)
    # number the parcels (BSM) in rows of 2 km from north to south, west to east
    bounds = shapely.bounds(geometries)
    cx, cy = (bounds[:, 0] + bounds[:, 2]) / 2, (bounds[:, 1] + bounds[:, 3]) / 2
    order = np.lexsort((cx, -np.floor(cy / 2000.0)))
    repaired_area = shapely.area(shapely.make_valid(geometries))
    frame = gpd.GeoDataFrame(
        {
            "BSM": np.arange(1, len(order) + 1, dtype=np.int32),
            "DLBM": attributes["DLBM"].to_numpy()[order],
            "DLMC": [LAND_USE_NAMES[c] for c in attributes["DLBM"].to_numpy()[order]],
            "QSDWMC": attributes["QSDWMC"].to_numpy()[order],
            "TBMJ": np.round(repaired_area[order], 2),
        },
        geometry=geometries[order],
        crs=METRIC_CRS,
    )
    log(
        f"  land use: {len(frame)} parcels, {broken} with broken rings, "
        f"{int(shapely.get_num_interior_rings(frame.geometry.values).astype(bool).sum())} "
        f"with holes"
    )
    return frame, model
