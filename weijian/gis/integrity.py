"""Checks of a file's structure before GDAL reads it, so that a damaged or hostile file gets a
clear refusal instead of a silent loss, a crash or unbounded memory: a truncated ``.shp``, a
``.shx`` that disagrees with its ``.shp``, a DBF whose header promises more than the file holds,
a GeoJSON nested too deep or holding a NUL character in a value; and the coordinates read
(finite, of a sane size, not too many per feature)."""

from __future__ import annotations

import re
import struct
from pathlib import Path

import numpy as np
import shapely

from weijian.errors import InputError

SHP_FILE_CODE = 9994
SHP_HEADER = 100
#: no coordinate system has coordinates this large (metres or degrees)
ABSURD_COORDINATE = 1e9
_ESCAPED = re.compile(rb"\\.", re.DOTALL)
_CHUNK = 1 << 22


def _damaged(display: str, zh: str, en: str, code: str, hint: str) -> InputError:
    return InputError(
        f"{display} 已损坏：{zh}。请用 QGIS 检查，或从源数据重新导出",
        code=code,
        detail=f"{display} is damaged: {en}.",
        hint=hint,
    )


def check_shp(shp: Path, display: str) -> None:
    """The ``.shp`` is as long as its header says (a cut copy or an interrupted upload is
    refused rather than read as fewer features)."""
    size = shp.stat().st_size
    with open(shp, "rb") as handle:
        header = handle.read(SHP_HEADER)
    if len(header) < SHP_HEADER or struct.unpack(">i", header[:4])[0] != SHP_FILE_CODE:
        raise _damaged(
            display,
            f"{shp.name} 不是有效的 .shp 文件（文件头不完整或不是 shapefile）",
            f"{shp.name} has no valid shapefile header",
            "import.shp_invalid",
            "export the layer again",
        )
    declared = struct.unpack(">i", header[24:28])[0] * 2
    if size < declared:
        raise _damaged(
            display,
            f"{shp.name} 被截断，文件头声明 {declared} 字节，实际只有 {size} 字节"
            "（复制或上传未完成？）",
            f"{shp.name} is truncated: its header declares {declared} bytes, it holds {size}",
            "import.shp_truncated",
            "copy or export the .shp again: it was cut short",
        )


def check_shx(shp: Path, shx: Path, display: str) -> None:
    """Every record the ``.shx`` points at lies in the ``.shp`` with the same number and
    length; read in slices, so memory stays bounded."""
    shp_size = shp.stat().st_size
    size = shx.stat().st_size
    count = (size - SHP_HEADER) // 8

    def mismatch(zh: str, en: str) -> InputError:
        return InputError(
            f"{display} 已损坏：{shx.name} 与 {shp.name} 不一致（{zh}）。"
            f"请删除 {shx.name} 后重新导入（系统会根据 .shp 重建索引），或重新导出图层",
            code="import.shx_mismatch",
            detail=f"{display} is damaged: {shx.name} disagrees with {shp.name} ({en}).",
            hint=f"delete {shx.name} and import again (it is rebuilt from the .shp), "
            "or export the layer again",
        )

    if size < SHP_HEADER or (size - SHP_HEADER) % 8:
        raise mismatch(f"索引文件长度 {size} 字节不合规", f"an index of {size} bytes")
    shp_map = np.memmap(shp, dtype=np.uint8, mode="r") if shp_size else np.zeros(0, np.uint8)
    step = 100_000
    with open(shx, "rb") as handle:
        handle.seek(SHP_HEADER)
        for start in range(0, count, step):
            raw = handle.read(8 * min(step, count - start))
            index = np.frombuffer(raw, dtype=">i4").reshape(-1, 2).astype(np.int64)
            offsets, lengths = index[:, 0] * 2, index[:, 1] * 2
            ends = offsets + 8 + lengths
            bad = np.flatnonzero((offsets < SHP_HEADER) | (ends > shp_size))
            if bad.size:
                number = start + int(bad[0]) + 1
                raise mismatch(
                    f"第 {number} 条记录指向 .shp 之外",
                    f"record {number} points outside the .shp ({shp_size} bytes)",
                )
            heads = shp_map[offsets[:, None] + np.arange(8)].view(">i4").reshape(-1, 2)
            numbers = np.arange(start + 1, start + len(offsets) + 1)
            bad = np.flatnonzero((heads[:, 0] != numbers) | (heads[:, 1] * 2 != lengths))
            if bad.size:
                number = start + int(bad[0]) + 1
                raise mismatch(
                    f"第 {number} 条记录的位置或长度与 .shp 中的不符",
                    f"record {number}'s offset or length is not the .shp's",
                )


def check_dbf(dbf: Path, display: str) -> None:
    """The DBF header adds up: its record length is the sum of its fields, and its records fit
    in the file — a header declaring a huge record count or length is refused before any
    reader allocates for it."""
    size = dbf.stat().st_size
    with open(dbf, "rb") as handle:
        head = handle.read(32)
        if len(head) < 32:
            raise _damaged(
                display,
                f"{dbf.name} 不是有效的 DBF 属性表（只有 {len(head)} 字节）",
                f"{dbf.name} is not a DBF file ({len(head)} bytes)",
                "import.dbf_invalid",
                "export the layer again",
            )
        records, header_len, record_len = struct.unpack("<IHH", head[4:12])
        fields = handle.read(max(header_len - 32, 0))
    widths = 0
    for pos in range(0, len(fields) - 31, 32):
        if fields[pos] == 0x0D:
            break
        widths += fields[pos + 16]
    if header_len < 33 or header_len > size or record_len != widths + 1:
        raise _damaged(
            display,
            f"{dbf.name} 的文件头不一致（声明每条记录 {record_len} 字节，"
            f"各字段合计 {widths + 1} 字节；文件头 {header_len} 字节）",
            f"{dbf.name}'s header does not add up (records of {record_len} bytes declared, "
            f"fields of {widths + 1} bytes; a header of {header_len} bytes)",
            "import.dbf_invalid",
            "export the layer again",
        )
    declared = header_len + records * record_len
    if declared > size:
        raise _damaged(
            display,
            f"{dbf.name} 声明有 {records} 条记录（共 {declared} 字节），文件却只有 {size} 字节",
            f"{dbf.name} declares {records} records ({declared} bytes) but holds {size} bytes",
            "import.dbf_truncated",
            "export the layer again: the attribute table is cut short or its header is wrong",
        )


def check_json(path: Path, display: str, max_depth: int, max_vertices: int) -> None:
    """Before any parser sees a GeoJSON: nested deeper than ``max_depth`` is refused (no
    parser recursion), a feature of more than ``max_vertices`` positions too (counted as the
    arrays it opens, so GDAL never builds it in memory), a NUL character in a property as
    well, naming the feature and the field (GDAL would cut the text there). Scanned in slices
    with numpy: memory stays bounded."""
    scan = _JsonScan(max_depth, max_vertices, display)
    carry = tail = b""
    nul = False
    with open(path, "rb") as handle:
        while piece := handle.read(_CHUNK):
            data = carry + piece
            body = data.rstrip(b"\\")
            carry = data[len(body) :]  # a trailing backslash escapes the next slice's byte
            nul = nul or b"\\u0000" in tail + body
            tail = body[-8:]
            scan.feed(np.frombuffer(_ESCAPED.sub(b"", body), dtype=np.uint8))
    if nul:
        _refuse_nul_in_json(path, display)


class _JsonScan:
    """Depth and arrays per feature of JSON fed in slices (escapes already removed)."""

    def __init__(self, max_depth: int, max_vertices: int, display: str):
        self.max_depth, self.max_vertices, self.display = max_depth, max_vertices, display
        self.inside = 0  # 1 while in a string
        self.depth = 0
        self.features = 0  # features of a FeatureCollection begun so far
        self.current = 0  # arrays opened in the last feature so far
        self.level2_is_array = False  # the last container opened at depth 2 is an array

    def feed(self, arr: np.ndarray) -> None:
        quotes = arr == 0x22
        outside = ((np.cumsum(quotes, dtype=np.int64) + self.inside) & 1) == 0
        self.inside = (self.inside + int(quotes.sum())) & 1
        square = (arr == 0x5B) & outside
        opens = square | ((arr == 0x7B) & outside)
        closes = ((arr == 0x5D) | (arr == 0x7D)) & outside
        where = np.flatnonzero(opens | closes)
        if not where.size:
            return
        is_open = opens[where]
        running = self.depth + np.cumsum(np.where(is_open, 1, -1), dtype=np.int64)
        self.depth = int(running[-1])
        if int(running.max()) > self.max_depth:
            raise InputError(
                f"{self.display} 的嵌套层数超过 {self.max_depth} 层，不是有效的 GeoJSON 图层"
                "（GeoJSON 要素只需不到 10 层）。请从源数据重新导出",
                code="import.json_too_deep",
                detail=f"{self.display} is nested more than {self.max_depth} levels deep: "
                "not a GeoJSON layer.",
                hint="export the layer again from its source",
            )
        starts = self._feature_starts(is_open, square[where], running)
        feature = self.features + np.cumsum(starts)
        in_feature = feature[square[where]]
        if in_feature.size:
            ids, counts = np.unique(in_feature, return_counts=True)
            counts = counts + np.where(ids == self.features, self.current, 0)
            over = np.flatnonzero(counts > self.max_vertices)
            if over.size:
                self._too_many(max(int(ids[over[0]]), 1), int(counts[over[0]]))
            self.current = int(counts[-1]) if ids[-1] == feature[-1] else 0
        elif feature[-1] != self.features:
            self.current = 0
        self.features = int(feature[-1])

    def _feature_starts(
        self, is_open: np.ndarray, square: np.ndarray, running: np.ndarray
    ) -> np.ndarray:
        """Where a feature of a FeatureCollection begins: an object opened at depth 3 inside
        an array (``features``), not inside an object (``crs``'s ``properties``)."""
        level2 = np.flatnonzero(is_open & (running == 2))
        objects3 = np.flatnonzero(is_open & ~square & (running == 3))
        starts = np.zeros(len(is_open), dtype=bool)
        if objects3.size:
            before = np.searchsorted(level2, objects3) - 1
            in_array = np.where(
                before >= 0, square[level2[np.maximum(before, 0)]], self.level2_is_array
            )
            starts[objects3[in_array]] = True
        if level2.size:
            self.level2_is_array = bool(square[level2[-1]])
        return starts

    def _too_many(self, row: int, count: int) -> None:
        raise InputError(
            f"{self.display} 第 {row} 个要素有超过 {self.max_vertices} 个顶点（约 {count} 个），"
            "超过上限。请先在 QGIS 中简化（如“简化”工具，容差 0.1 米）或拆分该要素，"
            "或请管理员调高 WEIJIAN_MAX_FEATURE_VERTICES",
            code="import.too_many_vertices",
            detail=f"{self.display}: feature {row} has more than {self.max_vertices} vertices "
            f"(about {count}).",
            hint="simplify or split it in QGIS (e.g. Simplify, tolerance 0.1 m), or raise "
            "WEIJIAN_MAX_FEATURE_VERTICES",
        )


def _refuse_nul_in_json(path: Path, display: str) -> None:
    import ijson

    row = 0
    with open(path, "rb") as handle:
        for prefix, event, value in ijson.parse(handle):
            if prefix == "features.item" and event == "start_map":
                row += 1
            elif event == "string" and "\x00" in value and ".properties." in prefix:
                raise nul_error(display, prefix.rsplit(".properties.", 1)[1], row)


def nul_error(display: str, field: str, row: int) -> InputError:
    return InputError(
        f"{display} 第 {row} 个要素的字段“{field}”中含有空字符（NUL，\\0），"
        "导入会截断其后的文字。请在源数据中修正该值后重新导出",
        code="import.nul_in_text",
        detail=f"{display}: feature {row}, field {field!r} holds a NUL character (\\0), "
        "which would cut the text.",
        hint="correct the value in the source data and export again",
    )


def check_coordinates(geoms: np.ndarray, display: str, max_vertices: int) -> None:
    """Every feature's coordinates are finite numbers of a sane size, and no feature has more
    than ``max_vertices`` vertices; the first one that fails is named by its row."""
    counts = shapely.get_num_coordinates(geoms)
    too_many = np.flatnonzero(counts > max_vertices)
    if too_many.size:
        row = int(too_many[0])
        raise InputError(
            f"{display} 第 {row + 1} 个要素有 {int(counts[row])} 个顶点，超过上限 "
            f"{max_vertices}。请先在 QGIS 中简化（如“简化”工具，容差 0.1 米）或拆分该要素，"
            "或请管理员调高 WEIJIAN_MAX_FEATURE_VERTICES",
            code="import.too_many_vertices",
            detail=f"{display}: feature {row + 1} has {int(counts[row])} vertices, more than "
            f"{max_vertices}.",
            hint="simplify or split it in QGIS (e.g. Simplify, tolerance 0.1 m), or raise "
            "WEIJIAN_MAX_FEATURE_VERTICES",
        )
    coords = shapely.get_coordinates(geoms)
    if not len(coords) or (
        coords.min() >= -ABSURD_COORDINATE and coords.max() <= ABSURD_COORDINATE
    ):
        return  # every one finite and sane (a NaN fails both comparisons), the usual case
    step = 20_000  # find the first row at fault
    for start in range(0, len(geoms), step):
        coords, index = shapely.get_coordinates(geoms[start : start + step], return_index=True)
        bad = ~np.isfinite(coords) | (np.abs(coords) > ABSURD_COORDINATE)
        rows = index[bad.any(axis=1)]
        if rows.size:
            row = start + int(rows[0]) + 1
            raise InputError(
                f"{display} 第 {row} 个要素的坐标无效（非数字、无穷大或大于 "
                f"{ABSURD_COORDINATE:.0e}）。请在 QGIS 中检查并修正该要素后重新导出",
                code="import.coordinate_invalid",
                detail=f"{display}: feature {row} has a coordinate that is NaN, infinite or "
                f"larger than {ABSURD_COORDINATE:.0e}.",
                hint="check and correct that feature in QGIS, then export again",
            )


def check_rows_inside(
    geoms: np.ndarray, rows: np.ndarray, box: tuple[float, float, float, float], display: str
) -> None:
    """Each stored feature lies inside ``box`` (lon/lat); the first one outside is named by
    its row in the file."""
    bounds = shapely.bounds(geoms)
    minx, miny, maxx, maxy = box
    outside = ~(
        np.isfinite(bounds).all(axis=1)
        & (bounds[:, 0] >= minx)
        & (bounds[:, 2] <= maxx)
        & (bounds[:, 1] >= miny)
        & (bounds[:, 3] <= maxy)
    )
    if outside.all() or not outside.any():
        return  # all outside: the whole file's diagnosis (check_in_china) says more
    first = int(np.flatnonzero(outside)[0])
    row = int(rows[first])
    lon, lat = bounds[first, 0], bounds[first, 1]
    raise InputError(
        f"{display} 第 {row} 个要素转换后位于中国境外（经度 {lon:.4f}，纬度 {lat:.4f}），"
        "其余要素都在境内：该要素的坐标有误。请在 QGIS 中检查并修正该要素后重新导出",
        code="import.feature_outside_china",
        detail=f"{display}: feature {row} lies outside China after conversion (lon {lon:.4f}, "
        f"lat {lat:.4f}) while the others lie inside.",
        hint="check and correct that feature in QGIS, then export again",
    )
