"""Counts per grid unit from PostGIS, in one pass: the assessment's counts for a period, the
clear-to-zero figures of a campaign, property companies' counts.

Every figure is grouped by ``GROUPING SETS`` over the grid chain (city; district; district and
town; … down to the compound), so each level's figure is the sum of its children's by
construction — cases outside any lower grid form the child ``null`` (未划入下级网格). The
period's counts on frozen grids are counted per leaf (a case's four codes) and kept
(:mod:`.leaves`, :func:`period_figures`): a read counts again only the leaves changed since, or
turned by time, and sums the leaves up the levels (:func:`units_of_leaves`) as the grouping
sets do; the same SQL counts every case for the current grids, and for the tests.

Grid assignment: ``grids="frozen"`` (default) counts each case in the grids it was given at
intake, whatever boundaries came later — history is not rewritten. ``grids="current"`` places
every case in the active version of each grid level by its point (``ST_Covers``), to see the
same figures on new boundaries. Where each case lies on the active versions is kept in
``case_grid_current`` (recomputed for a level by the database when one of its versions is
activated, and for a case whose point moves), so the current grids cost a join by id, not a
spatial join per request; :func:`covering_cases` is the spatial join itself, which
``case_grid_current`` must always equal.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
from sqlalchemy import Connection, Engine, text

from weijian.cases.deadlines import missed_sql
from weijian.errors import InputError
from weijian.layers.model import GRID_LEVELS
from weijian.oversight import coverage, leaves
from weijian.oversight.indicators import (
    LEDGER_COUNTS,
    PATROL_COUNTS,
    PROPERTY_COUNTS,
    UNIT_COUNTS,
    Definitions,
)
from weijian.oversight.submissions import ledger_counts

#: the counts made of cases, in one pass of SQL
CASE_COUNTS = tuple(
    name for name in UNIT_COUNTS if name not in LEDGER_COUNTS and name not in PATROL_COUNTS
)

#: a case's grid code at each level, named as in ``violation_case`` and ``campaign_baseline``
LEVEL_COLUMNS = ("district_code", "town_code", "community_code", "compound_code")
GROUPING_COLUMN = "grouping_bits"  # GROUPING(LEVEL_COLUMNS): which levels a row is grouped by
GRID_MODES = ("frozen", "current")


CASE_FIELDS = (
    "v.id, v.reported_at, v.report_due, v.visit_due, v.visited_at, v.signed_off_at, "
    "v.closed_at, v.channel, v.track, v.rebound_of"
)


def level_columns(table: str | None = None) -> str:
    """The level columns for a select list, of ``table`` when given."""
    prefix = f"{table}." if table else ""
    return ", ".join(prefix + column for column in LEVEL_COLUMNS)


def coded_cases(grids: str = "frozen", where: str = "true", fields: str = CASE_FIELDS) -> str:
    """A CTE body: every case (``where``) with ``fields`` and its four grid codes
    (:data:`LEVEL_COLUMNS`)."""
    if grids not in GRID_MODES:
        raise InputError(
            f"网格口径“{grids}”无效，应为 frozen（按立案时的网格）或 current（按现行网格）",
            code="assessment.grids_invalid",
            detail=f"grids must be frozen or current, not {grids!r}",
        )
    if grids == "frozen":
        return f"SELECT {fields}, {level_columns('v')} FROM violation_case v WHERE {where}"
    return (
        f"SELECT {fields}, {level_columns('x')} FROM violation_case v "
        f"LEFT JOIN case_grid_current x ON x.case_id = v.id WHERE {where}"
    )


def covering_cases(where: str = "true", fields: str = CASE_FIELDS) -> str:
    """A CTE body: every case (``where``) with ``fields`` and the codes of the active grids that
    cover its point, by one spatial join — what ``case_grid_current`` keeps."""
    # one spatial join with every active grid covering the point, then a code per level
    picks = ", ".join(
        f"min(g.code) FILTER (WHERE g.level = '{level}') AS {col}"
        for level, col in zip(GRID_LEVELS, LEVEL_COLUMNS, strict=True)
    )
    plain = ", ".join(f.strip().removeprefix("v.") for f in fields.split(","))
    return (
        f"SELECT {plain}, {level_columns()} FROM ("
        f"SELECT {fields}, {picks} FROM violation_case v "
        f"LEFT JOIN active_grid g ON ST_Covers(g.geom, v.geom) WHERE {where} "
        f"GROUP BY v.id) x"
    )


def grouped_units(rows) -> dict[tuple[str, str | None], dict]:
    """{(level, code): {"parent": (level, code) | None, "counts": {...}}} from grouped rows."""
    out: dict[tuple[str, str | None], dict] = {}
    names = list(rows.keys())
    at = {name: i for i, name in enumerate(names)}
    codes_at = [at[c] for c in LEVEL_COLUMNS]
    grouping_at = at[GROUPING_COLUMN]
    counted = [(name, i) for i, name in enumerate(names) if i not in codes_at and i != grouping_at]
    levels = ("city", *GRID_LEVELS)
    for row in rows:
        # GROUPING over the four levels: 15 city, 7 district, 3 town, 1 community, 0 compound
        depth = _DEPTH[row[grouping_at]]
        codes = [row[i] for i in codes_at[:depth]]
        level = levels[depth]
        parent = None
        if depth >= 1:
            parent = (levels[depth - 1], codes[-2] if depth >= 2 else None)
        counts = {name: int(row[i]) for name, i in counted}
        # the same code can stand at one level under two parents only when a null bucket
        # repeats; keep them apart by their chain
        out[(level, *codes)] = {"level": level, "code": codes[-1] if codes else None,
                                "chain": codes, "parent": parent, "counts": counts}  # fmt: skip
    return out


_DEPTH = {15: 0, 7: 1, 3: 2, 1: 3, 0: 4}


def grouping(deepest: int = 4) -> str:
    """``GROUP BY`` the city, each district, each town, each community, each compound, down to
    the level at ``deepest`` (1: the districts … 4: the compounds)."""
    sets = ", ".join(f"({', '.join(LEVEL_COLUMNS[:depth])})" for depth in range(deepest + 1))
    return f"GROUP BY GROUPING SETS ({sets})"


GROUPING = grouping()


def grouped_columns(deepest: int = 4) -> str:
    """The select list of a query grouped by :func:`grouping`: the four codes (none below
    ``deepest``) and which levels each row is grouped by, as ``GROUPING`` of all four gives
    it."""
    codes = ", ".join(
        column if depth < deepest else f"NULL::text AS {column}"
        for depth, column in enumerate(LEVEL_COLUMNS)
    )
    below = 2 ** (4 - deepest)  # the levels below, always summed over
    bits = f"GROUPING({', '.join(LEVEL_COLUMNS[:deepest])}) * {below} + " if deepest else ""
    return f"{codes}, {bits}{below - 1} AS {GROUPING_COLUMN}"


#: the cases that can count in a period's figures (below), of those reported before its end:
#: open at some moment since its start (or since ``as_of``, for a period not begun), reported
#: or due for disposal or a visit or signed off in it, or moved, urged or rated in it. A case
#: closed before then, all its moments before then, counts nowhere: leaving out these (half
#: of a million cases, for a month) halves the work of every count. Tested against every case.
#: The moves, urges and ratings are read from their tables here, not from the query's CTEs of
#: the same names: a CTE read twice keeps PostgreSQL from scanning the cases in parallel.
CONTRIBUTING = (
    "(v.closed_at IS NULL OR v.closed_at >= least(:start, :as_of) OR v.reported_at >= :start "
    "OR v.reported_at + :days * interval '1 day' >= :start OR v.signed_off_at >= :start "
    "OR v.visit_due >= :start OR v.id IN (SELECT case_id FROM case_event WHERE action IN "
    "('transfer', 'accept_transfer') AND at >= :start AND at < :end) "
    "OR v.id IN (SELECT case_id FROM case_urge WHERE urged_at >= :start AND urged_at < :end) "
    "OR v.id IN (SELECT case_id FROM case_rating WHERE rated_at >= :start AND rated_at < :end))"
)


def _period_leaves(grids: str, where: str) -> str:
    """The period's counts per leaf (:data:`CASE_COUNTS`) of the cases ``v`` where ``where``
    holds, among those that can count (:data:`CONTRIBUTING`)."""
    where = f"v.reported_at < :end AND {CONTRIBUTING} AND ({where})"
    return f"""
    WITH moves AS (
        SELECT case_id,
               count(*) FILTER (WHERE action = 'transfer') AS out_,
               count(*) FILTER (WHERE action = 'accept_transfer') AS in_
        FROM case_event
        WHERE action IN ('transfer', 'accept_transfer') AND at >= :start AND at < :end
        GROUP BY case_id
    ),
    urged AS (
        SELECT case_id, count(*) AS urges,
               count(*) FILTER (WHERE answered_at <= reply_due AND answered_at < :as_of)
               AS on_time
        FROM case_urge WHERE urged_at >= :start AND urged_at < :end
        GROUP BY case_id
    ),
    rated AS (
        SELECT case_id, score FROM case_rating WHERE rated_at >= :start AND rated_at < :end
    ),
    c0 AS ({coded_cases(grids, where)}),
    c AS (SELECT c0.*, c0.reported_at + :days * interval '1 day' AS disposal_due FROM c0)
    SELECT {level_columns("c")},
      count(*) FILTER (WHERE reported_at >= :start) AS reported,
      count(*) FILTER (WHERE reported_at >= :start AND channel = ANY(:proactive)) AS proactive,
      count(*) FILTER (WHERE reported_at >= :start AND report_due IS NOT NULL) AS reports_due,
      count(*) FILTER (WHERE reported_at >= :start AND report_due IS NOT NULL
                       AND reported_at <= report_due) AS reports_on_time,
      count(*) FILTER (WHERE visit_due >= :start AND visit_due < :end
                       AND visited_at <= visit_due) AS visits_on_time,
      count(*) FILTER (WHERE visit_due >= :start AND visit_due < :end
                       AND visited_at > visit_due AND visited_at < :end) AS visits_late,
      count(*) FILTER (WHERE visit_due >= :start AND visit_due < :end
                       AND {missed_sql("visit_due", "visited_at", ":as_of")}
                       AND (closed_at IS NULL OR closed_at > visit_due)) AS visits_overdue,
      count(*) FILTER (WHERE track = 'new' AND disposal_due >= :start AND disposal_due < :end
                       AND signed_off_at <= disposal_due) AS disposals_on_time,
      count(*) FILTER (WHERE track = 'new' AND disposal_due >= :start AND disposal_due < :end
                       AND signed_off_at > disposal_due AND signed_off_at < :end)
                       AS disposals_late,
      count(*) FILTER (WHERE track = 'new' AND disposal_due >= :start AND disposal_due < :end
                       AND {missed_sql("disposal_due", "signed_off_at", ":as_of")}
                       AND NOT (signed_off_at IS NULL AND closed_at IS NOT NULL
                                AND closed_at < :as_of)) AS disposals_overdue,
      count(*) FILTER (WHERE signed_off_at >= :start AND signed_off_at < :end) AS signed_off,
      count(*) FILTER (WHERE reported_at < :start
                       AND (closed_at IS NULL OR closed_at >= :start)) AS open_at_start,
      count(*) FILTER (WHERE {missed_sql("visit_due", "visited_at", ":as_of")}
                       AND (closed_at IS NULL OR closed_at >= :as_of)) AS overdue_open,
      count(*) FILTER (WHERE reported_at >= :start AND rebound_of IS NOT NULL) AS rebounds,
      coalesce(sum(moves.out_), 0) AS transfers_out,
      coalesce(sum(moves.in_), 0) AS transfers_in,
      coalesce(sum(urged.urges), 0) AS urges,
      coalesce(sum(urged.on_time), 0) AS urges_answered_on_time,
      count(rated.case_id) AS ratings,
      coalesce(sum(rated.score), 0) AS rating_points,
      5 * count(rated.case_id) AS rating_full
    FROM c LEFT JOIN moves ON moves.case_id = c.id LEFT JOIN urged ON urged.case_id = c.id
    LEFT JOIN rated ON rated.case_id = c.id
    GROUP BY {level_columns("c")}
    """


def _period_moments(lo: datetime, hi: datetime, days: int) -> tuple[str, dict]:
    """The leaves of the cases whose period counts may differ between two moments ``as_of``
    from ``lo`` to ``hi``: every date the counts compare with ``:as_of`` lies in between (a
    disposal deadline by its report, a day wider each side for the calendar's days)."""
    codes = level_columns("v")
    between = " OR ".join(
        f"v.{column} BETWEEN :lo AND :hi"
        for column in ("visit_due", "visited_at", "signed_off_at", "closed_at")
    )
    sql = (
        f"SELECT {codes} FROM violation_case v WHERE {between} "
        "OR (v.reported_at BETWEEN CAST(:lo AS timestamptz) - (:days + 1) * interval '1 day' "
        "AND CAST(:hi AS timestamptz) - (:days - 1) * interval '1 day' "
        "AND v.reported_at + :days * interval '1 day' BETWEEN :lo AND :hi) "
        f"UNION SELECT {codes} FROM case_urge u JOIN violation_case v ON v.id = u.case_id "
        "WHERE u.answered_at BETWEEN :lo AND :hi"
    )
    return sql, {"lo": lo, "hi": hi, "days": days}


@dataclass(frozen=True)
class _Layout:
    """How leaves sum up the levels: the leaves in the order of their codes, so that each
    unit's leaves are one run; per depth, where each unit's run begins and the unit's codes."""

    order: np.ndarray
    starts: list[np.ndarray]
    prefixes: list[list[tuple]]


#: each process's latest layouts, by the leaves' codes and the depth (the same leaves come back
#: on every read of figures nobody's cases moved out of)
_LAYOUTS: dict[tuple, _Layout] = {}
_LAYOUTS_KEPT = 16


def _layout(codes: list[tuple], deepest: int) -> _Layout:
    key = (tuple(codes), deepest)
    made = _LAYOUTS.get(key)
    if made is not None:
        return made
    # None (no grid at the level) first, as units.rows sorts them
    order = sorted(range(len(codes)), key=lambda i: [c or "" for c in codes[i]])
    starts: list[np.ndarray] = [np.zeros(1, dtype=np.intp)]
    prefixes: list[list[tuple]] = [[()]]
    for depth in range(1, deepest + 1):
        at, seen, previous = [], [], None
        for place, i in enumerate(order):
            prefix = codes[i][:depth]
            if prefix != previous:
                at.append(place)
                seen.append(prefix)
                previous = prefix
        starts.append(np.array(at, dtype=np.intp))
        prefixes.append(seen)
    made = _LAYOUTS[key] = _Layout(np.array(order, dtype=np.intp), starts, prefixes)
    while len(_LAYOUTS) > _LAYOUTS_KEPT:
        _LAYOUTS.pop(next(iter(_LAYOUTS)), None)
    return made


def units_of_leaves(kept: leaves.Leaves, names, district=None, deepest: int = 4) -> dict:
    """:func:`grouped_units` of counts per leaf: each leaf (of ``district``, when given) added
    to its compound, community, town, district and the city (down to the level at
    ``deepest``), as ``GROUPING SETS`` sums them."""
    if district is None:
        chosen, counts = kept.codes, kept.counts
    else:
        mine = [i for i, codes in enumerate(kept.codes) if codes[0] == district]
        chosen, counts = [kept.codes[i] for i in mine], kept.counts[mine]
    levels = ("city", *GRID_LEVELS)
    out: dict[tuple, dict] = {}
    if not chosen:
        out[("city",)] = {
            "level": "city",
            "code": None,
            "chain": [],
            "parent": None,
            "counts": dict.fromkeys(names, 0),
        }
        return out
    layout = _layout(chosen, deepest)
    ordered = np.asarray(counts, dtype=np.int64)[layout.order]
    for depth in range(deepest + 1):
        sums = np.add.reduceat(ordered, layout.starts[depth], axis=0).tolist()
        level = levels[depth]
        for codes, row in zip(layout.prefixes[depth], sums, strict=True):
            parent = (levels[depth - 1], codes[-2] if depth >= 2 else None) if depth else None
            out[(level, *codes)] = {
                "level": level,
                "code": codes[-1] if codes else None,
                "chain": list(codes),
                "parent": parent,
                "counts": dict(zip(names, row, strict=True)),
            }
    return out


def period_figures(definitions: Definitions, start: datetime, end: datetime, as_of: datetime):
    """The period's counts per leaf as :mod:`.leaves` keeps them (frozen grids, every
    district)."""
    return leaves.Figures(
        kind="period",
        names=CASE_COUNTS,
        leaf_sql=lambda where: _period_leaves("frozen", where),
        params={
            "start": start,
            "end": end,
            "proactive": sorted(definitions.proactive_channels),
            "days": definitions.disposal_days,
        },
        as_of=as_of,
        moments=lambda lo, hi: _period_moments(lo, hi, definitions.disposal_days),
    )


def unit_counts(
    conn: Connection,
    definitions: Definitions,
    start: datetime,
    end: datetime,
    *,
    grids: str = "frozen",
    district: str | None = None,
    now: datetime | None = None,
    ledger_due_day: int = 5,
    kept: Engine | None = None,
    deepest: str = "compound",
) -> dict:
    """The assessment's counts for [start, end) for every grid unit (see :mod:`.assessment`).
    A deadline counts as missed only once it has passed: at the period's end, or ``now``
    for a period still running. The towns' ledgers are added to the towns, their districts
    and the city (:func:`add_ledgers`).

    ``kept``: the engine of the figures kept per leaf (:mod:`.leaves`), read on a connection of
    their own and brought up to date, for frozen grids; without it every case is counted.
    ``deepest``: the lowest grid level counted (``community``: no compound's figures)."""
    if not start < end:
        raise InputError(
            "统计期间的结束时间应晚于开始时间，请检查起止日期",
            code="period.reversed",
            detail="the period must end after it starts",
        )
    as_of = min(end, now) if now is not None else end
    depth = GRID_LEVELS.index(deepest) + 1
    figures = period_figures(definitions, start, end, as_of)
    if kept is not None and grids == "frozen":
        units = units_of_leaves(leaves.read(kept, figures), CASE_COUNTS, district, depth)
    else:
        where = "v.district_code = :district" if district else "true"
        sql = f"""
        WITH leaf AS ({_period_leaves(grids, where)})
        SELECT {grouped_columns(depth)},
          {", ".join(f"coalesce(sum({name}), 0)::bigint AS {name}" for name in CASE_COUNTS)}
        FROM leaf
        {grouping(depth)}
        """
        params = {**figures.params, "as_of": as_of, "district": district}
        units = grouped_units(conn.execute(text(sql), params))
    add_ledgers(units, ledger_counts(conn, start, end, as_of, ledger_due_day, district))
    add_patrols(units, conn, start, end, district, depth)
    for unit in units.values():
        assert set(unit["counts"]) == set(UNIT_COUNTS)
    return units


def add_patrols(
    units: dict, conn: Connection, start: datetime, end: datetime, district, deepest: int = 4
) -> None:
    """The patrol counts (:data:`PATROL_COUNTS`) into ``units``, grouped over the active grids
    as the cases are; a unit with compounds or patrols but no case gets a unit of its own.
    Kept by each process while the patrol tracks and the grids are unchanged (their stamps,
    :func:`.leaves.stamped`)."""

    def counted() -> list[tuple[tuple, dict]]:
        where = "WHERE district_code = :district" if district else ""
        rows = conn.execute(
            text(
                f"WITH leaf AS ({coverage.PATROL_LEAVES}) "
                f"SELECT {grouped_columns(deepest)}, "
                "coalesce(sum(compounds), 0)::bigint AS compounds, "
                "coalesce(sum(compounds_patrolled), 0)::bigint AS compounds_patrolled, "
                "coalesce(sum(patrols), 0)::bigint AS patrols "
                f"FROM leaf {where} {grouping(deepest)}"
            ),
            {"start": start, "end": end, "district": district, "epsg": coverage.metric_epsg(conn)},
        )
        return [(k, u) for k, u in grouped_units(rows).items() if any(u["counts"].values())]

    stamp_key = ("patrols", start, end, district, deepest)
    days = round((end - start).total_seconds() / 86400)
    empty = dict.fromkeys(UNIT_COUNTS, 0)
    for key, unit in leaves.stamped(conn, ("grids", "patrols"), stamp_key, counted):
        units.setdefault(key, {**unit, "counts": dict(empty)})["counts"].update(unit["counts"])
    for unit in units.values():
        for name in PATROL_COUNTS:
            unit["counts"].setdefault(name, 0)
        unit["counts"]["period_days"] = days


def add_ledgers(units: dict, towns: dict[tuple[str, str], dict[str, int]]) -> None:
    """The towns' ledger counts into ``units`` (:func:`grouped_units`' shape): each town's own, the
    sums into its district and the city; a town or district without cases gets a unit of its
    own (every case count 0); the units below the town count no ledgers."""
    empty = dict.fromkeys(UNIT_COUNTS, 0)
    for unit in units.values():
        for name in LEDGER_COUNTS:
            unit["counts"].setdefault(name, 0)
    if not towns:
        return
    city = units.setdefault(
        ("city",),
        {"level": "city", "code": None, "chain": [], "parent": None, "counts": dict(empty)},
    )
    for (district, town), counts in towns.items():
        parents = (
            city,
            units.setdefault(
                ("district", district),
                {
                    "level": "district",
                    "code": district,
                    "chain": [district],
                    "parent": ("city", None),
                    "counts": dict(empty),
                },
            ),
            units.setdefault(
                ("town", district, town),
                {
                    "level": "town",
                    "code": town,
                    "chain": [district, town],
                    "parent": ("district", district),
                    "counts": dict(empty),
                },
            ),
        )
        for unit in parents:
            for name in LEDGER_COUNTS:
                unit["counts"][name] += counts[name]


def property_counts(
    conn: Connection, start: datetime, end: datetime, district: str | None = None
) -> list[dict]:
    """Per property-company account: reports it made in the period, those with a report
    deadline and those on time, and violations in its compound reported first by others."""
    rows = conn.execute(
        text(
            """
            SELECT u.id, u.username, u.display_name, u.grid_code,
              count(*) FILTER (WHERE c.reporter_user_id = u.id) AS reports,
              count(*) FILTER (WHERE c.reporter_user_id = u.id AND c.report_due IS NOT NULL)
                AS reports_due,
              count(*) FILTER (WHERE c.reporter_user_id = u.id AND c.report_due IS NOT NULL
                               AND c.reported_at <= c.report_due) AS reports_on_time,
              count(*) FILTER (WHERE c.reporter_user_id IS DISTINCT FROM u.id
                               AND c.channel <> 'property_company') AS found_by_others
            FROM app_user u
            LEFT JOIN violation_case c ON c.compound_code = u.grid_code
                 AND c.reported_at >= :start AND c.reported_at < :end
            WHERE u.role = 'property_company' AND u.active
              AND (CAST(:district AS text) IS NULL OR u.district_code = :district)
            GROUP BY u.id ORDER BY u.username
            """
        ),
        {"start": start, "end": end, "district": district},
    )
    out = []
    for r in rows:
        counts = {k: int(getattr(r, k)) for k in PROPERTY_COUNTS}
        out.append(
            {
                "code": r.username,
                "name": r.display_name,
                "grid_code": r.grid_code,
                "counts": counts,
            }
        )
    return out


def _campaign_leaves(grids: str, months: int, where: str = "true") -> str:
    """A campaign's clear-to-zero counts per leaf: the baseline, signed off since the start (to
    ``as_of``), and the cumulative signed-off count at each month end, of the baseline's cases
    where ``where`` holds (on the baseline's codes, ``b``)."""
    month_columns = "".join(
        f", count(*) FILTER (WHERE signed_off_at >= :start AND signed_off_at < :month_end_{i}) "
        f"AS month_{i}"
        for i in range(months)
    )
    base = (
        f"SELECT {CASE_FIELDS}, {level_columns('b')} FROM campaign_baseline b "
        f"JOIN violation_case v ON v.id = b.case_id WHERE b.campaign_id = :campaign AND ({where})"
        if grids == "frozen"
        # today's grids and the sign-off, both kept in case_grid_current: no case row read
        else f"SELECT b.case_id AS id, x.signed_off_at, {level_columns('x')} "
        "FROM campaign_baseline b JOIN case_grid_current x ON x.case_id = b.case_id "
        "WHERE b.campaign_id = :campaign"
    )
    # counted per compound first (hashed), so the roll-up sorts a few thousand rows
    return (
        f"SELECT {level_columns('c')}, count(*) AS baseline, count(*) FILTER (WHERE signed_off_at "
        f">= :start AND signed_off_at < :as_of) AS signed_off {month_columns} "
        f"FROM ({base}) c GROUP BY {level_columns('c')}"
    )


def campaign_figures(
    campaign_id: int, as_of: datetime, months: list[datetime], start: datetime
) -> leaves.Figures:
    """A campaign's counts per leaf of its baseline (frozen grids) as :mod:`.leaves` keeps
    them: a case's leaf is the baseline's codes, found for the cases written since."""
    params: dict = {"campaign": campaign_id, "as_of": as_of, "start": start}
    params.update({f"month_end_{i}": end for i, end in enumerate(months)})
    return leaves.Figures(
        kind="campaign",
        names=("baseline", "signed_off", *(f"month_{i}" for i in range(len(months)))),
        leaf_sql=lambda where: _campaign_leaves("frozen", len(months), where),
        params=params,
        moment="moment",  # none: ``as_of`` is a day's end, a parameter of the figures
        alias="b",
        written=(
            f"SELECT {level_columns('b')} FROM violation_case v JOIN campaign_baseline b "
            "ON b.case_id = v.id AND b.campaign_id = :campaign WHERE v.change_xid >= :xmin"
        ),
    )


def campaign_counts(
    conn: Connection,
    campaign_id: int,
    as_of: datetime,
    months: list[datetime],
    *,
    start: datetime,
    grids: str = "frozen",
    kept: Engine | None = None,
    deepest: int = 4,
) -> dict:
    """Clear-to-zero figures per unit: the baseline backlog, signed off since the start (to
    ``as_of``), and the cumulative signed-off count at each month end in ``months``.
    ``kept``: the engine of the figures kept per leaf (:mod:`.leaves`), for frozen grids;
    ``deepest``: the lowest level summed, when kept (1: the districts … 4: the compounds)."""
    if grids not in GRID_MODES:
        raise InputError(
            f"网格口径“{grids}”无效，应为 frozen（按立案时的网格）或 current（按现行网格）",
            code="assessment.grids_invalid",
            detail=f"grids must be frozen or current, not {grids!r}",
        )
    if kept is not None and grids == "frozen":
        figures = campaign_figures(campaign_id, as_of, months, start)
        return units_of_leaves(leaves.read(kept, figures), figures.names, deepest=deepest)
    sums = ["baseline", "signed_off", *(f"month_{i}" for i in range(len(months)))]
    sql = f"""
    WITH leaf AS ({_campaign_leaves(grids, len(months))})
    SELECT {grouped_columns()},
      {", ".join(f"coalesce(sum({name}), 0)::bigint AS {name}" for name in sums)}
    FROM leaf
    {GROUPING}
    """
    params = {"campaign": campaign_id, "as_of": as_of, "start": start}
    params.update({f"month_end_{i}": end for i, end in enumerate(months)})
    return grouped_units(conn.execute(text(sql), params))
