"""The PostGIS schema (SQLAlchemy Core + GeoAlchemy2). Alembic migrations create it; the
repository modules query it. Geometries are stored in CGCS2000 geographic (EPSG:4490)."""

from __future__ import annotations

from geoalchemy2 import Geometry
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB

STORAGE_SRID = 4490
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
LAYER_FAMILIES = ("zones", "grids")
NOTIFY_CHANNEL = "weijian_layer_activated"

metadata = MetaData()

department = Table(
    "department",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("type", Text, nullable=False),
    Column("code", Text, nullable=False, unique=True),
    Column("name", Text, nullable=False),
    Column("district_code", Text),
    Column("created_at", DateTime(timezone=True), server_default=func.now(), nullable=False),
    UniqueConstraint("type", "district_code", name="department_type_district_key"),
)

layer = Table(
    "layer",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", Text, nullable=False, unique=True),
    Column("family", Text, nullable=False),
    Column("grid_level", Text),
    Column("title", Text),
    Column(
        "active_version_id",
        Integer,
        ForeignKey("layer_version.id", use_alter=True, name="layer_active_version_fkey"),
    ),
    Column("created_at", DateTime(timezone=True), server_default=func.now(), nullable=False),
    CheckConstraint(f"family IN {LAYER_FAMILIES!r}", name="layer_family_check"),
    CheckConstraint(
        f"(family = 'grids') = (grid_level IS NOT NULL) AND "
        f"(grid_level IS NULL OR grid_level IN {GRID_LEVELS!r})",
        name="layer_grid_level_check",
    ),
)

layer_version = Table(
    "layer_version",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("layer_id", Integer, ForeignKey("layer.id", ondelete="CASCADE"), nullable=False),
    Column("number", Integer, nullable=False),
    Column("source", Text, nullable=False),
    Column("source_sha256", Text),
    Column("feature_count", Integer, nullable=False),
    Column("bbox", Geometry("POLYGON", srid=STORAGE_SRID, spatial_index=False)),
    Column("report", JSONB, nullable=False),
    Column("created_by", Text),
    Column("created_at", DateTime(timezone=True), server_default=func.now(), nullable=False),
    Column("activated_at", DateTime(timezone=True)),
    UniqueConstraint("layer_id", "number", name="layer_version_number_key"),
)

zone = Table(
    "zone",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column(
        "version_id", Integer, ForeignKey("layer_version.id", ondelete="CASCADE"), nullable=False
    ),
    Column("kind", Text, nullable=False),
    Column("code", Text),
    Column("name", Text),
    Column("area_m2", Float),
    Column("attributes", JSONB, nullable=False, server_default="{}"),
    Column(
        "geom", Geometry("MULTIPOLYGON", srid=STORAGE_SRID, spatial_index=False), nullable=False
    ),
    CheckConstraint(f"kind IN {ZONE_KINDS!r}", name="zone_kind_check"),
)

grid = Table(
    "grid",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column(
        "version_id", Integer, ForeignKey("layer_version.id", ondelete="CASCADE"), nullable=False
    ),
    Column("level", Text, nullable=False),
    Column("code", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("parent_code", Text),
    Column("responsible", JSONB, nullable=False, server_default="[]"),
    Column("area_m2", Float),
    Column("attributes", JSONB, nullable=False, server_default="{}"),
    Column(
        "geom", Geometry("MULTIPOLYGON", srid=STORAGE_SRID, spatial_index=False), nullable=False
    ),
    UniqueConstraint("version_id", "code", name="grid_version_code_key"),
    CheckConstraint(f"level IN {GRID_LEVELS!r}", name="grid_level_check"),
)
