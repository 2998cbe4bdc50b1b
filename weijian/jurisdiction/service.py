"""Use cases of the jurisdiction package that the CLI and the API share: reading and changing
the rules (a new version each time, who and why), the departments answers name."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Engine

from weijian.errors import InputError
from weijian.jurisdiction import repository
from weijian.jurisdiction.rules import Rule, RuleSet, validate_rules
from weijian.jurisdiction.snapshot import Snapshot
from weijian.layers.model import ZONE_KINDS

RULE_FIELDS = (
    "priority",
    "name",
    "department_type",
    "zone_kinds",
    "code_patterns",
    "valid_from",
    "valid_to",
)


def _rule_json(rule: Rule) -> dict:
    return {
        "id": rule.id,
        "priority": rule.priority,
        "name": rule.name,
        "department_type": rule.department_type,
        "zone_kinds": list(rule.zone_kinds),
        "code_patterns": list(rule.code_patterns),
        "valid_from": rule.valid_from,
        "valid_to": rule.valid_to,
    }


def rule_set_json(engine: Engine, version: int | None) -> dict:
    with engine.connect() as conn:
        rules, record = repository.rule_set(conn, version)
    return {
        **{k: record[k] for k in ("version", "active", "created_by", "reason", "created_at")},
        "rules": [_rule_json(r) for r in rules.ordered()],
    }


def rule_set_versions(engine: Engine) -> list[dict]:
    with engine.connect() as conn:
        return repository.rule_set_versions(conn)


def _as_date(value) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise InputError(
            f"“{value}”不是有效的日期，请按“年-月-日”书写，如 2026-03-01",
            code="rules.date_invalid",
            detail=f"{value!r} is not a date.",
            hint="write dates as YYYY-MM-DD",
        ) from None


def rules_from_json(items: list[dict]) -> list[Rule]:
    rules = []
    for n, item in enumerate(items):
        unknown = set(item) - set(RULE_FIELDS) - {"id"}
        if unknown:
            raise InputError(
                f"第 {n + 1} 条规则：未知字段 {'、'.join(sorted(unknown))}。"
                f"可用字段：{'、'.join(RULE_FIELDS)}",
                code="rules.field_unknown",
                detail=f"rule {n + 1}: unknown fields {sorted(unknown)}.",
                hint=f"fields: {', '.join(RULE_FIELDS)}",
            )
        try:
            rules.append(
                Rule(
                    id=n + 1,
                    priority=int(item["priority"]),
                    name=str(item["name"]),
                    department_type=str(item["department_type"]),
                    zone_kinds=tuple(item.get("zone_kinds") or ()),
                    code_patterns=tuple(item.get("code_patterns") or ()),
                    valid_from=_as_date(item.get("valid_from")),
                    valid_to=_as_date(item.get("valid_to")),
                )
            )
        except (KeyError, TypeError, ValueError) as exc:
            problem = (
                f"缺少字段 {exc.args[0]}" if isinstance(exc, KeyError) else "有字段的值无法识别"
            )
            raise InputError(
                f"第 {n + 1} 条规则不完整（{problem}）。每条规则须有 priority、name、"
                "department_type，以及 zone_kinds 或 code_patterns",
                code="rules.incomplete",
                detail=f"rule {n + 1} is incomplete ({exc}).",
                hint="each rule needs priority, name, department_type and "
                "zone_kinds or code_patterns",
            ) from None
    return rules


def replace_rules(engine: Engine, items: list[dict], changed_by: str, reason: str) -> int:
    """Validate and store a whole rule set as the new active version."""
    if not changed_by.strip() or not reason.strip():
        raise InputError(
            "修改管辖规则须注明修改人和修改原因，请用 --by 姓名 和 --reason 原因 说明",
            code="rules.change_unattributed",
            detail="a rule change needs who made it and why.",
            hint="give --by NAME and --reason TEXT",
        )
    rules = rules_from_json(items)
    with engine.begin() as conn:
        validate_rules(rules, repository.department_templates(conn), ZONE_KINDS)
        return repository.save_rule_set(conn, rules, changed_by, reason)


def proposed_rule_set(engine: Engine, items: list[dict]) -> RuleSet:
    """A rule set checked as :func:`replace_rules` checks it, not saved (version 0): what a
    preview of a change tries."""
    rules = rules_from_json(items)
    with engine.connect() as conn:
        validate_rules(rules, repository.department_templates(conn), ZONE_KINDS)
    return RuleSet(version=0, rules=tuple(rules))


def rule_items(engine: Engine, version: int | None = None) -> list[dict]:
    """The rules of a version (the active one by default) as items for :func:`replace_rules`."""
    return [
        {k: v for k, v in r.items() if k != "id"} for r in rule_set_json(engine, version)["rules"]
    ]


def effective_departments(snap: Snapshot) -> list[dict]:
    """Every (type, district) department answers can name, configured or from the template."""
    out = []
    district = snap.grids.get("district")
    pairs = (
        [(None, None)]
        if district is None
        else list(zip(district.codes, district.names, strict=True))
    )
    for type_ in sorted(snap.templates):
        for code, name in pairs:
            dept = snap.department(type_, code, name)
            out.append(
                {
                    "type": dept.type,
                    "code": dept.code,
                    "name": dept.name,
                    "district_code": code,
                    "configured": (type_, code or "") in snap.departments,
                }
            )
    return out
