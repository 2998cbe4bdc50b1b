"""Recorder footage is evidence of its own kind: ``case_evidence.kind`` allows ``video``, and
the footage stored before (as ``document`` with a ``video/…`` media type, the only way 0003's
CHECK allowed) is given it.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-05
"""

from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE case_evidence DROP CONSTRAINT case_evidence_kind_check")
    op.execute(
        "ALTER TABLE case_evidence ADD CONSTRAINT case_evidence_kind_check "
        "CHECK (kind IN ('photo', 'document', 'video'))"
    )
    op.execute("UPDATE case_evidence SET kind = 'video' WHERE media_type LIKE 'video/%'")


def downgrade() -> None:
    op.execute("UPDATE case_evidence SET kind = 'document' WHERE kind = 'video'")
    op.execute("ALTER TABLE case_evidence DROP CONSTRAINT case_evidence_kind_check")
    op.execute(
        "ALTER TABLE case_evidence ADD CONSTRAINT case_evidence_kind_check "
        "CHECK (kind IN ('photo', 'document'))"
    )
