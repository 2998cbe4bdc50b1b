"""The supervisors' map: a stored Web Mercator (EPSG:3857) copy of every zone, grid and case
geometry, so vector tiles are cut without transforming on the fly; and the transaction that
last wrote each case, so the map's in-memory case table catches up with only what changed.

``geom_3857`` is a generated column (``ST_Transform`` is immutable): whatever writes ``geom``
— an import's COPY, an intake, a merge — keeps the copy right, and nothing else can write it.

``change_xid`` is set by a trigger to the writing transaction's id. A reader that remembers the
``xmin`` of its previous snapshot re-reads every row with ``change_xid >= xmin``: a transaction
that committed since then cannot have a smaller id, so no change is ever missed, whatever the
order of commits.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

SCHEMA = """
ALTER TABLE zone ADD COLUMN geom_3857 geometry(MultiPolygon, 3857)
    GENERATED ALWAYS AS (ST_Transform(geom, 3857)) STORED;
CREATE INDEX zone_geom_3857 ON zone USING gist (geom_3857);

ALTER TABLE grid ADD COLUMN geom_3857 geometry(MultiPolygon, 3857)
    GENERATED ALWAYS AS (ST_Transform(geom, 3857)) STORED;
CREATE INDEX grid_geom_3857 ON grid USING gist (geom_3857);

ALTER TABLE violation_case ADD COLUMN geom_3857 geometry(Point, 3857)
    GENERATED ALWAYS AS (ST_Transform(geom, 3857)) STORED;
CREATE INDEX violation_case_geom_3857 ON violation_case USING gist (geom_3857);

ALTER TABLE violation_case ADD COLUMN change_xid xid8;
UPDATE violation_case SET change_xid = pg_current_xact_id();
CREATE INDEX violation_case_change_xid ON violation_case (change_xid);
CREATE FUNCTION weijian_case_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.change_xid := pg_current_xact_id();
    RETURN NEW;
END $$;
CREATE TRIGGER violation_case_changed BEFORE INSERT OR UPDATE ON violation_case
    FOR EACH ROW EXECUTE FUNCTION weijian_case_changed();

CREATE OR REPLACE VIEW active_zone AS
    SELECT z.id, l.name AS layer, v.number AS version, z.kind, z.code, z.name,
           z.area_m2, z.attributes, z.geom, z.geom_3857
    FROM zone z
    JOIN layer l ON l.active_version_id = z.version_id
    JOIN layer_version v ON v.id = z.version_id;
CREATE OR REPLACE VIEW active_grid AS
    SELECT g.id, g.level, v.number AS version, g.code, g.name, g.parent_code,
           g.responsible, g.area_m2, g.attributes, g.geom, g.geom_3857
    FROM grid g
    JOIN layer l ON l.active_version_id = g.version_id
    JOIN layer_version v ON v.id = g.version_id;
GRANT SELECT ON active_zone, active_grid TO weijian_app;
"""

DOWNGRADE = """
CREATE OR REPLACE VIEW active_zone AS
    SELECT z.id, l.name AS layer, v.number AS version, z.kind, z.code, z.name,
           z.area_m2, z.attributes, z.geom
    FROM zone z
    JOIN layer l ON l.active_version_id = z.version_id
    JOIN layer_version v ON v.id = z.version_id;
"""


def upgrade() -> None:
    op.execute(SCHEMA)


def downgrade() -> None:
    # a view loses columns only by being dropped and made again
    op.execute("DROP VIEW active_zone; DROP VIEW active_grid;")
    op.execute(
        DOWNGRADE
        + """
CREATE VIEW active_grid AS
    SELECT g.id, g.level, v.number AS version, g.code, g.name, g.parent_code,
           g.responsible, g.area_m2, g.attributes, g.geom
    FROM grid g
    JOIN layer l ON l.active_version_id = g.version_id
    JOIN layer_version v ON v.id = g.version_id;
GRANT SELECT ON active_zone, active_grid TO weijian_app;
"""
    )
    op.execute(
        "DROP TRIGGER violation_case_changed ON violation_case; "
        "DROP FUNCTION weijian_case_changed(); "
        "ALTER TABLE violation_case DROP COLUMN change_xid, DROP COLUMN geom_3857; "
        "ALTER TABLE grid DROP COLUMN geom_3857; ALTER TABLE zone DROP COLUMN geom_3857;"
    )
