"""Pure unit tests of the GIS core: no database."""

from __future__ import annotations

import pytest

from weijian.errors import InputError
from weijian.gis import crs as crs_mod
from weijian.gis.encoding import choose_encoding, detect, read_dbf_text
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
    with pytest.raises(InputError, match="not valid utf-8"):
        choose_encoding(shared_data / "dbf_encoding" / "chinese_poly.dbf", None, "utf-8")
    with pytest.raises(InputError, match="unknown text encoding"):
        choose_encoding(shared_data / "dbf_encoding" / "chinese_poly.dbf", None, "klingon")


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
    with pytest.raises(InputError, match="unknown coordinate system"):
        crs_mod.parse_crs_option(text)


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
    with pytest.raises(InputError, match="zone prefix"):
        crs_mod.check_in_china((160.0, 41.0, 161.0, 42.0), source)
