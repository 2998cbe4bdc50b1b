"""A zone layer version as the snapshot holds it, built once per machine and shared.

A land-use layer of a province has millions of parcels. Every process that answers look-ups
(the server's workers, the job workers) needs the same index, attributes and answer parts of
it, and a layer version never changes once imported. So the first process to need a version
builds its arrays and writes them as raw files into one folder per version (under a file lock:
the others wait, then read); every process maps those files (``np.memmap``, each array's type
and shape read from the folder's ``meta.json``: no ``.npy`` header to parse, whose
``ast.literal_eval`` is not safe in two threads at once on CPython 3.11), so the pages are the
operating system's page cache, one copy for the machine. What a process makes of its own — a
polygon decoded from WKB and prepared, a boundary in metres — it makes when a point first falls
on it.

Without a folder (``files=None``) the same arrays are built in memory: one code path.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import fcntl
import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import orjson
import shapely
from sqlalchemy import Connection, text

from weijian.jurisdiction.index import (
    Geoms,
    Grid,
    IndexArrays,
    PolygonIndex,
    build_index,
    packed,
)

log = logging.getLogger(__name__)

#: the files' layout; a change makes every process build and write its versions again
FORMAT = 4
#: a version's folder not opened for this long is removed (a process that maps it keeps it)
UNUSED_DAYS = 7
ROWS_PER_FETCH = 20_000


class Texts:
    """A column of optional strings as UTF-8 in one byte array with offsets."""

    def __init__(self, blob: np.ndarray, offsets: np.ndarray, null: np.ndarray):
        self.blob, self.offsets, self.null = blob, offsets, null

    @classmethod
    def of(cls, values: Iterable[str | None]) -> Texts:
        encoded, null = [], []
        for value in values:
            null.append(value is None)
            encoded.append(b"" if value is None else str(value).encode())
        return cls(*packed(encoded), np.array(null, dtype=bool))

    def __len__(self) -> int:
        return len(self.null)

    def __getitem__(self, i: int) -> str | None:
        if self.null[i]:
            return None
        return self.blob[self.offsets[i] : self.offsets[i + 1]].tobytes().decode()

    def __iter__(self) -> Iterator[str | None]:
        return (self[i] for i in range(len(self)))


class Blobs:
    """A column of byte strings in one byte array with offsets."""

    def __init__(self, blob: np.ndarray, offsets: np.ndarray):
        self.blob, self.offsets = blob, offsets

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, i: int) -> bytes:
        return self.blob[self.offsets[i] : self.offsets[i + 1]].tobytes()


@dataclasses.dataclass
class ZoneParts:
    """Everything the snapshot holds of one zone layer version."""

    name: str
    version: int
    index: PolygonIndex
    ids: np.ndarray
    kinds: Texts
    codes: Texts
    names: Texts
    #: position of each zone among the layer's zones in the order (code, kind, name, id)
    rank_in_layer: np.ndarray
    #: the distinct (kind, code) of the layer, the first zone of each, and each zone's
    pairs: list[tuple[str, str | None]]
    pair_first: np.ndarray
    pair_of: np.ndarray
    #: each zone's part of an answer, serialised
    fragments: Blobs


def parts_of_rows(
    name: str, version: int, rows: list[tuple], folder: Path | None = None
) -> ZoneParts:
    """The parts of a layer given as rows (id, kind, code, name, WKB): built in memory, or
    written into ``folder`` and mapped from there, as a shared version is."""
    arrays = _arrays(name, version, [rows])
    if folder is None:
        return _parts(name, version, arrays)
    _write(folder, arrays, _meta(name, version, arrays))
    return _parts(name, version, _read(folder))


# -- building ---------------------------------------------------------------------------------


def _rows(conn: Connection, version_id: int) -> Iterator[list[tuple]]:
    result = conn.execute(
        text(
            "SELECT id, kind, code, name, ST_AsBinary(geom) FROM zone "
            "WHERE version_id = :v ORDER BY id"
        ).execution_options(yield_per=ROWS_PER_FETCH),
        {"v": version_id},
    )
    yield from result.partitions()


def _arrays(name: str, version: int, chunks: Iterable[list[tuple]]) -> dict[str, np.ndarray]:
    ids, kinds, codes, names, wkb = [], [], [], [], []
    for rows in chunks:
        for r in rows:
            ids.append(r[0])
            kinds.append(r[1])
            codes.append(r[2])
            names.append(r[3])
            wkb.append(bytes(r[4]))
    geoms = shapely.from_wkb(wkb) if wkb else np.zeros(0, dtype=object)
    built = build_index(geoms)
    vertices = shapely.get_num_coordinates(geoms).astype(np.int32)
    del geoms
    # packed once the polygons are let go (the peak of a province's build)
    wkb = packed(wkb)
    built = built.with_cell_edges(wkb)
    rank = sorted(range(len(ids)), key=lambda i: (codes[i] or "", kinds[i], names[i] or "", ids[i]))
    rank_in_layer = np.empty(len(ids), dtype=np.int64)
    rank_in_layer[rank] = np.arange(len(ids))
    pair_index: dict[tuple, int] = {}
    pair_of = np.array(
        [pair_index.setdefault((k, c), len(pair_index)) for k, c in zip(kinds, codes, strict=True)],
        dtype=np.int32,
    )
    # pairs are numbered as first met: the first zone of each, in the pairs' order
    pair_first = np.unique(pair_of, return_index=True)[1].astype(np.int64)
    head = b'{"layer":' + orjson.dumps(name) + b',"version":' + orjson.dumps(version)
    fragments = [
        head
        + b',"kind":'
        + orjson.dumps(k)
        + b',"code":'
        + orjson.dumps(c)
        + b',"name":'
        + orjson.dumps(n)
        + b"}"
        for k, c, n in zip(kinds, codes, names, strict=True)
    ]
    out = {
        "ids": np.array(ids, dtype=np.int64),
        "vertices": vertices,
        "rank_in_layer": rank_in_layer,
        "pair_of": pair_of,
        "pair_first": pair_first,
        "cell_ptr": built.cell_ptr,
        "entry_poly": built.entry_poly,
        "entry_boundary": built.entry_boundary,
        "cell_has_boundary": built.cell_has_boundary,
        "bounds": built.bounds,
        "edge_ptr": built.edge_ptr,
        "edge_at": built.edge_at,
        "entry_ref": built.entry_ref,
        "grid": np.array([*dataclasses.astuple(built.grid), *built.total_bounds], np.float64),
    }
    for key, column in (("kinds", kinds), ("codes", codes), ("names", names)):
        texts = Texts.of(column)
        out[f"{key}_blob"], out[f"{key}_offsets"], out[f"{key}_null"] = (
            texts.blob,
            texts.offsets,
            texts.null,
        )
    out["wkb_blob"], out["wkb_offsets"] = wkb
    out["fragments_blob"], out["fragments_offsets"] = packed(fragments)
    out["pairs"] = np.frombuffer(
        orjson.dumps([[k, c] for k, c in pair_index]), dtype=np.uint8
    )  # JSON: the few distinct (kind, code)
    return out


def _parts(name: str, version: int, a: dict[str, np.ndarray]) -> ZoneParts:
    g = a["grid"]
    arrays = IndexArrays(
        grid=Grid(float(g[0]), float(g[1]), float(g[2]), float(g[3]), int(g[4]), int(g[5])),
        cell_ptr=a["cell_ptr"],
        entry_poly=a["entry_poly"],
        entry_boundary=a["entry_boundary"],
        cell_has_boundary=a["cell_has_boundary"],
        total_bounds=(float(g[6]), float(g[7]), float(g[8]), float(g[9])),
        bounds=a["bounds"],
        edge_ptr=a["edge_ptr"],
        edge_at=a["edge_at"],
        entry_ref=a["entry_ref"],
    )
    geoms = Geoms(len(a["ids"]), wkb=a["wkb_blob"], offsets=a["wkb_offsets"])
    geoms.warm(a["vertices"])
    return ZoneParts(
        name=name,
        version=version,
        index=PolygonIndex.from_arrays(geoms, arrays),
        ids=a["ids"],
        kinds=Texts(a["kinds_blob"], a["kinds_offsets"], a["kinds_null"]),
        codes=Texts(a["codes_blob"], a["codes_offsets"], a["codes_null"]),
        names=Texts(a["names_blob"], a["names_offsets"], a["names_null"]),
        rank_in_layer=a["rank_in_layer"],
        pairs=[(k, c) for k, c in orjson.loads(a["pairs"].tobytes())],
        pair_first=a["pair_first"],
        pair_of=a["pair_of"],
        fragments=Blobs(a["fragments_blob"], a["fragments_offsets"]),
    )


# -- the files --------------------------------------------------------------------------------


def _key(conn: Connection, layer: dict) -> str:
    """A folder name that no other database's or version's data can take: the version as the
    database knows it (its id, when and from what it was made) and which database it is."""
    row = conn.execute(
        text(
            "SELECT current_database(), coalesce(host(inet_server_addr()), 'local'), "
            "coalesce(inet_server_port(), 0), v.id, v.number, v.feature_count, "
            "extract(epoch FROM v.created_at)::text, coalesce(v.source_sha256, '') "
            "FROM layer_version v WHERE v.id = :v"
        ),
        {"v": layer["version_id"]},
    ).one()
    digest = hashlib.sha256(repr((FORMAT, layer["name"], *row)).encode()).hexdigest()[:24]
    return f"zones-v{layer['version_id']}-{digest}"


def _meta(name: str, version: int, arrays: dict[str, np.ndarray]) -> dict:
    layout = {
        key: {"dtype": value.dtype.str, "shape": list(value.shape)}
        for key, value in sorted(arrays.items())
    }
    return {"format": FORMAT, "layer": name, "version": version, "arrays": layout}


def _write(folder: Path, arrays: dict[str, np.ndarray], meta: dict) -> None:
    """Into a temporary folder beside ``folder``, then renamed: a reader sees all or nothing."""
    partial = folder.with_name(f".{folder.name}.{os.getpid()}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    for key, value in arrays.items():
        np.ascontiguousarray(value).tofile(partial / f"{key}.bin")
    (partial / "meta.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
    os.rename(partial, folder)


def _read(folder: Path) -> dict[str, np.ndarray]:
    meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    if meta.get("format") != FORMAT:
        raise ValueError(f"{folder}: format {meta.get('format')}, expected {FORMAT}")
    with contextlib.suppress(OSError):
        os.utime(folder / "meta.json")  # last used, for the clean-up of unused versions
    return {key: _mapped(folder / f"{key}.bin", **kind) for key, kind in meta["arrays"].items()}


def _mapped(path: Path, dtype: str, shape: list[int]) -> np.ndarray:
    """The file's array, read-only and shared; an empty one cannot be mapped, nor needs to be."""
    if 0 in shape:
        empty = np.zeros(shape, dtype)
        empty.flags.writeable = False
        return empty
    return np.memmap(path, dtype=np.dtype(dtype), mode="r", shape=tuple(shape))


def _release_freed_memory() -> None:
    """Give the heap the build freed (a million WKB strings and geometries) back to the
    system: glibc keeps it otherwise, and the process that built would hold gigabytes."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _prune(root: Path, keep: str) -> None:
    limit = time.time() - UNUSED_DAYS * 86_400
    for meta in root.glob("zones-*/meta.json"):
        folder = meta.parent
        if folder.name != keep and meta.stat().st_mtime < limit:
            shutil.rmtree(folder, ignore_errors=True)
            (root / f"{folder.name}.lock").unlink(missing_ok=True)


def zone_parts(conn: Connection, layer: dict, files: Path | None) -> ZoneParts:
    """The parts of an active zone layer version: from the machine's shared files when another
    process (or an earlier run) wrote them, else read from ``conn``, built and written there;
    built in memory when ``files`` is None or cannot be written."""
    name, version = layer["name"], layer["version"]
    if files is None:
        return _parts(name, version, _arrays(name, version, _rows(conn, layer["version_id"])))
    key = _key(conn, layer)
    folder = Path(files) / key
    try:
        if not (folder / "meta.json").exists():
            folder.parent.mkdir(parents=True, exist_ok=True)
            with _locked(folder.parent / f"{key}.lock"):
                if not (folder / "meta.json").exists():  # not written while we waited
                    started = time.perf_counter()
                    arrays = _arrays(name, version, _rows(conn, layer["version_id"]))
                    _write(folder, arrays, _meta(name, version, arrays))
                    del arrays
                    _release_freed_memory()
                    log.info(
                        "zone layer %s v%s: %s zones built and shared in %.1f s",
                        name, version, layer.get("feature_count"),
                        time.perf_counter() - started,
                    )  # fmt: skip
            _prune(folder.parent, key)
        return _parts(name, version, _read(folder))
    except OSError as exc:
        log.warning("the snapshot's files at %s cannot be used (%s): built in memory", files, exc)
        return _parts(name, version, _arrays(name, version, _rows(conn, layer["version_id"])))
