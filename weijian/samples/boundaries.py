"""Districts (区县): the six county-level units of Baishan, from the shared reference file of
the real boundaries when it is there, else generated around their seats."""

from __future__ import annotations

import json
import math
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely
from shapely.geometry import Point

from weijian.samples.common import GEOGRAPHIC_CRS, METRIC_CRS, WGS84_CRS, Log, Rng
from weijian.samples.geometry import (
    blob,
    metric_transformer,
    part_containing,
    transform_geometries,
    voronoi_split,
)
from weijian.samples.people import PeopleRegistry
from weijian.samples.profiles import DISTRICT_AREAS_KM2, PROFILE_BY_CODE, PROFILES

SHARED_DISTRICTS_FILE = Path("baishan_districts") / "baishan_districts_gcj02.geojson"


def load_shared_districts(path: Path) -> gpd.GeoDataFrame:
    """The six real units from the shared GCJ-02 GeoJSON, converted to CGCS2000, in EPSG:4551.

    Columns: code, name, seat_x, seat_y (the ``center`` property: the seat of government)."""
    from weijian.gis.chinese_datums import gcj02_to_wgs84

    collection = json.loads(path.read_text(encoding="utf-8"))
    features = sorted(collection["features"], key=lambda f: str(f["properties"]["adcode"]))
    codes = [str(f["properties"]["adcode"]) for f in features]
    if sorted(codes) != sorted(PROFILE_BY_CODE):
        raise ValueError(f"{path} does not hold the six units of Baishan: {codes}")
    geometries = np.array([shapely.geometry.shape(f["geometry"]) for f in features])
    centres = np.array(
        [Point(f["properties"].get("center") or f["properties"]["centroid"]) for f in features]
    )

    def to_wgs84(coords: np.ndarray) -> np.ndarray:
        lon, lat = gcj02_to_wgs84(coords[:, 0], coords[:, 1])
        return np.column_stack([lon, lat])

    # one call for all districts, so a vertex shared by two districts converts identically
    geometries = shapely.transform(geometries, to_wgs84)
    centres = shapely.transform(centres, to_wgs84)
    to_metric = metric_transformer(GEOGRAPHIC_CRS)
    geometries = transform_geometries(geometries, to_metric)
    centres = transform_geometries(centres, to_metric)
    return gpd.GeoDataFrame(
        {
            "code": codes,
            "name": [f["properties"]["name"] for f in features],
            "seat_x": shapely.get_x(centres),
            "seat_y": shapely.get_y(centres),
        },
        geometry=geometries,
        crs=METRIC_CRS,
    )


def generate_districts(rng: Rng) -> gpd.GeoDataFrame:
    """Six invented units with the real codes, names and seats: an irregular outline around
    the seats (126–128.3E, 41.3–42.8N) split by a Voronoi diagram of the seats."""
    to_metric = metric_transformer(WGS84_CRS)
    seats = [to_metric.transform(*p.seat_wgs84) for p in PROFILES]
    blobs = [
        blob(seat, math.sqrt(DISTRICT_AREAS_KM2[p.code] * 1e6 / math.pi) * 1.05, rng, 0.35)
        for seat, p in zip(seats, PROFILES, strict=True)
    ]
    hull = shapely.convex_hull(shapely.multipoints(np.asarray(seats))).buffer(9000.0)
    outline = shapely.union_all([*blobs, hull]).buffer(4000.0).buffer(-4000.0)
    frame = transform_geometries(np.array([shapely.box(126.0, 41.3, 128.3, 42.8)]), to_metric)[0]
    outline = part_containing(shapely.intersection(outline, frame), seats[0])
    pieces = voronoi_split(outline, seats)
    return gpd.GeoDataFrame(
        {
            "code": [p.code for p in PROFILES],
            "name": [p.name for p in PROFILES],
            "seat_x": [s[0] for s in seats],
            "seat_y": [s[1] for s in seats],
        },
        geometry=pieces,
        crs=METRIC_CRS,
    )


def build_districts(
    shared_data_dir: Path, rng: Rng, people: PeopleRegistry, log: Log
) -> tuple[gpd.GeoDataFrame, str]:
    """The district level, from the shared file when present; returns (frame, source)."""
    path = shared_data_dir / SHARED_DISTRICTS_FILE
    if path.is_file():
        districts, source = load_shared_districts(path), "shared-data"
        log(f"districts: {path} (GCJ-02 → CGCS2000)")
    else:
        districts, source = generate_districts(rng), "generated"
        log(f"districts: generated ({path} not found)")
    contacts = [people.person(PROFILE_BY_CODE[c].korean_share) for c in districts["code"]]
    districts["fzr"] = [c[0] for c in contacts]
    districts["lxdh"] = [c[1] for c in contacts]
    return districts, source
