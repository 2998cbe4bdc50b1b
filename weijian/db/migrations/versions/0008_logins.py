"""Logins: failed attempts counted per account and per client address (a growing wait, then
an account locked until an administrator unlocks it), and the mark of a database the demo
created itself (where the documented demo password may be used).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

SCHEMA = """
-- one row per account name or client address that failed to log in lately
CREATE TABLE login_failure (
    kind         text NOT NULL CHECK (kind IN ('account', 'address')),
    key          text NOT NULL,
    failures     integer NOT NULL,
    last_failure timestamptz NOT NULL,
    locked_at    timestamptz,
    PRIMARY KEY (kind, key)
);
CREATE INDEX login_failure_stale ON login_failure (last_failure) WHERE locked_at IS NULL;
CREATE INDEX login_failure_locked ON login_failure (locked_at) WHERE locked_at IS NOT NULL;
GRANT SELECT, INSERT, UPDATE, DELETE ON login_failure TO weijian_app;

-- one row at most: this database was created by `weijian demo`
CREATE TABLE demo_database (
    only_one   boolean PRIMARY KEY DEFAULT true CHECK (only_one),
    created_at timestamptz NOT NULL DEFAULT now()
);
GRANT SELECT ON demo_database TO weijian_app;
"""


def upgrade() -> None:
    op.execute(SCHEMA)


def downgrade() -> None:
    op.execute("DROP TABLE demo_database; DROP TABLE login_failure;")
