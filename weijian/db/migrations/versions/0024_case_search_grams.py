"""Searching the cases' words by an index: a GIN index of every run of one, two and three
characters of each case's number, address and description (lower-cased), so that a search for
a few Chinese characters (红旗, 鑫) or a part of a case number (000123) reads the cases that
hold them instead of every case in scope.

``pg_trgm`` cannot serve it: its trigrams need words of three characters, and under the C
locale it takes no Chinese character for a word's. A search of up to three characters asks for
itself; a longer one for each of its runs of three (``weijian_query_grams``). The index only
narrows: the search keeps its ``ILIKE``, which decides. A case holding the words holds every
run of them, lower-cased as ``ILIKE`` lower-cases them, so nothing it finds is lost (tested
against ``ILIKE`` alone).

A run most cases hold (202 of every number of 2026, 路 of most addresses) narrows nothing and
costs much (the index's list of a common run is read whole): the search asks the index only
for the words' rare runs, by the shares ANALYZE keeps (``weijian_gram_frequencies``, readable
by the app's role), and for none when all are common.

Building the index reads every case once: about 26 s for 1,000,000 cases on two cores, during
which cases cannot be written.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-06
"""

from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None

UPGRADE = """
CREATE FUNCTION weijian_text_grams(VARIADIC parts text[]) RETURNS text[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT coalesce(array_agg(substr(t, i, n)), '{}')
    FROM unnest(parts) AS part(raw), lower(part.raw) AS t,
         generate_series(1, length(t)) AS i, (VALUES (1), (2), (3)) AS width(n)
    WHERE i + n - 1 <= length(t)
$$;
CREATE FUNCTION weijian_query_grams(words text) RETURNS text[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT CASE
        WHEN length(words) = 0 THEN '{}'::text[]
        WHEN length(words) <= 3 THEN ARRAY[lower(words)]
        ELSE (SELECT array_agg(DISTINCT substr(lower(words), i, 3))
              FROM generate_series(1, length(words) - 2) AS i)
    END
$$;
CREATE INDEX violation_case_grams ON violation_case
    USING gin (weijian_text_grams(number, address, description));
-- the share of cases holding each of the most common characters and pairs, as ANALYZE last saw
-- them: the app's role may not read the index's statistics itself
CREATE FUNCTION weijian_gram_frequencies() RETURNS TABLE (gram text, share real)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT u.gram, u.share
    FROM pg_stats s,
         unnest(s.most_common_elems::text::text[], s.most_common_elem_freqs) AS u(gram, share)
    WHERE s.tablename = 'violation_case_grams' AND u.gram IS NOT NULL
$$;
REVOKE ALL ON FUNCTION weijian_gram_frequencies() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION weijian_gram_frequencies() TO weijian_app;
ANALYZE violation_case;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(
        "DROP FUNCTION weijian_gram_frequencies(); DROP INDEX violation_case_grams; "
        "DROP FUNCTION weijian_query_grams(text), weijian_text_grams(text[])"
    )
