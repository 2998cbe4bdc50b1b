"""One record of what a keyed request made: the idempotency key names the row it made — a case
or a gate-log entry — written in that row's own transaction (``made_kind``, ``made_id``), in
place of the key's ``case_id`` and the gate log's own ``idempotency_key`` column.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

UPGRADE = """
ALTER TABLE idempotency_key ADD COLUMN made_kind text, ADD COLUMN made_id bigint;
UPDATE idempotency_key SET made_kind = 'case', made_id = case_id WHERE case_id IS NOT NULL;
ALTER TABLE idempotency_key DROP COLUMN case_id;
-- the gate log's keys, moved onto the one table of keys
INSERT INTO idempotency_key (caller, key, method, path, created_at, made_kind, made_id)
    SELECT 'user:' || recorded_by, idempotency_key, 'POST', '/api/v1/gate-log', recorded_at,
           'gate_log_entry', id
    FROM gate_log_entry WHERE idempotency_key IS NOT NULL
    ON CONFLICT (caller, key) DO UPDATE SET made_kind = EXCLUDED.made_kind,
                                            made_id = EXCLUDED.made_id;
ALTER TABLE gate_log_entry DROP COLUMN idempotency_key;
"""

DOWNGRADE = """
ALTER TABLE gate_log_entry ADD COLUMN idempotency_key text;
ALTER TABLE gate_log_entry ADD CONSTRAINT gate_log_entry_recorded_by_idempotency_key_key
    UNIQUE (recorded_by, idempotency_key);
ALTER TABLE gate_log_entry DISABLE TRIGGER gate_log_entry_append_only;
UPDATE gate_log_entry e SET idempotency_key = k.key FROM idempotency_key k
    WHERE k.made_kind = 'gate_log_entry' AND k.made_id = e.id;
ALTER TABLE gate_log_entry ENABLE TRIGGER gate_log_entry_append_only;
ALTER TABLE idempotency_key ADD COLUMN case_id bigint;
UPDATE idempotency_key SET case_id = made_id WHERE made_kind = 'case';
ALTER TABLE idempotency_key DROP COLUMN made_kind, DROP COLUMN made_id;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
