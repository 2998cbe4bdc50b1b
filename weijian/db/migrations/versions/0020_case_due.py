"""What a case's deadlines stood at after each of its steps (``case_due``): the earliest due
moment of the deadlines not yet met and the end of the rectification period last given, kept
by the case service in the transaction of the step (``cases/stages.py`` · ``restage``, with the
domain's evaluation), so that a town's monthly ledger reads a case's state at the month's end
instead of evaluating its deadlines again. Whether a case is overdue changes with time alone
and is not kept: it is read as ``pending_due < the moment``.

A row belongs to the case's event ``seq`` it was evaluated after; a later event of an action
the deadlines do not read (evidence, an urge, a link) leaves it valid. The table starts empty:
the rows are the domain's to compute (this migration imports nothing of the application), so
the server's start fills in the current row of every open case (``restage_all``), and until a
case has one the ledger evaluates its deadlines as before.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-05
"""

from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

SCHEMA = """
CREATE TABLE case_due (
    case_id             bigint NOT NULL REFERENCES violation_case (id) ON DELETE CASCADE,
    seq                 integer NOT NULL,
    pending_due         timestamptz,
    rectification_due   timestamptz,
    PRIMARY KEY (case_id, seq)
);
GRANT SELECT, INSERT, UPDATE, DELETE ON case_due TO weijian_app;
"""


def upgrade() -> None:
    op.execute(SCHEMA)


def downgrade() -> None:
    op.execute("DROP TABLE case_due")
