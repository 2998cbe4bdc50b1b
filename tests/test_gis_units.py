"""Pure unit tests of the GIS core: no database."""

from __future__ import annotations

import pytest

from weijian.errors import InputError, NotFoundError
from weijian.gis import crs as crs_mod
from weijian.gis.encoding import choose_encoding, detect, read_dbf_text
from weijian.gis.points import to_cgcs2000
from weijian.gis.readers import open_source
from weijian.layers.landuse import kind_for_code, kinds_for_codes


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("0101", "farmland"),
        ("0103K", None),  # no K in 耕地: 可调整 marks former farmland
        ("0201", "agricultural"),
        ("0301", "forest"),
        ("0307", "forest"),
        ("0401", "agricultural"),
        ("0404", "unused"),
        ("0701", "construction"),
        ("0702", "homestead"),
        ("1006", "agricultural"),
        ("1101", "unused"),
        ("1104", "agricultural"),
        ("1202", "agricultural"),
        ("05H1", "construction"),
        ("011", "farmland"),
        ("072", "homestead"),
        ("203", "rural_construction"),
        (702.0, None),
        ("abc", None),
        (None, None),
    ],
)
def test_land_use_codes(code, kind):
    assert kind_for_code(code) == kind


def test_land_use_column_refused_with_examples():
    with pytest.raises(InputError, match=r"'新华村' ×2"):
        kinds_for_codes(["0101", "新华村", "新华村"], "QSDWMC")


def test_dbf_without_language_byte_detected_as_gbk(shared_data):
    text = read_dbf_text(shared_data / "dbf_encoding" / "gbk.dbf")
    choice = detect(text)
    assert choice.encoding == "gb18030"
    assert text.values[0][2].decode(choice.encoding) == "简体国语"


def test_dbf_language_byte_honoured(shared_data):
    choice = choose_encoding(shared_data / "dbf_encoding" / "ldid_chinese.dbf", None, None)
    assert (choice.encoding, choice.source) == ("gbk", "ldid")


def test_explicit_encoding_checked(shared_data):
    with pytest.raises(InputError, match="not valid utf-8") as mismatch:
        choose_encoding(shared_data / "dbf_encoding" / "chinese_poly.dbf", None, "utf-8")
    assert mismatch.value.code == "import.encoding_mismatch"
    assert mismatch.value.message.startswith("DBF 属性表的文字不是有效的 utf-8 编码")
    assert "由 --encoding utf-8 指定" in mismatch.value.message
    assert "或不指定 --encoding 由系统自动识别" in mismatch.value.message
    with pytest.raises(InputError, match="unknown text encoding") as unknown:
        choose_encoding(shared_data / "dbf_encoding" / "chinese_poly.dbf", None, "klingon")
    assert unknown.value.code == "import.encoding_unknown"
    assert unknown.value.message.startswith("无法识别文字编码“klingon”")
    assert unknown.value.detail == "unknown text encoding 'klingon'."


@pytest.mark.parametrize(
    ("option", "label"),
    [
        ("wgs84", "EPSG:4326"),
        ("CGCS2000", "EPSG:4490"),
        ("EPSG:4551", "EPSG:4551"),
        ("4530", "EPSG:4530"),
        ("gcj02", "GCJ-02"),
        ("bd09", "BD-09"),
        ("EPSG:2387", "EPSG:2387"),
    ],
)
def test_crs_options(option, label):
    assert crs_mod.parse_crs_option(option).label.startswith(label)


def test_legacy_datum_is_flagged():
    assert "Xian 1980" in crs_mod.parse_crs_option("EPSG:2387").note


@pytest.mark.parametrize("text", ["mars2000", "EPSG:99999", "EPSG:5773"])
def test_unknown_or_vertical_crs_refused(text):
    with pytest.raises(InputError, match="unknown coordinate system") as refused:
        crs_mod.parse_crs_option(text)
    assert refused.value.code == "crs.unknown"
    assert refused.value.message.startswith(f"无法识别坐标系“{text}”")


def test_guesses():
    assert crs_mod.guess_crs((126.1, 41.5, 126.5, 42.0)).crs.to_epsg() == 4490
    assert crs_mod.guess_crs((42_534_000, 4_640_000, 42_540_000, 4_650_000)).crs.to_epsg() == 4530
    assert crs_mod.guess_crs((21_534_000, 4_640_000, 21_540_000, 4_650_000)).crs.to_epsg() == 4499
    assert crs_mod.guess_crs((534_000, 4_640_000, 540_000, 4_650_000)) is None
    assert crs_mod.guess_crs((41.9, 126.4, 42.0, 126.5)) is None  # swapped


def test_gauss_kruger_zone_for_metric_work():
    assert crs_mod.gk3_epsg_for_lon(126.42) == 4551
    assert crs_mod.gk3_epsg_for_lon(128.2) == 4552


def test_outside_china_refused_with_a_diagnosis():
    source = crs_mod.parse_crs_option("EPSG:4551")
    with pytest.raises(InputError, match="zone prefix") as refused:
        crs_mod.check_in_china((160.0, 41.0, 161.0, 42.0), source)
    assert refused.value.code == "import.outside_china"
    assert "转换后位于中国境外（范围：经度 160.0000…161.0000，纬度 41.0000…42.0000）" in (
        refused.value.message
    )
    assert "带号" in refused.value.message and "EPSG:4530" in refused.value.message
    assert refused.value.detail.startswith("after conversion from ")


@pytest.mark.parametrize(
    ("x", "y", "crs", "code", "message", "detail"),
    [
        (
            [126.4, float("nan")],
            [41.9, 41.9],
            "wgs84",
            "point.coordinates_missing",
            "有 1 个坐标缺失或不是数字（第一处在第 2 行：nan，41.9）",
            "1 coordinates are missing",
        ),
        (
            [41.9],
            [126.4],
            "wgs84",
            "point.lonlat_swapped",
            "经度和纬度似乎写反了",
            "longitude and latitude look swapped",
        ),
        (
            [200.0],
            [41.9],
            "cgcs2000",
            "point.out_of_range",
            "经度应在 ±180 以内",
            "coordinates out of range",
        ),
        (
            [2.35],
            [48.85],
            "gcj02",
            "point.outside_china",
            "1 个 GCJ02 坐标点位于中国境外",
            "1 GCJ02 points lie outside China",
        ),
    ],
)
def test_bad_points_refused_in_chinese(x, y, crs, code, message, detail):
    with pytest.raises(InputError) as refused:
        to_cgcs2000(x, y, crs)
    assert refused.value.code == code
    assert message in refused.value.message
    assert detail in refused.value.detail


def test_unreadable_files_refused_in_chinese(tmp_path):
    missing = tmp_path / "没有.shp"
    with pytest.raises(NotFoundError) as absent, open_source(missing):
        pass
    assert absent.value.code == "import.file_not_found"
    assert absent.value.message == f"文件 {missing} 不存在，请核对路径"
    assert absent.value.detail == f"{missing} does not exist."
    empty = tmp_path / "图斑.geojson"
    empty.write_bytes(b"")
    with pytest.raises(InputError) as refused, open_source(empty):
        pass
    assert refused.value.code == "import.file_empty"
    assert refused.value.message == "图斑.geojson 是空文件（0 字节），请重新导出图层"
    text = tmp_path / "图斑.txt"
    text.write_text("x")
    with pytest.raises(InputError) as refused, open_source(text):
        pass
    assert refused.value.code == "import.format_unsupported"
    assert refused.value.message.startswith("图斑.txt：不支持 .txt 格式。请提供 Shapefile")
