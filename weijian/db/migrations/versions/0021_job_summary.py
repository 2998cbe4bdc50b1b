"""A finished job's figures (``job.summary``): what its file says in a few numbers, for the page
that asked for it — a 12345 hotline import's rows, the cases it made, the work orders imported
before and the rows refused — read back by ``GET /api/v1/jobs/{id}``. Null for the kinds whose
file says it all (an atlas, a workbook of figures) and for unfinished jobs. A nullable column
without a default: added without rewriting the table.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-05
"""

from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE job ADD COLUMN summary jsonb")


def downgrade() -> None:
    op.execute("ALTER TABLE job DROP COLUMN summary")
