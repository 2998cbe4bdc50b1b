"""Patrol tracks: a grid worker's walk recorded by the field app, as a line in CGCS2000 with
the time of every vertex (a LineStringM, M = seconds since the epoch), the points as received
(each once, by its time) and what was dropped.

Revision ID: 0010
Revises: 0008
Create Date: 2026-12-05
"""

from alembic import op

revision = "0010"
down_revision = "0008"
branch_labels = None
depends_on = None

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


def upgrade() -> None:
    op.execute(SCHEMA)


def downgrade() -> None:
    op.execute("DROP TABLE patrol_point; DROP TABLE patrol_track;")
