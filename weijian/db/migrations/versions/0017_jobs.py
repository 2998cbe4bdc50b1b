"""Background jobs: the queue of procrastinate (its schema, frozen beside this file as the
release pinned in constraints.txt shipped it) and the product's own record of each job — who
asked, its parameters, its state and progress, and where its result file lies.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-05
"""

from pathlib import Path

from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

#: procrastinate 3.10.0's ``procrastinate/sql/schema.sql``, frozen as it stood when this
#: migration was written; a later release's changes come as migrations of their own
QUEUE_SCHEMA = Path(__file__).with_name("0017_procrastinate_schema.sql")

SCHEMA = """
-- one background job as the product sees it: the queue's row (procrastinate_jobs) carries
-- only the job's id; what the page shows is read here
CREATE TABLE job (
    id              bigserial PRIMARY KEY,
    kind            text NOT NULL,
    parameters      jsonb NOT NULL DEFAULT '{}'::jsonb,
    user_id         bigint REFERENCES app_user(id) ON DELETE SET NULL,
    state           text NOT NULL DEFAULT 'queued'
                    CHECK (state IN ('queued', 'running', 'succeeded', 'failed')),
    done            integer NOT NULL DEFAULT 0 CHECK (done >= 0),
    total           integer NOT NULL DEFAULT 0 CHECK (total >= 0),
    step            text NOT NULL DEFAULT '排队中',
    result_path     text,
    media_type      text,
    file_name       text,
    error_code      text,
    error           text,
    queue_job_id    bigint,
    attempts        integer NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL DEFAULT now(),
    started_at      timestamptz,
    finished_at     timestamptz
);
CREATE INDEX job_user_created ON job (user_id, created_at DESC);
CREATE INDEX job_unfinished ON job (state) WHERE state IN ('queued', 'running');
GRANT SELECT, INSERT, UPDATE ON job TO weijian_app;
GRANT USAGE, SELECT ON SEQUENCE job_id_seq TO weijian_app;
"""

DROP = """
DROP TABLE IF EXISTS job;
DROP TABLE IF EXISTS procrastinate_events, procrastinate_periodic_defers, procrastinate_jobs,
    procrastinate_workers CASCADE;
DO $$
DECLARE f record;
BEGIN
    FOR f IN SELECT p.oid::regprocedure AS sig FROM pg_proc p
             JOIN pg_namespace n ON n.oid = p.pronamespace
             WHERE n.nspname = current_schema() AND p.proname LIKE 'procrastinate\\_%'
    LOOP
        EXECUTE 'DROP FUNCTION IF EXISTS ' || f.sig || ' CASCADE';
    END LOOP;
END $$;
DROP TYPE IF EXISTS procrastinate_job_to_defer_v1, procrastinate_job_event_type,
    procrastinate_job_status CASCADE;
"""


def upgrade() -> None:
    # the driver's own call, as procrastinate applies it: its colons are not parameters, its
    # percent signs doubled
    queue = QUEUE_SCHEMA.read_text(encoding="utf-8").replace("%", "%%")
    op.get_bind().exec_driver_sql(queue)
    op.execute(SCHEMA)


def downgrade() -> None:
    op.get_bind().exec_driver_sql(DROP.replace("%", "%%"))
