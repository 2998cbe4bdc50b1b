"""Batch assignment: many points in (CSV ``id,lon,lat``, GeoJSON, Shapefile, GeoPackage), the
full answer for each out (CSV or GeoJSON), in chunks so that memory stays bounded whatever the
count, sorted along a Z-order curve within a chunk and spread over the machine's cores."""

from __future__ import annotations

import csv
import gc
import io
import itertools
import json
import math
import multiprocessing
import os
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np

from weijian.errors import InputError
from weijian.gis.encoding import text_file_encoding
from weijian.gis.points import to_cgcs2000
from weijian.jurisdiction.engine import (
    DEFAULT_TOLERANCE_M,
    REASON_CODES,
    BatchAnswer,
    BatchDecision,
    answer_arrays,
    morton_order,
)
from weijian.jurisdiction.rules import UNASSIGNED_REASONS
from weijian.jurisdiction.snapshot import Snapshot
from weijian.layers.model import GRID_LEVELS

CHUNK = 100_000
CSV_COLUMNS = [
    "id",
    "input_x",
    "input_y",
    "lon",
    "lat",
    "status",
    "reason",
    "reason_text",
    "department_type",
    "department_code",
    "department_name",
    "rule_id",
    "rule_version",
    "rule_name",
    "zones",
    *[f"{level}_{part}" for level in GRID_LEVELS for part in ("code", "name")],
    "boundary_distance_m",
    "ambiguous",
    "alternatives",
]


@dataclass
class PointChunk:
    ids: list
    x: np.ndarray  # as given
    y: np.ndarray


# -- reading ---------------------------------------------------------------------------------


def _column(header: list[str], names: tuple[str, ...], what: str) -> int:
    lowered = [h.strip().lower().lstrip("\ufeff") for h in header]
    for name in names:
        if name in lowered:
            return lowered.index(name)
    raise InputError(
        f"CSV 文件中没有 {what} 列（表头：{', '.join(header)}）。第一行须给出列名 id,lon,lat",
        code="batch.column_missing",
        detail=f"the CSV has no {what} column (header: {', '.join(header)}).",
        hint="the first line must name the columns id,lon,lat",
    )


def read_csv_chunks(stream: io.TextIOBase, chunk: int = CHUNK) -> Iterator[PointChunk]:
    reader = csv.reader(stream)
    try:
        header = next(reader)
    except StopIteration:
        raise InputError(
            "CSV 文件是空的。请提供表头 id,lon,lat 和数据行",
            code="batch.csv_empty",
            detail="the CSV is empty.",
            hint="send a header id,lon,lat and rows",
        ) from None
    i_id = _column(header, ("id", "编号"), "id")
    i_x = _column(header, ("lon", "lng", "x", "经度"), "lon")
    i_y = _column(header, ("lat", "y", "纬度"), "lat")
    ids, xs, ys = [], [], []
    for number, row in enumerate(reader, start=2):
        if not row or not any(row):
            continue
        try:
            xs.append(float(row[i_x]))
            ys.append(float(row[i_y]))
        except (ValueError, IndexError):
            lon, lat = (row[i] if i < len(row) else "" for i in (i_x, i_y))
            raise InputError(
                f"CSV 第 {number} 行：经度“{lon}”或纬度“{lat}”不是数字（或为空）。"
                "请用带小数点的十进制度数，如 126.4215,41.9398",
                code="batch.coordinate_invalid",
                detail=f"CSV line {number}: lon/lat {row[i_x : i_x + 1]}, {row[i_y : i_y + 1]} "
                "are not numbers.",
                hint="decimal degrees with a point, e.g. 126.4215,41.9398",
            ) from None
        ids.append(row[i_id])
        if len(ids) >= chunk:
            yield PointChunk(ids, np.array(xs), np.array(ys))
            ids, xs, ys = [], [], []
    if ids:
        yield PointChunk(ids, np.array(xs), np.array(ys))


def read_geojson_chunks(stream, chunk: int = CHUNK) -> Iterator[PointChunk]:
    """A FeatureCollection of Points, parsed incrementally (ijson)."""
    import ijson

    ids, xs, ys = [], [], []
    try:
        for number, feature in enumerate(ijson.items(stream, "features.item", use_float=True)):
            geometry = (feature or {}).get("geometry") or {}
            if geometry.get("type") != "Point":
                kind = geometry.get("type")
                raise InputError(
                    f"第 {number + 1} 个要素是{f' {kind}' if kind else '空几何'}，不是点（Point）。"
                    "请提供由点要素组成的 FeatureCollection",
                    code="batch.not_point",
                    detail=f"feature {number + 1} is a {geometry.get('type') or 'null geometry'}, "
                    "not a Point.",
                    hint="send a FeatureCollection of Point features",
                )
            coords = geometry.get("coordinates") or []
            if len(coords) < 2:
                raise InputError(
                    f"第 {number + 1} 个要素没有坐标，请补全其经纬度",
                    code="batch.coordinates_missing",
                    detail=f"feature {number + 1} has no coordinates.",
                )
            props = feature.get("properties") or {}
            ids.append(feature.get("id", props.get("id", number + 1)))
            xs.append(float(coords[0]))
            ys.append(float(coords[1]))
            if len(ids) >= chunk:
                yield PointChunk(ids, np.array(xs), np.array(ys))
                ids, xs, ys = [], [], []
    except ijson.JSONError as exc:
        raise InputError(
            "GeoJSON 无法解析，请检查其格式是否为有效的 FeatureCollection",
            code="batch.geojson_invalid",
            detail=f"the GeoJSON cannot be parsed: {exc}.",
        ) from exc
    if ids:
        yield PointChunk(ids, np.array(xs), np.array(ys))


def read_vector_chunks(
    path: Path, id_field: str | None, chunk: int = CHUNK
) -> Iterator[PointChunk]:
    """Points of a Shapefile / GeoPackage / GeoJSON file, in slices (pyogrio)."""
    import pyogrio
    import shapely

    try:
        info = pyogrio.read_info(path)
    except pyogrio.errors.DataSourceError as exc:
        raise InputError(
            f"{path.name} 无法读取，请用 QGIS 打开检查，或重新导出",
            code="batch.file_unreadable",
            detail=f"{path.name} cannot be read: {exc}",
        ) from exc
    total = int(info["features"])
    for start in range(0, total, chunk):
        frame = pyogrio.read_dataframe(path, skip_features=start, max_features=chunk)
        geoms = np.asarray(frame.geometry.array, dtype=object)
        if not (shapely.get_type_id(geoms) == 0).all():
            raise InputError(
                f"{path.name} 中只能有点要素，请提供点图层",
                code="batch.not_point",
                detail=f"{path.name} must hold points only.",
            )
        if id_field and id_field not in frame:
            raise InputError(
                f"{path.name} 中没有字段“{id_field}”，请核对编号字段名",
                code="batch.field_not_found",
                detail=f"{path.name} has no field {id_field!r}.",
            )
        ids = (
            frame[id_field].tolist() if id_field else list(range(start + 1, start + len(frame) + 1))
        )
        yield PointChunk(ids, shapely.get_x(geoms), shapely.get_y(geoms))


def open_chunks(path: Path, id_field: str | None = None) -> Iterator[PointChunk]:
    suffix = path.suffix.lower()
    if suffix in (".csv", ".txt"):
        encoding = text_file_encoding(path)  # Excel on Chinese Windows: GBK
        with open(path, encoding=encoding, newline="") as stream:
            yield from read_csv_chunks(stream)
    elif suffix in (".geojson", ".json"):
        with open(path, "rb") as stream:
            yield from read_geojson_chunks(stream)
    elif suffix in (".shp", ".gpkg", ".zip"):
        yield from read_vector_chunks(path, id_field)
    else:
        raise InputError(
            f"{path.name}：不支持该格式，请提供由点组成的 .csv、.geojson、.shp 或 .gpkg 文件",
            code="batch.format_unsupported",
            detail=f"{path.name}: give a .csv, .geojson, .shp or .gpkg file of points.",
        )


# -- answering -------------------------------------------------------------------------------

_SNAPSHOT: Snapshot | None = None  # set in the parent before forking the workers


def _answer_slice(args: tuple) -> tuple[np.ndarray, BatchAnswer]:
    """A worker's slice of the points: their Z-order, and the answers in that order."""
    lon, lat, on, tolerance_m = args
    assert _SNAPSHOT is not None
    order = morton_order(lon, lat)
    answer = answer_arrays(_SNAPSHOT, lon[order], lat[order], on=on, tolerance_m=tolerance_m)
    return order.astype(np.int32), _narrowed(answer, _SNAPSHOT)


def _narrowed(answer: BatchAnswer, snap: Snapshot) -> BatchAnswer:
    """The answer in the narrowest types that hold it (positions and zones in 32 bits, layer
    numbers in 16, a level's grid rows in 16 where it has fewer than 32,768 grids), sent back
    from a worker in half the bytes: the same values."""
    d = answer.decision
    answer.decision = BatchDecision(
        rule_pos=d.rule_pos.astype(np.int32),
        reason=d.reason,
        zone_layer=d.zone_layer.astype(np.int16),
        zone_index=d.zone_index.astype(np.int32),
        grid_rows={
            level: rows.astype(_row_type(snap.grids.get(level)))
            for level, rows in d.grid_rows.items()
        },
        zone_pairs=[(p.astype(np.int32), z.astype(np.int32)) for p, z in d.zone_pairs],
    )
    return answer


def _row_type(grid) -> type:
    """The narrowest type that holds a level's grid rows (every row -1 without the level)."""
    return np.int16 if grid is None or len(grid.codes) < 2**15 else np.int32


class Answerer:
    """Answers chunks of points, on every core when asked (fork: workers share the snapshot
    copy-on-write)."""

    def __init__(self, snap: Snapshot, workers: int = 1):
        global _SNAPSHOT
        self.snap = snap
        self.workers = max(1, workers)
        self.pool = None
        if self.workers > 1:
            _SNAPSHOT = snap
            # keep the snapshot's objects out of the collector's reach, so the forked workers
            # share its pages instead of copying them as the collector walks them
            gc.freeze()
            self.pool = ProcessPoolExecutor(
                max_workers=self.workers, mp_context=multiprocessing.get_context("fork")
            )

    def answer(
        self, lon: np.ndarray, lat: np.ndarray, on: date, tolerance_m: float
    ) -> tuple[np.ndarray, list[tuple[np.ndarray, BatchAnswer]]]:
        """Answers for the points in slices, each Z-ordered: (order, [(positions in that
        order, answer)]). On several workers, each slice is a run of the points as given, put
        in Z-order by the worker that answers it."""
        if self.pool is None or len(lon) < 2000:
            order = morton_order(lon, lat)
            answer = answer_arrays(
                self.snap, lon[order], lat[order], on=on, tolerance_m=tolerance_m
            )
            return order, [(np.arange(len(lon)), answer)]
        bounds = np.linspace(0, len(lon), self.workers * 2 + 1).astype(int)
        results = self.pool.map(
            _answer_slice,
            [(lon[a:b], lat[a:b], on, tolerance_m) for a, b in itertools.pairwise(bounds)],
        )
        order, parts = np.empty(len(lon), dtype=np.int64), []
        for (a, b), (local, answer) in zip(itertools.pairwise(bounds), results, strict=True):
            order[a:b] = a + local
            parts.append((np.arange(a, b), answer))
        return order, parts

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown()


def default_workers() -> int:
    return max(1, min(os.cpu_count() or 1, 8))


# -- formatting ------------------------------------------------------------------------------


def _dept(snap: Snapshot, rule, district_row: int):
    district = snap.grids.get("district")
    code = district.codes[district_row] if district is not None and district_row >= 0 else None
    name = district.names[district_row] if district is not None and district_row >= 0 else None
    return snap.department(rule.department_type, code, name)


def records(
    snap: Snapshot,
    chunk: PointChunk,
    lon: np.ndarray,
    lat: np.ndarray,
    order: np.ndarray,
    parts: list[tuple[np.ndarray, BatchAnswer]],
) -> list[dict]:
    """One flat record per point, in input order."""
    out: list[dict | None] = [None] * len(chunk.ids)
    for positions, answer in parts:
        decision = answer.decision
        zone_lists: list[list[str]] = [[] for _ in range(len(positions))]
        for number, (points, polys) in enumerate(decision.zone_pairs):
            layer = snap.zone_layers[number]
            for p, z in zip(points.tolist(), polys.tolist(), strict=True):
                zone_lists[p].append(f"{layer.name}:{layer.codes[z] or ''}:{layer.kinds[z]}")
        for local, point in enumerate(order[positions].tolist()):
            rule_pos = int(decision.rule_pos[local])
            reason = REASON_CODES[int(decision.reason[local])]
            district_row = int(decision.grid_rows["district"][local])
            record = {
                "id": chunk.ids[point],
                "input_x": float(chunk.x[point]),
                "input_y": float(chunk.y[point]),
                "lon": round(float(lon[point]), 8),
                "lat": round(float(lat[point]), 8),
                "status": "assigned" if rule_pos >= 0 else "unassigned",
                "reason": reason,
                "reason_text": UNASSIGNED_REASONS.get(reason) if reason else None,
                "department_type": None,
                "department_code": None,
                "department_name": None,
                "rule_id": None,
                "rule_version": snap.rules.version,
                "rule_name": None,
                "zones": ";".join(zone_lists[local]),
            }
            if rule_pos >= 0:
                rule = answer.rules[rule_pos]
                dept = _dept(snap, rule, district_row)
                record.update(
                    department_type=dept.type,
                    department_code=dept.code,
                    department_name=dept.name,
                    rule_id=rule.id,
                    rule_name=rule.name,
                )
            for level in GRID_LEVELS:
                row = int(decision.grid_rows[level][local])
                grid = snap.grids.get(level)
                record[f"{level}_code"] = grid.codes[row] if grid is not None and row >= 0 else None
                record[f"{level}_name"] = grid.names[row] if grid is not None and row >= 0 else None
            distance = float(answer.distance[local])
            record["boundary_distance_m"] = None if math.isnan(distance) else distance
            alternatives = answer.alternatives.get(local, [])
            record["ambiguous"] = bool(alternatives)
            labels = []
            for alt_rule, alt_district, alt_reason in alternatives:
                if alt_rule >= 0:
                    labels.append(_dept(snap, answer.rules[alt_rule], alt_district).name)
                else:
                    labels.append(UNASSIGNED_REASONS.get(REASON_CODES[alt_reason], "unassigned"))
            record["alternatives"] = ";".join(labels)
            out[point] = record
    return out  # type: ignore[return-value]


def csv_text(rows: list[dict], header: bool) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, extrasaction="ignore")
    if header:
        writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def geojson_features(rows: list[dict], first: bool) -> str:
    parts = []
    for n, row in enumerate(rows):
        properties = {k: v for k, v in row.items() if k not in ("lon", "lat")}
        feature = {
            "type": "Feature",
            "id": row["id"],
            "properties": properties,
            "geometry": {"type": "Point", "coordinates": [row["lon"], row["lat"]]},
        }
        prefix = "" if first and n == 0 else ",\n"
        parts.append(prefix + json.dumps(feature, ensure_ascii=False))
    return "".join(parts)


GEOJSON_HEAD = '{"type": "FeatureCollection", "crs_note": "CGCS2000 (EPSG:4490)", "features": [\n'
GEOJSON_TAIL = "\n]}\n"


def answer_stream(
    snap: Snapshot,
    chunks: Iterator[PointChunk],
    *,
    crs: str,
    on: date,
    tolerance_m: float = DEFAULT_TOLERANCE_M,
    fmt: str = "csv",
    answerer: Answerer | None = None,
    progress=None,
) -> Iterator[str]:
    """The formatted answers, chunk after chunk (text for a file or an HTTP body)."""
    answerer = answerer or Answerer(snap)
    first = True
    if fmt == "geojson":
        yield GEOJSON_HEAD
    for chunk in chunks:
        lon, lat, _ = to_cgcs2000(chunk.x, chunk.y, crs, ids=chunk.ids)
        order, parts = answerer.answer(lon, lat, on, tolerance_m)
        rows = records(snap, chunk, lon, lat, order, parts)
        yield csv_text(rows, first) if fmt == "csv" else geojson_features(rows, first)
        first = False
        if progress is not None:
            progress(len(chunk.ids))
    if fmt == "csv" and first:
        yield csv_text([], True)
    if fmt == "geojson":
        yield GEOJSON_TAIL


# -- files -----------------------------------------------------------------------------------


def count_points(path: Path) -> int:
    if path.suffix.lower() in (".csv", ".txt"):
        with open(path, "rb") as handle:
            lines = sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))
        return max(lines - 1, 0)
    import pyogrio

    try:
        return int(pyogrio.read_info(path)["features"])
    except pyogrio.errors.DataSourceError as exc:
        raise InputError(
            f"{path.name} 无法读取，请用 QGIS 打开检查，或重新导出",
            code="batch.file_unreadable",
            detail=f"{path.name} cannot be read: {exc}",
        ) from exc


def write_answers(
    snap: Snapshot,
    chunks: Iterator[PointChunk],
    out_path: Path,
    *,
    crs: str,
    on: date,
    tolerance_m: float = DEFAULT_TOLERANCE_M,
    answerer: Answerer | None = None,
    progress=None,
) -> None:
    """Answers into a .csv (UTF-8 with BOM, for Excel), .geojson, .gpkg or .shp file."""
    suffix = out_path.suffix.lower()
    if suffix in (".csv", ".geojson", ".json"):
        fmt = "csv" if suffix == ".csv" else "geojson"
        encoding = "utf-8-sig" if fmt == "csv" else "utf-8"
        with open(out_path, "w", encoding=encoding, newline="") as handle:
            for text in answer_stream(
                snap,
                chunks,
                crs=crs,
                on=on,
                tolerance_m=tolerance_m,
                fmt=fmt,
                answerer=answerer,
                progress=progress,
            ):
                handle.write(text)
        return
    if suffix not in (".gpkg", ".shp"):
        raise InputError(
            f"{out_path.name}：结果只能写入 .csv、.geojson、.gpkg 或 .shp 文件，请更换文件扩展名",
            code="batch.output_format_unsupported",
            detail=f"{out_path.name}: write to .csv, .geojson, .gpkg or .shp.",
        )
    import geopandas as gpd
    import pandas as pd
    import pyogrio
    import shapely

    answerer = answerer or Answerer(snap)
    if out_path.exists():
        out_path.unlink()
    first = True
    for chunk in chunks:
        lon, lat, _ = to_cgcs2000(chunk.x, chunk.y, crs, ids=chunk.ids)
        order, parts = answerer.answer(lon, lat, on, tolerance_m)
        rows = pd.DataFrame(records(snap, chunk, lon, lat, order, parts))
        rows["id"] = rows["id"].astype(str)
        frame = gpd.GeoDataFrame(rows, geometry=shapely.points(lon, lat), crs="EPSG:4490")
        pyogrio.write_dataframe(
            frame, out_path, append=not first, encoding="UTF-8" if suffix == ".shp" else None
        )
        first = False
        if progress is not None:
            progress(len(chunk.ids))
