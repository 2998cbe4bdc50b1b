"""Hostile and damaged files: each one gets a clear Chinese refusal with a stable code (never a
500, never a silent loss), memory stays bounded, nothing is left on disk, and the active
version of the layer stays the one it was, unchanged."""

from __future__ import annotations

import os
import resource
import shutil
import stat
import struct
import subprocess
import sys
import tracemalloc
import zipfile

import httpx
import numpy as np
import pytest
from sqlalchemy import text

from tests import catalogue
from weijian.errors import InputError
from weijian.gis.scratch import clean_scratch, scratch_root
from weijian.layers.importing import ZoneImport, import_zones


def active_state(engine, layer="landuse"):
    """The active version's number and a digest of its zones' codes and shapes."""
    with engine.connect() as conn:
        return conn.execute(
            text(
                "SELECT v.number, count(z.*), md5(string_agg(z.code || ST_AsText(z.geom), ',' "
                "ORDER BY z.id)) FROM layer l JOIN layer_version v ON v.id = l.active_version_id "
                "JOIN zone z ON z.version_id = v.id WHERE l.name = :n GROUP BY v.number"
            ),
            {"n": layer},
        ).one()


@pytest.fixture
def landuse(engine, tmp_path):
    """Version 1 of the land-use layer, imported from a good shapefile: what must survive."""
    shp = catalogue.write_shapefile(catalogue.parcels(), tmp_path / "good", "landuse")
    import_zones(engine, ZoneImport(path=shp, layer="landuse", code_field="DLBM"))
    before = active_state(engine)
    assert before[0] == 1 and before[1] == 6
    return before


def _dir(tmp_path, name):
    folder = tmp_path / name
    folder.mkdir()
    return folder


def _own_scratch() -> list[str]:
    """This process's scratch folders (the live one a test makes on purpose aside)."""
    own = f"-{os.getpid()}-"
    return [p.name for p in scratch_root().iterdir() if own in p.name and p.suffix != ".live"]


def refused(engine, before, path, code, *phrases, **fields) -> InputError:
    """Import ``path`` over the land-use layer: refused with ``code`` and the Chinese
    ``phrases``; the active version untouched, no scratch folder left behind."""
    if "kind" not in fields:
        fields["code_field"] = "DLBM"
    with pytest.raises(InputError) as caught:
        import_zones(engine, ZoneImport(path=path, layer="landuse", **fields))
    error = caught.value
    assert error.code == code, (error.code, error.message)
    for phrase in phrases:
        assert phrase in error.message, error.message
    assert error.detail and error.zh
    assert active_state(engine) == before
    assert _own_scratch() == []
    return error


def good_parts(tmp_path, name="landuse") -> dict[str, bytes]:
    shp = catalogue.write_shapefile(catalogue.parcels(), tmp_path / f"src-{name}", name)
    return {p.name: p.read_bytes() for p in catalogue.shapefile_parts(shp)}


def make_zip(path, members: dict[str, bytes], infos: list[zipfile.ZipInfo] = ()):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        for info, data in infos:
            zf.writestr(info, data)
    return path


def _patch_sizes(path, size: int) -> None:
    """Forge every member's declared uncompressed size (local and central headers)."""
    data = bytearray(path.read_bytes())
    at = 0
    while (at := data.find(b"PK\x01\x02", at)) >= 0:
        struct.pack_into("<I", data, at + 24, size)
        at += 4
    at = 0
    while (at := data.find(b"PK\x03\x04", at)) >= 0:
        struct.pack_into("<I", data, at + 22, size)
        at += 4
    path.write_bytes(bytes(data))


# -- zips -------------------------------------------------------------------------------------


def case_zip_bomb_by_ratio_is_not_extracted(engine, landuse, tmp_path):
    parts = good_parts(tmp_path)
    parts["landuse.dbf"] = bytes(16 << 20)  # 16 MB of zeros: about 16 KB compressed
    bomb = make_zip(tmp_path / "bomb.zip", parts)
    assert bomb.stat().st_size < 100_000
    refused(engine, landuse, bomb, "import.zip_bomb", "压缩比异常", "landuse.dbf", "压缩炸弹")


def case_zip_bomb_by_declared_total_is_not_extracted(engine, landuse, tmp_path):
    bomb = make_zip(tmp_path / "bomb.zip", {"landuse.dbf": bytes(1 << 20)})
    _patch_sizes(bomb, 3 << 30)  # declares 3 GiB
    refused(engine, landuse, bomb, "import.zip_bomb", "解压后将超过", "压缩炸弹")


def case_zip_whose_declared_sizes_lie_stops_at_the_declared_size(engine, landuse, tmp_path):
    parts = good_parts(tmp_path)
    parts["landuse.dbf"] = bytes(8 << 20)
    archive = make_zip(tmp_path / "liar.zip", parts)
    _patch_sizes(archive, 100)  # says 100 bytes, holds 8 MB of zeros
    refused(engine, landuse, archive, "import.zip_damaged", "已损坏", "无法读取")


def case_zip_paths_leaving_the_folder_are_refused(engine, landuse, tmp_path):
    for name in ("../../evil/landuse.shp", "/tmp/evil/landuse.shp", "C:\\evil\\landuse.shp"):
        parts = good_parts(tmp_path)
        parts[name] = parts.pop("landuse.shp")
        archive = make_zip(tmp_path / "slip.zip", parts)
        refused(engine, landuse, archive, "import.zip_unsafe_path", "指向压缩包之外", "已拒绝解压")
        assert not (scratch_root().parent / "evil").exists() and not os.path.exists("/tmp/evil")


def case_zip_symlink_member_is_refused(engine, landuse, tmp_path):
    parts = good_parts(tmp_path)
    link = zipfile.ZipInfo("landuse.prj")
    link.create_system = 3
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    parts.pop("landuse.prj")
    archive = make_zip(tmp_path / "link.zip", parts, [(link, b"/etc/passwd")])
    refused(engine, landuse, archive, "import.zip_unsafe_path", "符号链接")


def case_zero_byte_member_and_file_are_refused(engine, landuse, tmp_path):
    parts = good_parts(tmp_path)
    parts["landuse.shp"] = b""
    archive = make_zip(tmp_path / "empty.zip", parts)
    refused(engine, landuse, archive, "import.member_empty", "landuse.shp", "0 字节")

    shp = catalogue.write_shapefile(catalogue.parcels(), tmp_path / "e", "landuse")
    shp.with_suffix(".dbf").write_bytes(b"")
    refused(engine, landuse, shp, "import.dbf_invalid", "不是有效的 DBF")


class RawNameInfo(zipfile.ZipInfo):
    """A member name written as given bytes, with or without the UTF-8 flag."""

    raw: bytes = b""
    utf8: bool = False

    def _encodeFilenameFlags(self):
        flags = self.flag_bits | 0x800 if self.utf8 else self.flag_bits & ~0x800
        return self.raw, flags


def _raw_zip(path, parts, raw_names: dict[str, bytes], utf8: bool):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in parts.items():
            info = RawNameInfo(name)
            info.raw, info.utf8 = raw_names.get(name, name.encode()), utf8
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    return path


def case_non_utf8_member_names(engine, landuse, tmp_path):
    parts = good_parts(tmp_path)
    # flagged UTF-8 but not UTF-8: refused as unreadable, not a crash
    raw = {name: "图斑".encode("gbk") + name[7:].encode() for name in parts}
    archive = _raw_zip(tmp_path / "bad-flag.zip", parts, raw, utf8=True)
    refused(engine, landuse, archive, "import.zip_unreadable", "不是可读取的 zip")
    # neither GBK nor UTF-8, no flag: read under the bytes' cp437 reading, imported
    raw = {name: b"\x80\xff\xfe" + name[7:].encode() for name in parts}
    archive = _raw_zip(tmp_path / "odd.zip", parts, raw, utf8=False)
    report = import_zones(engine, ZoneImport(path=archive, layer="landuse", code_field="DLBM"))
    assert report["version"] == 2 and report["features"]["imported"] == 6
    assert _own_scratch() == []


# -- damaged shapefiles -----------------------------------------------------------------------


def _shapefile(tmp_path, name="bad"):
    return catalogue.write_shapefile(catalogue.parcels(), tmp_path / name, "landuse")


def case_truncated_shp_is_refused_not_read_short(engine, landuse, tmp_path):
    shp = _shapefile(tmp_path)
    data = shp.read_bytes()
    shp.write_bytes(data[:-60])  # the last parcel cut off (GDAL would read five)
    refused(engine, landuse, shp, "import.shp_truncated", "被截断", f"实际只有 {len(data) - 60}")


def case_shx_disagreeing_with_its_shp_is_refused(engine, landuse, tmp_path):
    shp = _shapefile(tmp_path)
    shx = bytearray(shp.with_suffix(".shx").read_bytes())
    struct.pack_into(">i", shx, 100 + 8 * 3, 60)  # record 4 points into record 1
    shp.with_suffix(".shx").write_bytes(bytes(shx))
    refused(
        engine, landuse, shp, "import.shx_mismatch", "不一致", "第 4 条记录", "删除 landuse.shx"
    )


def case_dbf_header_promising_more_than_the_file_is_refused(engine, landuse, tmp_path):
    for offset, fmt, value, code, phrase in (
        (4, "<I", 0x7FFFFFFF, "import.dbf_truncated", "声明有 2147483647 条记录"),
        (10, "<H", 65535, "import.dbf_invalid", "声明每条记录 65535 字节"),  # 64 KB records
    ):
        shp = _shapefile(tmp_path, f"dbf{offset}")
        dbf = bytearray(shp.with_suffix(".dbf").read_bytes())
        struct.pack_into(fmt, dbf, offset, value)
        shp.with_suffix(".dbf").write_bytes(bytes(dbf))
        refused(engine, landuse, shp, code, phrase)


def case_nul_byte_in_an_attribute_is_refused_naming_field_and_row(engine, landuse, tmp_path):
    shp = _shapefile(tmp_path)
    dbf = shp.with_suffix(".dbf")
    data = dbf.read_bytes()
    village = "七道江村".encode("gbk")
    cut = "七".encode("gbk") + b"\x00" + "道江".encode("gbk") + b" "
    dbf.write_bytes(data.replace(village, cut, 1))  # the fifth parcel's owner
    refused(engine, landuse, shp, "import.nul_in_text", "第 5 个要素", "QSDWMC", "空字符")

    geojson = tmp_path / "nul.geojson"
    geojson.write_text(_collection([_square(), _square(1)], props=[{}, {"MC": "七\\u0000道"}]))
    refused(engine, landuse, geojson, "import.nul_in_text", "第 2 个要素", "“MC”", kind="forest")


# -- GeoJSON: coordinates, size, depth --------------------------------------------------------


def _square(i: int = 0, lon: float = 126.42, lat: float = 41.94, bad: str | None = None) -> str:
    x, y = lon + i * 0.001, lat
    ring = [[x, y], [x + 0.001, y], [x + 0.001, y + 0.001], [x, y + 0.001], [x, y]]
    coords = ",".join(f"[{a},{b}]" for a, b in ring)
    if bad:
        coords = coords.replace(f"[{x + 0.001},{y}]", f"[{bad},{y}]")
    return f'{{"type":"Polygon","coordinates":[[{coords}]]}}'


def _collection(geometries: list[str], props: list[dict] | None = None) -> str:
    import json

    features = []
    for i, geometry in enumerate(geometries):
        properties = json.dumps((props or [{}] * len(geometries))[i], ensure_ascii=False)
        properties = properties.replace("\\\\u0000", "\\u0000")
        features.append(f'{{"type":"Feature","properties":{properties},"geometry":{geometry}}}')
    return '{"type":"FeatureCollection","features":[' + ",".join(features) + "]}"


def case_bad_coordinates_are_refused_naming_the_feature(engine, landuse, tmp_path):
    for bad, code, phrase in (
        ("NaN", "import.coordinate_invalid", "第 3 个要素的坐标无效"),
        ("Infinity", "import.coordinate_invalid", "第 3 个要素的坐标无效"),
        ("1e300", "import.coordinate_invalid", "第 3 个要素的坐标无效"),
        ("12.5", "import.feature_outside_china", "第 3 个要素转换后位于中国境外"),
    ):
        path = tmp_path / "bad.geojson"
        path.write_text(_collection([_square(0), _square(1), _square(2, bad=bad), _square(3)]))
        refused(engine, landuse, path, code, phrase, kind="forest")


def _vertices_text(lon: np.ndarray, lat: np.ndarray) -> str:
    """``[126.xxxxxx,41.yyyyyy],…`` for points near the origin, written by numpy (a million in
    a blink), closed on the first point."""
    template = np.frombuffer(b"[126.000000,41.000000],", dtype=np.uint8)
    text_ = np.tile(template, (len(lon) + 1, 1))
    micro = np.round((np.append(lon, lon[0]) - 126) * 1e6).astype(np.int64)
    micro_lat = np.round((np.append(lat, lat[0]) - 41) * 1e6).astype(np.int64)
    for k in range(6):
        text_[:, 5 + k] = 48 + micro // 10 ** (5 - k) % 10
        text_[:, 15 + k] = 48 + micro_lat // 10 ** (5 - k) % 10
    return text_.tobytes()[:-1].decode()


def test_million_vertex_polygon_is_refused_in_bounded_memory(engine, landuse, tmp_path):
    n = 1_000_000
    angles = np.linspace(0, 2 * np.pi, n, endpoint=False)
    lon, lat = 126.42 + 0.01 * np.cos(angles), 41.94 + 0.01 * np.sin(angles)
    ring = _vertices_text(lon, lat)
    path = tmp_path / "huge.geojson"
    collection = _collection([_square(), f'{{"type":"Polygon","coordinates":[[{ring}]]}}'])
    # as GDAL writes it: a named crs, whose properties are no feature
    named = '"crs":{"type":"name","properties":{"name":"urn:ogc:def:crs:OGC:1.3:CRS84"}},'
    path.write_text(collection.replace('"features":', named + '"features":', 1))
    del ring, collection
    assert path.stat().st_size > 20_000_000
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    try:
        refused(engine, landuse, path, "import.too_many_vertices", "第 2 个要素", kind="forest")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 150 << 20, peak  # Python and numpy allocations of the check
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss < 500 << 10  # KiB


def case_geojson_nested_a_million_deep_is_refused_before_parsing(engine, landuse, tmp_path):
    path = tmp_path / "deep.geojson"
    deep = "[" * 1_000_000 + "]" * 1_000_000
    text_ = _collection([_square()]).replace('"properties":{}', f'"properties":{{"x":{deep}}}')
    path.write_text(text_)
    refused(engine, landuse, path, "import.json_too_deep", "嵌套层数超过 64 层", kind="forest")


def test_hostile_zips(engine, landuse, tmp_path):
    """Zip bombs, paths out of the folder, links, empty members, names in no known encoding."""
    case_zip_bomb_by_ratio_is_not_extracted(engine, landuse, _dir(tmp_path, "ratio"))
    case_zip_bomb_by_declared_total_is_not_extracted(engine, landuse, _dir(tmp_path, "total"))
    case_zip_whose_declared_sizes_lie_stops_at_the_declared_size(
        engine, landuse, _dir(tmp_path, "lie")
    )
    case_zip_paths_leaving_the_folder_are_refused(engine, landuse, _dir(tmp_path, "slip"))
    case_zip_symlink_member_is_refused(engine, landuse, _dir(tmp_path, "link"))
    case_zero_byte_member_and_file_are_refused(engine, landuse, _dir(tmp_path, "empty"))
    case_non_utf8_member_names(engine, landuse, _dir(tmp_path, "names"))  # the last: imports v2


def test_damaged_shapefiles(engine, landuse, tmp_path):
    """A cut .shp, a .shx at odds with its .shp, DBF headers that lie, a NUL in a value."""
    case_truncated_shp_is_refused_not_read_short(engine, landuse, _dir(tmp_path, "cut"))
    case_shx_disagreeing_with_its_shp_is_refused(engine, landuse, _dir(tmp_path, "shx"))
    case_dbf_header_promising_more_than_the_file_is_refused(engine, landuse, _dir(tmp_path, "dbf"))
    case_nul_byte_in_an_attribute_is_refused_naming_field_and_row(
        engine, landuse, _dir(tmp_path, "nul")
    )


def test_hostile_geojson(engine, landuse, tmp_path):
    """NaN, infinite, absurd and out-of-China coordinates; nesting a million deep."""
    case_bad_coordinates_are_refused_naming_the_feature(engine, landuse, _dir(tmp_path, "coords"))
    case_geojson_nested_a_million_deep_is_refused_before_parsing(
        engine, landuse, _dir(tmp_path, "deep")
    )


# -- names, uploads and the batch over HTTP ---------------------------------------------------


@pytest.fixture
def leftovers(engine):
    """Scratch folders as a crashed process (its pid dead) and a live one leave them — made
    before the server starts."""
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    crashed = scratch_root() / f"weijian-upload-{int(dead.stdout)}-abc123"
    crashed.mkdir()
    (crashed / "half.zip").write_bytes(b"PK" + bytes(1000))
    live = scratch_root() / f"weijian-upload-{os.getpid()}-x.live"
    live.mkdir()
    yield crashed, live
    shutil.rmtree(crashed, ignore_errors=True)
    live.rmdir()


def _upload(server, path, headers, **fields):
    with open(path, "rb") as handle:
        return httpx.post(
            f"{server}/api/v1/imports/zones",
            files={"file": (path.name, handle)},
            data=fields,
            headers=headers,
            timeout=60,
        )


def test_uploads_names_batch_and_scratch_over_http(
    engine, landuse, leftovers, server, admin_headers, tmp_path
):
    crashed, live = leftovers
    assert not crashed.exists()  # removed as the server started
    assert live.exists()  # a live process's folder is kept
    archive = make_zip(tmp_path / "ok.zip", good_parts(tmp_path))
    for fields, code in (
        ({"layer": "landuse\n", "code_field": "DLBM"}, "layer.name_invalid"),
        ({"layer": "land\x00use", "code_field": "DLBM"}, "layer.name_invalid"),
        ({"layer": "landuse", "code_field": "DLBM", "title": "地类\n图斑"}, "layer.label_invalid"),
        ({"layer": "landuse", "kind": "forest\r\n"}, "layer.label_invalid"),
    ):
        response = _upload(server, archive, admin_headers, **fields)
        assert response.status_code == 422, response.text
        assert response.json()["code"] == code, response.json()
        assert "不可用" in response.json()["message"]
    shown = _upload(server, archive, admin_headers, layer="landuse\n").json()["message"]
    assert "图层名“landuse\\n”不可用" in shown  # the newline written out
    names = [layer["name"] for layer in httpx.get(f"{server}/api/v1/layers").json()]
    assert names == ["landuse"]

    parts = good_parts(tmp_path)
    parts["landuse.dbf"] = bytes(16 << 20)
    response = _upload(
        server, make_zip(tmp_path / "bomb.zip", parts), admin_headers, layer="landuse",
        code_field="DLBM",
    )  # fmt: skip
    assert response.status_code == 422 and response.json()["code"] == "import.zip_bomb"
    assert "压缩炸弹" in response.json()["message"]
    layers = httpx.get(f"{server}/api/v1/layers").json()
    assert layers[0]["active_version"] == 1 and layers[0]["versions"] == 1
    assert active_state(engine) == landuse
    assert _own_scratch() == []

    # a CSV saved by Excel on Chinese Windows (GBK) is read as GBK
    body = "编号,经度,纬度\n点位一,126.4215,41.9398\n点位二,126.43,41.94\n".encode("gbk")
    response = httpx.post(
        f"{server}/api/v1/jurisdiction/batch", content=body, headers={"content-type": "text/csv"}
    )
    assert response.status_code == 200, response.text
    assert "点位一" in response.text and "点位二" in response.text
    garbage = b"id,lon,lat\n\xff\xfe\xff,126.4,41.9\n"
    response = httpx.post(
        f"{server}/api/v1/jurisdiction/batch", content=garbage, headers={"content-type": "text/csv"}
    )
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "file.encoding_unknown"
    assert "CSV UTF-8" in response.json()["message"]
    assert _own_scratch() == []

    crashed.mkdir()
    assert clean_scratch() >= 1 and not crashed.exists()  # what the CLI import calls too
    assert live.exists()
