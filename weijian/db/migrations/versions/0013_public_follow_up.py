"""The public's part of a case: the outcome text an officer writes for the reporter to read
(``violation_case.public_outcome``), and the reporter's rating of the handling once the case is
closed (``case_rating``, one per case, 1 to 5 with a comment).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05
"""

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

UPGRADE = """
ALTER TABLE violation_case ADD COLUMN public_outcome text,
                           ADD COLUMN public_outcome_at timestamptz;
-- a rating is given once and never changed
CREATE TABLE case_rating (
    case_id   bigint PRIMARY KEY REFERENCES violation_case (id),
    score     smallint NOT NULL CHECK (score BETWEEN 1 AND 5),
    comment   text,
    rated_at  timestamptz NOT NULL
);
CREATE INDEX case_rating_rated_at ON case_rating (rated_at);
GRANT SELECT, INSERT ON case_rating TO weijian_app;
REVOKE UPDATE, DELETE, TRUNCATE ON case_rating FROM weijian_app;
"""

DOWNGRADE = """
DROP TABLE case_rating;
ALTER TABLE violation_case DROP COLUMN public_outcome, DROP COLUMN public_outcome_at;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
