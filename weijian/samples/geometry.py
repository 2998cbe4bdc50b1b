"""Geometric helpers shared by the layers, all in the metric CRS (EPSG:4551): the polygonal
part of an overlay, irregular blobs, random points in an area, Voronoi splits and their seeds,
meandering lines, a smooth warp, and transformations into the metric CRS."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import shapely
from pyproj import Transformer
from shapely.geometry import LineString, MultiPolygon, Point, Polygon

from weijian.samples.common import METRIC_CRS, XY, Rng


def polygonal(geometry: shapely.Geometry | None) -> Polygon | MultiPolygon | None:
    """The polygonal part of an overlay result (drops lines and points), or None when empty."""
    if geometry is None or geometry.is_empty:
        return None
    parts = shapely.get_parts(shapely.get_parts(geometry))
    polygons = [p for p in parts if isinstance(p, Polygon) and not p.is_empty and p.area > 0]
    if not polygons:
        return None
    if len(polygons) == 1:
        return polygons[0]
    return MultiPolygon(polygons)


def part_containing(geometry: shapely.Geometry | None, point: XY) -> Polygon | None:
    """The polygon of ``geometry`` that contains ``point``, else its largest polygon."""
    shape = polygonal(geometry)
    if shape is None:
        return None
    parts = list(shapely.get_parts(shape))
    target = Point(point)
    for part in parts:
        if part.contains(target):
            return part
    return max(parts, key=lambda p: p.area)


def blob(
    center: XY, radius: float, rng: Rng, roughness: float = 0.25, vertices: int = 96
) -> Polygon:
    """An irregular star-shaped polygon: a circle whose radius varies with a few harmonics."""
    theta = np.linspace(0.0, 2.0 * np.pi, vertices, endpoint=False)
    factor = np.ones_like(theta)
    for k in range(2, 7):
        factor += rng.uniform(0.0, roughness / k * 2.0) * np.cos(
            k * theta + rng.uniform(0.0, 2.0 * np.pi)
        )
    r = radius * np.clip(factor, 0.35, None)
    return Polygon(np.column_stack([center[0] + r * np.cos(theta), center[1] + r * np.sin(theta)]))


def sample_in(geometry: shapely.Geometry, n: int, rng: Rng) -> np.ndarray:
    """``n`` points drawn uniformly inside ``geometry`` (rejection sampling), shape (n, 2).

    Scattered multi-part geometries are sampled part by part, in proportion to area."""
    parts = shapely.get_parts(geometry)
    if len(parts) > 1:
        areas = shapely.area(parts)
        counts = rng.multinomial(n, areas / areas.sum())
        points = np.concatenate(
            [sample_in(part, int(k), rng) for part, k in zip(parts, counts, strict=True) if k > 0]
        )
        return points[rng.permutation(len(points))]
    shapely.prepare(geometry)
    minx, miny, maxx, maxy = geometry.bounds
    box_area = (maxx - minx) * (maxy - miny)
    rate = max(geometry.area / box_area, 0.01)
    found: list[np.ndarray] = []
    total = 0
    while total < n:
        batch = int((n - total) / rate * 1.3) + 16
        xy = np.column_stack([rng.uniform(minx, maxx, batch), rng.uniform(miny, maxy, batch)])
        inside = xy[shapely.contains_xy(geometry, xy[:, 0], xy[:, 1])]
        found.append(inside)
        total += len(inside)
    return np.concatenate(found)[:n]


def voronoi_split(area: shapely.Geometry, seeds: Sequence[XY]) -> list[Polygon | MultiPolygon]:
    """Split ``area`` into one piece per seed (Voronoi cells clipped to the area), in seed order.

    The pieces tile the area: no gaps, no overlaps (up to floating-point noise)."""
    if len(seeds) == 1:
        return [polygonal(area)]
    cells = shapely.get_parts(
        shapely.voronoi_polygons(
            shapely.multipoints(np.asarray(seeds)), extend_to=area, ordered=True
        )
    )
    pieces = [polygonal(shapely.intersection(cell, area)) for cell in cells]
    if any(p is None for p in pieces) or len(pieces) != len(seeds):
        raise RuntimeError("a Voronoi seed lies outside the area it splits")
    return pieces


def min_distance(point: np.ndarray, others: Sequence[XY]) -> float:
    """The distance from ``point`` to the nearest of ``others`` (infinite if there are none)."""
    if not others:
        return math.inf
    diff = np.asarray(others) - point
    return float(np.sqrt((diff**2).sum(axis=1)).min())


def ring_seeds(
    center: XY,
    n: int,
    area: shapely.Geometry,
    rng: Rng,
    radius_m: tuple[float, float],
    min_spacing: float,
) -> list[XY]:
    """``n`` seeds around ``center``: the first close to it, the others on a rough ring."""
    shapely.prepare(area)
    seeds: list[XY] = []
    start = rng.uniform(0.0, 2.0 * np.pi)
    for j in range(n):
        low, high = (300.0, 700.0) if j == 0 else radius_m
        angle = start + 2.0 * np.pi * j / max(n - 1, 1)
        spacing = min_spacing
        for attempt in range(400):
            r = rng.uniform(low, high) * (0.93 ** (attempt // 20))
            a = angle + rng.normal(0.0, 0.35 + attempt * 0.02)
            p = np.array([center[0] + r * math.cos(a), center[1] + r * math.sin(a)])
            if shapely.contains_xy(area, p[0], p[1]) and min_distance(p, seeds) >= spacing:
                seeds.append((float(p[0]), float(p[1])))
                break
            if attempt % 50 == 49:
                spacing *= 0.7
        else:
            raise RuntimeError("could not place a seed near the district seat")
    return seeds


def spread_seeds(
    area: shapely.Geometry, n: int, rng: Rng, existing: Sequence[XY], candidates: int = 300
) -> list[XY]:
    """``n`` seeds spread over ``area``, far from ``existing`` seeds and from each other."""
    if n <= 0:
        return []
    pool = sample_in(area, candidates, rng)
    chosen: list[XY] = []
    placed = list(existing)
    for _ in range(n):
        diff = pool[:, None, :] - np.asarray(placed)[None, :, :]
        nearest = np.sqrt((diff**2).sum(axis=2)).min(axis=1)
        score = nearest * rng.uniform(0.7, 1.0, len(pool))
        best = pool[int(np.argmax(score))]
        chosen.append((float(best[0]), float(best[1])))
        placed.append(chosen[-1])
    return chosen


def cluster_seeds(
    center: XY,
    n: int,
    area: shapely.Geometry,
    rng: Rng,
    scale_m: float,
    min_spacing: float,
    existing: Sequence[XY],
) -> list[XY]:
    """``n`` seeds clustered around ``center`` (gamma-distributed distance), inside ``area``."""
    shapely.prepare(area)
    placed = list(existing)
    chosen: list[XY] = []
    spacing = min_spacing
    attempts = 0
    while len(chosen) < n:
        attempts += 1
        if attempts % 200 == 0:
            spacing *= 0.8
            scale_m *= 1.2
        r = rng.gamma(2.0, scale_m / 2.0)
        a = rng.uniform(0.0, 2.0 * np.pi)
        p = np.array([center[0] + r * math.cos(a), center[1] + r * math.sin(a)])
        if shapely.contains_xy(area, p[0], p[1]) and min_distance(p, placed) >= spacing:
            chosen.append((float(p[0]), float(p[1])))
            placed.append(chosen[-1])
    return chosen


def meander(
    origin: XY,
    angle: float,
    half_length: float,
    rng: Rng,
    waves: Sequence[tuple[float, float]],
    vertices: int = 400,
) -> LineString:
    """A smooth wandering line through ``origin`` along ``angle``; ``waves`` = (amplitude,
    wavelength) pairs of the sideways displacement."""
    t = np.linspace(-half_length, half_length, vertices)
    offset = np.zeros_like(t)
    for amplitude, wavelength in waves:
        offset += amplitude * np.sin(2.0 * np.pi * t / wavelength + rng.uniform(0, 2 * np.pi))
    offset -= np.interp(0.0, t, offset)  # pass through the origin
    cos_a, sin_a = math.cos(angle), math.sin(angle)
    x = origin[0] + t * cos_a - offset * sin_a
    y = origin[1] + t * sin_a + offset * cos_a
    return LineString(np.column_stack([x, y]))


def metric_transformer(lonlat_crs: str) -> Transformer:
    """A transformer from the geographic ``lonlat_crs`` into the metric CRS."""
    return Transformer.from_crs(lonlat_crs, METRIC_CRS, always_xy=True)


def transform_geometries(geometries: np.ndarray, transformer: Transformer) -> np.ndarray:
    """``geometries`` with every coordinate passed through ``transformer``."""

    def apply(coords: np.ndarray) -> np.ndarray:
        x, y = transformer.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(geometries, apply)


@dataclass(frozen=True)
class WarpField:
    """A smooth displacement field: a sum of plane waves. Its Jacobian stays well below one,
    so the warp is one-to-one and shared edges stay shared and non-crossing."""

    wave_vectors: np.ndarray  # (k, 2), radians per metre
    phases: np.ndarray  # (k,)
    displacements: np.ndarray  # (k, 2), metres

    @classmethod
    def random(cls, rng: Rng, scales: Sequence[tuple[float, float]]) -> WarpField:
        """``scales``: (wavelength m, amplitude m); two waves per scale."""
        vectors, phases, displacements = [], [], []
        for wavelength, amplitude in scales:
            for _ in range(2):
                a, b = rng.uniform(0, 2 * np.pi, 2)
                k = 2 * np.pi / wavelength
                vectors.append((k * math.cos(a), k * math.sin(a)))
                phases.append(rng.uniform(0, 2 * np.pi))
                displacements.append((amplitude / 2 * math.cos(b), amplitude / 2 * math.sin(b)))
        return cls(np.array(vectors), np.array(phases), np.array(displacements))

    def __call__(self, coords: np.ndarray) -> np.ndarray:
        out = coords.copy()
        for vector, phase, shift in zip(
            self.wave_vectors, self.phases, self.displacements, strict=True
        ):
            wave = np.sin(coords @ vector + phase)
            out += wave[:, None] * shift[None, :]
        return out
