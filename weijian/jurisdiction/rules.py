"""Jurisdiction rules as data, and their resolution — pure Python, no database, no HTTP.

A rule says: zones of these kinds (or with land-use codes matching these patterns) are the
remit of this department type, during this validity period. Rules are tried by priority (lower
first); the first rule in force that matches a zone covering the point decides. The department
is that type in the district containing the point. Nothing matches → unassigned, with the
reason — never a guess.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import NamedTuple

from weijian.errors import InputError

UNASSIGNED_REASONS = {
    "outside_city": "不在本市行政区域内",
    "no_zone": "不在任何规划分区或地类图斑内",
    "no_rule": "所在分区无适用的管辖规则",
}


@dataclass(frozen=True)
class Rule:
    id: int
    priority: int
    name: str
    department_type: str
    zone_kinds: tuple[str, ...] = ()
    code_patterns: tuple[str, ...] = ()
    valid_from: date | None = None
    valid_to: date | None = None  # exclusive

    def in_force(self, on: date) -> bool:
        return (self.valid_from is None or self.valid_from <= on) and (
            self.valid_to is None or on < self.valid_to
        )

    def matches(self, zone: ZoneHit) -> bool:
        if zone.kind in self.zone_kinds:
            return True
        code = zone.code or ""
        return bool(code) and any(
            fnmatch.fnmatchcase(code, p if any(c in p for c in "*?[") else p + "*")
            for p in self.code_patterns
        )


@dataclass(frozen=True)
class RuleSet:
    version: int
    rules: tuple[Rule, ...]

    def ordered(self) -> tuple[Rule, ...]:
        return tuple(sorted(self.rules, key=lambda r: (r.priority, r.id)))


@dataclass(frozen=True)
class ZoneHit:
    """A zone of an active layer version that covers the point."""

    layer: str
    code: str | None
    kind: str
    name: str | None
    version: int
    zone_id: int = 0

    @property
    def sort_key(self) -> tuple:
        return (self.layer, self.code or "", self.kind, self.name or "", self.version, self.zone_id)


class Resolution(NamedTuple):
    """The deciding rule and zone of a point, or why it has none (a named tuple: one is made
    for every look-up, in a third of a frozen dataclass's time)."""

    rule: Rule | None
    zone: ZoneHit | None  # the deciding zone
    reason: str | None  # for unassigned: a key of UNASSIGNED_REASONS

    @property
    def assigned(self) -> bool:
        return self.rule is not None


def resolve(zones: Iterable[ZoneHit], rules: RuleSet, on: date, in_city: bool = True) -> Resolution:
    """The deciding rule and zone for a point covered by ``zones``.

    Deterministic: rules by (priority, id); among zones matched by the winning rule, the first
    by (layer, code, kind, name, version, id)."""
    if not in_city:
        return Resolution(None, None, "outside_city")
    ordered_zones = sorted(zones, key=lambda z: z.sort_key)
    if not ordered_zones:
        return Resolution(None, None, "no_zone")
    for rule in rules.ordered():
        if not rule.in_force(on):
            continue
        for zone in ordered_zones:
            if rule.matches(zone):
                return Resolution(rule, zone, None)
    return Resolution(None, None, "no_rule")


def validate_rules(
    rules: Sequence[Rule], known_types: Iterable[str], known_kinds: Iterable[str]
) -> None:
    """Refuse a rule set a city could not have meant."""
    types, kinds = set(known_types), set(known_kinds)
    if not rules:
        raise InputError(
            "规则集中至少要有一条管辖规则，请添加规则后再保存",
            code="rules.empty",
            detail="a rule set needs at least one rule.",
        )
    seen: dict[int, str] = {}
    for rule in rules:
        if not rule.name.strip():
            raise InputError(
                f"优先级为 {rule.priority} 的规则没有名称，请为其命名",
                code="rules.name_missing",
                detail=f"rule with priority {rule.priority} has no name.",
            )
        if rule.department_type not in types:
            raise InputError(
                f"规则“{rule.name}”：未知的责任部门类型“{rule.department_type}”。"
                f"已有类型：{'、'.join(sorted(types))}；"
                "新的类型可用 weijian rules add-department-type 添加",
                code="rules.department_type_unknown",
                detail=f"rule {rule.name!r}: unknown department type {rule.department_type!r}.",
                hint=f"known types: {', '.join(sorted(types))}; add one with "
                "`weijian rules add-department-type`",
            )
        unknown = [k for k in rule.zone_kinds if k not in kinds]
        if unknown:
            raise InputError(
                f"规则“{rule.name}”：未知的分区类型 {'、'.join(map(str, unknown))}。"
                f"可选：{'、'.join(sorted(kinds))}",
                code="zone.kind_unknown",
                detail=f"rule {rule.name!r}: unknown zone kinds {unknown}.",
                hint=f"zone kinds: {', '.join(sorted(kinds))}",
            )
        if not rule.zone_kinds and not rule.code_patterns:
            raise InputError(
                f"规则“{rule.name}”既没有分区类型也没有地类编码，不会匹配任何图斑。"
                "请填写 zone_kinds 或 code_patterns",
                code="rules.matches_nothing",
                detail=f"rule {rule.name!r} matches no zone kind and no land-use code.",
            )
        if rule.valid_from and rule.valid_to and rule.valid_to <= rule.valid_from:
            raise InputError(
                f"规则“{rule.name}”：失效日期 valid_to（{rule.valid_to}）须晚于生效日期 "
                f"valid_from（{rule.valid_from}）",
                code="rules.validity_reversed",
                detail=f"rule {rule.name!r}: valid_to must come after valid_from.",
            )
        if rule.priority in seen and _overlap(
            rule, next(r for r in rules if r.priority == rule.priority and r is not rule)
        ):
            raise InputError(
                f"规则“{seen[rule.priority]}”和“{rule.name}”同时有效，优先级却都是 "
                f"{rule.priority}。请给它们不同的优先级，以明确先后",
                code="rules.priority_clash",
                detail=f"rules {seen[rule.priority]!r} and {rule.name!r} share priority "
                f"{rule.priority} while both in force.",
                hint="give them different priorities so the order is clear",
            )
        seen[rule.priority] = rule.name


def _overlap(a: Rule, b: Rule) -> bool:
    start = max(a.valid_from or date.min, b.valid_from or date.min)
    end = min(a.valid_to or date.max, b.valid_to or date.max)
    return start < end
