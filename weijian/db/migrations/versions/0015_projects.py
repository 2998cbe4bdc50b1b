"""Construction projects tracked from approval to completion acceptance (项目追踪, seed 一(3)):
the register with each project's approved red line (``construction_project``), the inspections
during construction and at completion acceptance with their photos (``project_inspection``,
``project_photo``), and the project a case belongs to (``violation_case.project_id``).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05
"""

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

UPGRADE = """
CREATE TABLE construction_project (
    id                   serial PRIMARY KEY,
    code                 text NOT NULL UNIQUE,
    name                 text NOT NULL,
    developer            text,
    planning_permit      text,
    construction_permit  text,
    stage                text NOT NULL DEFAULT 'approved' CHECK (stage IN
                         ('approved', 'under_construction', 'completion_acceptance', 'done')),
    stage_since          timestamptz NOT NULL,
    district_code        text,
    town_code            text,
    red_line             geometry(MultiPolygon, 4490) NOT NULL,
    area_m2              double precision NOT NULL,
    source               jsonb NOT NULL DEFAULT '{}',
    created_by           text,
    created_at           timestamptz NOT NULL,
    updated_at           timestamptz NOT NULL
);
CREATE INDEX construction_project_red_line ON construction_project USING gist (red_line);
CREATE INDEX construction_project_town ON construction_project (town_code);

CREATE TABLE project_inspection (
    id              bigserial PRIMARY KEY,
    project_id      integer NOT NULL REFERENCES construction_project (id),
    kind            text NOT NULL CHECK (kind IN ('construction', 'completion')),
    inspected_at    timestamptz NOT NULL,
    inspector_id    integer REFERENCES app_user (id),
    inspector_name  text NOT NULL,
    findings        text NOT NULL,
    passed          boolean NOT NULL,
    case_id         bigint REFERENCES violation_case (id),
    created_at      timestamptz NOT NULL
);
CREATE INDEX project_inspection_project ON project_inspection (project_id, inspected_at DESC);

CREATE TABLE project_photo (
    inspection_id  bigint NOT NULL REFERENCES project_inspection (id),
    sha256         text NOT NULL,
    media_type     text NOT NULL,
    filename       text NOT NULL,
    size           bigint NOT NULL,
    path           text,            -- in the evidence store on disk
    content        bytea,           -- or here, with WEIJIAN_EVIDENCE_STORAGE=database
    PRIMARY KEY (inspection_id, sha256)
);

ALTER TABLE violation_case ADD COLUMN project_id integer REFERENCES construction_project (id);
CREATE INDEX violation_case_project ON violation_case (project_id) WHERE project_id IS NOT NULL;

GRANT SELECT, INSERT, UPDATE ON construction_project, project_inspection, project_photo
    TO weijian_app;
GRANT USAGE, SELECT ON SEQUENCE construction_project_id_seq, project_inspection_id_seq
    TO weijian_app;
"""

DOWNGRADE = """
ALTER TABLE violation_case DROP COLUMN project_id;
DROP TABLE project_photo, project_inspection, construction_project;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
