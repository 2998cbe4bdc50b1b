"""Counts kept current by the database, so that a click reads a handful of rows: the cases per
grid at each level, month of report and state (``case_count``); a clear-to-zero campaign's
baseline and sign-offs per grid (``campaign_count``); and each case's grids on today's
boundaries (``case_grid_current``), recomputed for a level when one of its versions is
activated.

Every count is changed by statement-level triggers in the transaction that changes a case, so
a bulk ``COPY`` of cases costs one grouped upsert, not one per row; the upserts go in the
order of the key, so two transactions lock the rows they share in one order. What changes
with time alone (overdue, stalled) is not kept: it is read from the indexed due dates.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-05
"""

from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

#: the month of a report, in Beijing time (the months of the figures)
MONTH = "(date_trunc('month', {0} AT TIME ZONE 'Asia/Shanghai'))::date"
#: a campaign's start (its ``start_date``'s midnight in Beijing time)
SINCE = "(k.start_date::timestamp AT TIME ZONE 'Asia/Shanghai')"


def levels(alias: str) -> str:
    """One row per grid level of the row ``alias`` (a case's or a baseline's codes)."""
    return (
        f"CROSS JOIN LATERAL (VALUES ('district', {alias}.district_code), "
        f"('town', {alias}.town_code), ('community', {alias}.community_code), "
        f"('compound', {alias}.compound_code)) l(level, code)"
    )


def covering(level: str, point: str) -> str:
    """The code of the active grid of ``level`` that covers ``point`` (the least, if several)."""
    return (
        f"(SELECT min(g.code) FROM active_grid g WHERE g.level = '{level}' "
        f"AND ST_Covers(g.geom, {point}))"
    )


def moved(level: str) -> str:
    """A changed case's grid code of ``level`` on today's boundaries if its point moved."""
    return f"CASE WHEN ch.moved THEN {covering(level, 'ch.geom')} ELSE x.{level}_code END"


def assigned(level: str) -> str:
    """Every case covered by an active grid of ``level``, with that grid's code: one spatial
    join driven by the grids (each grid's polygon prepared once for all its points)."""
    return (
        "SELECT v.id, min(g.code) AS code FROM active_grid g JOIN violation_case v "
        f"ON ST_Covers(g.geom, v.geom) WHERE g.level = '{level}' GROUP BY v.id"
    )


UPSERT_CASES = "ON CONFLICT (level, code, month, state) DO UPDATE SET n = t.n + excluded.n"

SCHEMA = f"""
-- the cases per grid (its level and code, as frozen at intake), month of report and state
CREATE TABLE case_count (
    level   text NOT NULL,
    code    text NOT NULL,
    month   date NOT NULL,
    state   text NOT NULL,
    n       integer NOT NULL,
    PRIMARY KEY (level, code, month, state)
);

-- a campaign's baseline cases per grid of its baseline, and those signed off since its start
CREATE TABLE campaign_count (
    campaign_id integer NOT NULL REFERENCES campaign (id) ON DELETE CASCADE,
    level       text NOT NULL,
    code        text NOT NULL,
    baseline    integer NOT NULL,
    signed_off  integer NOT NULL,
    PRIMARY KEY (campaign_id, level, code)
);
CREATE INDEX campaign_baseline_case ON campaign_baseline (case_id);

-- each case's grids on the active versions (where its point lies today), with its sign-off:
-- the clear-to-zero figures on today's grids read this table alone
CREATE TABLE case_grid_current (
    case_id         bigint PRIMARY KEY REFERENCES violation_case (id) ON DELETE CASCADE,
    district_code   text,
    town_code       text,
    community_code  text,
    compound_code   text,
    signed_off_at   timestamptz
);

GRANT SELECT, INSERT, UPDATE, DELETE ON case_count, campaign_count, case_grid_current
    TO weijian_app;

CREATE FUNCTION weijian_case_counts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        -- a new case lies in the grids intake gave it, which are today's
        INSERT INTO case_grid_current (case_id, district_code, town_code, community_code,
                                       compound_code, signed_off_at)
        SELECT id, district_code, town_code, community_code, compound_code, signed_off_at
        FROM new_rows;
        INSERT INTO case_count AS t (level, code, month, state, n)
        SELECT l.level, l.code, {MONTH.format("c.reported_at")}, c.state, count(*)
        FROM new_rows c {levels("c")}
        WHERE l.code IS NOT NULL
        GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
        {UPSERT_CASES};
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO case_count AS t (level, code, month, state, n)
        SELECT l.level, l.code, {MONTH.format("c.reported_at")}, c.state, -count(*)
        FROM old_rows c {levels("c")}
        WHERE l.code IS NOT NULL
        GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
        {UPSERT_CASES};
    ELSE
        WITH changed AS MATERIALIZED (
            SELECT n.id, n.district_code, n.town_code, n.community_code, n.compound_code,
                   n.reported_at, n.state, n.signed_off_at, n.geom,
                   o.district_code AS o_district, o.town_code AS o_town,
                   o.community_code AS o_community, o.compound_code AS o_compound,
                   o.reported_at AS o_reported, o.state AS o_state,
                   o.signed_off_at AS o_signed, NOT (o.geom ~= n.geom) AS moved
            FROM old_rows o JOIN new_rows n ON n.id = o.id
            WHERE (o.district_code, o.town_code, o.community_code, o.compound_code,
                   o.reported_at, o.state, o.signed_off_at)
                  IS DISTINCT FROM
                  (n.district_code, n.town_code, n.community_code, n.compound_code,
                   n.reported_at, n.state, n.signed_off_at)
               OR NOT (o.geom ~= n.geom)
        ),
        signed AS (  -- a baseline case signed off since its campaign's start, or no longer
            SELECT b.campaign_id, l.level, l.code,
                   sum(coalesce((ch.signed_off_at >= {SINCE})::int, 0)
                       - coalesce((ch.o_signed >= {SINCE})::int, 0)) AS s
            FROM changed ch
            JOIN campaign_baseline b ON b.case_id = ch.id
            JOIN campaign k ON k.id = b.campaign_id
            {levels("b")}
            WHERE l.code IS NOT NULL
            GROUP BY 1, 2, 3
        ),
        campaigns AS (
            UPDATE campaign_count t SET signed_off = t.signed_off + s.s
            FROM (SELECT * FROM signed WHERE s <> 0 ORDER BY 1, 2, 3) s
            WHERE t.campaign_id = s.campaign_id AND t.level = s.level AND t.code = s.code
        ),
        current AS (  -- its sign-off; a point moved: its grids on today's boundaries again
            UPDATE case_grid_current x SET
                signed_off_at = ch.signed_off_at,
                district_code = {moved("district")},
                town_code = {moved("town")},
                community_code = {moved("community")},
                compound_code = {moved("compound")}
            FROM changed ch
            WHERE x.case_id = ch.id
              AND (ch.moved OR ch.signed_off_at IS DISTINCT FROM ch.o_signed)
        ),
        c AS (
            SELECT o_district AS district_code, o_town AS town_code,
                   o_community AS community_code, o_compound AS compound_code,
                   o_reported AS reported_at, o_state AS state, -1 AS s
            FROM changed
            UNION ALL
            SELECT district_code, town_code, community_code, compound_code, reported_at,
                   state, 1
            FROM changed
        )
        INSERT INTO case_count AS t (level, code, month, state, n)
        SELECT l.level, l.code, {MONTH.format("c.reported_at")}, c.state, sum(c.s)
        FROM c {levels("c")}
        WHERE l.code IS NOT NULL
        GROUP BY 1, 2, 3, 4 HAVING sum(c.s) <> 0 ORDER BY 1, 2, 3, 4
        {UPSERT_CASES};
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER violation_case_count_insert AFTER INSERT ON violation_case
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION weijian_case_counts();
CREATE TRIGGER violation_case_count_update AFTER UPDATE ON violation_case
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION weijian_case_counts();
CREATE TRIGGER violation_case_count_delete AFTER DELETE ON violation_case
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION weijian_case_counts();

CREATE FUNCTION weijian_campaign_counts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO campaign_count AS t (campaign_id, level, code, baseline, signed_off)
        SELECT b.campaign_id, l.level, l.code, count(*),
               count(*) FILTER (WHERE v.signed_off_at >= {SINCE})
        FROM new_rows b JOIN violation_case v ON v.id = b.case_id
        JOIN campaign k ON k.id = b.campaign_id
        {levels("b")}
        WHERE l.code IS NOT NULL
        GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
        ON CONFLICT (campaign_id, level, code) DO UPDATE
        SET baseline = t.baseline + excluded.baseline,
            signed_off = t.signed_off + excluded.signed_off;
    ELSE
        UPDATE campaign_count t SET baseline = t.baseline - d.baseline,
                                    signed_off = t.signed_off - d.signed_off
        FROM (
            SELECT b.campaign_id, l.level, l.code, count(*) AS baseline,
                   count(*) FILTER (WHERE v.signed_off_at >= {SINCE}) AS signed_off
            FROM old_rows b JOIN violation_case v ON v.id = b.case_id
            JOIN campaign k ON k.id = b.campaign_id
            {levels("b")}
            WHERE l.code IS NOT NULL
            GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
        ) d
        WHERE t.campaign_id = d.campaign_id AND t.level = d.level AND t.code = d.code;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER campaign_baseline_count_insert AFTER INSERT ON campaign_baseline
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION weijian_campaign_counts();
CREATE TRIGGER campaign_baseline_count_delete AFTER DELETE ON campaign_baseline
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION weijian_campaign_counts();

-- a grid level's active version changed: every case's grid of that level on it
CREATE FUNCTION weijian_grid_activated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format(
        'UPDATE case_grid_current x SET %1$I = h.code '
        'FROM (SELECT y.case_id, a.code FROM case_grid_current y LEFT JOIN ('
        'SELECT v.id, min(g.code) AS code FROM active_grid g JOIN violation_case v '
        'ON ST_Covers(g.geom, v.geom) WHERE g.level = $1 GROUP BY v.id'
        ') a ON a.id = y.case_id) h '
        'WHERE h.case_id = x.case_id AND x.%1$I IS DISTINCT FROM h.code',
        NEW.grid_level || '_code')
    USING NEW.grid_level;
    RETURN NULL;
END $$;

CREATE TRIGGER layer_grid_activated AFTER UPDATE OF active_version_id ON layer
    FOR EACH ROW
    WHEN (NEW.grid_level IS NOT NULL
          AND OLD.active_version_id IS DISTINCT FROM NEW.active_version_id)
    EXECUTE FUNCTION weijian_grid_activated();
"""

BACKFILL = f"""
INSERT INTO case_count (level, code, month, state, n)
SELECT l.level, l.code, {MONTH.format("c.reported_at")}, c.state, count(*)
FROM violation_case c {levels("c")}
WHERE l.code IS NOT NULL
GROUP BY 1, 2, 3, 4;

INSERT INTO campaign_count (campaign_id, level, code, baseline, signed_off)
SELECT b.campaign_id, l.level, l.code, count(*),
       count(*) FILTER (WHERE v.signed_off_at >= {SINCE})
FROM campaign_baseline b JOIN violation_case v ON v.id = b.case_id
JOIN campaign k ON k.id = b.campaign_id
{levels("b")}
WHERE l.code IS NOT NULL
GROUP BY 1, 2, 3;

INSERT INTO case_grid_current (case_id, district_code, town_code, community_code, compound_code,
                               signed_off_at)
SELECT v.id, d.code, t.code, c.code, p.code, v.signed_off_at
FROM violation_case v
LEFT JOIN ({assigned("district")}) d ON d.id = v.id
LEFT JOIN ({assigned("town")}) t ON t.id = v.id
LEFT JOIN ({assigned("community")}) c ON c.id = v.id
LEFT JOIN ({assigned("compound")}) p ON p.id = v.id;
ANALYZE case_count;
ANALYZE campaign_count;
ANALYZE case_grid_current;
"""


def upgrade() -> None:
    op.execute(SCHEMA)
    op.execute(BACKFILL)


def downgrade() -> None:
    op.execute(
        """
        DROP TRIGGER layer_grid_activated ON layer;
        DROP TRIGGER campaign_baseline_count_insert ON campaign_baseline;
        DROP TRIGGER campaign_baseline_count_delete ON campaign_baseline;
        DROP TRIGGER violation_case_count_insert ON violation_case;
        DROP TRIGGER violation_case_count_update ON violation_case;
        DROP TRIGGER violation_case_count_delete ON violation_case;
        DROP FUNCTION weijian_grid_activated();
        DROP FUNCTION weijian_campaign_counts();
        DROP FUNCTION weijian_case_counts();
        DROP TABLE case_grid_current;
        DROP TABLE campaign_count;
        DROP INDEX campaign_baseline_case;
        DROP TABLE case_count;
        """
    )
