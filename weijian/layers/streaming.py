"""Streaming a large Gauss-Krüger shapefile into a new version: two worker threads read and
prepare the features chunk by chunk (``skip_features``/``max_features``), each its own chunk,
while the importing thread COPYs the chunks in the file's order, so reading, repair and
reprojection overlap with PostgreSQL's own work (the generated Web Mercator copy; the version's
table is bare until it is attached, when its indexes are built, ``repository.copy_zones``).

Every chunk goes through the same steps as the one-pass :func:`importing.prepare` — coordinates
checked, polygons normalised and repaired, areas in the source's Gauss-Krüger metres, CGCS2000,
repaired again where reprojection bent a ring — and the whole-file checks run on all chunks
together before the transaction commits. Whatever the chunks cannot reproduce exactly (a refusal
of any kind, a column whose type differs between chunks, a post-reprojection repair that would
drop a feature) raises :class:`Fallback` or the check's own error: the transaction is rolled back
and the caller imports in one pass, which gives the exact answer or refusal.

On two cores the import is bound by the CPU time of all three together (the workers, the
COPYing thread and the server), and most of the workers' time holds the GIL (pyogrio's reading,
building geometries, the rows to COPY). Measured on 100k parcels: writing the Web Mercator copy
from here instead of the generated column took 0.6 s off the server's COPY but made the import
1.1–1.6 s slower (0.5 s with a closed-form Mercator), and splitting a chunk's reprojection among
two threads gained nothing; one worker thread took 4.3–4.6 s, two 4.2–4.4 s (what one leaves
idle while PROJ, GEOS and the server run without the GIL), and with the polygons built once
(``normalise_reprojected``) 3.6–3.9 s. What helps is less work in total, wherever it is done."""

from __future__ import annotations

import collections
import itertools
import math
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np
import pandas as pd
import pyogrio
import shapely
from sqlalchemy import Connection, text

from weijian.gis import crs as crs_mod
from weijian.gis.encoding import EncodingChoice
from weijian.gis.geometry import PolygonRepair, normalise_polygons, normalise_reprojected
from weijian.gis.integrity import check_coordinates
from weijian.gis.readers import OpenedSource
from weijian.settings import get_settings

#: features read and prepared at a time
CHUNK_FEATURES = 8_192
#: smaller files are imported in one pass: there is nothing to overlap
MIN_FEATURES = 2 * CHUNK_FEATURES
#: threads reading and preparing chunks (most of it holds the GIL: more gain nothing)
WORKERS = 2
#: prepared chunks waiting for the COPY (bounds the memory held ahead of it)
QUEUE_DEPTH = 2

T = TypeVar("T")
R = TypeVar("R")


class Fallback(Exception):
    """The chunks cannot give the one-pass result; import in one pass instead."""


@dataclass
class Plan:
    """What the whole file must agree on before any chunk is read."""

    source_crs: crs_mod.SourceCRS
    encoding: EncodingChoice
    count: int
    fields: list[str] = field(default_factory=list)
    chunk: int = 0  # features per chunk


@dataclass
class Chunk:
    """One slice of the file, prepared: the kept features in storage coordinates."""

    first: int  # 0-based position of the slice's first feature in the file
    attributes: pd.DataFrame  # rows of the kept features, index reset
    geoms: np.ndarray  # MultiPolygons in EPSG:4490
    keep: np.ndarray  # mask of the slice's features that were kept
    area_m2: np.ndarray
    repair: PolygonRepair
    read: tuple[float, float]  # when its reading started and ended (``time.perf_counter``)
    extra: dict = field(default_factory=dict)  # what the caller derives (rows to COPY)


def has_shx(source: OpenedSource) -> bool:
    return any(
        p.stem == source.path.stem and p.suffix.lower() == ".shx"
        for p in source.path.parent.iterdir()
    )


def plan(
    source: OpenedSource, source_crs: crs_mod.SourceCRS, encoding: EncodingChoice, count: int
) -> Plan | None:
    """The plan for streaming ``source``, or None when it is imported in one pass: a shapefile
    with its .shx, in Gauss-Krüger (areas straight from the source), large enough to gain."""
    if source.driver != "ESRI Shapefile" or not has_shx(source) or source_crs.web_datum:
        return None
    if not crs_mod.is_gauss_kruger(source_crs):
        return None
    if count < MIN_FEATURES or count > get_settings().max_features:
        return None
    return Plan(source_crs, encoding, count, chunk=CHUNK_FEATURES)


def read_chunk(source: OpenedSource, plan: Plan, first: int) -> pd.DataFrame:
    """The ``plan.chunk`` features from the ``first``, as pyogrio reads them in one pass."""
    return pyogrio.read_dataframe(
        source.path, encoding=plan.encoding.encoding, skip_features=first, max_features=plan.chunk
    )


def prepare_chunk(first: int, frame, source: OpenedSource, plan: Plan, started: float) -> Chunk:
    """The one-pass preparation applied to one slice (see :func:`importing.prepare`)."""
    if "geometry" not in frame or len(frame) == 0:
        raise Fallback("a slice without geometries or features")
    attributes = pd.DataFrame(frame.drop(columns="geometry"))
    geometries = np.asarray(frame.geometry.array, dtype=object)
    read = (started, time.perf_counter())
    check_coordinates(geometries, source.display, get_settings().max_feature_vertices)
    reproject = crs_mod.storage_coordinates(plan.source_crs)
    # areas in the source's Gauss-Krüger metres, as in one pass
    geoms, keep, repair, area = normalise_reprojected(geometries, source.display, reproject)
    if len(geoms):
        broken = ~shapely.is_valid(geoms)
        if broken.any():
            fixed, _, again = normalise_polygons(geoms[broken], source.display)
            if len(fixed) != broken.sum():
                raise Fallback("a repair after reprojection would drop a feature")
            geoms[broken] = fixed
            repair.repaired += again.repaired
    kept = attributes.loc[keep].reset_index(drop=True)
    return Chunk(first, kept, geoms, keep, area, repair, read)


def chunks(
    source: OpenedSource,
    plan: Plan,
    derive: Callable[[Chunk], dict],
) -> Iterator[Chunk]:
    """Prepared chunks with what ``derive`` adds to each, in the file's order, read and prepared
    by :data:`WORKERS` threads; every chunk's columns must have the first one's types, as one
    pass would read them."""

    def prepared(first: int) -> Chunk:
        started = time.perf_counter()
        chunk = prepare_chunk(first, read_chunk(source, plan, first), source, plan, started)
        chunk.extra = derive(chunk)
        return chunk

    dtypes = None
    firsts = range(0, plan.count, plan.chunk)
    for chunk in in_threads(prepared, firsts, WORKERS, WORKERS + QUEUE_DEPTH):
        kinds = tuple(str(t) for t in chunk.attributes.dtypes)
        if dtypes is None:
            dtypes = kinds
        elif kinds != dtypes:
            raise Fallback("a column's type differs between slices")
        yield chunk


def in_threads(fn: Callable[[T], R], items: Iterable[T], workers: int, ahead: int) -> Iterator[R]:
    """``fn`` of each item, in the items' order, run by ``workers`` threads up to ``ahead``
    items ahead of the consumer; a worker's error is raised in the consumer; a consumer that
    stops cancels the items not yet started (and waits for those running)."""
    todo = iter(items)
    pool = ThreadPoolExecutor(workers, thread_name_prefix="layer-import")
    try:
        pending = collections.deque(pool.submit(fn, item) for item in itertools.islice(todo, ahead))
        while pending:
            result = pending.popleft().result()
            pending.extend(pool.submit(fn, item) for item in itertools.islice(todo, 1))
            yield result
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def reading_seconds(done: list[Chunk]) -> float:
    """How long the file was being read: the union of the chunks' reading times (threads read
    side by side, so their sum would count the same second twice)."""
    total, reached = 0.0, -math.inf
    for start, end in sorted(c.read for c in done):
        if end > reached:
            total += end - max(start, reached)
            reached = end
    return total


def merge_repairs(parts: list[PolygonRepair]) -> PolygonRepair:
    """The report of one pass over all chunks (types in the order they first appear)."""
    total = PolygonRepair()
    for part in parts:
        total.features += part.features
        total.kept += part.kept
        total.repaired += part.repaired
        total.dropped_null += part.dropped_null
        total.dropped_empty += part.dropped_empty
        total.dropped_collapsed += part.dropped_collapsed
        total.z_dropped += part.z_dropped
        for name, n in part.types.items():
            total.types[name] = total.types.get(name, 0) + n
    return total


def set_extent(
    conn: Connection, version_id: int, count: int, bbox: tuple[float, float, float, float]
) -> None:
    """The version's feature count and bounding box, known once every chunk is in."""
    conn.execute(
        text(
            "UPDATE layer_version SET feature_count = :count, "
            "bbox = ST_MakeEnvelope(:minx, :miny, :maxx, :maxy, 4490) WHERE id = :id"
        ),
        {
            "count": count,
            "minx": bbox[0],
            "miny": bbox[1],
            "maxx": bbox[2],
            "maxy": bbox[3],
            "id": version_id,
        },
    )
