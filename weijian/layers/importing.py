"""Versioned import of zone and grid layers — the one core behind ``weijian import`` and the
upload endpoint.

read (shapefile / zip / GeoPackage / GeoJSON, encoding chosen and checked) → check fields →
CRS (option, .prj, file, or coordinates that leave no doubt) → polygons only, repaired →
CGCS2000 → binary COPY of EWKB into a new version → activate, all in one transaction:
a failed import leaves the active version untouched; a dry run writes nothing. With
``activate=False`` the new version is stored but not activated: it can be looked at (report,
features, diff) before :func:`repository.activate_number` puts it in force.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import logging
import math
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import numpy as np
import pandas as pd
import pyogrio
import pyproj
import shapely
from psycopg.types.json import Jsonb
from sqlalchemy import Connection, Engine

from weijian.errors import ConflictError, InputError
from weijian.gis import crs as crs_mod
from weijian.gis.encoding import EncodingChoice, choose_encoding
from weijian.gis.geometry import normalise_polygons, normalise_reprojected
from weijian.gis.integrity import check_rows_inside
from weijian.gis.readers import OpenedSource, open_source, read_features
from weijian.layers import repository, streaming
from weijian.layers.landuse import kinds_for_codes, settle_kinds
from weijian.layers.model import (
    GRID_LEVELS,
    STORAGE_SRID,
    ZONE_KINDS,
    check_label,
    check_layer_name,
)

IMPORT_KINDS = ZONE_KINDS[:-1]  # "unused" only arrives through land-use codes
_SPLIT_PEOPLE = re.compile(r"[、,，;；/\s]+")
_log = logging.getLogger(__name__)


@dataclass(kw_only=True)
class ImportRequest:
    """What every import is asked: a file and how to read it."""

    path: Path
    crs: str | None = None  # overrides the .prj
    encoding: str | None = None  # overrides the .cpg / DBF language byte / detection
    member: str | None = None  # the dataset of a zip or GeoPackage holding several
    dry_run: bool = False
    activate: bool = True  # False: the new version waits, inactive, for an administrator
    created_by: str | None = None
    source_name: str | None = None  # what to call the source in the report (uploads)
    #: called with (features read, features in the file) as a large file is streamed in
    progress: Callable[[int, int], None] | None = None

    @classmethod
    def from_fields(cls, fields: Mapping[str, Any], **given: Any) -> Self:
        """The request from values named as its fields — a command's options, an upload form's
        fields, an entry of the samples' manifest — with ``given`` over them (the path, who
        imports). Other names are left out; a blank optional field counts as not given."""
        optional = {f.name for f in dataclasses.fields(cls) if f.default is None}
        values = {f.name: fields[f.name] for f in dataclasses.fields(cls) if f.name in fields}
        for name in optional & values.keys():
            if values[name] == "":
                values[name] = None
        return cls(**{**values, **given})


@dataclass(kw_only=True)
class ZoneImport(ImportRequest):
    layer: str
    kind: str | None = None
    code_field: str | None = None
    name_field: str | None = None
    settlement_field: str | None = None  # 城镇村属性码, e.g. CZCSXM: village land is rural
    title: str | None = None  # the layer's name for people, e.g. 城市化管理区域


@dataclass(kw_only=True)
class GridImport(ImportRequest):
    level: str
    code_field: str
    name_field: str
    parent_field: str | None = None
    responsible_field: str | None = None
    phone_field: str | None = None


@dataclass
class Prepared:
    """A file read, checked and converted to storage coordinates, not yet written."""

    source: OpenedSource
    encoding: EncodingChoice
    source_crs: crs_mod.SourceCRS
    geoms: np.ndarray  # MultiPolygons in EPSG:4490
    attributes: pd.DataFrame  # rows of the kept features
    fields: list[str]
    area_m2: np.ndarray
    report: dict


def _check_fields(fields: list[str], wanted: dict[str, str | None], display: str) -> None:
    for option, name in wanted.items():
        if name and name not in fields:
            close = [f for f in fields if f.lower() == name.lower()]
            hint = f"did you mean {close[0]}?" if close else f"its fields: {', '.join(fields)}"
            advice = f"是否应为 {close[0]}？" if close else f"其字段有：{'、'.join(fields)}"
            raise InputError(
                f"{display} 中没有字段“{name}”（由 {option} 指定）。{advice}",
                code="import.field_not_found",
                detail=f"{display} has no field {name!r} (given as {option}).",
                hint=hint,
            )


def _file_crs(
    source: OpenedSource,
    features_crs: str | None,
    geoms: np.ndarray,
    option: str | None,
    notes: list[str],
) -> crs_mod.SourceCRS:
    if option:
        return crs_mod.parse_crs_option(option)
    if source.prj is not None:
        return crs_mod.crs_from_prj(source.prj.read_text("latin-1"))
    if source.driver != "ESRI Shapefile" and features_crs:
        if source.driver == "GeoJSON":
            head = source.path.read_bytes()[:4096]
            if b'"crs"' not in head:
                notes.append(
                    "GeoJSON without a crs member is WGS84 lon/lat (RFC 7946); data downloaded "
                    "from a Chinese web map is GCJ-02 or BD-09: import it with --crs gcj02/bd09"
                )
            if b'"adcode"' in head and b'"centroid"' in head:
                notes.append(
                    "this looks like an Aliyun DataV GeoAtlas download, which is in GCJ-02 — "
                    "if so, import again with --crs gcj02"
                )
        return crs_mod.from_pyproj(pyproj.CRS.from_user_input(features_crs), "file")
    present = geoms[~shapely.is_missing(geoms)]
    guessed = crs_mod.guess_crs(tuple(shapely.total_bounds(present)))
    if guessed is None:
        raise InputError(
            f"{source.display} 没有 .prj 文件，也没有用 --crs 指定坐标系，且无法从坐标值判断其"
            "坐标系。请用 --crs 指定，如 --crs EPSG:4551（CGCS2000 高斯-克吕格，中央经线 126°E）、"
            "--crs EPSG:4530（同上，带 42 带号）、--crs cgcs2000、--crs gcj02",
            code="import.crs_unknown",
            detail=f"{source.display} has no .prj and no --crs was given, and its coordinates "
            "do not say which system they are in.",
            hint="pass --crs, e.g. --crs EPSG:4551 (CGCS2000 Gauss-Krüger CM 126E), "
            "--crs EPSG:4530 (the same with zone prefix 42), --crs cgcs2000, --crs gcj02",
        )
    return guessed


def _clean_text(value: object) -> str | None:
    if type(value) is str:
        return value.strip() or None
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text_value = str(value).strip()
    return text_value or None


def _attributes_json(frame: pd.DataFrame) -> list[dict]:
    if frame.shape[1] == 0:
        return [{} for _ in range(len(frame))]
    return json.loads(frame.to_json(orient="records", date_format="iso", force_ascii=False))


def _attributes_jsonb(frame: pd.DataFrame) -> list[bytes]:
    """Each row's attributes as ``jsonb``'s binary form (version 1, then the JSON text), the
    JSON :func:`_attributes_json` decodes, taken from the frame's JSON lines as they are."""
    if frame.shape[1] == 0:
        return [b"\x01{}"] * len(frame)
    lines = frame.to_json(orient="records", lines=True, date_format="iso", force_ascii=False)
    # a line break inside a value is written escaped: every raw one ends a row
    return (b"\n" + lines.encode()).replace(b"\n", b"\n\x01").split(b"\n")[1 : len(frame) + 1]


def prepare(
    path: Path,
    source: OpenedSource,
    *,
    crs: str | None,
    encoding: str | None,
    wanted_fields: dict[str, str | None],
) -> Prepared:
    started = time.perf_counter()
    notes = list(source.notes)
    if source.driver == "ESRI Shapefile":
        assert source.dbf is not None
        choice = choose_encoding(source.dbf, source.cpg, encoding)
    else:
        choice = EncodingChoice("utf-8", "format", f"{source.driver} text is UTF-8 by definition")
        if encoding:
            notes.append(f"--encoding {encoding} ignored: {source.driver} text is always UTF-8")
    features = read_features(source, choice.encoding)
    _check_fields(features.fields, wanted_fields, source.display)
    source_crs = _file_crs(source, features.file_crs, features.geometries, crs, notes)
    if source_crs.note:
        notes.append(source_crs.note)
    read_seconds = time.perf_counter() - started

    geoms, keep, repair, area = normalise_reprojected(
        features.geometries, source.display, crs_mod.storage_coordinates(source_crs)
    )
    if not len(geoms):
        raise InputError(
            f"{source.display}：{repair.features} 个要素中没有一个可用的面"
            f"（{repair.dropped_null} 个无图形，{repair.dropped_empty} 个为空，"
            f"{repair.dropped_collapsed} 个退化为线或点）。请从源数据重新导出图层",
            code="import.no_usable_polygon",
            detail=f"{source.display}: none of its {repair.features} features has a usable "
            f"polygon ({repair.dropped_null} without geometry, {repair.dropped_empty} empty, "
            f"{repair.dropped_collapsed} collapsed).",
            hint="export the layer again from its source",
        )
    # areas in Gauss-Krüger metres: straight from the source when it is Gauss-Krüger already
    if not crs_mod.is_gauss_kruger(source_crs):
        area = None
    broken = ~shapely.is_valid(geoms)
    if broken.any():  # reprojection can bend a ring onto itself; repair again in storage
        fixed, _, again = normalise_polygons(geoms[broken], source.display)
        if len(fixed) == broken.sum():
            geoms[broken] = fixed
            repair.repaired += again.repaired
    bounds = tuple(float(v) for v in shapely.total_bounds(geoms))
    check_rows_inside(geoms, np.flatnonzero(keep) + 1, crs_mod.CHINA_BOX, source.display)
    crs_mod.check_in_china(bounds, source_crs)
    if area is None:
        area = shapely.area(crs_mod.to_metric(geoms))
    attributes = features.attributes.loc[keep].reset_index(drop=True)
    report = {
        "source": path.name if path.suffix.lower() != ".zip" else source.display,
        "format": source.driver,
        "sha256": source.sha256,
        "features": {"read": repair.features, "imported": len(geoms)},
        "bbox": [round(v, 7) for v in bounds],
        "source_crs": source_crs.as_dict(),
        "encoding": choice.as_dict(),
        "fields": features.fields,
        "geometry": repair.as_dict(),
        "area_km2": round(float(area.sum()) / 1e6, 4),
        "notes": notes,
        "seconds": {"read": round(read_seconds, 3)},
    }
    return Prepared(source, choice, source_crs, geoms, attributes, features.fields, area, report)


_WKB_MULTIPOLYGON = b"\x01\x06\x00\x00\x00"  # little-endian, 2D MultiPolygon
_EWKB_MULTIPOLYGON = b"\x01\x06\x00\x00\x20" + STORAGE_SRID.to_bytes(4, "little")


def _ewkb(geoms: np.ndarray) -> list[bytes]:
    """EWKB with the storage SRID: each 2D MultiPolygon's WKB with the SRID spliced into its
    header — the bytes ``set_srid`` and ``include_srid`` write, without copying each geometry
    first; anything else takes that longer way."""
    if (shapely.get_type_id(geoms) == 6).all() and not shapely.has_z(geoms).any():
        head = len(_WKB_MULTIPOLYGON)
        return [_EWKB_MULTIPOLYGON + w[head:] for w in shapely.to_wkb(geoms, byte_order=1)]
    return list(shapely.to_wkb(shapely.set_srid(geoms, STORAGE_SRID), include_srid=True))


def _finish(report: dict, started: float, phase_started: float) -> None:
    report["seconds"]["prepare"] = round(phase_started - started, 3)
    report["seconds"]["total"] = round(time.perf_counter() - started, 3)


@contextmanager
def _new_version(
    engine: Engine,
    *,
    layer: str,
    family: str,
    level: str | None,
    title: str | None,
    report: dict,
    feature_count: int,
    created_by: str | None,
    started: float,
    phase: float,
    activate: bool = True,
) -> Iterator[tuple[Connection, int]]:
    """One transaction: a new version of ``layer`` that the caller loads, then activated (unless
    ``activate`` is False) with its report. An error in the caller's load rolls it all back:
    the active version stays."""
    with engine.begin() as conn:
        layer_id = repository.lock_layer(conn, layer, family, level, title)
        version_id, report["version"] = repository.create_version(
            conn,
            layer_id,
            source=report["source"],
            sha256=report["sha256"],
            feature_count=feature_count,
            bbox=report["bbox"],
            report=report,
            created_by=created_by,
        )
        load_started = time.perf_counter()
        yield conn, version_id
        report["seconds"]["load"] = round(time.perf_counter() - load_started, 3)
        report["activated"] = activate
        if activate:
            repository.activate(conn, layer_id, version_id)
        _finish(report, started, phase)
        repository.update_report(conn, version_id, report)


def import_zones(engine: Engine | None, request: ZoneImport) -> dict:
    """Import a zone layer; returns the report (stored with the version unless a dry run)."""
    started = time.perf_counter()
    check_layer_name(request.layer)
    check_label(request.title, "title", "图层标题")
    check_label(request.kind, "kind", "分区类型")
    if bool(request.kind) == bool(request.code_field):
        raise InputError(
            "--kind（整个图层为同一种分区）和 --code-field（GB/T 21010 地类编码字段，如 DLBM）"
            "须且只须给出其中一个，如 --kind urban_managed 或 --code-field DLBM",
            code="import.kind_or_code_field",
            detail="give exactly one of --kind (one kind for the whole layer) and --code-field "
            "(a GB/T 21010 land-use code field such as DLBM).",
            hint="e.g. --kind urban_managed, or --code-field DLBM",
        )
    if request.kind and request.kind not in IMPORT_KINDS:
        raise InputError(
            f"未知的分区类型“{request.kind}”，可选：{'、'.join(IMPORT_KINDS)}",
            code="zone.kind_unknown",
            detail=f"unknown zone kind {request.kind!r}.",
            hint=f"one of: {', '.join(IMPORT_KINDS)}",
        )
    wanted = {
        "--code-field": request.code_field,
        "--name-field": request.name_field,
        "--settlement-field": request.settlement_field,
    }
    with open_source(request.path, request.member) as source:
        if engine is not None and not request.dry_run and not request.settlement_field:
            streamed = _stream_zones(engine, request, source, wanted, started)
            if streamed is not None:
                return streamed
        prepared = prepare(
            request.path, source, crs=request.crs, encoding=request.encoding, wanted_fields=wanted
        )
    attributes = prepared.attributes
    codes, kinds, names = _zone_columns(attributes, request)
    settlement = None
    if request.settlement_field:
        kinds, settlement = settle_kinds(
            kinds, attributes[request.settlement_field], request.settlement_field
        )
    report = prepared.report
    _zone_report(report, request, pd.Series(kinds).value_counts().to_dict())
    if settlement is not None:
        report["settlement"] = settlement
    phase = time.perf_counter()
    if request.dry_run or engine is None:
        report["version"] = None
        _finish(report, started, phase)
        return report

    attributes_jsonb = _attributes_jsonb(attributes)
    ewkb = _ewkb(prepared.geoms)
    with _new_version(
        engine,
        layer=request.layer,
        family="zones",
        level=None,
        title=request.title,
        report=report,
        feature_count=len(ewkb),
        created_by=request.created_by,
        started=started,
        phase=phase,
        activate=request.activate,
    ) as (conn, version_id):
        rows = _zone_copy_rows(
            version_id, kinds, codes, names, prepared.area_m2, attributes_jsonb, ewkb
        )
        repository.copy_zones(conn, version_id, rows)
    return report


def _zone_columns(attributes: pd.DataFrame, request: ZoneImport) -> tuple[list, list, list]:
    """The zones' codes, kinds (from the code field or the one --kind) and names."""
    if request.code_field:
        codes = [_clean_text(v) for v in attributes[request.code_field].tolist()]
        kinds = kinds_for_codes(codes, request.code_field)
    else:
        codes = [None] * len(attributes)
        kinds = [request.kind] * len(attributes)
    names = (
        [_clean_text(v) for v in attributes[request.name_field].tolist()]
        if request.name_field
        else [None] * len(attributes)
    )
    return codes, kinds, names


def _zone_report(report: dict, request: ZoneImport, kind_counts: Mapping[str, int]) -> None:
    if request.source_name:
        report["source"] = request.source_name
    report.update(
        layer=request.layer,
        family="zones",
        dry_run=request.dry_run,
        mapping={
            "kind": request.kind,
            "code_field": request.code_field,
            "name_field": request.name_field,
            "settlement_field": request.settlement_field,
        },
        kinds=dict(sorted(kind_counts.items())),
    )


def _stream_zones(
    engine: Engine,
    request: ZoneImport,
    source: OpenedSource,
    wanted: dict[str, str | None],
    started: float,
) -> dict | None:
    """The import streamed in chunks (``streaming``), or None when the file is imported in one
    pass: too small, not a Gauss-Krüger shapefile, or anything the chunks cannot reproduce
    exactly — a refusal among them, which the one pass then gives word for word (the streamed
    version was rolled back with its transaction)."""
    try:
        plan = _stream_plan(source, request, wanted)
    except Exception:  # the one pass refuses with the exact words
        return None
    if plan is None:
        return None
    try:
        return _stream_zones_into(engine, request, source, plan, started)
    except Exception as exc:  # rolled back; the one pass decides
        _log.info("streamed import of %s: one pass instead (%s)", source.display, exc)
        return None


def _stream_plan(
    source: OpenedSource, request: ZoneImport, wanted: dict[str, str | None]
) -> streaming.Plan | None:
    if source.driver != "ESRI Shapefile" or source.dbf is None:
        return None
    if request.crs:
        source_crs = crs_mod.parse_crs_option(request.crs)
    elif source.prj is not None:
        source_crs = crs_mod.crs_from_prj(source.prj.read_text("latin-1"))
    else:
        return None  # the CRS may have to be guessed from all the coordinates
    if not crs_mod.is_gauss_kruger(source_crs) or not streaming.has_shx(source):
        return None
    choice = choose_encoding(source.dbf, source.cpg, request.encoding)
    info = pyogrio.read_info(source.path, encoding=choice.encoding)
    _check_fields([str(f) for f in info["fields"]], wanted, source.display)
    plan = streaming.plan(source, source_crs, choice, int(info.get("features") or 0))
    if plan is not None:
        plan.fields = [str(f) for f in info["fields"]]
    return plan


def _zone_rows(version_id: int, request: ZoneImport) -> Callable[[streaming.Chunk], dict]:
    """What the worker derives from each chunk: the rows to COPY and the kinds counted."""

    def derive(chunk: streaming.Chunk) -> dict:
        codes, kinds, names = _zone_columns(chunk.attributes, request)
        ewkb = _ewkb(chunk.geoms)
        attributes = _attributes_jsonb(chunk.attributes)
        rows = _zone_copy_rows(version_id, kinds, codes, names, chunk.area_m2, attributes, ewkb)
        return {"rows": list(rows), "kinds": Counter(kinds)}

    return derive


def _zone_copy_rows(
    version_id: int,
    kinds: list,
    codes: list,
    names: list,
    area_m2: np.ndarray,
    attributes_jsonb: list[bytes],
    ewkb: list[bytes],
) -> Iterator[tuple]:
    """The rows :func:`repository.copy_zones` takes, in its columns' order."""
    areas = np.asarray(area_m2, dtype=float).tolist()
    version = itertools.repeat(version_id, len(ewkb))
    return zip(version, kinds, codes, names, areas, attributes_jsonb, ewkb, strict=True)


def _stream_zones_into(
    engine: Engine, request: ZoneImport, source: OpenedSource, plan: streaming.Plan, started: float
) -> dict:
    """One transaction: the new version, its chunks COPYed as the worker prepares them, the
    whole-file checks, then its count, box and report, activated unless asked not to."""
    name = request.path.name if request.path.suffix.lower() != ".zip" else source.display
    report: dict = {"source": request.source_name or name, "sha256": source.sha256}
    with engine.begin() as conn:
        layer_id = repository.lock_layer(conn, request.layer, "zones", None, request.title)
        version_id, number = repository.create_version(
            conn,
            layer_id,
            source=report["source"],
            sha256=source.sha256,
            feature_count=plan.count,
            bbox=(0.0, 0.0, 0.0, 0.0),  # known once every chunk is in: set_extent
            report=report,
            created_by=request.created_by,
        )
        load_started = time.perf_counter()
        done: list[streaming.Chunk] = []
        kind_counts: Counter[str] = Counter()

        def rows() -> Iterator[tuple]:
            derive = _zone_rows(version_id, request)
            for chunk in streaming.chunks(source, plan, derive):
                yield from chunk.extra.pop("rows")
                kind_counts.update(chunk.extra.pop("kinds"))
                chunk.attributes = chunk.attributes.iloc[:0]  # in the COPY: not kept twice
                done.append(chunk)
                if request.progress is not None:
                    request.progress(sum(c.repair.features for c in done), plan.count)

        repository.copy_zones(conn, version_id, rows())
        report = _streamed_report(request, source, plan, done, kind_counts, started)
        report["version"] = number
        report["seconds"]["load"] = round(time.perf_counter() - load_started, 3)
        report["activated"] = request.activate
        report["streamed"] = {"chunks": len(done), "features_per_chunk": plan.chunk}
        streaming.set_extent(conn, version_id, report["features"]["imported"], report["bbox"])
        if request.activate:
            repository.activate(conn, layer_id, version_id)
        report["seconds"]["prepare"] = round(load_started - started, 3)
        report["seconds"]["total"] = round(time.perf_counter() - started, 3)
        repository.update_report(conn, version_id, report)
    return report


def _streamed_report(
    request: ZoneImport,
    source: OpenedSource,
    plan: streaming.Plan,
    done: list[streaming.Chunk],
    kind_counts: Mapping[str, int],
    started: float,
) -> dict:
    """The whole-file checks of :func:`prepare` over every chunk, and its report."""
    repair = streaming.merge_repairs([c.repair for c in done])
    geoms = np.concatenate([c.geoms for c in done])
    keep = np.concatenate([c.keep for c in done])
    area = np.concatenate([c.area_m2 for c in done])
    if not len(geoms) or repair.features != plan.count:
        raise streaming.Fallback("no usable polygon, or not every feature read")
    bounds = tuple(float(v) for v in shapely.total_bounds(geoms))
    check_rows_inside(geoms, np.flatnonzero(keep) + 1, crs_mod.CHINA_BOX, source.display)
    crs_mod.check_in_china(bounds, plan.source_crs)
    notes = list(source.notes)
    if plan.source_crs.note:
        notes.append(plan.source_crs.note)
    report = {
        "source": request.path.name if request.path.suffix.lower() != ".zip" else source.display,
        "format": source.driver,
        "sha256": source.sha256,
        "features": {"read": repair.features, "imported": len(geoms)},
        "bbox": [round(v, 7) for v in bounds],
        "source_crs": plan.source_crs.as_dict(),
        "encoding": plan.encoding.as_dict(),
        "fields": plan.fields,
        "geometry": repair.as_dict(),
        "area_km2": round(float(area.sum()) / 1e6, 4),
        "notes": notes,
        "seconds": {"read": round(streaming.reading_seconds(done), 3)},
    }
    _zone_report(report, request, kind_counts)
    return report


def _people(names: object, phones: object) -> list[dict]:
    name_list = [n for n in _SPLIT_PEOPLE.split(_clean_text(names) or "") if n]
    phone_list = [p for p in _SPLIT_PEOPLE.split(_clean_text(phones) or "") if p]
    people = []
    for i in range(max(len(name_list), len(phone_list))):
        people.append(
            {
                "name": name_list[i] if i < len(name_list) else None,
                "phone": phone_list[i] if i < len(phone_list) else None,
            }
        )
    return people


def import_grids(engine: Engine | None, request: GridImport) -> dict:
    """Import one grid level; parents come from ``parent_field`` or, without it, from the
    active version of the level above (the one whose area holds a point of the grid)."""
    started = time.perf_counter()
    if request.level not in GRID_LEVELS:
        levels = "、".join(
            f"{level}（{repository.GRID_TITLES[level].removesuffix('网格')}）"
            for level in GRID_LEVELS
        )
        raise InputError(
            f"未知的网格层级“{request.level}”，可选：{levels}",
            code="grid.level_unknown",
            detail=f"unknown grid level {request.level!r}.",
            hint=f"one of: {', '.join(GRID_LEVELS)}",
        )
    upper = repository.parent_level(request.level)
    layer_name = repository.grid_layer_name(request.level)
    parent_version = _parent_version(engine, request, upper)
    with open_source(request.path, request.member) as source:
        prepared = prepare(
            request.path,
            source,
            crs=request.crs,
            encoding=request.encoding,
            wanted_fields={
                "--code-field": request.code_field,
                "--name-field": request.name_field,
                "--parent-field": request.parent_field,
                "--responsible-field": request.responsible_field,
                "--phone-field": request.phone_field,
            },
        )
    codes, names, parents, people = _grid_columns(prepared.attributes, request)
    report = _grid_report(prepared, request, layer_name)
    phase = time.perf_counter()
    if request.dry_run or engine is None:
        report["version"] = None
        _finish(report, started, phase)
        return report

    rows_json = _attributes_json(prepared.attributes)
    ewkb = _ewkb(prepared.geoms)
    with _new_version(
        engine,
        layer=layer_name,
        family="grids",
        level=request.level,
        title=repository.GRID_TITLES[request.level],
        report=report,
        feature_count=len(ewkb),
        created_by=request.created_by,
        started=started,
        phase=phase,
        activate=request.activate,
    ) as (conn, version_id):
        rows = (
            (
                version_id,
                request.level,
                codes[i],
                names[i],
                parents[i],
                Jsonb(people[i]),
                float(prepared.area_m2[i]),
                Jsonb(rows_json[i]),
                ewkb[i],
            )
            for i in range(len(ewkb))
        )
        repository.copy_grids(conn, rows)
        _link_parents(conn, version_id, request, upper, parent_version, report)
    return report


def _parent_version(engine: Engine | None, request: GridImport, upper: str | None) -> dict | None:
    """The active version of the level above, which must exist unless the parents come from
    a field."""
    parent_version = None
    if upper and engine is not None:
        with engine.connect() as conn:
            parent_version = repository.active_version(conn, repository.grid_layer_name(upper))
        if parent_version is None and not request.parent_field:
            above = repository.GRID_TITLES[upper]
            raise ConflictError(
                f"尚未导入{above}，无法推算{repository.GRID_TITLES[request.level]}的上级网格。"
                f"请先导入{above}，或用 --parent-field 指定上级网格编码字段",
                code="grid.parent_level_missing",
                detail=f"the {upper} level has not been imported, so the {request.level} grids' "
                "parents cannot be derived.",
                hint=f"import the {upper} level first, or give --parent-field",
            )
    return parent_version


def _grid_columns(attributes: pd.DataFrame, request: GridImport) -> tuple[list, list, list, list]:
    """The grids' codes and names (checked: present and codes unique), parent codes and
    responsible people."""
    codes = [_clean_text(v) for v in attributes[request.code_field]]
    names = [_clean_text(v) for v in attributes[request.name_field]]
    missing = [i + 1 for i, (c, n) in enumerate(zip(codes, names, strict=True)) if not c or not n]
    if missing:
        rows = "、".join(map(str, missing[:10])) + ("等" if len(missing) > 10 else "")
        raise InputError(
            f"有 {len(missing)} 个网格缺少编码或名称（第 {rows} 行）。"
            f"请为每个网格填写 {request.code_field} 和 {request.name_field}",
            code="grid.code_or_name_missing",
            detail=f"{len(missing)} grids have no code or no name (rows {missing[:10]}).",
            hint=f"fill {request.code_field} and {request.name_field} for every grid",
        )
    duplicates = pd.Series(codes)[pd.Series(codes).duplicated()].unique().tolist()
    if duplicates:
        raise InputError(
            f"网格编码重复：{'、'.join(map(str, duplicates[:10]))}。"
            f"每个网格须有自己的 {request.code_field}",
            code="grid.code_duplicate",
            detail=f"grid codes appear more than once: {', '.join(map(str, duplicates[:10]))}.",
            hint=f"every grid needs its own {request.code_field}",
        )
    parents = (
        [_clean_text(v) for v in attributes[request.parent_field]]
        if request.parent_field
        else [None] * len(codes)
    )
    people = [
        _people(
            attributes[request.responsible_field].iloc[i] if request.responsible_field else None,
            attributes[request.phone_field].iloc[i] if request.phone_field else None,
        )
        for i in range(len(codes))
    ]
    return codes, names, parents, people


def _grid_report(prepared: Prepared, request: GridImport, layer_name: str) -> dict:
    report = prepared.report
    if request.source_name:
        report["source"] = request.source_name
    report.update(
        layer=layer_name,
        family="grids",
        level=request.level,
        dry_run=request.dry_run,
        mapping={
            "code_field": request.code_field,
            "name_field": request.name_field,
            "parent_field": request.parent_field,
            "responsible_field": request.responsible_field,
            "phone_field": request.phone_field,
        },
    )
    return report


def _link_parents(
    conn: Connection,
    version_id: int,
    request: GridImport,
    upper: str | None,
    parent_version: dict | None,
    report: dict,
) -> None:
    """Check the parent codes given by a field, or derive the parents spatially, and report
    the grids left without one."""
    parent_report: dict = {"level": upper}
    if upper and parent_version is not None:
        parent_report["parent_version"] = parent_version["number"]
        if request.parent_field:
            unknown = repository.unknown_parent_codes(conn, version_id, parent_version["id"])
            parent_report["from_field"] = request.parent_field
            parent_report["unknown_codes"] = unknown[:50]
        else:
            parent_report["derived_spatially"] = repository.derive_parents(
                conn, version_id, parent_version["id"]
            )
    if upper:
        parent_report["without_parent"] = repository.count_without_parent(conn, version_id)
        report["parents"] = parent_report
        if parent_report["without_parent"]:
            report["notes"].append(
                f"{parent_report['without_parent']} grids have no parent in the {upper} level"
            )
