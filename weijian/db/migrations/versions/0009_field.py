"""Reporting from the field: the idempotency keys of case-changing calls (a retry of the
offline queue answers the first answer again and changes nothing), where and when a phone
says a photo was taken (the app compresses photos, which drops their EXIF), and the
workflow's next version with the property company's and grid worker's 劝阻记录 (dissuade).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05
"""

from pathlib import Path

from alembic import op
from sqlalchemy import text

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

#: the seeded workflow's next version, frozen as it stood when this migration was written
SEED_WORKFLOW = Path(__file__).with_name("0009_workflow.json")

SCHEMA = """
-- one row per (caller, key): the first request's fingerprint and, once it succeeded, its
-- answer; case_id is written by the case's own transaction when the call made a case
CREATE TABLE idempotency_key (
    caller       text NOT NULL,
    key          text NOT NULL,
    method       text NOT NULL,
    path         text NOT NULL,
    body_sha256  text,
    status       integer,
    content_type text,
    response     bytea,
    case_id      bigint,
    created_at   timestamptz NOT NULL,
    answered_at  timestamptz,
    PRIMARY KEY (caller, key)
);
CREATE INDEX idempotency_key_created ON idempotency_key (created_at);
GRANT SELECT, INSERT, UPDATE, DELETE ON idempotency_key TO weijian_app;

-- what the phone said of a photo: when and where it was taken (CGCS2000)
ALTER TABLE case_evidence
    ADD COLUMN device_taken_at timestamptz,
    ADD COLUMN device_lon      double precision,
    ADD COLUMN device_lat      double precision;
"""


def _seed(path: Path, note: str) -> None:
    """The workflow's next version; active where a version the migrations seeded is (a city
    that loaded its own keeps it in force: the new version waits beside it)."""
    bind = op.get_bind()
    seeded_active = bind.execute(
        text("SELECT 1 FROM workflow_definition WHERE active AND created_by = 'migration'")
    ).first()
    version = bind.execute(
        text("SELECT coalesce(max(version), 0) + 1 FROM workflow_definition")
    ).scalar_one()
    if seeded_active:
        bind.execute(text("UPDATE workflow_definition SET active = false WHERE active"))
    bind.execute(
        text(
            "INSERT INTO workflow_definition (version, document, active, created_by, note) "
            "VALUES (:v, CAST(:doc AS jsonb), :active, 'migration', :note)"
        ),
        {
            "v": version,
            "doc": path.read_text(encoding="utf-8"),
            "active": bool(seeded_active),
            "note": note,
        },
    )


def upgrade() -> None:
    op.execute(SCHEMA)
    _seed(SEED_WORKFLOW, "移动端：物业公司、网格员的劝阻记录")


def downgrade() -> None:
    op.execute(
        "DELETE FROM workflow_definition WHERE created_by = 'migration' AND note = "
        "'移动端：物业公司、网格员的劝阻记录'; "
        "UPDATE workflow_definition SET active = (version = (SELECT max(version) "
        "FROM workflow_definition)) WHERE NOT EXISTS (SELECT 1 FROM workflow_definition "
        "WHERE active); "
        "ALTER TABLE case_evidence DROP COLUMN device_taken_at, DROP COLUMN device_lon, "
        "DROP COLUMN device_lat; "
        "DROP TABLE idempotency_key"
    )
