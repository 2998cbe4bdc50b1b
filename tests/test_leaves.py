"""The statistics' figures kept per grid leaf (``weijian.oversight.leaves``): through random
changes of cases, urges, ratings and transfers, cases moved and deleted, commits out of order,
and time moving on and back, every kept figure is what counting every case again gives."""

from __future__ import annotations

import random
import threading
import time
from datetime import date, datetime, timedelta

from sqlalchemy import text

from tests.casekit import GRID_CHAINS
from tests.test_assessment import _random_cases, backlog_campaign
from weijian.cases.clock import LOCAL
from weijian.oversight import dashboard, figures, leaves
from weijian.oversight.assessment import active_definitions

STAGES = ["report", "visit", "disposal"]
PERIODS = [
    (date(2026, 3, 1), date(2026, 4, 1)),  # past
    (date(2026, 4, 1), date(2026, 5, 1)),  # running
    (date(2026, 6, 1), date(2026, 7, 1)),  # to come
    (date(2026, 1, 1), date(2027, 1, 1)),  # the year
    (date(2026, 4, 17), date(2026, 4, 23)),  # a few days around the clock
]


def _at(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), LOCAL)


def _counted_afresh(conn, fig: leaves.Figures) -> leaves.Leaves:
    """The leaves counted over every case, nothing kept."""
    params = {**fig.params, fig.moment: fig.as_of}
    return {
        tuple(row[:4]): tuple(int(n) for n in row[4:])
        for row in conn.execute(text(fig.leaf_sql("true")), params)
    }


def _kinds(definitions, now: datetime):
    """Every set of kept figures the statistics read, for the periods and ``now`` (and the
    campaign 99's progress to the end of ``now``'s day, where there is one)."""
    today = now.astimezone(LOCAL).date()
    months = [_at(date(2026, m, 1)) for m in range(2, today.month + 1)]
    until = _at(today + timedelta(days=1))
    out = [
        dashboard._state_figures(STAGES, 7, now),
        figures.campaign_figures(99, until, [*months, until], _at(date(2026, 1, 1))),
    ]
    for start, end in PERIODS:
        lo, hi = _at(start), _at(end)
        out.append(figures.period_figures(definitions, lo, hi, min(hi, now)))
        out.append(dashboard._monthly_figures(lo, hi))
    return out


def _check(engine, definitions, now: datetime) -> int:
    compared = 0
    with engine.connect() as conn:
        for fig in _kinds(definitions, now):
            kept = leaves.read(engine, fig).as_dict()
            assert kept == _counted_afresh(conn, fig), (fig.kind, fig.params.get("start"), now)
            compared += sum(any(c) for c in kept.values())
        for start, end in PERIODS[:2]:
            lo, hi = _at(start), _at(end)
            read = figures.unit_counts(conn, definitions, lo, hi, now=now, kept=engine)
            assert read == figures.unit_counts(conn, definitions, lo, hi, now=now)
    return compared


def _change(conn, rng: random.Random, now: datetime) -> None:
    """A round of random changes at ``now``, as the workflow and the data's keepers make
    them."""
    open_ids = [r[0] for r in conn.execute(text("SELECT id FROM violation_case WHERE is_open"))]
    all_ids = [r[0] for r in conn.execute(text("SELECT id FROM violation_case"))]
    for case_id in rng.sample(open_ids, min(6, len(open_ids))):
        what = rng.choice(["visit", "close", "sign_off", "stage", "urge"])
        if what == "visit":
            conn.execute(
                text("UPDATE violation_case SET visited_at = :t, last_event_at = :t WHERE id = :c"),
                {"t": now, "c": case_id},
            )
        elif what in ("close", "sign_off"):
            conn.execute(
                text(
                    "UPDATE violation_case SET is_open = false, closed_at = :t, "
                    "last_event_at = :t, state = :s, signed_off_at = CASE "
                    "WHEN :s = 'signed_off' THEN CAST(:t AS timestamptz) END WHERE id = :c"
                ),
                {
                    "t": now,
                    "c": case_id,
                    "s": "signed_off" if what == "sign_off" else "not_violation",
                },
            )
        elif what == "stage":
            conn.execute(
                text(
                    "UPDATE violation_case SET stage_code = :s, last_event_at = :t, "
                    "stage_due = CAST(:t AS timestamptz) + :h * interval '1 hour' WHERE id = :c"
                ),
                {"t": now, "c": case_id, "s": rng.choice(STAGES), "h": rng.randint(-48, 96)},
            )
        else:
            conn.execute(
                text(
                    "INSERT INTO case_urge (case_id, urged_by_name, urged_by_role, note, "
                    "urged_at, reply_due) VALUES (:c, 'x', 'supervisor', 'x', :t, "
                    "CAST(:t AS timestamptz) + interval '2 days')"
                ),
                {"c": case_id, "t": now},
            )
    # an urge answered, a rating, a transfer, a case moved to another leaf, one deleted
    conn.execute(
        text(
            "UPDATE case_urge SET answered_at = :t WHERE id = (SELECT min(id) FROM case_urge "
            "WHERE answered_at IS NULL)"
        ),
        {"t": now},
    )
    closed = [r[0] for r in conn.execute(text(
        "SELECT id FROM violation_case v WHERE closed_at IS NOT NULL AND NOT EXISTS "
        "(SELECT FROM case_rating r WHERE r.case_id = v.id)"))]  # fmt: skip
    if closed:
        conn.execute(
            text("INSERT INTO case_rating (case_id, score, rated_at) VALUES (:c, :s, :t)"),
            {"c": rng.choice(closed), "s": rng.randint(1, 5), "t": now},
        )
    conn.execute(
        text(
            "INSERT INTO case_event (case_id, seq, action, to_state, actor_name, actor_role, "
            "at, hash) SELECT :c, coalesce(max(seq), 0) + 1, :a, 'reported', 'x', "
            "'supervisor', :t, md5(CAST(:c AS text)) FROM case_event WHERE case_id = :c"
        ),
        {"c": rng.choice(all_ids), "a": rng.choice(["transfer", "accept_transfer"]), "t": now},
    )
    d, t, m, k = rng.choice(GRID_CHAINS)
    conn.execute(
        text(
            "UPDATE violation_case SET district_code = :d, town_code = :t, community_code = :m, "
            "compound_code = :k WHERE id = :c"
        ),
        {"d": d, "t": t, "m": m, "k": k, "c": rng.choice(all_ids)},
    )
    bare = [r[0] for r in conn.execute(text(
        "SELECT id FROM violation_case v WHERE NOT EXISTS (SELECT FROM case_event e "
        "WHERE e.case_id = v.id) AND NOT EXISTS (SELECT FROM case_urge u WHERE u.case_id = v.id) "
        "AND NOT EXISTS (SELECT FROM case_rating r WHERE r.case_id = v.id) "
        "AND NOT EXISTS (SELECT FROM campaign_baseline b WHERE b.case_id = v.id)"))]  # fmt: skip
    if bare:
        conn.execute(text("DELETE FROM violation_case WHERE id = :c"), {"c": rng.choice(bare)})


def test_kept_figures_are_a_fresh_count_through_changes_and_time(engine, case_api):
    rng = random.Random(11)
    with engine.begin() as conn:
        _random_cases(conn, rng, 200)
        backlog_campaign(conn, 99)
        conn.execute(
            text(
                "UPDATE violation_case SET stage_code = (ARRAY['report', 'visit', 'disposal'])"
                "[1 + id % 3], stage_due = reported_at + (id % 9) * interval '1 day', "
                "last_event_at = reported_at + (id % 5) * interval '1 day' WHERE is_open"
            )
        )
    with engine.connect() as conn:
        _, definitions = active_definitions(conn)
    now = datetime(2026, 4, 20, 9, tzinfo=LOCAL)
    compared = _check(engine, definitions, now)
    assert compared > 40  # the figures held counts to compare
    for _ in range(8):
        with engine.begin() as conn:
            _change(conn, rng, now)
        # time moves on (across due dates), or back (a clock set right)
        now += timedelta(hours=rng.choice([-30, 1, 7, 26, 49]))
        compared += _check(engine, definitions, now)
    # time alone moves: only the cases whose due dates (or stamps) it passes count again
    for _ in range(12):
        now += timedelta(hours=rng.randint(-40, 90))
        _check(engine, definitions, now)

    # unchanged and read again at the same moment: the same counts, nothing counted again.
    # A snapshot's xmin is the cluster's: while a transaction of another database (another
    # test's) that began before the last writes still runs, a read counts those writes'
    # leaves again, to be safe. Once it has ended, a read counts nothing
    def counted_at() -> dict:
        with engine.connect() as conn:
            return dict(conn.execute(text("SELECT key, counted_at FROM figures_entry")).all())

    for _ in range(50):
        entries = counted_at()
        _check(engine, definitions, now)
        if counted_at() == entries:
            break
        time.sleep(0.2)
    else:
        raise AssertionError("every read of unchanged figures counted them again")


def test_a_change_committed_after_a_read_began_is_counted_by_the_next(engine, case_api):
    """A transaction that wrote a case before a read and committed after it: the read could not
    see it, the next one counts it (its id is at least the first read's snapshot's ``xmin``)."""
    rng = random.Random(5)
    with engine.begin() as conn:
        _random_cases(conn, rng, 60)
    with engine.connect() as conn:
        _, definitions = active_definitions(conn)
    now = datetime(2026, 4, 20, 9, tzinfo=LOCAL)
    fig = figures.period_figures(definitions, _at(date(2026, 4, 1)), _at(date(2026, 5, 1)), now)
    leaves.read(engine, fig)
    writer = engine.connect()
    try:
        writer.begin()
        writer.execute(
            text(
                "INSERT INTO violation_case (number, district_code, year, seq, track, state, "
                "is_open, channel, description, reported_at, geom, jurisdiction) SELECT 'LATE', "
                "district_code, 2026, 999, 'new', 'reported', true, 'citizen', 'x', :t, geom, "
                "'{}' FROM violation_case LIMIT 1"
            ),
            {"t": now - timedelta(hours=2)},
        )
        # a read while the writer is open, from another thread, sees nothing of it
        seen = {}
        reader = threading.Thread(target=lambda: seen.update(leaves.read(engine, fig).as_dict()))
        reader.start()
        reader.join()
        writer.commit()
    finally:
        writer.close()
    with engine.connect() as conn:
        afresh = _counted_afresh(conn, fig)
    assert seen != afresh  # the new case was not there for the read in between
    assert leaves.read(engine, fig).as_dict() == afresh


def test_emptied_tables_empty_the_kept_figures(engine, case_api):
    rng = random.Random(3)
    with engine.begin() as conn:
        _random_cases(conn, rng, 30)
    fig = dashboard._monthly_figures(_at(date(2026, 1, 1)), _at(date(2027, 1, 1)))
    assert leaves.read(engine, fig).counts.sum() > 0
    with engine.begin() as conn:
        # history may not be truncated: lifted in this transaction only, as the clean-up does
        for table in ("case_event", "case_evidence"):
            conn.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER {table}_no_truncate"))
        conn.execute(text("TRUNCATE violation_case CASCADE"))
        for table in ("case_event", "case_evidence"):
            conn.execute(text(f"ALTER TABLE {table} ENABLE TRIGGER {table}_no_truncate"))
        assert conn.execute(text("SELECT count(*) FROM figures_entry")).scalar_one() == 0
    assert leaves.read(engine, fig).as_dict() == {}


#: a case whose one stamp (or due date) lies at the moment ``X``; every other lies months away
MOMENTS = (
    "visit_due",
    "visited_at",
    "closed_at",
    "signed_off_at",
    "disposal_due",
    "answered_at",
    "stage_due",
    "last_event_at",
)


def test_time_alone_counts_again_each_kind_of_case_it_turns(engine, case_api):
    """One case per date the figures compare with the moment, each alone in its leaf: as the
    moment passes that date, forth and back, its leaf is counted again, and only then."""
    x = datetime(2026, 4, 20, 9, tzinfo=LOCAL)
    reported = datetime(2026, 1, 2, 10, tzinfo=LOCAL)
    with engine.connect() as conn:
        _, definitions = active_definitions(conn)
    days = definitions.disposal_days
    assert reported + timedelta(days=days) < x - timedelta(days=2)
    with engine.begin() as conn:
        for i, moment in enumerate(MOMENTS):
            stamps = {
                "reported_at": reported if moment != "disposal_due" else x - timedelta(days=days),
                "visit_due": x if moment == "visit_due" else reported + timedelta(days=1),
                "visited_at": x if moment == "visited_at" else None,
                "closed_at": {"closed_at": x, "signed_off_at": x - timedelta(days=2)}.get(moment),
                "signed_off_at": x if moment == "signed_off_at" else None,
                "stage_due": x if moment == "stage_due" else reported + timedelta(days=3),
                "last_event_at": x - timedelta(days=7) if moment == "last_event_at" else x,
            }
            case_id = conn.execute(
                text(
                    "INSERT INTO violation_case (number, district_code, town_code, "
                    "community_code, compound_code, year, seq, track, state, is_open, channel, "
                    "description, reported_at, visit_due, visited_at, closed_at, signed_off_at, "
                    "stage_code, stage_due, last_event_at, geom, jurisdiction) VALUES (:n, "
                    "'220602', '220602001', :m, :k, 2026, :i, 'new', :state, :open, 'citizen', "
                    "'x', :reported_at, :visit_due, :visited_at, :closed_at, :signed_off_at, "
                    "'visit', :stage_due, :last_event_at, ST_SetSRID(ST_MakePoint(126.4, 41.9), "
                    "4490), '{}') RETURNING id"
                ),
                {
                    **stamps,
                    "n": f"M-{i}",
                    "i": i + 1,
                    "m": f"m-{moment}",
                    "k": f"k-{moment}",
                    "state": "reported" if stamps["closed_at"] is None else "signed_off",
                    "open": stamps["closed_at"] is None,
                },
            ).scalar_one()
            if moment == "answered_at":
                conn.execute(
                    text(
                        "INSERT INTO case_urge (case_id, urged_by_name, urged_by_role, note, "
                        "urged_at, reply_due, answered_at) VALUES (:c, 'x', 'supervisor', 'x', "
                        ":urged, :due, :x)"
                    ),
                    {"c": case_id, "urged": x - timedelta(days=1), "due": x + timedelta(days=1),
                     "x": x},
                )  # fmt: skip
    hour = timedelta(hours=1)
    for now in (x - hour, x + hour, x - hour, x + 2 * hour):
        with engine.connect() as conn:
            for fig in _kinds(definitions, now):
                assert leaves.read(engine, fig).as_dict() == _counted_afresh(conn, fig), (
                    fig.kind,
                    now,
                )
    # a leaf's only case moved to a leaf of its own, another deleted: both old leaves are gone
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE violation_case SET compound_code = 'k-moved' WHERE number = 'M-0'")
        )
        conn.execute(text("DELETE FROM case_urge"))
        conn.execute(text("DELETE FROM violation_case WHERE number IN ('M-1', 'M-5')"))
    with engine.connect() as conn:
        for fig in _kinds(definitions, x + 2 * hour):
            kept = leaves.read(engine, fig).as_dict()
            assert kept == _counted_afresh(conn, fig), (fig.kind, "moved")
            assert not any(codes[3] in ("k-visit_due", "k-visited_at") for codes in kept)


def test_patrols_and_grid_names_are_read_again_once_their_tables_change(engine, case_api):
    """What the figures read beside the cases is kept while its tables' stamps stay: a patrol
    track uploaded, a grid renamed, and the next read has them."""
    from weijian.oversight import units

    start, end = _at(date(2026, 4, 1)), _at(date(2026, 5, 1))

    def patrols() -> dict:
        found: dict = {}
        with engine.connect() as conn:
            figures.add_patrols(found, conn, start, end, None)
        return {key: unit["counts"] for key, unit in found.items()}

    before = patrols()
    with engine.connect() as conn:
        compound, name = conn.execute(
            text("SELECT code, name FROM active_grid WHERE level = 'compound' ORDER BY code")
        ).first()
        assert units.grid_names(conn)[compound] == name
    assert patrols() == before  # read again: kept
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO patrol_track (user_id, started_at, geom) SELECT "
                "(SELECT min(id) FROM app_user), :at, ST_Force3DM(ST_MakeLine("
                "ST_PointOnSurface(geom), ST_Translate(ST_PointOnSurface(geom), 0.0001, 0))) "
                "FROM active_grid WHERE code = :code"
            ),
            {"at": start + timedelta(days=3), "code": compound},
        )
        conn.execute(text("UPDATE grid SET name = '改名小区' WHERE code = :c"), {"c": compound})
    after = patrols()
    assert after[("city",)]["patrols"] == before[("city",)]["patrols"] + 1
    assert after[("city",)]["compounds_patrolled"] > before[("city",)]["compounds_patrolled"]
    with engine.connect() as conn:
        assert units.grid_names(conn)[compound] == "改名小区"


def test_the_app_keeps_this_months_and_this_years_statistics_counted(engine, case_api):
    """A started app counts the statistics of this month and this year in the background and
    keeps them up to date: the first click on 统计 finds them counted."""
    import time

    from tests.conftest import serving
    from weijian.api.app import create_app
    from weijian.cases.clock import FixedClock
    from weijian.settings import Settings

    with engine.begin() as conn:
        _random_cases(conn, random.Random(2), 40)
    settings = Settings(evidence_dir=case_api.settings.evidence_dir, figures_warm_seconds=0.2)
    clock = FixedClock(datetime(2026, 4, 20, 9, tzinfo=LOCAL))
    with serving(create_app(engine, clock=clock, settings=settings)):
        # the state now; this month's and this year's figures and trends: five entries,
        # written one after the other (a busy machine may show the first three alone)
        deadline = time.monotonic() + 30
        keys: list = []
        while time.monotonic() < deadline and len(keys) < 5:
            with engine.connect() as conn:
                keys = conn.execute(text("SELECT key FROM figures_entry")).scalars().all()
            time.sleep(0.1)
        assert len(keys) == 5, keys
        assert {k.split(":")[0] for k in keys} == {"state", "period", "monthly"}
        with engine.connect() as conn:
            _, definitions = active_definitions(conn)
        month = figures.period_figures(
            definitions, _at(date(2026, 4, 1)), _at(date(2026, 5, 1)), clock.now()
        )
        version = f"SELECT version FROM figures_entry WHERE key = '{month.key}'"
        with engine.begin() as conn:
            before = conn.execute(text(version)).scalar_one()
            conn.execute(
                text("UPDATE violation_case SET visited_at = :t WHERE id = (SELECT min(id) "
                     "FROM violation_case)"), {"t": clock.now()})  # fmt: skip
        while time.monotonic() < deadline:  # the next round counts the case's leaf again
            with engine.connect() as conn:
                if conn.execute(text(version)).scalar_one() > before:
                    break
            time.sleep(0.1)
        with engine.connect() as conn:
            assert conn.execute(text(version)).scalar_one() > before
            assert leaves.read(engine, month).as_dict() == _counted_afresh(conn, month)


def test_one_process_per_database_keeps_the_statistics_counted(engine, case_api, monkeypatch):
    """Two warmers on one database (two workers of a server): one holds the warmer's lock and
    counts, the other waits its turn; when the first stops, the second takes over; stopped,
    neither leaves the lock held in a pooled connection."""
    import time

    from weijian.cases.clock import FixedClock
    from weijian.cases.service import CaseService
    from weijian.db.engine import app_engine_for
    from weijian.jurisdiction.snapshot import SnapshotHolder

    holders_sql = text(
        "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
        "AND ((classid::bigint << 32) | objid::bigint) = :key "
        # an advisory lock is a database's: other tests' databases hold the same key
        "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
    )

    def holders() -> list[int]:
        with engine.connect() as conn:
            return list(conn.execute(holders_sql, {"key": dashboard._WARMER_LOCK}).scalars())

    def wait_for(check, seconds: float = 20) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not check():
            time.sleep(0.05)
        assert check()

    app_engine = app_engine_for(engine.url.render_as_string(hide_password=False))
    cases = CaseService(
        app_engine,
        SnapshotHolder(app_engine),
        case_api.settings,
        clock=FixedClock(datetime(2026, 4, 20, 9, tzinfo=LOCAL)),
    )
    rounds: list[str] = []  # which warmer counted each round
    count_round = dashboard._count_round

    def counted(*args):
        rounds.append(threading.current_thread().name)
        return count_round(*args)

    monkeypatch.setattr(dashboard, "_count_round", counted)
    stops = [threading.Event(), threading.Event()]
    threads = [
        threading.Thread(
            target=dashboard.keep_counted, args=(cases, stop, 0.05), name=f"w{i}", daemon=True
        )
        for i, stop in enumerate(stops)
    ]
    try:
        threads[0].start()
        wait_for(lambda: len(holders()) == 1)
        first = holders()
        threads[1].start()
        time.sleep(0.5)  # several rounds of the second: it never holds the lock too
        assert holders() == first
        assert "w0" in rounds and "w1" not in rounds
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM figures_entry")).scalar_one() == 5
        stops[0].set()
        threads[0].join(10)
        wait_for(lambda: len(holders()) == 1 and holders() != first)
        wait_for(lambda: "w1" in rounds)
    finally:
        for stop in stops:
            stop.set()
        for thread in threads:
            thread.join(10)
    assert holders() == []  # released, not kept in the pool's connections
    app_engine.dispose()
