"""The statistics' counts kept per grid leaf (a case's four grid codes), brought up to date on
each read from what changed since (:mod:`weijian.oversight.leaves`).

- ``figures_entry``: one set of counted figures (a key naming the figures and their parameters),
  with the ``xmin`` of the snapshot its leaves were last counted in and the moment ``as_of`` its
  time-dependent counts were counted at.
- ``figures_leaf``: its counts per leaf, each with the entry's ``version`` it was last counted
  at, and ``gone`` once no case of it is left (each process keeps a copy of the leaves it read
  and brings it up to date from the leaves of a later version).
- ``figures_touch``: the leaves a change touched that the case row's own ``change_xid`` does
  not show: the leaf a case left (its codes changed, or it was deleted), and the leaf of a case
  whose urges, rating or transfers changed.

- ``figures_stamp``: a number per kind of table that figures read beside the cases (the patrol
  tracks; the grids and their layers), raised by every statement that changes one: a process
  keeps what it computed from those tables while their stamps stay the same.

The first three tables are a cache and are ``UNLOGGED``: nothing acknowledged lives in them, writing
them costs no WAL, and after a crash PostgreSQL empties all three together, so the figures are
counted afresh. ``TRUNCATE`` of the counted tables empties the figures as well.

The indexes serve the reads that find the cases whose counts turn as time passes (a due date
reached, a visit or closure stamped later than it was counted at).

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-06
"""

from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

CODES = "district_code text, town_code text, community_code text, compound_code text"
OLD_CODES = "OLD.district_code, OLD.town_code, OLD.community_code, OLD.compound_code"
CHANGED = " OR ".join(
    f"OLD.{c} IS DISTINCT FROM NEW.{c}"
    for c in ("district_code", "town_code", "community_code", "compound_code")
)
#: the tables whose rows the figures count, beside the cases
SATELLITES = ("case_urge", "case_rating")
MOVES = "('transfer', 'accept_transfer')"

UPGRADE = f"""
CREATE UNLOGGED TABLE figures_entry (
    key text PRIMARY KEY,
    counted_xmin xid8 NOT NULL,
    as_of timestamptz,
    counted_at timestamptz NOT NULL DEFAULT now(),
    read_at timestamptz NOT NULL DEFAULT now(),
    epoch text NOT NULL,
    version bigint NOT NULL
);
CREATE UNLOGGED TABLE figures_leaf (
    key text NOT NULL REFERENCES figures_entry ON DELETE CASCADE,
    {CODES},
    counts bigint[] NOT NULL,
    version bigint NOT NULL,
    gone boolean NOT NULL DEFAULT false
);
CREATE UNIQUE INDEX figures_leaf_codes ON figures_leaf
    (key, district_code, town_code, community_code, compound_code) NULLS NOT DISTINCT;
CREATE INDEX figures_leaf_version ON figures_leaf (key, version);
CREATE UNLOGGED TABLE figures_touch (
    xid xid8 NOT NULL DEFAULT pg_current_xact_id(),
    {CODES}
);
CREATE INDEX figures_touch_xid ON figures_touch (xid);
CREATE TABLE figures_stamp (name text PRIMARY KEY, stamp bigint NOT NULL DEFAULT 0);
INSERT INTO figures_stamp (name) VALUES ('patrols'), ('grids');
GRANT SELECT, INSERT, UPDATE, DELETE ON figures_entry, figures_leaf, figures_touch, figures_stamp
    TO weijian_app;

CREATE FUNCTION weijian_figures_stamp() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE figures_stamp SET stamp = stamp + 1 WHERE name = TG_ARGV[0];
    RETURN NULL;
END $$;

CREATE FUNCTION weijian_figures_case_left() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO figures_touch (district_code, town_code, community_code, compound_code)
    VALUES ({OLD_CODES});
    RETURN NULL;
END $$;
CREATE TRIGGER violation_case_left_leaf AFTER UPDATE OF
    district_code, town_code, community_code, compound_code ON violation_case
    FOR EACH ROW WHEN ({CHANGED}) EXECUTE FUNCTION weijian_figures_case_left();
CREATE TRIGGER violation_case_deleted_leaf AFTER DELETE ON violation_case
    FOR EACH ROW EXECUTE FUNCTION weijian_figures_case_left();

CREATE FUNCTION weijian_figures_case_touched() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO figures_touch (district_code, town_code, community_code, compound_code)
    SELECT district_code, town_code, community_code, compound_code FROM violation_case
    WHERE id = CASE WHEN TG_OP = 'DELETE' THEN OLD.case_id ELSE NEW.case_id END;
    RETURN NULL;
END $$;
CREATE FUNCTION weijian_figures_forget() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM figures_entry;
    RETURN NULL;
END $$;
CREATE TRIGGER violation_case_forget_figures AFTER TRUNCATE ON violation_case
    FOR EACH STATEMENT EXECUTE FUNCTION weijian_figures_forget();
-- a campaign's baseline is written once, when the campaign is made: any change of it counts
-- every figure afresh
CREATE TRIGGER campaign_baseline_forget_figures
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON campaign_baseline
    FOR EACH STATEMENT EXECUTE FUNCTION weijian_figures_forget();
"""
for table, name in (("patrol_track", "patrols"), ("grid", "grids"), ("layer", "grids")):
    UPGRADE += f"""
CREATE TRIGGER {table}_stamp AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table}
    FOR EACH STATEMENT EXECUTE FUNCTION weijian_figures_stamp('{name}');
"""
for table in SATELLITES:
    UPGRADE += f"""
CREATE TRIGGER {table}_touch_leaf AFTER INSERT OR UPDATE OR DELETE ON {table}
    FOR EACH ROW EXECUTE FUNCTION weijian_figures_case_touched();
CREATE TRIGGER {table}_forget_figures AFTER TRUNCATE ON {table}
    FOR EACH STATEMENT EXECUTE FUNCTION weijian_figures_forget();
"""
UPGRADE += f"""
CREATE TRIGGER case_event_move_inserted AFTER INSERT ON case_event
    FOR EACH ROW WHEN (NEW.action IN {MOVES}) EXECUTE FUNCTION weijian_figures_case_touched();
CREATE TRIGGER case_event_move_updated AFTER UPDATE ON case_event
    FOR EACH ROW WHEN (OLD.action IN {MOVES} OR NEW.action IN {MOVES})
    EXECUTE FUNCTION weijian_figures_case_touched();
CREATE TRIGGER case_event_move_deleted AFTER DELETE ON case_event
    FOR EACH ROW WHEN (OLD.action IN {MOVES}) EXECUTE FUNCTION weijian_figures_case_touched();
CREATE TRIGGER case_event_forget_figures AFTER TRUNCATE ON case_event
    FOR EACH STATEMENT EXECUTE FUNCTION weijian_figures_forget();

CREATE INDEX violation_case_visit_due ON violation_case (visit_due);
CREATE INDEX violation_case_visited_at ON violation_case (visited_at)
    WHERE visited_at IS NOT NULL;
CREATE INDEX violation_case_closed_at ON violation_case (closed_at) WHERE closed_at IS NOT NULL;
CREATE INDEX violation_case_open_stage_due ON violation_case (stage_due) WHERE is_open;
CREATE INDEX case_urge_answered_at ON case_urge (answered_at) WHERE answered_at IS NOT NULL;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(
        "DROP INDEX case_urge_answered_at, violation_case_open_stage_due, "
        "violation_case_closed_at, violation_case_visited_at, violation_case_visit_due; "
        "DROP TRIGGER case_event_forget_figures ON case_event; "
        "DROP TRIGGER case_event_move_deleted ON case_event; "
        "DROP TRIGGER case_event_move_updated ON case_event; "
        "DROP TRIGGER case_event_move_inserted ON case_event; "
        + "".join(
            f"DROP TRIGGER {t}_forget_figures ON {t}; DROP TRIGGER {t}_touch_leaf ON {t}; "
            for t in SATELLITES
        )
        + "".join(f"DROP TRIGGER {t}_stamp ON {t}; " for t in ("patrol_track", "grid", "layer"))
        + "DROP TRIGGER campaign_baseline_forget_figures ON campaign_baseline; "
        "DROP TRIGGER violation_case_forget_figures ON violation_case; "
        "DROP TRIGGER violation_case_deleted_leaf ON violation_case; "
        "DROP TRIGGER violation_case_left_leaf ON violation_case; "
        "DROP FUNCTION weijian_figures_forget(), weijian_figures_case_touched(), "
        "weijian_figures_case_left(), weijian_figures_stamp(); "
        "DROP TABLE figures_stamp, figures_touch, figures_leaf, figures_entry"
    )
