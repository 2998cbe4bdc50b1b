"""The gate log (门岗登记): what a property company's gate saw enter a compound — building or
renovation materials, for which unit, with or without a permit, stopped or let in — kept
append-only, and the warnings that repeated entries without a permit raise for the compound's
grid worker, each linked to the case it became.

Revision ID: 0011
Revises: 0008
Create Date: 2026-12-05
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

SCHEMA = """
-- one row per delivery seen at a compound's gate; never changed, never deleted (the
-- trigger of case_event); idempotency_key: a queued entry sent again is recorded once
CREATE TABLE gate_log_entry (
    id              bigserial PRIMARY KEY,
    compound_code   text NOT NULL,
    community_code  text,
    town_code       text,
    district_code   text,
    made_at         timestamptz NOT NULL,
    unit            text NOT NULL,
    unit_key        text NOT NULL,
    materials       text[] NOT NULL,
    material_note   text,
    permit_shown    boolean NOT NULL,
    permit_no       text,
    decision        text NOT NULL CHECK (decision IN ('stopped', 'let_in')),
    note            text,
    lon             double precision,
    lat             double precision,
    recorded_by     integer NOT NULL REFERENCES app_user (id),
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    idempotency_key text,
    UNIQUE (recorded_by, idempotency_key)
);
CREATE INDEX gate_log_entry_compound ON gate_log_entry (compound_code, made_at DESC);
CREATE INDEX gate_log_entry_unit ON gate_log_entry (compound_code, unit_key, made_at);
CREATE TRIGGER gate_log_entry_append_only BEFORE UPDATE OR DELETE ON gate_log_entry
    FOR EACH ROW EXECUTE FUNCTION weijian_append_only();

-- a unit whose entries met the warning rule; open until someone makes it a report
CREATE TABLE gate_log_warning (
    id              bigserial PRIMARY KEY,
    compound_code   text NOT NULL,
    community_code  text,
    town_code       text,
    district_code   text,
    unit            text NOT NULL,
    unit_key        text NOT NULL,
    rule            jsonb NOT NULL,
    raised_at       timestamptz NOT NULL,
    last_entry_at   timestamptz NOT NULL,
    entry_ids       bigint[] NOT NULL,
    case_number     text,
    reported_by     integer REFERENCES app_user (id),
    reported_at     timestamptz
);
CREATE UNIQUE INDEX gate_log_warning_open ON gate_log_warning (compound_code, unit_key)
    WHERE case_number IS NULL;
CREATE INDEX gate_log_warning_compound ON gate_log_warning (compound_code, raised_at DESC);

GRANT SELECT, INSERT ON gate_log_entry TO weijian_app;
REVOKE UPDATE, DELETE, TRUNCATE ON gate_log_entry FROM weijian_app;
GRANT SELECT, INSERT, UPDATE ON gate_log_warning TO weijian_app;
REVOKE DELETE, TRUNCATE ON gate_log_warning FROM weijian_app;
GRANT USAGE, SELECT ON SEQUENCE gate_log_entry_id_seq, gate_log_warning_id_seq TO weijian_app;
"""


def upgrade() -> None:
    op.execute(SCHEMA)


def downgrade() -> None:
    op.execute("DROP TABLE gate_log_entry; DROP TABLE gate_log_warning;")
