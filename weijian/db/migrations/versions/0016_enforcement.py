"""Enforcement documents (执法文书) numbered per department, kind and year; recorder footage
(执法记录仪) kept on disk by the evidence store with its start time and duration; the joint
meeting's (联席会议) lists of key cases and their decisions; and the workflow's next version
with the documents' steps and the meeting's decision as a stage deadline.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-05
"""

from pathlib import Path

from alembic import op
from sqlalchemy import text

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

#: the seeded workflow's next version, frozen as it stood when this migration was written
SEED_WORKFLOW = Path(__file__).with_name("0016_workflow.json")
NOTE = "执法文书、联席会议决定"

SCHEMA = """
-- the last number used per issuing department, kind of document and year: taken under the
-- row's lock by the transaction that issues, so a number is used only by a document issued
CREATE TABLE document_sequence (
    department_code text NOT NULL,
    kind            text NOT NULL,
    year            integer NOT NULL,
    last_number     integer NOT NULL,
    PRIMARY KEY (department_code, kind, year)
);
GRANT SELECT, INSERT, UPDATE ON document_sequence TO weijian_app;

-- an issued document: its PDF is case evidence (kind 'document', by its sha256); it is never
-- changed, only voided or superseded by a later one, which keeps it
CREATE TABLE enforcement_document (
    id              bigserial PRIMARY KEY,
    case_id         bigint NOT NULL REFERENCES violation_case (id),
    kind            text NOT NULL,
    department_code text NOT NULL,
    department_name text NOT NULL,
    year            integer NOT NULL,
    serial          integer NOT NULL,
    number          text NOT NULL,
    title           text NOT NULL,
    status          text NOT NULL DEFAULT 'issued'
                    CHECK (status IN ('issued', 'voided', 'superseded')),
    fields          jsonb NOT NULL,
    deadline_days   integer,
    sha256          text NOT NULL,
    size            bigint NOT NULL,
    pages           integer NOT NULL,
    supersedes      bigint REFERENCES enforcement_document (id),
    serves          bigint REFERENCES enforcement_document (id),
    issued_by       integer REFERENCES app_user (id),
    issued_at       timestamptz NOT NULL,
    served_on       date,
    service_method  text,
    voided_by       integer REFERENCES app_user (id),
    voided_at       timestamptz,
    void_reason     text,
    UNIQUE (department_code, kind, year, serial)
);
CREATE INDEX enforcement_document_case ON enforcement_document (case_id);
GRANT SELECT, INSERT, UPDATE ON enforcement_document TO weijian_app;
GRANT USAGE, SELECT ON SEQUENCE enforcement_document_id_seq TO weijian_app;

-- footage of a law-enforcement recorder: on disk always (a bytea caps at 1 GB), its start and
-- length read from the file, and the step it belongs to
ALTER TABLE case_evidence
    ADD COLUMN recorded_at  timestamptz,
    ADD COLUMN duration_s   double precision,
    ADD COLUMN event_seq    integer;

-- the joint meeting of a district on a date, and the key cases put before it
CREATE TABLE joint_meeting (
    id            bigserial PRIMARY KEY,
    district_code text NOT NULL,
    district_name text NOT NULL,
    held_on       date NOT NULL,
    title         text NOT NULL,
    created_by    integer REFERENCES app_user (id),
    created_at    timestamptz NOT NULL,
    UNIQUE (district_code, held_on)
);
GRANT SELECT, INSERT, UPDATE ON joint_meeting TO weijian_app;
GRANT USAGE, SELECT ON SEQUENCE joint_meeting_id_seq TO weijian_app;

CREATE TABLE joint_meeting_case (
    meeting_id   bigint NOT NULL REFERENCES joint_meeting (id),
    case_id      bigint NOT NULL REFERENCES violation_case (id),
    position     integer NOT NULL,
    reasons      jsonb NOT NULL,
    decision     text,
    assignee     text,
    decided_due  date,
    decided_by   integer REFERENCES app_user (id),
    decided_at   timestamptz,
    PRIMARY KEY (meeting_id, case_id)
);
CREATE INDEX joint_meeting_case_case ON joint_meeting_case (case_id);
GRANT SELECT, INSERT, UPDATE, DELETE ON joint_meeting_case TO weijian_app;
"""

DROP = """
DROP TABLE joint_meeting_case;
DROP TABLE joint_meeting;
ALTER TABLE case_evidence DROP COLUMN recorded_at, DROP COLUMN duration_s,
    DROP COLUMN event_seq;
DROP TABLE enforcement_document;
DROP TABLE document_sequence;
"""


def _seed(path: Path, note: str) -> None:
    """The workflow's next version; active where a version the migrations seeded is (a city
    that loaded its own keeps it in force: the new version waits beside it)."""
    bind = op.get_bind()
    seeded_active = bind.execute(
        text("SELECT 1 FROM workflow_definition WHERE active AND created_by = 'migration'")
    ).first()
    version = bind.execute(
        text("SELECT coalesce(max(version), 0) + 1 FROM workflow_definition")
    ).scalar_one()
    if seeded_active:
        bind.execute(text("UPDATE workflow_definition SET active = false WHERE active"))
    bind.execute(
        text(
            "INSERT INTO workflow_definition (version, document, active, created_by, note) "
            "VALUES (:v, CAST(:doc AS jsonb), :active, 'migration', :note)"
        ),
        {
            "v": version,
            "doc": path.read_text(encoding="utf-8"),
            "active": bool(seeded_active),
            "note": note,
        },
    )


def upgrade() -> None:
    op.execute(SCHEMA)
    _seed(SEED_WORKFLOW, NOTE)


def downgrade() -> None:
    op.execute(
        f"DELETE FROM workflow_definition WHERE created_by = 'migration' AND note = '{NOTE}'; "
        "UPDATE workflow_definition SET active = (version = (SELECT max(version) "
        "FROM workflow_definition)) WHERE NOT EXISTS (SELECT 1 FROM workflow_definition "
        "WHERE active);"
    )
    op.execute(DROP)
