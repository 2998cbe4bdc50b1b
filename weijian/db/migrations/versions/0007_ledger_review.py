"""The ledger's submission and review (台账报送与审核): a submission names the person who filled
it in (填报人) and, optionally, who checked it (审核人), carries the signed and stamped scan (its
sha256, type, name and where its bytes are kept, as evidence is kept) and the earlier
submission of the same town and month it supersedes; the district's decision on a submission
(接收 or 退回 with a reason) is a row of its own in ``ledger_review``. Both tables are
append-only: the current state is derived (the latest submission, its latest review). The
assessment indicators' third version adds 台账报送率.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""

from pathlib import Path

from alembic import op
from sqlalchemy import text

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

#: the assessment indicators' third version, frozen as it stood when this migration was written
SEED_DEFINITIONS = Path(__file__).with_name("0007_assessment.json")

SCHEMA = """
ALTER TABLE ledger_submission
    ADD COLUMN reviewer_name   text,
    ADD COLUMN supersedes      bigint REFERENCES ledger_submission (id),
    ADD COLUMN scan_sha256     text,
    ADD COLUMN scan_media_type text,
    ADD COLUMN scan_filename   text,
    ADD COLUMN scan_size       integer,
    ADD COLUMN scan_storage    text,
    ADD COLUMN scan_path       text,
    ADD COLUMN scan_content    bytea;
-- a submission is superseded once at most: the history of a town's month is one line
CREATE UNIQUE INDEX ledger_submission_supersedes ON ledger_submission (supersedes)
    WHERE supersedes IS NOT NULL;

CREATE TABLE ledger_review (
    id            bigserial PRIMARY KEY,
    submission_id bigint NOT NULL REFERENCES ledger_submission (id),
    decision      text NOT NULL CHECK (decision IN ('accepted', 'returned')),
    reason        text,
    reviewed_by   integer REFERENCES app_user (id),
    reviewer_name text NOT NULL,
    reviewed_at   timestamptz NOT NULL,
    CHECK (decision = 'accepted' OR coalesce(btrim(reason), '') <> '')
);
CREATE INDEX ledger_review_submission ON ledger_review (submission_id, reviewed_at);
CREATE TRIGGER ledger_review_append_only BEFORE UPDATE OR DELETE ON ledger_review
    FOR EACH ROW EXECUTE FUNCTION weijian_append_only();

GRANT SELECT, INSERT ON ledger_review TO weijian_app;
GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO weijian_app;
"""


def _seed(table: str, path: Path, note: str) -> None:
    """A new version of a seeded document; active where the newest seeded version is in force
    (a city that loaded its own keeps it: the new version waits beside it)."""
    bind = op.get_bind()
    seeded_active = bind.execute(
        text(
            f"SELECT 1 FROM {table} WHERE active AND created_by = 'migration' AND version = "
            f"(SELECT max(version) FROM {table} WHERE created_by = 'migration')"
        )
    ).first()
    version = bind.execute(text(f"SELECT coalesce(max(version), 0) + 1 FROM {table}")).scalar_one()
    if seeded_active:
        bind.execute(text(f"UPDATE {table} SET active = false WHERE active"))
    bind.execute(
        text(
            f"INSERT INTO {table} (version, document, active, created_by, note) "
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
    _seed("assessment_definition", SEED_DEFINITIONS, "台账报送率")


def downgrade() -> None:
    op.execute(
        "DELETE FROM assessment_definition WHERE created_by = 'migration' AND note = '台账报送率'; "
        "UPDATE assessment_definition SET active = (version = (SELECT max(version) "
        "FROM assessment_definition)); "
        "DROP TABLE ledger_review; "
        "DROP INDEX IF EXISTS ledger_submission_supersedes; "
        "ALTER TABLE ledger_submission DROP COLUMN reviewer_name, DROP COLUMN supersedes, "
        "DROP COLUMN scan_sha256, DROP COLUMN scan_media_type, DROP COLUMN scan_filename, "
        "DROP COLUMN scan_size, DROP COLUMN scan_storage, DROP COLUMN scan_path, "
        "DROP COLUMN scan_content"
    )
