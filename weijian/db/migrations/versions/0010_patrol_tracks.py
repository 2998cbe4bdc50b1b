"""Patrol tracks: a grid worker's walk recorded by the field app, as a line in CGCS2000 with
the time of every vertex (a LineStringM, M = seconds since the epoch), the points as received
(each once, by its time) and what was dropped. The assessment indicators' fourth version adds
巡查覆盖率 and 周均巡查次数 (weight 0: a city weighs them in its own definitions).

Revision ID: 0010
Revises: 0008
Create Date: 2026-12-05
"""

from pathlib import Path

from alembic import op
from sqlalchemy import text

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

#: the assessment indicators' fourth version, frozen as it stood when this migration was written
SEED_DEFINITIONS = Path(__file__).with_name("0010_assessment.json")
NOTE = "巡查覆盖率、周均巡查次数"

SCHEMA = """
CREATE TABLE patrol_track (
    id                bigserial PRIMARY KEY,
    user_id           integer NOT NULL REFERENCES app_user (id) ON DELETE CASCADE,
    -- the worker's grid and the grids above it when the patrol began (who may read it)
    grid_code         text,
    grid_chain        text[] NOT NULL DEFAULT '{}',
    started_at        timestamptz NOT NULL,
    ended_at          timestamptz,
    point_count       integer NOT NULL DEFAULT 0,
    dropped_inaccurate integer NOT NULL DEFAULT 0,
    dropped_jump      integer NOT NULL DEFAULT 0,
    length_m          double precision NOT NULL DEFAULT 0,
    grids_crossed     text[] NOT NULL DEFAULT '{}',
    geom              geometry(LineStringM, 4490),
    created_at        timestamptz NOT NULL DEFAULT now(),
    -- a start sent again (the app retries) finds the same track
    UNIQUE (user_id, started_at)
);
CREATE INDEX patrol_track_geom_idx ON patrol_track USING gist (geom);
CREATE INDEX patrol_track_started_idx ON patrol_track (started_at);
CREATE INDEX patrol_track_chain_idx ON patrol_track USING gin (grid_chain);

-- every point the app sent, once per moment: a batch sent again changes nothing
CREATE TABLE patrol_point (
    track_id  bigint NOT NULL REFERENCES patrol_track (id) ON DELETE CASCADE,
    t         timestamptz NOT NULL,
    lon       double precision NOT NULL,
    lat       double precision NOT NULL,
    accuracy  double precision,
    PRIMARY KEY (track_id, t)
);

GRANT SELECT, INSERT, UPDATE, DELETE ON patrol_track, patrol_point TO weijian_app;
GRANT USAGE, SELECT, UPDATE ON SEQUENCE patrol_track_id_seq TO weijian_app;
"""


def _seed_definitions() -> None:
    """A new version of the seeded definitions; active where the newest seeded version is in
    force (a city that loaded its own keeps it: the new version waits beside it)."""
    bind = op.get_bind()
    seeded_active = bind.execute(
        text(
            "SELECT 1 FROM assessment_definition WHERE active AND created_by = 'migration' "
            "AND version = (SELECT max(version) FROM assessment_definition "
            "WHERE created_by = 'migration')"
        )
    ).first()
    version = bind.execute(
        text("SELECT coalesce(max(version), 0) + 1 FROM assessment_definition")
    ).scalar_one()
    if seeded_active:
        bind.execute(text("UPDATE assessment_definition SET active = false WHERE active"))
    bind.execute(
        text(
            "INSERT INTO assessment_definition (version, document, active, created_by, note) "
            "VALUES (:v, CAST(:doc AS jsonb), :active, 'migration', :note)"
        ),
        {
            "v": version,
            "doc": SEED_DEFINITIONS.read_text(encoding="utf-8"),
            "active": bool(seeded_active),
            "note": NOTE,
        },
    )


def upgrade() -> None:
    op.execute(SCHEMA)
    _seed_definitions()


def downgrade() -> None:
    op.execute(
        f"DELETE FROM assessment_definition WHERE created_by = 'migration' AND note = '{NOTE}'; "
        "UPDATE assessment_definition SET active = (version = (SELECT max(version) "
        "FROM assessment_definition)); "
        "DROP TABLE patrol_point; DROP TABLE patrol_track;"
    )
