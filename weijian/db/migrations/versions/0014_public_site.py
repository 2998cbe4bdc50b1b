"""The public site: the proof-of-work challenges a citizen's browser solves once an address has
sent its hour's share of anonymous reports (``public_challenge``, each used once), and the
assessment indicators' next version, which adds 群众评价满意度 — the reporters' ratings of the
handling (weight 0: a city weighs it in its own definitions).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05
"""

from pathlib import Path

from alembic import op
from sqlalchemy import text

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

#: the assessment indicators' next version, frozen as it stood when this migration was written
SEED_DEFINITIONS = Path(__file__).with_name("0014_assessment.json")
NOTE = "群众评价满意度"

SCHEMA = """
CREATE TABLE public_challenge (
    nonce       text PRIMARY KEY,
    bits        smallint NOT NULL CHECK (bits BETWEEN 1 AND 32),
    issued_at   timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz
);
CREATE INDEX public_challenge_expires ON public_challenge (expires_at);
GRANT SELECT, INSERT, UPDATE, DELETE ON public_challenge TO weijian_app;
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
        "DROP TABLE public_challenge;"
    )
