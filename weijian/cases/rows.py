"""The case row as the services read it: its columns, one case by id or number, the SQL form of
an overdue case, and the JSON text of the row's jsonb columns."""

from __future__ import annotations

import time
from typing import Any

import orjson
from sqlalchemy import Connection, text

from weijian.cases.deadlines import missed_sql

CASE_COLUMNS = """
    c.id, c.number, c.track, c.state, c.is_open, c.channel, c.external_id, c.api_client_id,
    c.address, c.description, c.reporter, c.reporter_user_id, c.discovered_at, c.reported_at,
    ST_X(c.geom) AS lon, ST_Y(c.geom) AS lat, c.area_m2, c.department_code, c.department_type,
    c.department_name, c.district_code, c.town_code, c.community_code, c.compound_code,
    c.rule_version, c.layer_versions, c.transfer, c.assignee_user_id, c.report_due,
    c.visit_due, c.visited_at, c.rebound_of, c.merged_into, c.flags, c.version, c.event_count,
    c.head_hash, c.created_at, c.updated_at, c.closed_at, c.signed_off_at, c.stage_code,
    c.stage_due, c.last_event_at, c.last_action, c.public_outcome, c.public_outcome_at, c.project_id
"""


def like_pattern(words: str) -> str:
    """``%words%`` for ``ILIKE … ESCAPE '\\'``: a %, _ or backslash typed is only itself."""
    escaped = words.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


#: a run of characters held by more than this share of the cases narrows a search too little to
#: be read from the index (its list there is long): the search reads the cases in scope
COMMON_GRAM = 0.02
_COMMON_SECONDS = 600.0  # how long a process keeps the common grams it read
_common: tuple[float, str, frozenset[str]] | None = None


def common_grams(conn: Connection) -> frozenset[str]:
    """The runs of one to three characters more than :data:`COMMON_GRAM` of the cases hold, as
    ANALYZE last counted them (migration 0024); kept by each process for ten minutes."""
    global _common
    at = conn.engine.url.render_as_string(hide_password=True)
    kept = _common
    if kept is not None and kept[1] == at and time.monotonic() - kept[0] < _COMMON_SECONDS:
        return kept[2]
    grams = frozenset(
        conn.execute(
            text("SELECT gram FROM weijian_gram_frequencies() WHERE share > :share"),
            {"share": COMMON_GRAM},
        ).scalars()
    )
    _common = (time.monotonic(), at, grams)
    return grams


def words_sql(
    conn: Connection, words: str, columns: tuple[str, ...], alias: str = "c", name: str = "q"
) -> tuple[str, dict]:
    """A search for ``words`` (as typed) in any of the case's ``columns``, and its parameters
    (``:{name}``, the words stripped, ``:{name}_like``, ``:{name}_grams``): the cases holding
    the words' rare runs of characters (the index of migration 0024, over number, address and
    description; lower-cased by PostgreSQL, as ``ILIKE`` does) narrow it, ``ILIKE`` decides.
    Words made only of common runs (:func:`common_grams`) are looked for by ``ILIKE`` alone."""
    stripped = words.strip()
    params = {name: stripped, f"{name}_like": like_pattern(words)}
    like = " OR ".join(f"{alias}.{c} ILIKE :{name}_like ESCAPE '\\'" for c in columns)
    grams = conn.execute(text("SELECT weijian_query_grams(:w)"), {"w": stripped}).scalar_one()
    common = common_grams(conn)
    rare = sorted(g for g in grams if g not in common)
    if not rare:
        return f"({like})", params
    params[f"{name}_grams"] = rare
    found = (
        f"weijian_text_grams({alias}.number, {alias}.address, {alias}.description) "
        f"@> CAST(:{name}_grams AS text[])"
    )
    return f"({found} AND ({like}))", params


def overdue_sql(alias: str = "c") -> str:
    """The SQL form of an overdue case (open, no site visit, its deadline passed at ``:now``):
    the same test as :meth:`CaseService.summary`'s."""
    stage = missed_sql(f"{alias}.stage_due", "NULL", ":now")
    return f"({alias}.is_open AND {stage})"


def case_row(conn: Connection, ref: str | int, lock: bool = False) -> dict | None:
    """The case with the id or the number ``ref``; ``lock``: ``FOR UPDATE``."""
    by = "c.id = :ref" if isinstance(ref, int) or str(ref).isdigit() else "c.number = :ref"
    row = conn.execute(
        text(
            f"SELECT {CASE_COLUMNS} FROM violation_case c WHERE {by}"
            + (" FOR UPDATE" if lock else "")
        ),
        {"ref": int(ref) if by.startswith("c.id") else ref},
    ).first()
    return dict(row._mapping) if row else None


def json_text(value: Any) -> str:
    return orjson.dumps(value, default=str).decode()
