"""Figures counted per grid leaf, kept in the database and brought up to date on each read.

A *leaf* is a case's four grid codes (district, town, community, compound); every figure of the
statistics is a sum over leaves, rolled up the grid levels (:func:`.figures.units_of_leaves`).
Counting every leaf on each click reads half of a million cases. Here the leaves are counted
once and kept (``figures_entry``, ``figures_leaf``, migration 0023), and a read counts again
only the leaves whose counts may have changed since:

- the leaves of the cases written since: each case row carries the id of the transaction that
  last wrote it (``change_xid``), and triggers note in ``figures_touch`` the leaf a case left
  (its codes changed, or it was deleted) and the leaf of a case whose urges, rating or
  transfers changed. Both are read from the ``xmin`` of the snapshot the leaves were counted
  in, as the map's case columns catch up (:mod:`weijian.web_map.casestore`): a transaction that
  committed since was running then or began later, so commits in any order are all seen;
- the leaves of the cases whose counts turn as time passes from the moment they were counted at
  to the moment asked for (a due date reached): each set of figures names these cases by its
  ``moments``, a condition on indexed dates.

Every other leaf's counts are what counting it again would give. A read holds a lock per set
of figures and counts, writes and reads in one REPEATABLE READ snapshot. The tables are a cache
(``UNLOGGED``): emptied, they are filled again by the next read.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import numpy as np
from sqlalchemy import Connection, Engine, text

#: a leaf's codes, named as in ``violation_case`` (and ``figures_leaf``)
CODES = ("district_code", "town_code", "community_code", "compound_code")
#: the lock held while figures are first counted and while ``figures_touch`` is pruned
_CREATION_LOCK = 0x5745494A49414E  # any constant of our own
#: figures nobody read for this long are dropped when others are first counted
KEEP_DAYS = 7

T = TypeVar("T")


@dataclass(frozen=True)
class Leaves:
    """Counts per leaf: the leaves' codes, and their counts as rows of an array."""

    codes: list[tuple]
    counts: np.ndarray  # (leaves, counts) int64

    def as_dict(self) -> dict[tuple, tuple[int, ...]]:
        return dict(zip(self.codes, map(tuple, self.counts.tolist()), strict=True))


@dataclass(frozen=True)
class Figures:
    """One set of figures counted per leaf.

    ``leaf_sql(where)``: a SELECT of the four codes and the counts (``names``, in order) per
    leaf, of the cases ``v`` where ``where`` holds, grouped by the codes. ``as_of``: the moment
    its time-dependent counts are counted at (None: it has none). ``moments(lo, hi)``: a
    SELECT of the codes of the cases whose counts may differ between any two moments from
    ``lo`` to ``hi`` (both included), and its parameters."""

    kind: str
    names: tuple[str, ...]
    leaf_sql: Callable[[str], str]
    params: dict = field(default_factory=dict)
    as_of: datetime | None = None
    moments: Callable[[datetime, datetime], tuple[str, dict]] | None = None
    moment: str = "as_of"  # the parameter of ``leaf_sql`` that ``as_of`` is given as
    #: the alias in ``leaf_sql`` whose four codes make a case's leaf
    alias: str = "v"
    #: a SELECT of the leaves of the cases written since the snapshot ``:xmin``, when a case's
    #: leaf is not its own four codes (a campaign's baseline keeps the codes it was taken with)
    written: str | None = None

    @property
    def key(self) -> str:
        """Names the figures by their SQL and every parameter but the moment: a change of
        either (a new release, other definitions) counts them afresh."""
        words = [self.leaf_sql("true"), repr(self.names)]
        words += [f"{k}={self.params[k]!r}" for k in sorted(self.params)]
        return f"{self.kind}:{hashlib.sha256(chr(0).join(words).encode()).hexdigest()[:32]}"


def read(engine: Engine, figures: Figures) -> Leaves:
    """The figures' counts per leaf, brought up to date."""
    return _up_to_date(engine, figures)


def total(engine: Engine, figures: Figures, column: str, code: str | None) -> tuple[int, ...]:
    """The figures' counts summed over the leaves whose ``column`` (one of :data:`CODES`) is
    ``code`` (every leaf: None), brought up to date."""
    kept = read(engine, figures)
    at = CODES.index(column)
    mine = [i for i, codes in enumerate(kept.codes) if code is None or codes[at] == code]
    return tuple(int(n) for n in kept.counts[mine].sum(axis=0, dtype=np.int64))


@dataclass
class _Copy:
    """A process's copy of one set of kept figures: as of the entry's ``version`` (of the
    entry made at ``epoch``), each leaf's row and whether it is still there."""

    epoch: str
    version: int
    rows: dict[tuple, int]
    codes: list[tuple]
    counts: np.ndarray
    there: np.ndarray

    def leaves(self) -> Leaves:
        n = len(self.codes)
        there = np.flatnonzero(self.there[:n])
        return Leaves([self.codes[i] for i in there], self.counts[there])


#: each process's copies of the figures it read, by database and key (the latest few)
_COPIES: dict[tuple[str, str], _Copy] = {}
_COPIES_KEPT = 32
_COPIES_LOCK = threading.Lock()


def _up_to_date(engine: Engine, figures: Figures) -> Leaves:
    """The figures' leaves once they are up to date, read in the snapshot that brought them up
    to date, under the figures' lock: only the leaves changed since this process last read
    them."""
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="REPEATABLE READ")
        # locks are taken each in a transaction of its own, before the snapshot that counts
        _lock(conn, "pg_advisory_lock(hashtextextended(:key, 0))", key=figures.key)
        try:
            first = conn.execute(
                text(
                    "SELECT counted_xmin, as_of, version, epoch FROM figures_entry WHERE key = :key"
                ),
                {"key": figures.key},
            ).first()
            if first is None:
                conn.rollback()
                _lock(conn, f"pg_advisory_lock({_CREATION_LOCK})")
                try:
                    epoch, version = _count_all(conn, figures), 1
                    conn.commit()
                finally:
                    _lock(conn, f"pg_advisory_unlock({_CREATION_LOCK})")
            else:
                epoch = first.epoch
                version = _count_touched(
                    conn, figures, first.counted_xmin, first.as_of, first.version
                )
            out = _copied(conn, figures, epoch, version)
            conn.commit()
        finally:
            conn.rollback()
            _lock(conn, "pg_advisory_unlock(hashtextextended(:key, 0))", key=figures.key)
    return out


def _copied(conn: Connection, figures: Figures, epoch: str, version: int) -> Leaves:
    """The process's copy of the leaves brought to the entry's ``version`` (of the entry made
    at ``epoch``): the leaves changed since the copy's version read, in PostgreSQL's binary
    form (``array_send``) in one go (some 5,000 leaves of 20 counts each made as Python
    numbers cost more than the rest of a read)."""
    at = (conn.engine.url.render_as_string(hide_password=True), figures.key)
    width = len(figures.names)
    with _COPIES_LOCK:
        copy = _COPIES.pop(at, None)
    if copy is None or copy.epoch != epoch:
        copy = _Copy(epoch, 0, {}, [], np.zeros((0, width), np.int64), np.zeros(0, bool))
    if copy.version != version:
        cursor = conn.connection.driver_connection.cursor()
        try:
            rows = cursor.execute(
                f"SELECT {', '.join(CODES)}, gone, array_send(counts) FROM figures_leaf "
                "WHERE key = %(key)s AND version > %(seen)s",
                {"key": figures.key, "seen": copy.version},
            ).fetchall()
        finally:
            cursor.close()
        _apply(copy, rows, width)
        copy.version = version
    leaves = copy.leaves()
    with _COPIES_LOCK:
        _COPIES[at] = copy
        while len(_COPIES) > _COPIES_KEPT:
            _COPIES.pop(next(iter(_COPIES)))
    return leaves


def _apply(copy: _Copy, rows: list, width: int) -> None:
    """Changed leaves into a copy: counts replaced, new leaves added, gone ones marked."""
    if not rows:
        return
    # a one-dimensional bigint array: a 20-byte header, then each count's length and value
    record = np.dtype([("header", "V20"), ("counts", [("length", ">i4"), ("n", ">i8")], width)])
    counts = np.frombuffer(b"".join(row[5] for row in rows), dtype=record)["counts"]["n"]
    counts = counts.reshape(len(rows), width)
    at = np.empty(len(rows), dtype=np.int64)
    for i, row in enumerate(rows):
        codes = row[:4]
        place = copy.rows.get(codes)
        if place is None:
            place = copy.rows[codes] = len(copy.codes)
            copy.codes.append(codes)
        at[i] = place
    n = len(copy.codes)
    if n > len(copy.counts):
        grown = max(n, 2 * len(copy.counts))
        counts_grown = np.zeros((grown, width), np.int64)
        counts_grown[: len(copy.counts)] = copy.counts
        there_grown = np.zeros(grown, bool)
        there_grown[: len(copy.there)] = copy.there
        copy.counts, copy.there = counts_grown, there_grown
    copy.counts[at] = counts
    copy.there[at] = [not row[4] for row in rows]


#: each process's figures computed from tables other than the cases, by their stamps
_STAMPED: dict[tuple, tuple[tuple, Any]] = {}


def stamped(conn: Connection, stamps: tuple[str, ...], key: tuple, make: Callable[[], T]) -> T:
    """``make()``, or what it gave before for ``key`` while the ``stamps`` of the tables it
    reads (``figures_stamp``: ``patrols``, ``grids``) have not moved since. What it gave is
    shared: the caller must not change it."""
    now = tuple(
        conn.execute(
            text("SELECT stamp FROM figures_stamp WHERE name = ANY(:names) ORDER BY name"),
            {"names": list(stamps)},
        ).scalars()
    )
    at = (conn.engine.url.render_as_string(hide_password=True), *key)
    with _COPIES_LOCK:
        seen = _STAMPED.get(at)
    if seen is not None and seen[0] == now and len(now) == len(stamps):
        return seen[1]
    made = make()
    with _COPIES_LOCK:
        _STAMPED[at] = (now, made)
        while len(_STAMPED) > 4 * _COPIES_KEPT:
            _STAMPED.pop(next(iter(_STAMPED)))
    return made


def _lock(conn: Connection, call: str, **params) -> None:
    conn.execute(text(f"SELECT {call}"), params)
    conn.commit()


def _count_all(conn: Connection, figures: Figures) -> str:
    """Count every leaf (the first read of these figures), at version 1 of a new epoch, which
    is returned; drop figures nobody reads any more and the notes of changes every kept figure
    has seen."""
    # (figures another process is reading now, holding their lock, are not dropped)
    conn.execute(
        text(
            "DELETE FROM figures_entry WHERE key = :key "
            f"OR (read_at < now() - interval '{KEEP_DAYS} days' "
            "AND pg_try_advisory_xact_lock(hashtextextended(key, 0)))"
        ),
        {"key": figures.key},
    )
    epoch = conn.execute(
        text(
            "INSERT INTO figures_entry (key, counted_xmin, as_of, epoch, version) "
            "VALUES (:key, pg_snapshot_xmin(pg_current_snapshot()), :as_of, "
            "gen_random_uuid()::text, 1) RETURNING epoch"
        ),
        {"key": figures.key, "as_of": figures.as_of},
    ).scalar_one()
    _insert(conn, figures, "true", {}, 1)
    # under the creation lock no figures are being first counted: a note older than every
    # kept figure's snapshot was seen by all of them, and by any counted after
    conn.execute(
        text("DELETE FROM figures_touch WHERE xid < (SELECT min(counted_xmin) FROM figures_entry)")
    )
    return epoch


def _count_touched(conn: Connection, figures: Figures, xmin, counted_as_of, version) -> int:
    """Count again the leaves touched since the snapshot ``xmin`` and, when the moment moved,
    the leaves of the cases whose counts turn in between; the entry's version after."""
    selects = [
        figures.written
        or f"SELECT {', '.join(CODES)} FROM violation_case WHERE change_xid >= :xmin",
        f"SELECT {', '.join(CODES)} FROM figures_touch WHERE xid >= :xmin",
    ]
    params: dict = {**figures.params, "xmin": xmin}
    moved = figures.as_of is not None and figures.as_of != counted_as_of
    if moved and figures.moments is not None:
        lo, hi = sorted((counted_as_of or figures.as_of, figures.as_of))
        sql, more = figures.moments(lo, hi)
        selects.append(sql)
        params.update(more)
    touched = conn.execute(text(" UNION ".join(selects)), params).all()
    if touched:
        # the leaves counted again: marked gone, then those still there counted anew
        version += 1
        where, arms = restriction(touched)
        conn.execute(
            text(
                "UPDATE figures_leaf SET gone = true, version = :version "
                f"WHERE key = :key AND NOT gone AND ({where('')})"
            ),
            {"key": figures.key, "version": version, **arms},
        )
        _insert(conn, figures, where(f"{figures.alias}."), arms, version)
    conn.execute(
        text(
            "UPDATE figures_entry SET counted_xmin = pg_snapshot_xmin(pg_current_snapshot()), "
            "as_of = :as_of, read_at = now(), version = :version, counted_at = CASE "
            "WHEN :changed THEN now() ELSE counted_at END WHERE key = :key"
        ),
        {
            "key": figures.key,
            "as_of": figures.as_of,
            "version": version,
            "changed": bool(touched) or moved,
        },
    )
    return version


def _insert(conn: Connection, figures: Figures, where: str, arms: dict, version: int) -> None:
    """The leaves of the cases where ``where`` holds, counted, in at ``version``."""
    counts = ", ".join(f"l.{name}" for name in figures.names)
    conn.execute(
        text(
            f"INSERT INTO figures_leaf (key, {', '.join(CODES)}, counts, version) "
            f"SELECT :key, {', '.join('l.' + c for c in CODES)}, ARRAY[{counts}]::bigint[], "
            f":version FROM ({figures.leaf_sql(where)}) l "
            f"ON CONFLICT (key, {', '.join(CODES)}) DO UPDATE SET counts = EXCLUDED.counts, "
            "gone = false, version = EXCLUDED.version"
        ),
        {
            **figures.params,
            **arms,
            "key": figures.key,
            "version": version,
            figures.moment: figures.as_of,
        },
    )


def restriction(leaves) -> tuple[Callable[[str], str], dict]:
    """A condition (on columns with a prefix, ``v.`` or none) that holds for every case, and
    every kept leaf, of the ``leaves`` given, and its parameters: compounds by their code,
    cases outside any compound by the nearest level they have. One arm per kind of leaf, each
    answered by an index."""
    compounds, communities, towns, districts, nowhere = set(), set(), set(), set(), False
    for district, town, community, compound in leaves:
        if compound is not None:
            compounds.add(compound)
        elif community is not None:
            communities.add(community)
        elif town is not None:
            towns.add(town)
        elif district is not None:
            districts.add(district)
        else:
            nowhere = True
    arms = {
        "t_compound": sorted(compounds),
        "t_community": sorted(communities),
        "t_town": sorted(towns),
        "t_district": sorted(districts),
    }

    def where(p: str) -> str:
        made = []
        if compounds:
            made.append(f"{p}compound_code = ANY(:t_compound)")
        if communities:
            made.append(f"({p}compound_code IS NULL AND {p}community_code = ANY(:t_community))")
        if towns:
            made.append(
                f"({p}compound_code IS NULL AND {p}community_code IS NULL "
                f"AND {p}town_code = ANY(:t_town))"
            )
        if districts:
            made.append(
                f"({p}compound_code IS NULL AND {p}community_code IS NULL "
                f"AND {p}town_code IS NULL AND {p}district_code = ANY(:t_district))"
            )
        if nowhere:
            made.append(
                f"({p}compound_code IS NULL AND {p}community_code IS NULL "
                f"AND {p}town_code IS NULL AND {p}district_code IS NULL)"
            )
        return " OR ".join(made) or "false"

    return where, arms
