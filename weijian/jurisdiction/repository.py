"""SQL of the jurisdiction package: what the engine loads, and rule-set versions."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.types import Text

from weijian.errors import NotFoundError
from weijian.jurisdiction.rules import Rule, RuleSet

RULES_CHANNEL = "weijian_rules_changed"


@dataclass(frozen=True)
class Department:
    type: str
    code: str
    name: str
    district_code: str | None


def snapshot_token(conn: Connection) -> str:
    """Changes whenever anything the engine holds changes (layer activation, rules,
    departments)."""
    return conn.execute(
        text(
            """
            SELECT concat_ws('|',
              (SELECT string_agg(name || ':' || coalesce(active_version_id::text, '-'), ','
                                 ORDER BY name) FROM layer),
              (SELECT version FROM rule_set WHERE active),
              (SELECT count(*) || ':' || coalesce(max(id), 0) || ':' ||
                      coalesce(md5(string_agg(code || name, ',' ORDER BY id)), '')
               FROM department),
              (SELECT md5(string_agg(type || name_template, ',' ORDER BY type))
               FROM department_type))
            """
        )
    ).scalar_one()


def active_layers(conn: Connection, family: str) -> list[dict]:
    rows = conn.execute(
        text(
            "SELECT l.name, l.grid_level, v.id AS version_id, v.number AS version, "
            "v.feature_count "
            "FROM layer l JOIN layer_version v ON v.id = l.active_version_id "
            "WHERE l.family = :family ORDER BY l.name"
        ),
        {"family": family},
    ).mappings()
    return [dict(r) for r in rows]


def zones_of(conn: Connection, version_id: int) -> list[tuple]:
    return conn.execute(
        text(
            "SELECT id, kind, code, name, ST_AsBinary(geom) FROM zone "
            "WHERE version_id = :v ORDER BY id"
        ),
        {"v": version_id},
    ).all()


def grids_of(conn: Connection, version_id: int) -> list[tuple]:
    return conn.execute(
        text(
            "SELECT id, code, name, parent_code, responsible, ST_AsBinary(geom) FROM grid "
            "WHERE version_id = :v ORDER BY code"
        ),
        {"v": version_id},
    ).all()


def department_templates(conn: Connection) -> dict[str, tuple[str, str]]:
    rows = conn.execute(text("SELECT type, label, name_template FROM department_type"))
    return {r.type: (r.label, r.name_template) for r in rows}


def departments(conn: Connection) -> list[Department]:
    rows = conn.execute(text("SELECT type, code, name, district_code FROM department"))
    return [Department(r.type, r.code, r.name, r.district_code) for r in rows]


def _rule_from_row(row) -> Rule:
    return Rule(
        id=row.id,
        priority=row.priority,
        name=row.name,
        department_type=row.department_type,
        zone_kinds=tuple(row.zone_kinds),
        code_patterns=tuple(row.code_patterns),
        valid_from=row.valid_from,
        valid_to=row.valid_to,
    )


def rule_set(conn: Connection, version: int | None = None) -> tuple[RuleSet, dict]:
    """A rule-set version (the active one by default) and its record (who, when, why)."""
    where = "version = :version" if version is not None else "active"
    head = (
        conn.execute(
            text(
                f"SELECT id, version, active, created_by, reason, created_at FROM rule_set "
                f"WHERE {where}"
            ),
            {"version": version},
        )
        .mappings()
        .first()
    )
    if head is None and version:
        raise NotFoundError(
            f"没有第 {version} 版管辖规则集，请核对版本号",
            code="rules.version_not_found",
            detail=f"no rule set version {version}.",
        )
    if head is None:
        raise NotFoundError(
            "当前没有生效的管辖规则集，请先保存一套规则",
            code="rules.none_active",
            detail="no rule set is active.",
        )
    rows = conn.execute(
        text("SELECT * FROM rule WHERE rule_set_id = :id ORDER BY priority, id"),
        {"id": head["id"]},
    ).all()
    return RuleSet(version=head["version"], rules=tuple(_rule_from_row(r) for r in rows)), dict(
        head
    )


def rule_set_versions(conn: Connection) -> list[dict]:
    rows = conn.execute(
        text(
            "SELECT s.version, s.active, s.created_by, s.reason, s.created_at, count(r.id) AS "
            "rules FROM rule_set s LEFT JOIN rule r ON r.rule_set_id = s.id "
            "GROUP BY s.id ORDER BY s.version"
        )
    ).mappings()
    return [dict(r) for r in rows]


def save_rule_set(conn: Connection, rules: list[Rule], created_by: str, reason: str) -> int:
    """Store ``rules`` as a new version and make it active; returns the version number."""
    conn.execute(text("LOCK TABLE rule_set IN EXCLUSIVE MODE"))
    version = conn.execute(text("SELECT coalesce(max(version), 0) + 1 FROM rule_set")).scalar_one()
    conn.execute(text("UPDATE rule_set SET active = false WHERE active"))
    set_id = conn.execute(
        text(
            "INSERT INTO rule_set (version, active, created_by, reason) "
            "VALUES (:v, true, :by, :reason) RETURNING id"
        ),
        {"v": version, "by": created_by, "reason": reason},
    ).scalar_one()
    statement = text(
        "INSERT INTO rule (rule_set_id, priority, name, zone_kinds, code_patterns, "
        "department_type, valid_from, valid_to) VALUES (:set_id, :priority, :name, :kinds, "
        ":patterns, :type, :valid_from, :valid_to)"
    ).bindparams(bindparam("kinds", type_=ARRAY(Text)), bindparam("patterns", type_=ARRAY(Text)))
    for rule in rules:
        conn.execute(
            statement,
            {
                "set_id": set_id,
                "priority": rule.priority,
                "name": rule.name,
                "kinds": list(rule.zone_kinds),
                "patterns": list(rule.code_patterns),
                "type": rule.department_type,
                "valid_from": rule.valid_from,
                "valid_to": rule.valid_to,
            },
        )
    conn.execute(text("SELECT pg_notify(:c, :v)"), {"c": RULES_CHANNEL, "v": str(version)})
    return version


def add_department_type(conn: Connection, type_: str, label: str, template: str) -> None:
    conn.execute(
        text(
            "INSERT INTO department_type (type, label, name_template) VALUES (:t, :l, :n) "
            "ON CONFLICT (type) DO UPDATE SET label = excluded.label, "
            "name_template = excluded.name_template"
        ),
        {"t": type_, "l": label, "n": template},
    )
    conn.execute(text("SELECT pg_notify(:c, 'department_type')"), {"c": RULES_CHANNEL})


def upsert_department(
    conn: Connection, type_: str, district_code: str, code: str, name: str
) -> None:
    conn.execute(
        text(
            "INSERT INTO department (type, code, name, district_code) VALUES (:t, :c, :n, :d) "
            "ON CONFLICT (type, district_code) DO UPDATE SET name = excluded.name, "
            "code = excluded.code"
        ),
        {"t": type_, "c": code, "n": name, "d": district_code},
    )
