"""Case numbers: a district's prefix read as its place name is read, never the same for two
districts, and set by the city before the district's first case."""

from __future__ import annotations

import json

import pytest

from tests.casekit import JIANGYUAN, STREET
from weijian.cases.numbering import default_prefixes, district_prefix, place_syllables

BAISHAN = [
    ("220602", "浑江区"),
    ("220605", "江源区"),
    ("220621", "抚松县"),
    ("220622", "靖宇县"),
    ("220623", "长白朝鲜族自治县"),
    ("220681", "临江市"),
]


def test_baishan_districts_get_readable_prefixes_that_never_clash() -> None:
    assert default_prefixes(BAISHAN) == {
        "220602": "HJ",
        "220605": "JY",
        "220621": "FS",
        "220622": "JYU",  # 靖宇: JY is 江源's, the longer reading of 宇 follows
        "220623": "CB",  # 长白 is Chángbái, not zhǎng
        "220681": "LJ",
    }
    # taken prefixes are skipped, whatever order the districts come in
    assert default_prefixes(reversed(BAISHAN), taken={"HJ"})["220602"] == "HJI"


@pytest.mark.parametrize(
    ("name", "prefix"),
    [("长治市", "CZ"), ("长春市", "CC"), ("朝阳区", "CY"), ("单县", "SX"), ("重庆市", "CQ")],
)
def test_polyphones_are_read_as_in_place_names(name: str, prefix: str) -> None:
    assert district_prefix(name, "000000") == prefix


def test_a_reading_of_a_whole_name_wins_over_its_characters() -> None:
    assert place_syllables("乐亭") == ["lao", "ting"]
    assert place_syllables("长白山") == ["chang", "bai", "shan"]


def test_the_city_sets_a_prefix_before_the_first_case_and_never_after(case_api) -> None:
    api = case_api
    first = api.report("ue_hj", STREET, channel="patrol")
    assert first["number"].startswith("HJ-2026-")
    listed = {p["district_code"]: p for p in api.get("/api/v1/cases/prefixes", "admin").json()}
    assert {k: v["prefix"] for k, v in listed.items()} == {"220602": "HJ", "220605": "JY"}

    r = api.send("PUT", "/api/v1/cases/prefixes/220605", "admin", json={"prefix": "jyq"})
    assert r.status_code == 200, r.text
    assert api.report("cg_jy", JIANGYUAN, channel="patrol")["number"].startswith("JYQ-2026-")

    r = api.send("PUT", "/api/v1/cases/prefixes/220605", "admin", json={"prefix": "JY"})
    assert r.status_code == 409
    assert r.json()["code"] == "case.prefix_in_use" and "前缀不能再改" in r.json()["message"]
    r = api.send("PUT", "/api/v1/cases/prefixes/220602", "admin", json={"prefix": "JYQ"})
    assert r.status_code == 409 and r.json()["code"] in ("case.prefix_taken", "case.prefix_in_use")
    r = api.send("PUT", "/api/v1/cases/prefixes/220602", "admin", json={"prefix": "1AB"})
    assert r.status_code == 422 and r.json()["code"] == "case.prefix_invalid"
    r = api.send("PUT", "/api/v1/cases/prefixes/220605", "ue_jy", json={"prefix": "ZZ"})
    assert r.status_code == 403


def test_the_cli_lists_and_sets_prefixes(case_api, cli) -> None:
    result = cli("cases", "prefix", "list", "--json")
    assert result.exit_code == 0, result.output
    assert {p["district_code"]: p["prefix"] for p in json.loads(result.stdout)} == {
        "220602": "HJ",
        "220605": "JY",
    }
    assert cli("cases", "prefix", "set", "220605", "JYQ").exit_code == 0
    assert case_api.report("cg_jy", JIANGYUAN, channel="patrol")["number"].startswith("JYQ-2026-")
    refused = cli("cases", "prefix", "set", "220605", "JYZ")
    assert refused.exit_code == 4
    assert "前缀不能再改" in refused.output
