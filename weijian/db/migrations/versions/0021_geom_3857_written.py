"""Zones' and grids' Web Mercator copy written by the importer: ``geom_3857`` of ``zone`` and
``grid`` becomes a plain column (its values kept), filled by the import core's COPY with
exactly what ``ST_Transform(geom, 3857)`` gives (the same PROJ transformation, computed while
the next chunk is read instead of by the server per row). ``NOT NULL`` makes sure no row is
ever left without it. Cases keep their generated column: intake writes one row at a time.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-05
"""

from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

SCHEMA = """
ALTER TABLE zone ALTER COLUMN geom_3857 DROP EXPRESSION;
ALTER TABLE zone ALTER COLUMN geom_3857 SET NOT NULL;
ALTER TABLE grid ALTER COLUMN geom_3857 DROP EXPRESSION;
ALTER TABLE grid ALTER COLUMN geom_3857 SET NOT NULL;
"""

VIEWS = """
CREATE VIEW active_zone AS
    SELECT z.id, l.name AS layer, v.number AS version, z.kind, z.code, z.name,
           z.area_m2, z.attributes, z.geom, z.geom_3857
    FROM zone z
    JOIN layer l ON l.active_version_id = z.version_id
    JOIN layer_version v ON v.id = z.version_id;
CREATE VIEW active_grid AS
    SELECT g.id, g.level, v.number AS version, g.code, g.name, g.parent_code,
           g.responsible, g.area_m2, g.attributes, g.geom, g.geom_3857
    FROM grid g
    JOIN layer l ON l.active_version_id = g.version_id
    JOIN layer_version v ON v.id = g.version_id;
GRANT SELECT ON active_zone, active_grid TO weijian_app;
"""


def upgrade() -> None:
    op.execute(SCHEMA)


def downgrade() -> None:
    # a generated column is made by adding it: the views that read it go and come back
    op.execute("DROP VIEW active_zone; DROP VIEW active_grid;")
    for table in ("zone", "grid"):
        op.execute(
            f"ALTER TABLE {table} DROP COLUMN geom_3857; "
            f"ALTER TABLE {table} ADD COLUMN geom_3857 geometry(MultiPolygon, 3857) "
            "GENERATED ALWAYS AS (ST_Transform(geom, 3857)) STORED; "
            f"CREATE INDEX {table}_geom_3857 ON {table} USING gist (geom_3857);"
        )
    op.execute(VIEWS)
