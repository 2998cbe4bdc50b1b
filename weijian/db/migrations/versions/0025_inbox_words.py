"""The inbox's indexes carry the searched words: a 待办 counted under a search is read from its
index alone, not from the cases' rows.

A search for a word most cases hold (2026, in every number of the year) cannot be narrowed by
the index of characters (0024); each tab's count then tested every open case of the department
or the grid in its row, one page of the table for every two or three cases: 65,708 cases,
36,578 pages, about 100 ms for the busiest district of a 1,000,000-case city. With number,
address and description in the inbox's indexes the same count reads about 900 index pages,
20 ms, the state and the assignee already being there.

A B-tree entry holds at most about 2,700 bytes: a description may have 2,000 characters (up to
8,000 bytes), so each index holds the open cases whose description has at most
``INDEXED_DESCRIPTION_BYTES`` (1,200 bytes, 400 Chinese characters; an address has at most
200 characters). The few longer ones have an index of their own (``_inbox_long``); the inbox
reads each branch of a tab from both (``weijian.cases.inbox``), and its conditions name the
same bound as the indexes' predicates, which is how PostgreSQL takes them. Statistics of the
descriptions' lengths tell PostgreSQL how few the long ones are. On 1,000,000 cases (350,000
open) the migration takes about 4 s, its ANALYZE included; each index is 33–40 MB.

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-06
"""

from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None

#: the longest description (bytes) the inbox's indexes hold; ``weijian.cases.inbox`` names it
INDEXED_DESCRIPTION_BYTES = 1200
SHORT = f"is_open AND octet_length(description) <= {INDEXED_DESCRIPTION_BYTES}"
LONG = f"is_open AND octet_length(description) > {INDEXED_DESCRIPTION_BYTES}"
WORDS = "number, address, description"

UPGRADE = f"""
DROP INDEX violation_case_inbox_department, violation_case_inbox_district,
           violation_case_inbox_town, violation_case_inbox_community;
CREATE INDEX violation_case_inbox_department ON violation_case (department_code, stage_due, id)
    INCLUDE (state, assignee_user_id, {WORDS}) WHERE {SHORT};
CREATE INDEX violation_case_inbox_district ON violation_case (district_code, state, stage_due, id)
    INCLUDE (department_code, {WORDS}) WHERE {SHORT};
CREATE INDEX violation_case_inbox_town ON violation_case (town_code, state, stage_due, id)
    INCLUDE ({WORDS}) WHERE {SHORT};
CREATE INDEX violation_case_inbox_community ON violation_case (community_code, state, stage_due, id)
    INCLUDE ({WORDS}) WHERE {SHORT};
CREATE INDEX violation_case_inbox_long ON violation_case (stage_due, id) WHERE {LONG};
-- how few the long descriptions are: without it PostgreSQL guesses a third of the cases and
-- reads a whole department's rows for them rather than the small index
CREATE STATISTICS violation_case_description_bytes ON (octet_length(description))
    FROM violation_case;
ANALYZE violation_case;
"""

DOWNGRADE = """
DROP STATISTICS violation_case_description_bytes;
DROP INDEX violation_case_inbox_department, violation_case_inbox_district,
           violation_case_inbox_town, violation_case_inbox_community, violation_case_inbox_long;
CREATE INDEX violation_case_inbox_department
    ON violation_case (department_code, stage_due, id) INCLUDE (state, assignee_user_id)
    WHERE is_open;
CREATE INDEX violation_case_inbox_district
    ON violation_case (district_code, state, stage_due, id) INCLUDE (department_code)
    WHERE is_open;
CREATE INDEX violation_case_inbox_town
    ON violation_case (town_code, state, stage_due, id) WHERE is_open;
CREATE INDEX violation_case_inbox_community
    ON violation_case (community_code, state, stage_due, id) WHERE is_open;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
