"""Foundation: departments, zone layers and their versions, zones, the four grid levels.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

SRID = 4490
ZONE_KINDS = (
    "urban_managed",
    "town_planned",
    "rural_construction",
    "homestead",
    "agricultural",
    "farmland",
    "forest",
    "construction",
    "unused",
)
GRID_LEVELS = ("district", "town", "community", "compound")


def _now():
    return sa.text("now()")


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")

    op.create_table(
        "department",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("type", sa.Text, nullable=False),
        sa.Column("code", sa.Text, nullable=False, unique=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("district_code", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.UniqueConstraint("type", "district_code", name="department_type_district_key"),
    )

    op.create_table(
        "layer",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.Text, nullable=False, unique=True),
        sa.Column("family", sa.Text, nullable=False),
        sa.Column("grid_level", sa.Text),
        sa.Column("title", sa.Text),
        sa.Column("active_version_id", sa.Integer),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.CheckConstraint("family IN ('zones', 'grids')", name="layer_family_check"),
        sa.CheckConstraint(
            f"(family = 'grids') = (grid_level IS NOT NULL) AND "
            f"(grid_level IS NULL OR grid_level IN {GRID_LEVELS!r})",
            name="layer_grid_level_check",
        ),
    )

    op.create_table(
        "layer_version",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "layer_id", sa.Integer, sa.ForeignKey("layer.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("source_sha256", sa.Text),
        sa.Column("feature_count", sa.Integer, nullable=False),
        sa.Column("bbox", Geometry("POLYGON", srid=SRID, spatial_index=False)),
        sa.Column("report", JSONB, nullable=False),
        sa.Column("created_by", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.Column("activated_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("layer_id", "number", name="layer_version_number_key"),
    )
    op.create_foreign_key(
        "layer_active_version_fkey", "layer", "layer_version", ["active_version_id"], ["id"]
    )

    op.create_table(
        "zone",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column(
            "version_id",
            sa.Integer,
            sa.ForeignKey("layer_version.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("code", sa.Text),
        sa.Column("name", sa.Text),
        sa.Column("area_m2", sa.Float),
        sa.Column("attributes", JSONB, nullable=False, server_default="{}"),
        sa.Column("geom", Geometry("MULTIPOLYGON", srid=SRID, spatial_index=False), nullable=False),
        sa.CheckConstraint(f"kind IN {ZONE_KINDS!r}", name="zone_kind_check"),
    )
    op.create_index("zone_version_idx", "zone", ["version_id"])
    op.create_index("zone_geom_idx", "zone", ["geom"], postgresql_using="gist")

    op.create_table(
        "grid",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column(
            "version_id",
            sa.Integer,
            sa.ForeignKey("layer_version.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("level", sa.Text, nullable=False),
        sa.Column("code", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("parent_code", sa.Text),
        sa.Column("responsible", JSONB, nullable=False, server_default="[]"),
        sa.Column("area_m2", sa.Float),
        sa.Column("attributes", JSONB, nullable=False, server_default="{}"),
        sa.Column("geom", Geometry("MULTIPOLYGON", srid=SRID, spatial_index=False), nullable=False),
        sa.UniqueConstraint("version_id", "code", name="grid_version_code_key"),
        sa.CheckConstraint(f"level IN {GRID_LEVELS!r}", name="grid_level_check"),
    )
    op.create_index("grid_geom_idx", "grid", ["geom"], postgresql_using="gist")

    # What QGIS and other readers see: the active version of every layer, one view per family.
    op.execute(
        """
        CREATE VIEW active_zone AS
        SELECT z.id, l.name AS layer, v.number AS version, z.kind, z.code, z.name,
               z.area_m2, z.attributes, z.geom
        FROM zone z
        JOIN layer l ON l.active_version_id = z.version_id
        JOIN layer_version v ON v.id = z.version_id
        """
    )
    op.execute(
        """
        CREATE VIEW active_grid AS
        SELECT g.id, g.level, v.number AS version, g.code, g.name, g.parent_code,
               g.responsible, g.area_m2, g.attributes, g.geom
        FROM grid g
        JOIN layer l ON l.active_version_id = g.version_id
        JOIN layer_version v ON v.id = g.version_id
        """
    )


def downgrade() -> None:
    op.execute("DROP VIEW IF EXISTS active_grid")
    op.execute("DROP VIEW IF EXISTS active_zone")
    op.drop_table("grid")
    op.drop_table("zone")
    op.drop_constraint("layer_active_version_fkey", "layer", type_="foreignkey")
    op.drop_table("layer_version")
    op.drop_table("layer")
    op.drop_table("department")
