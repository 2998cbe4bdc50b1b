"""Jurisdiction rules as data: department types, versioned rule sets, the default rules.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

DEPARTMENT_TYPES = [
    ("urban_enforcement", "城管执法部门", "{district}城市管理行政执法局"),
    ("natural_resources", "自然资源部门", "{district}自然资源局"),
    ("county_government", "区县政府", "{district}人民政府"),
    ("agriculture_rural", "农业农村部门", "{district}农业农村局"),
]
# The defaults of the city's guideline (see DESIGN.md, "Jurisdiction").
DEFAULT_RULES = [
    {
        "priority": 10,
        "name": "城市化管理区域由城管执法部门负责",
        "zone_kinds": ["urban_managed"],
        "code_patterns": [],
        "department_type": "urban_enforcement",
    },
    {
        "priority": 20,
        "name": "县城、镇总体规划确定的建设用地由区县政府负责",
        "zone_kinds": ["town_planned"],
        "code_patterns": [],
        "department_type": "county_government",
    },
    {
        "priority": 30,
        "name": "乡村建设用地、农村宅基地、农用地、耕地、林地由自然资源部门负责",
        "zone_kinds": ["rural_construction", "homestead", "agricultural", "farmland", "forest"],
        "code_patterns": [],
        "department_type": "natural_resources",
    },
]


def upgrade() -> None:
    op.create_table(
        "department_type",
        sa.Column("type", sa.Text, primary_key=True),
        sa.Column("label", sa.Text, nullable=False),
        sa.Column("name_template", sa.Text, nullable=False),
        sa.CheckConstraint("type ~ '^[a-z][a-z0-9_]*$'", name="department_type_type_check"),
    )
    op.bulk_insert(
        sa.table(
            "department_type", sa.column("type"), sa.column("label"), sa.column("name_template")
        ),
        [{"type": t, "label": label, "name_template": tpl} for t, label, tpl in DEPARTMENT_TYPES],
    )
    op.create_table(
        "rule_set",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("version", sa.Integer, nullable=False, unique=True),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("created_by", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
    )
    op.create_index(
        "rule_set_one_active",
        "rule_set",
        ["active"],
        unique=True,
        postgresql_where=sa.text("active"),
    )
    op.create_table(
        "rule",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "rule_set_id",
            sa.Integer,
            sa.ForeignKey("rule_set.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("priority", sa.Integer, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("zone_kinds", ARRAY(sa.Text), nullable=False, server_default="{}"),
        sa.Column("code_patterns", ARRAY(sa.Text), nullable=False, server_default="{}"),
        sa.Column(
            "department_type", sa.Text, sa.ForeignKey("department_type.type"), nullable=False
        ),
        sa.Column("valid_from", sa.Date),
        sa.Column("valid_to", sa.Date),
        sa.Column("attributes", JSONB, nullable=False, server_default="{}"),
        sa.CheckConstraint(
            "valid_to IS NULL OR valid_from IS NULL OR valid_to > valid_from",
            name="rule_validity_check",
        ),
        sa.CheckConstraint(
            "cardinality(zone_kinds) + cardinality(code_patterns) > 0",
            name="rule_matches_something_check",
        ),
    )
    op.execute(
        sa.text(
            "INSERT INTO rule_set (version, active, created_by, reason) "
            "VALUES (1, true, 'system', :reason)"
        ).bindparams(reason="默认规则：《关于建立全市城市违法建设长效管控机制的指导意见》二(一)2")
    )
    for rule in DEFAULT_RULES:
        op.execute(
            sa.text(
                "INSERT INTO rule (rule_set_id, priority, name, zone_kinds, code_patterns,"
                " department_type) SELECT id, :priority, :name, :kinds, :patterns, :type"
                " FROM rule_set WHERE version = 1"
            ).bindparams(
                sa.bindparam("kinds", type_=ARRAY(sa.Text)),
                sa.bindparam("patterns", type_=ARRAY(sa.Text)),
                priority=rule["priority"],
                name=rule["name"],
                kinds=rule["zone_kinds"],
                patterns=rule["code_patterns"],
                type=rule["department_type"],
            )
        )


def downgrade() -> None:
    op.drop_table("rule")
    op.drop_table("rule_set")
    op.drop_table("department_type")
