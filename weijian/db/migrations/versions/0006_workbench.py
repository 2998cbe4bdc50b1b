"""The workbench: each case's current stage and its deadline (kept by the case service on every
event, indexed for the inbox), its last event, urges (督办/催办) with their answers, the cases a
user follows; the workflow's second version (a department leader's role, stage deadlines as
data, the service of documents), made active where the seeded first version still is.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

from pathlib import Path

from alembic import op
from sqlalchemy import text

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

#: the seeded workflow's and assessment indicators' second versions, frozen as they stood
#: when this migration was written
SEED_WORKFLOW = Path(__file__).with_name("0006_workflow.json")
SEED_DEFINITIONS = Path(__file__).with_name("0006_assessment.json")

SCHEMA = """
-- the type of a user's department: a department leader's is not his role
ALTER TABLE app_user ADD COLUMN department_type text;
UPDATE app_user SET department_type = role WHERE department_code IS NOT NULL;

ALTER TABLE violation_case
    ADD COLUMN stage_code    text,
    ADD COLUMN stage_due     timestamptz,
    ADD COLUMN last_event_at timestamptz,
    ADD COLUMN last_action   text;

-- the last event of the cases there are; their stage is set by `weijian cases restage`
UPDATE violation_case v SET last_event_at = e.at, last_action = e.action
FROM (SELECT DISTINCT ON (case_id) case_id, at, action FROM case_event
      ORDER BY case_id, seq DESC) e
WHERE e.case_id = v.id;

-- the inbox: each branch of a 待办 read in the order of urgency, counted from the index alone
CREATE INDEX violation_case_inbox_department
    ON violation_case (department_code, stage_due, id) INCLUDE (state, assignee_user_id)
    WHERE is_open;
CREATE INDEX violation_case_inbox_assignee
    ON violation_case (assignee_user_id, stage_due, id) WHERE is_open;
CREATE INDEX violation_case_inbox_district
    ON violation_case (district_code, state, stage_due, id) INCLUDE (department_code)
    WHERE is_open;
CREATE INDEX violation_case_inbox_town
    ON violation_case (town_code, state, stage_due, id) WHERE is_open;
CREATE INDEX violation_case_inbox_community
    ON violation_case (community_code, state, stage_due, id) WHERE is_open;
CREATE INDEX violation_case_stalled ON violation_case (last_event_at) WHERE is_open;
CREATE INDEX case_event_actor ON case_event (actor_user_id, at DESC)
    WHERE actor_user_id IS NOT NULL;

CREATE TABLE case_urge (
    id                  bigserial PRIMARY KEY,
    case_id             bigint NOT NULL REFERENCES violation_case (id),
    batch               uuid,
    urged_by_user_id    integer REFERENCES app_user (id),
    urged_by_name       text NOT NULL,
    urged_by_role       text NOT NULL,
    to_department_code  text,
    to_user_id          integer REFERENCES app_user (id),
    note                text NOT NULL,
    urged_at            timestamptz NOT NULL,
    reply_due           timestamptz NOT NULL,
    answered_at         timestamptz,
    answered_by_user_id integer REFERENCES app_user (id),
    answered_by_name    text,
    answer              text,
    CHECK (reply_due > urged_at)
);
CREATE INDEX case_urge_case ON case_urge (case_id, urged_at);
CREATE INDEX case_urge_open_department ON case_urge (to_department_code, reply_due)
    WHERE answered_at IS NULL;
CREATE INDEX case_urge_open_user ON case_urge (to_user_id, reply_due) WHERE answered_at IS NULL;
CREATE INDEX case_urge_urged_at ON case_urge (urged_at);
-- is this photo already attached to any case? (a site visit wants new evidence)
CREATE INDEX case_evidence_sha256 ON case_evidence (sha256);

CREATE TABLE case_follow (
    user_id integer NOT NULL REFERENCES app_user (id) ON DELETE CASCADE,
    case_id bigint NOT NULL REFERENCES violation_case (id),
    since   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, case_id)
);

GRANT SELECT, INSERT, UPDATE, DELETE ON case_urge, case_follow TO weijian_app;
GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO weijian_app;
"""


def _seed(table: str, path: Path, note: str) -> None:
    """A new version of a seeded document; active where the seeded first version still is
    (a city that loaded its own keeps it in force: the new version waits beside it)."""
    bind = op.get_bind()
    seeded_active = bind.execute(
        text(f"SELECT 1 FROM {table} WHERE active AND version = 1 AND created_by = 'migration'")
    ).first()
    version = bind.execute(text(f"SELECT coalesce(max(version), 0) + 1 FROM {table}")).scalar_one()
    if seeded_active:
        bind.execute(text(f"UPDATE {table} SET active = false WHERE active"))
    bind.execute(
        text(
            f"INSERT INTO {table} (version, document, active, created_by, note) "
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
    _seed("workflow_definition", SEED_WORKFLOW, "工作台：部门负责人、各环节办理时限、文书送达")
    _seed("assessment_definition", SEED_DEFINITIONS, "督办次数与按时答复率")


def downgrade() -> None:
    op.execute(
        "DROP TABLE case_follow, case_urge; "
        "DELETE FROM workflow_definition WHERE created_by = 'migration' AND version > 1; "
        "UPDATE workflow_definition SET active = (version = (SELECT max(version) "
        "FROM workflow_definition)); "
        "DROP INDEX IF EXISTS case_event_actor, case_evidence_sha256; "
        "ALTER TABLE violation_case DROP COLUMN stage_code, DROP COLUMN stage_due, "
        "DROP COLUMN last_event_at, DROP COLUMN last_action"
    )
