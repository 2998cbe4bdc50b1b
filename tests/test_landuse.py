"""The land-use and settlement code tables (pure, no database): every code of the third survey's
work classification (三调), of GB/T 21010-2017 and of 2007 is there with a known kind; codes in
no classification and unknown settlement codes are refused, each listed with its count."""

from __future__ import annotations

from collections import Counter

import pytest

from weijian.errors import InputError
from weijian.layers import landuse
from weijian.layers.landuse import (
    class_for_code,
    kind_for_code,
    kinds_for_codes,
    land_use_classes,
    settle_kinds,
    settlement_classes,
)
from weijian.layers.model import ZONE_KINDS

#: 《第三次全国国土调查工作分类》: every code a 三调 parcel can carry in DLBM
SURVEY_3 = {
    # 湿地 (00): classes that keep their GB/T 21010-2017 codes
    "0303": "forest",
    "0304": "forest",
    "0306": "forest",
    "0402": "agricultural",
    "0603": "construction",
    "1105": "unused",
    "1106": "unused",
    "1108": "unused",
    # 耕地
    "0101": "farmland",
    "0102": "farmland",
    "0103": "farmland",
    # 种植园用地, with the 可调整 (K) codes
    "0201": "agricultural",
    "0201K": "agricultural",
    "0202": "agricultural",
    "0202K": "agricultural",
    "0203": "agricultural",
    "0203K": "agricultural",
    "0204": "agricultural",
    "0204K": "agricultural",
    # 林地
    "0301": "forest",
    "0301K": "forest",
    "0302": "forest",
    "0302K": "forest",
    "0305": "forest",
    "0307": "forest",
    "0307K": "forest",
    # 草地
    "0401": "agricultural",
    "0403": "agricultural",
    "0403K": "agricultural",
    "0404": "unused",
    # 商业服务业用地
    "05H1": "construction",
    "0508": "construction",
    # 工矿用地
    "0601": "construction",
    "0602": "construction",
    # 住宅用地
    "0701": "construction",
    "0702": "homestead",
    # 公共管理与公共服务用地
    "08H1": "construction",
    "08H2": "construction",
    "08H2A": "construction",
    "0809": "construction",
    "0810": "construction",
    "0810A": "construction",
    # 特殊用地
    "09": "construction",
    # 交通运输用地
    "1001": "construction",
    "1002": "construction",
    "1003": "construction",
    "1004": "construction",
    "1005": "construction",
    "1006": "agricultural",
    "1007": "construction",
    "1008": "construction",
    "1009": "construction",
    # 水域及水利设施用地
    "1101": "unused",
    "1102": "unused",
    "1103": "agricultural",
    "1104": "agricultural",
    "1104A": "agricultural",
    "1104K": "agricultural",
    "1107": "agricultural",
    "1107A": "construction",
    "1109": "construction",
    "1110": "unused",
    # 其他土地
    "1201": "construction",
    "1202": "agricultural",
    "1203": "agricultural",
    "1204": "unused",
    "1205": "unused",
    "1206": "unused",
    "1207": "unused",
}

#: second-level classes per first-level class: GB/T 21010-2017 (73) and 2007 (57)
CLASSES_2017 = {"01": 3, "02": 4, "03": 7, "04": 4, "05": 7, "06": 4, "07": 2, "08": 10}
CLASSES_2017 |= {"09": 6, "10": 9, "11": 10, "12": 7}
CLASSES_2007 = {"01": 3, "02": 3, "03": 3, "04": 3, "05": 4, "06": 3, "07": 2, "08": 8}
CLASSES_2007 |= {"09": 5, "10": 7, "11": 9, "12": 7}


def codes_of(scheme: str) -> set[str]:
    return {code for code, c in land_use_classes().items() if scheme in c.schemes}


def test_every_survey_code_present_with_its_kind():
    table = land_use_classes()
    assert {code: table[code].kind for code in SURVEY_3} == SURVEY_3
    assert codes_of("三调") == set(SURVEY_3)
    assert table["05H1"].name == "商业服务业设施用地"
    assert table["08H2A"].name == "高教用地"
    assert table["0810A"].name == "广场用地"
    assert table["0201K"].name == "可调整果园"


def test_every_row_maps_to_a_known_kind_and_names_its_schemes():
    table = land_use_classes()
    assert len(table) == 172
    for code, entry in table.items():
        assert entry.kind in ZONE_KINDS, code
        assert entry.name and entry.schemes, code
        assert set(entry.schemes) <= set(landuse.SCHEMES), code
    assert "unused" in {e.kind for e in table.values()}


@pytest.mark.parametrize(
    ("scheme", "digits", "classes"), [("2017", 4, CLASSES_2017), ("2007", 3, CLASSES_2007)]
)
def test_the_standards_complete(scheme, digits, classes):
    codes = codes_of(scheme)
    second = Counter(c[:2] for c in codes if len(c) == digits and c.isdigit())
    assert dict(second) == classes
    assert {c for c in codes if len(c) == 2} == set(classes)  # the first-level classes


def test_k_codes_keep_the_kind_of_their_class():
    table = land_use_classes()
    for code, entry in table.items():
        if code.endswith("K"):
            assert entry.kind == table[code[:-1]].kind, code
            assert entry.name.startswith("可调整"), code


def test_second_survey_codes():
    assert kind_for_code("072") == "homestead"
    assert kind_for_code("203") == "rural_construction"
    assert [kind_for_code(c) for c in ("201", "202", "204", "205")] == ["construction"] * 4
    assert kind_for_code("031K") == "forest" and kind_for_code("114K") == "agricultural"
    assert class_for_code("103").name == "街巷用地"


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        (" 0201K ", "agricultural"),
        ("0201k", "agricultural"),
        ("08h2a", "construction"),
        ("0999", None),
        ("ABCD", None),
        ("0103K", None),  # 耕地 has no 可调整 code
        ("0404K", None),
        ("0305K", None),
        ("05H", None),
        ("08H3", None),
        ("0501A", None),
        ("00", None),  # 湿地 is only a heading
        ("", None),
        (None, None),
        (float("nan"), None),
        (702.0, None),  # a numeric DBF field lost the leading zero
    ],
)
def test_lookup_as_written(value, kind):
    assert kind_for_code(value) == kind


def test_unknown_codes_refused_with_every_one_counted():
    codes = ["0101", "0999", "ABCD", "0999", None, "05H1", " 0999"]
    with pytest.raises(InputError) as refused:
        kinds_for_codes(codes, "DLBM")
    error = refused.value
    assert "5 values that are not GB/T 21010" in error.detail
    assert "'0999' ×3, 'ABCD' ×1, empty ×1" in error.detail
    assert "DLBM" in error.hint and "--kind" in error.hint
    assert error.code == "landuse.code_unknown"
    assert error.message.startswith("字段 DLBM 中有 5 个图斑的值不是地类编码")
    assert "“0999” 3 个、“ABCD” 1 个、空值 1 个" in error.message


def test_a_long_list_of_unknown_codes_is_cut():
    with pytest.raises(InputError) as refused:
        kinds_for_codes([f"X{i:02d}" for i in range(20)], "DLBM")
    assert "and 8 other values" in refused.value.detail
    assert "另有 8 种值" in refused.value.message


def test_settlement_codes_table():
    table = settlement_classes()
    assert list(table) == ["201", "201A", "202", "202A", "203", "203A", "204", "205"]
    rural = {code for code, entry in table.items() if entry.construction_kind != "construction"}
    assert rural == {"203", "203A"}
    assert all(e.construction_kind in ZONE_KINDS for e in table.values())


def test_settlement_makes_village_construction_land_rural():
    kinds = [
        "construction",  # city
        "construction",  # town's industrial land
        "construction",  # village
        "construction",  # village's industrial land
        "construction",  # mine
        "construction",  # special land
        "homestead",  # in a village: stays homestead
        "farmland",  # inside a village's boundary: untouched
        "construction",  # outside any settlement
        "construction",  # numeric field
    ]
    settlements = ["201", "202A", "203", "203a", "204", "205", "203", "203", None, 203.0]
    settled, report = settle_kinds(kinds, settlements, "CZCSXM")
    assert settled == [
        "construction",
        "construction",
        "rural_construction",
        "rural_construction",
        "construction",
        "construction",
        "homestead",
        "farmland",
        "construction",
        "rural_construction",
    ]
    assert report == {
        "field": "CZCSXM",
        "codes": {"201": 1, "202A": 1, "203": 4, "203A": 1, "204": 1, "205": 1},
        "empty": 1,
        "changed": 3,
    }


def test_unknown_settlement_codes_refused():
    with pytest.raises(InputError) as refused:
        settle_kinds(["construction"] * 4, ["203", "206", "村庄", "206"], "CZCSXM")
    error = refused.value
    assert "3 values that are not settlement codes" in error.detail
    assert "'206' ×2, '村庄' ×1" in error.detail
    assert "CZCSXM" in error.hint
    assert error.code == "landuse.settlement_code_unknown"
    assert "“206” 2 个、“村庄” 1 个" in error.message and "城镇村属性码" in error.message
