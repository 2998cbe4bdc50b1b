"""The planner told how many distinct grid chains the cases have: the figures group the cases by
their four grid codes (district, town, community, compound), and without this PostgreSQL
multiplies the columns' own counts of distinct values and expects some 100,000 groups for a
city of 5,000 compounds. Expecting a hash of 100,000 groups not to fit in ``work_mem``, it sorted
every case instead (half a second of a million-case city's statistics page). Extended
statistics give it the true number; ``ANALYZE`` fills them now, autovacuum keeps them.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-06
"""

from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "CREATE STATISTICS violation_case_units (ndistinct) "
        "ON district_code, town_code, community_code, compound_code FROM violation_case"
    )
    op.execute("ANALYZE violation_case")


def downgrade() -> None:
    op.execute("DROP STATISTICS violation_case_units")
