"""Ledger submissions, clear-to-zero campaigns with their baselines, assessment definitions as
data; an index on events by action and time for the period queries.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from pathlib import Path

from alembic import op
from sqlalchemy import text

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

#: the seeded assessment indicators, frozen as they stood when this migration was written
SEED_DEFINITIONS = Path(__file__).with_name("0004_assessment.json")

SCHEMA = """
CREATE TABLE ledger_submission (
    id             bigserial PRIMARY KEY,
    town_code      text NOT NULL,
    month          date NOT NULL CHECK (extract(day FROM month) = 1),
    submitted_by   integer REFERENCES app_user (id),
    submitter_name text NOT NULL,
    submitted_at   timestamptz NOT NULL,
    case_count     integer NOT NULL,
    sha256         text NOT NULL,
    note           text
);
CREATE INDEX ledger_submission_town_month ON ledger_submission (town_code, month);
CREATE TRIGGER ledger_submission_append_only BEFORE UPDATE OR DELETE ON ledger_submission
    FOR EACH ROW EXECUTE FUNCTION weijian_append_only();

CREATE TABLE campaign (
    id          serial PRIMARY KEY,
    name        text NOT NULL,
    start_date  date NOT NULL,
    end_date    date,
    district_code text,
    created_by  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    note        text
);

CREATE TABLE campaign_baseline (
    campaign_id    integer NOT NULL REFERENCES campaign (id) ON DELETE CASCADE,
    case_id        bigint NOT NULL REFERENCES violation_case (id),
    district_code  text NOT NULL,
    town_code      text,
    community_code text,
    compound_code  text,
    PRIMARY KEY (campaign_id, case_id)
);

CREATE TABLE assessment_definition (
    version     integer PRIMARY KEY,
    document    jsonb NOT NULL,
    active      boolean NOT NULL DEFAULT false,
    created_by  text,
    note        text,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX assessment_definition_one_active ON assessment_definition (active)
    WHERE active;

CREATE INDEX case_event_action_at ON case_event (action, at);
CREATE INDEX violation_case_signed_off_at ON violation_case (signed_off_at)
    WHERE signed_off_at IS NOT NULL;
"""


def upgrade() -> None:
    op.execute(SCHEMA)
    op.get_bind().execute(
        text(
            "INSERT INTO assessment_definition (version, document, active, created_by, note) "
            "VALUES (1, CAST(:doc AS jsonb), true, 'migration', :note)"
        ),
        {"doc": SEED_DEFINITIONS.read_text(encoding="utf-8"), "note": "默认考评指标"},
    )
    # the application's role reads and writes the new tables (default privileges cover
    # tables this owner creates; said again for owners that differ)
    op.execute(
        "GRANT SELECT, INSERT, UPDATE, DELETE ON ledger_submission, campaign, campaign_baseline, "
        "assessment_definition TO weijian_app; "
        "GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO weijian_app"
    )


def downgrade() -> None:
    op.execute(
        "DROP INDEX IF EXISTS case_event_action_at; DROP INDEX IF EXISTS "
        "violation_case_signed_off_at; DROP TABLE assessment_definition, campaign_baseline, "
        "campaign, ledger_submission"
    )
