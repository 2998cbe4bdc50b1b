"""Cases: users and tokens, API clients, the workflow as data, cases with their append-only,
hash-chained events and evidence, links between cases; the application's database role.

The application connects as (or ``SET ROLE``s to) ``weijian_app``, which may read and write
everything except UPDATE / DELETE / TRUNCATE on ``case_event`` and ``case_evidence``; a trigger
refuses those statements for every role, so rewriting history takes a deliberate
``ALTER TABLE … DISABLE TRIGGER`` by the owner — which ``weijian audit verify`` then detects.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from pathlib import Path

from alembic import op
from sqlalchemy import text

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

#: the seeded workflow of the city guideline, frozen as it stood when this migration was written
SEED_WORKFLOW = Path(__file__).with_name("0003_workflow.json")

APP_ROLE = "weijian_app"

SCHEMA = """
CREATE TABLE workflow_definition (
    version     integer PRIMARY KEY,
    document    jsonb NOT NULL,
    active      boolean NOT NULL DEFAULT false,
    created_by  text,
    note        text,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX workflow_definition_one_active ON workflow_definition (active) WHERE active;

CREATE TABLE app_user (
    id              serial PRIMARY KEY,
    username        text NOT NULL UNIQUE CHECK (username ~ '^[A-Za-z0-9_.@-]{2,64}$'),
    display_name    text NOT NULL,
    role            text NOT NULL,
    grid_code       text,
    grid_level      text,
    district_code   text,
    department_code text,
    phone           text,
    password_hash   text NOT NULL,
    active          boolean NOT NULL DEFAULT true,
    created_by      text,
    created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE auth_token (
    token_sha256 text PRIMARY KEY,
    user_id      integer NOT NULL REFERENCES app_user (id) ON DELETE CASCADE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    revoked_at   timestamptz
);
CREATE INDEX auth_token_user ON auth_token (user_id);

CREATE TABLE api_client (
    id          serial PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    key_sha256  text NOT NULL UNIQUE,
    channel     text NOT NULL,
    active      boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE case_prefix (
    district_code text PRIMARY KEY,
    prefix        text NOT NULL UNIQUE CHECK (prefix ~ '^[A-Z0-9]{1,8}$')
);

CREATE TABLE case_counter (
    district_code text NOT NULL,
    year          integer NOT NULL,
    last          integer NOT NULL,
    PRIMARY KEY (district_code, year)
);

CREATE TABLE violation_case (
    id                bigserial PRIMARY KEY,
    number            text NOT NULL UNIQUE,
    district_code     text NOT NULL,
    year              integer NOT NULL,
    seq               integer NOT NULL,
    track             text NOT NULL,
    state             text NOT NULL,
    is_open           boolean NOT NULL,
    channel           text NOT NULL,
    external_id       text,
    api_client_id     integer REFERENCES api_client (id),
    address           text,
    description       text NOT NULL,
    reporter          jsonb NOT NULL DEFAULT '{}',
    reporter_user_id  integer REFERENCES app_user (id),
    discovered_at     timestamptz,
    reported_at       timestamptz NOT NULL,
    geom              geometry(Point, 4490) NOT NULL,
    footprint         geometry(MultiPolygon, 4490),
    area_m2           double precision,
    department_code   text,
    department_type   text,
    department_name   text,
    town_code         text,
    community_code    text,
    compound_code     text,
    jurisdiction      jsonb NOT NULL,
    rule_version      integer,
    layer_versions    jsonb NOT NULL DEFAULT '{}',
    transfer          jsonb,
    assignee_user_id  integer REFERENCES app_user (id),
    report_due        timestamptz,
    visit_due         timestamptz,
    visited_at        timestamptz,
    rebound_of        bigint REFERENCES violation_case (id),
    merged_into       bigint REFERENCES violation_case (id),
    flags             jsonb NOT NULL DEFAULT '{}',
    receipt_sha256    text UNIQUE,
    version           integer NOT NULL DEFAULT 1,
    event_count       integer NOT NULL DEFAULT 0,
    head_hash         text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    closed_at         timestamptz,
    signed_off_at     timestamptz,
    UNIQUE (district_code, year, seq),
    CHECK (track IN ('new', 'backlog'))
);
CREATE UNIQUE INDEX violation_case_external ON violation_case (channel, external_id)
    WHERE external_id IS NOT NULL;
CREATE INDEX violation_case_geom ON violation_case USING gist (geom);
CREATE INDEX violation_case_open_geom ON violation_case USING gist (geom) WHERE is_open;
CREATE INDEX violation_case_district_open
    ON violation_case (district_code, reported_at DESC, id DESC) WHERE is_open;
CREATE INDEX violation_case_district ON violation_case (district_code, reported_at DESC, id DESC);
CREATE INDEX violation_case_town ON violation_case (town_code, reported_at DESC);
CREATE INDEX violation_case_community ON violation_case (community_code, reported_at DESC);
CREATE INDEX violation_case_compound ON violation_case (compound_code, reported_at DESC);
CREATE INDEX violation_case_department ON violation_case (department_code, is_open);
CREATE INDEX violation_case_signed_off ON violation_case USING gist (geom)
    WHERE state = 'signed_off';
CREATE INDEX violation_case_reported ON violation_case (reported_at DESC, id DESC);

CREATE TABLE case_event (
    id             bigserial PRIMARY KEY,
    case_id        bigint NOT NULL REFERENCES violation_case (id),
    seq            integer NOT NULL,
    action         text NOT NULL,
    from_state     text,
    to_state       text NOT NULL,
    actor_user_id  integer REFERENCES app_user (id),
    actor_name     text NOT NULL,
    actor_role     text NOT NULL,
    at             timestamptz NOT NULL,
    note           text,
    data           jsonb NOT NULL DEFAULT '{}',
    evidence       jsonb NOT NULL DEFAULT '[]',
    prev_hash      text,
    hash           text NOT NULL,
    UNIQUE (case_id, seq)
);

CREATE TABLE case_evidence (
    id           bigserial PRIMARY KEY,
    case_id      bigint NOT NULL REFERENCES violation_case (id),
    sha256       text NOT NULL,
    kind         text NOT NULL CHECK (kind IN ('photo', 'document')),
    media_type   text NOT NULL,
    filename     text NOT NULL,
    size         bigint NOT NULL,
    width        integer,
    height       integer,
    taken_at     timestamp,
    gps_lon      double precision,
    gps_lat      double precision,
    distance_m   double precision,
    flagged      boolean NOT NULL DEFAULT false,
    flag_reason  text,
    storage      text NOT NULL CHECK (storage IN ('disk', 'database')),
    path         text,
    content      bytea,
    uploaded_by  integer REFERENCES app_user (id),
    uploaded_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (case_id, sha256)
);

CREATE TABLE case_link (
    id          bigserial PRIMARY KEY,
    case_id     bigint NOT NULL REFERENCES violation_case (id),
    other_id    bigint NOT NULL REFERENCES violation_case (id),
    kind        text NOT NULL CHECK (kind IN ('duplicate', 'related', 'merged')),
    note        text,
    created_by  integer REFERENCES app_user (id),
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (case_id, other_id),
    CHECK (case_id <> other_id)
);

CREATE TABLE citizen_intake (
    id       bigserial PRIMARY KEY,
    address  text NOT NULL,
    at       timestamptz NOT NULL
);
CREATE INDEX citizen_intake_address ON citizen_intake (address, at);

CREATE FUNCTION weijian_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'table % is append-only: % is not allowed', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER case_event_append_only BEFORE UPDATE OR DELETE ON case_event
    FOR EACH ROW EXECUTE FUNCTION weijian_append_only();
CREATE TRIGGER case_evidence_append_only BEFORE UPDATE OR DELETE ON case_evidence
    FOR EACH ROW EXECUTE FUNCTION weijian_append_only();
CREATE TRIGGER case_event_no_truncate BEFORE TRUNCATE ON case_event
    FOR EACH STATEMENT EXECUTE FUNCTION weijian_append_only();
CREATE TRIGGER case_evidence_no_truncate BEFORE TRUNCATE ON case_evidence
    FOR EACH STATEMENT EXECUTE FUNCTION weijian_append_only();
"""

ROLE = f"""
DO $$
BEGIN
    -- a role is the cluster's: another database of it migrating at the same moment may
    -- create it (or grant it) between the check and the statement
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
        BEGIN
            CREATE ROLE {APP_ROLE} NOLOGIN;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;
        END;
    END IF;
    IF NOT pg_has_role(current_user, '{APP_ROLE}', 'MEMBER') THEN
        BEGIN
            EXECUTE format('GRANT {APP_ROLE} TO %I', current_user);
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;
        END;
    END IF;
END $$;
GRANT USAGE ON SCHEMA public TO {APP_ROLE};
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {APP_ROLE};
GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO {APP_ROLE};
REVOKE INSERT, UPDATE, DELETE ON alembic_version FROM {APP_ROLE};
REVOKE UPDATE, DELETE, TRUNCATE ON case_event, case_evidence FROM {APP_ROLE};
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {APP_ROLE};
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO {APP_ROLE};
"""


def upgrade() -> None:
    op.execute(SCHEMA)
    op.get_bind().execute(
        text(
            "INSERT INTO workflow_definition (version, document, active, created_by, note) "
            "VALUES (1, CAST(:doc AS jsonb), true, 'migration', :note)"
        ),
        {"doc": SEED_WORKFLOW.read_text(encoding="utf-8"), "note": "指导意见默认流程"},
    )
    op.execute(ROLE)


def downgrade() -> None:
    op.execute(
        "DROP TABLE citizen_intake, case_link, case_evidence, case_event, violation_case, "
        "case_counter, case_prefix, api_client, auth_token, app_user, workflow_definition; "
        "DROP FUNCTION weijian_append_only();"
    )
