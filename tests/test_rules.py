"""Rule resolution and transfer decisions: pure, no database."""

from __future__ import annotations

from datetime import date

import pytest

from weijian.errors import InputError
from weijian.jurisdiction.rules import Rule, RuleSet, ZoneHit, resolve, validate_rules
from weijian.jurisdiction.service import replace_rules, rules_from_json
from weijian.jurisdiction.transfer import decide_transfer
from weijian.layers.model import ZONE_KINDS

DEFAULTS = RuleSet(
    version=1,
    rules=(
        Rule(1, 10, "城市化管理区域", "urban_enforcement", zone_kinds=("urban_managed",)),
        Rule(2, 20, "镇规划建设用地", "county_government", zone_kinds=("town_planned",)),
        Rule(
            3,
            30,
            "农用地等",
            "natural_resources",
            zone_kinds=("rural_construction", "homestead", "agricultural", "farmland", "forest"),
        ),
    ),
)
TODAY = date(2026, 11, 25)


def zone(kind, layer="landuse", code=None, name=None, zone_id=1):
    return ZoneHit(layer=layer, code=code, kind=kind, name=name, version=1, zone_id=zone_id)


def test_urban_area_wins_over_land_use():
    result = resolve(
        [zone("farmland", code="0101"), zone("urban_managed", layer="urban")], DEFAULTS, TODAY
    )
    assert result.rule.department_type == "urban_enforcement"
    assert result.zone.layer == "urban"


def test_town_planned_then_natural_resources():
    assert (
        resolve([zone("town_planned"), zone("homestead")], DEFAULTS, TODAY).rule.department_type
        == "county_government"
    )
    assert (
        resolve([zone("homestead", code="0702")], DEFAULTS, TODAY).rule.department_type
        == "natural_resources"
    )


@pytest.mark.parametrize(
    ("zones", "in_city", "reason"),
    [
        ([], True, "no_zone"),
        ([zone("construction", code="0701")], True, "no_rule"),
        ([zone("urban_managed")], False, "outside_city"),
        ([zone("unused", code="1101")], True, "no_rule"),
    ],
)
def test_unassigned_with_reason_never_a_guess(zones, in_city, reason):
    result = resolve(zones, DEFAULTS, TODAY, in_city=in_city)
    assert not result.assigned and result.rule is None and result.reason == reason


def test_deterministic_tie_break_on_shared_edges():
    a = zone("farmland", code="0102", zone_id=7)
    b = zone("farmland", code="0101", zone_id=9)
    assert resolve([a, b], DEFAULTS, TODAY).zone == b
    assert resolve([b, a], DEFAULTS, TODAY).zone == b


def test_rule_validity_period_and_a_city_rule():
    """Since the 2019 Land Administration Law art. 78 homesteads go to agriculture and rural
    affairs in some cities: a rule with a validity period, added as data."""
    homestead = Rule(
        4,
        25,
        "农村宅基地违法建设由农业农村部门负责",
        "agriculture_rural",
        code_patterns=("0702",),
        valid_from=date(2027, 1, 1),
    )
    rules = RuleSet(version=2, rules=(*DEFAULTS.rules, homestead))
    hit = [zone("homestead", code="0702")]
    assert resolve(hit, rules, TODAY).rule.department_type == "natural_resources"
    assert resolve(hit, rules, date(2027, 1, 1)).rule.department_type == "agriculture_rural"
    ended = Rule(
        5, 5, "old", "county_government", zone_kinds=("homestead",), valid_to=date(2026, 1, 1)
    )
    assert resolve(hit, RuleSet(3, (*DEFAULTS.rules, ended)), TODAY).rule.id == 3


def test_code_patterns():
    rule = Rule(9, 1, "x", "natural_resources", code_patterns=("07*", "1202"))
    assert rule.matches(zone("construction", code="0701"))
    assert rule.matches(zone("agricultural", code="1202K"))
    assert not rule.matches(zone("agricultural", code="1203"))
    assert not rule.matches(zone("agricultural", code=None))


def test_validation_refuses_what_a_city_cannot_mean():
    types = ["urban_enforcement", "natural_resources", "county_government"]
    with pytest.raises(InputError, match="unknown department type") as refused:
        validate_rules([Rule(1, 1, "a", "police", zone_kinds=("forest",))], types, ZONE_KINDS)
    assert refused.value.code == "rules.department_type_unknown"
    assert refused.value.message.startswith("规则“a”：未知的责任部门类型“police”")
    assert refused.value.detail == "rule 'a': unknown department type 'police'."
    with pytest.raises(InputError, match="unknown zone kinds") as refused:
        validate_rules(
            [Rule(1, 1, "a", "natural_resources", zone_kinds=("moon",))], types, ZONE_KINDS
        )
    assert refused.value.code == "zone.kind_unknown"
    assert refused.value.message.startswith("规则“a”：未知的分区类型 moon。")
    with pytest.raises(InputError, match="share priority") as refused:
        validate_rules(
            [
                Rule(1, 1, "a", "natural_resources", zone_kinds=("forest",)),
                Rule(2, 1, "b", "natural_resources", zone_kinds=("farmland",)),
            ],
            types,
            ZONE_KINDS,
        )
    assert refused.value.code == "rules.priority_clash"
    assert refused.value.message.startswith("规则“a”和“b”同时有效，优先级却都是 1")
    validate_rules(
        [
            Rule(1, 1, "a", "natural_resources", zone_kinds=("forest",), valid_to=date(2026, 1, 1)),
            Rule(
                2,
                1,
                "b",
                "natural_resources",
                zone_kinds=("farmland",),
                valid_from=date(2026, 1, 1),
            ),
        ],
        types,
        ZONE_KINDS,
    )
    with pytest.raises(InputError, match="at least one rule") as refused:
        validate_rules([], types, ZONE_KINDS)
    assert refused.value.code == "rules.empty"
    assert refused.value.message == "规则集中至少要有一条管辖规则，请添加规则后再保存"


def test_rule_items_refused_in_chinese():
    with pytest.raises(InputError, match="unknown fields") as refused:
        rules_from_json([{"priority": 1, "name": "a", "colour": "red"}])
    assert refused.value.code == "rules.field_unknown"
    assert refused.value.message.startswith("第 1 条规则：未知字段 colour。可用字段：")
    with pytest.raises(InputError, match="is incomplete") as refused:
        rules_from_json([{"name": "a", "department_type": "natural_resources"}])
    assert refused.value.code == "rules.incomplete"
    assert refused.value.message.startswith("第 1 条规则不完整（缺少字段 priority）")
    with pytest.raises(InputError, match="is not a date") as refused:
        rules_from_json(
            [{"priority": 1, "name": "a", "department_type": "x", "valid_from": "明年"}]
        )
    assert refused.value.code == "rules.date_invalid"
    assert refused.value.message.startswith("“明年”不是有效的日期")
    with pytest.raises(InputError, match="who made it and why") as refused:
        replace_rules(None, [], changed_by=" ", reason="")
    assert refused.value.code == "rules.change_unattributed"
    assert "修改人和修改原因" in refused.value.message


ANSWER = {
    "status": "assigned",
    "reason": None,
    "rule_version": 1,
    "tolerance_m": 10,
    "department": {
        "type": "natural_resources",
        "code": "220602-natural_resources",
        "name": "浑江区自然资源局",
    },
    "rule": {"id": 3, "version": 1, "name": "农用地等"},
    "deciding_zone": {"layer": "landuse", "kind": "farmland", "code": "0101", "name": "水田"},
    "boundary_distance_m": 55.0,
    "alternatives": [],
}


def test_transfer_to_the_responsible_department():
    decision = decide_transfer("220602-urban_enforcement", ANSWER)
    assert decision.must_transfer and decision.to["name"] == "浑江区自然资源局"
    assert "水田" in decision.explanation and decision.reason == "outside_remit"


def test_no_transfer_within_remit_or_tolerance():
    assert not decide_transfer("220602-natural_resources", ANSWER).must_transfer
    near = {
        **ANSWER,
        "boundary_distance_m": 3.0,
        "alternatives": [
            {"department": {"code": "220602-urban_enforcement", "name": "浑江区城市管理行政执法局"}}
        ],
    }
    decision = decide_transfer("220602-urban_enforcement", near)
    assert not decision.must_transfer and decision.needs_review
    unassigned = {
        **ANSWER,
        "status": "unassigned",
        "department": None,
        "reason": "no_zone",
        "reason_text": "不在任何规划分区或地类图斑内",
    }
    decision = decide_transfer("220602-urban_enforcement", unassigned)
    assert not decision.must_transfer and decision.needs_review
