"""The counts the database keeps current (migration 0018): after many random changes of cases —
reports through the API, steps up to a sign-off, then inserts, updates of state, grids, report
time, sign-off and point, and deletes straight in SQL, one row or many per statement — each
kept count equals a full recount, and each case's grids on today's boundaries equal the
spatial join, also after new boundaries are activated. The ledger's workbook reads back cell
for cell when its rows are written as XML."""

from __future__ import annotations

import io
import random
from datetime import date, datetime, timedelta

from openpyxl import load_workbook
from sqlalchemy import text

from tests import city
from tests.casekit import COMPOUND, GRID_CHAINS, RED_FLAG, STREET, TOWN1, TOWN2
from weijian.cases.clock import LOCAL
from weijian.oversight import figures, ledger
from weijian.text import cell

RECOUNT_CASES = """
SELECT l.level, l.code, (date_trunc('month', c.reported_at AT TIME ZONE 'Asia/Shanghai'))::date,
       c.state, count(*)
FROM violation_case c
CROSS JOIN LATERAL (VALUES ('district', c.district_code), ('town', c.town_code),
    ('community', c.community_code), ('compound', c.compound_code)) l(level, code)
WHERE l.code IS NOT NULL GROUP BY 1, 2, 3, 4
"""
RECOUNT_CAMPAIGNS = """
SELECT b.campaign_id, l.level, l.code, count(*),
       count(*) FILTER (WHERE v.signed_off_at >= (k.start_date::timestamp
                                                   AT TIME ZONE 'Asia/Shanghai'))
FROM campaign_baseline b JOIN violation_case v ON v.id = b.case_id
JOIN campaign k ON k.id = b.campaign_id
CROSS JOIN LATERAL (VALUES ('district', b.district_code), ('town', b.town_code),
    ('community', b.community_code), ('compound', b.compound_code)) l(level, code)
WHERE l.code IS NOT NULL GROUP BY 1, 2, 3
"""
STATES = ["reported", "visited", "confirmed", "signed_off", "not_violation", "ledgered"]
SPOTS = [COMPOUND, STREET, RED_FLAG, (0.5, 2.5), (4.5, 0.5), (3.7, 1.2), (9.0, 9.0)]


def kept(conn) -> tuple[dict, dict]:
    cases = {
        tuple(r[:4]): r[4]
        for r in conn.execute(text("SELECT level, code, month, state, n FROM case_count"))
        if r[4]
    }
    campaigns = {
        tuple(r[:3]): (r[3], r[4])
        for r in conn.execute(
            text("SELECT campaign_id, level, code, baseline, signed_off FROM campaign_count")
        )
        if r[3] or r[4]
    }
    return cases, campaigns


def recounted(conn) -> tuple[dict, dict]:
    cases = {tuple(r[:4]): r[4] for r in conn.execute(text(RECOUNT_CASES))}
    campaigns = {tuple(r[:3]): (r[3], r[4]) for r in conn.execute(text(RECOUNT_CAMPAIGNS))}
    return cases, campaigns


def current_grids(conn) -> tuple[dict, dict]:
    """{case id: its four codes}: as kept, and by the spatial join itself."""
    columns = ", ".join(figures.LEVEL_COLUMNS)
    stored = {
        r[0]: tuple(r[1:])
        for r in conn.execute(text(f"SELECT case_id, {columns} FROM case_grid_current"))
    }
    joined = {
        r[0]: tuple(r[1:])
        for r in conn.execute(
            text(f"WITH c AS ({figures.covering_cases(fields='v.id')}) SELECT id, {columns} FROM c")
        )
    }
    return stored, joined


def covering(level: str, geom: str) -> str:
    return (
        f"(SELECT min(code) FROM active_grid WHERE level = '{level}' AND ST_Covers(geom, {geom}))"
    )


def point(spot) -> str:
    lon, lat = city.lonlat(*spot)
    return f"ST_SetSRID(ST_MakePoint({lon}, {lat}), 4490)"


def random_changes(conn, rng: random.Random, rounds: int) -> None:
    """Inserts, updates (one row or many) and deletes of cases, and a campaign, in SQL."""
    base = datetime(2026, 1, 1, tzinfo=LOCAL)
    serial = 0
    for step in range(rounds):
        ids = [r[0] for r in conn.execute(text("SELECT id FROM violation_case ORDER BY id"))]
        kind = rng.choice(["insert", "insert", "update", "update_many", "move", "delete"])
        if kind == "insert" or len(ids) < 5:
            rows = []
            for _ in range(rng.randint(1, 4)):
                serial += 1
                rows.append(
                    {
                        "n": f"R-{step}-{serial}",
                        "seq": 10_000 + serial,
                        "state": rng.choice(STATES),
                        "rep": base + timedelta(hours=rng.randint(0, 24 * 200)),
                        "track": rng.choice(["new", "backlog"]),
                        "spot": rng.choice(SPOTS[:-1]),  # the last lies outside the city
                    }
                )
            for row in rows:  # one statement for all: the trigger sees them together
                row["geom"] = point(row.pop("spot"))
            # the grids of its point, as intake gives them (a later update may change them)
            values = ", ".join(
                f"(:n{i}, {covering('district', row['geom'])}, 2026, :seq{i}, :track{i}, "
                f":state{i}, true, 'patrol', 'x', :rep{i}, {row['geom']}, '{{}}', "
                f"{covering('town', row['geom'])}, {covering('community', row['geom'])}, "
                f"{covering('compound', row['geom'])})"
                for i, row in enumerate(rows)
            )
            params = {
                f"{key}{i}": value
                for i, row in enumerate(rows)
                for key, value in row.items()
                if key != "geom"
            }
            conn.execute(
                text(
                    "INSERT INTO violation_case (number, district_code, year, seq, track, state, "
                    "is_open, channel, description, reported_at, geom, jurisdiction, town_code, "
                    f"community_code, compound_code) VALUES {values}"
                ),
                params,
            )
        elif kind == "update":
            d, t, m, k = rng.choice(GRID_CHAINS)
            signed = base + timedelta(days=rng.randint(0, 300)) if rng.random() < 0.5 else None
            conn.execute(
                text(
                    "UPDATE violation_case SET state = :s, signed_off_at = :so, "
                    "reported_at = reported_at + make_interval(days => :days), "
                    "district_code = :d, town_code = :t, community_code = :m, "
                    "compound_code = :k WHERE id = :id"
                ),
                {
                    "s": rng.choice(STATES),
                    "so": signed,
                    "days": rng.choice([0, 0, 20, -40]),
                    "d": d,
                    "t": t,
                    "m": m,
                    "k": k,
                    "id": rng.choice(ids),
                },
            )
        elif kind == "update_many":  # a bulk step: many rows, some not changed at all
            conn.execute(
                text(
                    "UPDATE violation_case SET state = CASE WHEN id % 3 = 0 THEN 'signed_off' "
                    "ELSE state END, signed_off_at = CASE WHEN id % 3 = 0 THEN :at "
                    "ELSE signed_off_at END, description = description || '.' "
                    "WHERE id % :m = :r"
                ),
                {
                    "at": base + timedelta(days=rng.randint(0, 300)),
                    "m": rng.randint(2, 5),
                    "r": rng.randint(0, 1),
                },
            )
        elif kind == "move":
            conn.execute(
                text(f"UPDATE violation_case SET geom = {point(rng.choice(SPOTS))} WHERE id = :id"),
                {"id": rng.choice(ids)},
            )
        else:
            # one made here in SQL (no history), not in a campaign's baseline
            conn.execute(
                text(
                    "DELETE FROM violation_case WHERE id = (SELECT v.id FROM violation_case v "
                    "WHERE v.number LIKE 'R-%' AND NOT EXISTS (SELECT FROM campaign_baseline b "
                    "WHERE b.case_id = v.id) ORDER BY random() LIMIT 1)"
                )
            )
        if step == rounds // 3:  # a campaign over what is there by then
            conn.execute(
                text(
                    "INSERT INTO campaign (id, name, start_date, created_by) "
                    "VALUES (77, 'r', '2026-03-01', 't')"
                )
            )
            conn.execute(
                text(
                    "INSERT INTO campaign_baseline SELECT 77, id, district_code, town_code, "
                    "community_code, compound_code FROM violation_case WHERE track = 'backlog'"
                )
            )


def test_kept_counts_equal_a_full_recount_after_random_changes(case_api, engine, tmp_path):
    api = case_api
    # through the application: reports in two towns, one worked up to its sign-off
    made = [api.report("town1", STREET, channel="patrol") for _ in range(3)]
    made.append(api.report("town2", RED_FLAG, channel="patrol"))
    a = api.report("gridder", COMPOUND)
    n = a["number"]
    api.clock.advance(hours=3)
    api.act("ue_hj", n, "site_visit", evidence=[api.photo("ue_hj", n)])
    r = api.post(
        "/api/v1/campaigns", "supervisor", json={"name": "清零", "start_date": "2026-03-01"}
    )
    assert r.status_code in (200, 201), r.text
    api.act("ue_hj", n, "confirm")
    api.act(
        "ue_hj", n, "stop_order", data={"compliance_days": 7}, evidence=[api.document("ue_hj", n)]
    )
    api.act("ue_hj", n, "demolish_continued", data={"method": "self"},
            evidence=[api.photo("ue_hj", n)])  # fmt: skip
    api.act("ue_hj", n, "verify", evidence=[api.photo("ue_hj", n)])
    api.act("ue_hj", n, "sign_off")
    with engine.connect() as conn:
        cases, _ = kept(conn)
        assert cases == recounted(conn)[0]
        month = date(2026, 3, 1)
        assert sum(v for (lvl, code, m, _), v in cases.items()
                   if (lvl, code, m) == ("town", TOWN1, month)) == 4  # fmt: skip
        assert cases[("town", TOWN1, month, "signed_off")] == 1

    # then many random changes in SQL
    rng = random.Random(18)
    with engine.begin() as conn:
        random_changes(conn, rng, 120)
    with engine.connect() as conn:
        assert kept(conn) == recounted(conn)
        assert any(k[0] == 77 for k in kept(conn)[1])  # the campaign was counted
        stored, joined = current_grids(conn)
        assert stored == joined and len(stored) > 20
    # a rolled-back change leaves the counts as they were
    with engine.connect() as conn:
        before = kept(conn)
    with engine.connect() as conn:
        conn.execute(text("UPDATE violation_case SET state = 'visited'"))
        assert kept(conn) != before  # seen inside its transaction
        conn.rollback()
    with engine.connect() as conn:
        assert kept(conn) == before

    # new town boundaries activated: every case's current town again, as the spatial join has it
    city.new_towns(
        engine,
        tmp_path,
        [
            (TOWN1, "新建街道", "孙丽", city.box(0, 0, 3.5, 2)),
            (TOWN2, "红旗街道", "吴刚", city.box(3.5, 0, 4, 2)),
        ],
    )
    with engine.connect() as conn:
        stored, joined = current_grids(conn)
        assert stored == joined
        moved = conn.execute(
            text(
                "SELECT count(*) FROM case_grid_current x JOIN violation_case v "
                "ON v.id = x.case_id WHERE x.town_code IS DISTINCT FROM v.town_code"
            )
        ).scalar()
        assert moved > 0  # RED_FLAG's cases lie in 新建街道 now
        assert kept(conn) == recounted(conn)  # counts stay on the grids frozen at intake


def test_progress_on_current_grids_is_the_spatial_joins(case_api, engine, tmp_path):
    """grids=current read from case_grid_current equals the figures of the spatial join."""
    api = case_api
    for spot in (COMPOUND, STREET, RED_FLAG, RED_FLAG):
        api.report("town1" if spot != RED_FLAG else "town2", spot, channel="patrol")
    with engine.begin() as conn:
        conn.execute(text("UPDATE violation_case SET track = 'backlog'"))
    api.clock.advance(hours=24)
    campaign = api.post(
        "/api/v1/campaigns", "supervisor", json={"name": "清零", "start_date": "2026-03-03"}
    ).json()
    assert campaign["baseline"] == 4
    with engine.begin() as conn:  # as if the sign-offs came later
        conn.execute(
            text(
                "UPDATE violation_case SET signed_off_at = :at WHERE id IN "
                "(SELECT min(id) FROM violation_case)"
            ),
            {"at": datetime(2026, 3, 9, tzinfo=LOCAL)},
        )
    city.new_towns(engine, tmp_path, [(TOWN1, "新建街道", "孙丽", city.box(0, 0, 4, 2))])
    api.clock.set(datetime(2026, 4, 1, 9, 0, tzinfo=LOCAL))
    got = api.get(
        f"/api/v1/campaigns/{campaign['id']}/progress", "supervisor", grids="current"
    ).json()["levels"]
    # the old computation: the spatial join over the baseline's cases
    baseline = "v.id IN (SELECT case_id FROM campaign_baseline WHERE campaign_id = :c)"
    with engine.connect() as conn:
        old = conn.execute(
            text(
                f"WITH c AS ({figures.covering_cases(baseline)}) "
                "SELECT town_code, count(*), count(*) FILTER (WHERE signed_off_at IS NOT NULL) "
                "FROM c GROUP BY 1"
            ),
            {"c": campaign["id"]},
        ).all()
    assert {r[0]: (r[1], r[2]) for r in old} == {
        u["code"]: (u["baseline"], u["signed_off"]) for u in got["town"]
    }
    assert {u["code"]: u["baseline"] for u in got["town"]} == {TOWN1: 4}


def test_the_ledger_workbook_reads_back_cell_for_cell():
    rng = random.Random(7)
    rows = []
    for i in range(400):
        row = {h: "" for h in ledger.HEADERS}
        row.update(
            {
                "序号": i + 1,
                "案件编号": f"HJ-2026-{i:06d}",
                "当事人": rng.choice(["", "张三 & 李四", " 前后有空格 ", "<王五>", "=SUM(A1)"]),
                "地点": "浑江区" * rng.randint(1, 5),
                "经度": round(126.4 + rng.random() / 10, 6),  # as the ledger gives them
                "纬度": round(41.9 + rng.random() / 10, 6),
                "面积（平方米）": rng.choice([12.5, 3.0, None, 100.25]),
                "是否超期": rng.choice(["是", "否"]),
            }
        )
        row["track"] = rng.choice(["new", "backlog"])
        row["overdue"] = row["是否超期"] == "是"
        rows.append(row)
    content = ledger.export_xlsx(rows, "新建街道", date(2026, 3, 1))
    book = load_workbook(io.BytesIO(content))
    for title, track in ledger.SHEETS:
        sheet = book[title]
        mine = [r for r in rows if r["track"] == track]
        assert sheet.auto_filter.ref == f"A2:W{len(mine) + 2}"
        for number, row in enumerate(mine, start=1):
            got = [c.value for c in sheet[ledger.HEADER_ROW + number]]
            # the row's values, numbered in its sheet, texts never a formula, empty as None
            values = [row[h] for h in ledger.HEADERS[1:]]
            want = [number] + [None if v in ("", None) else cell(v) for v in values]
            assert got == want, (title, number)
            lon = sheet.cell(ledger.HEADER_ROW + number, ledger.HEADERS.index("经度") + 1)
            assert lon.number_format == "0.000000"
            area = sheet.cell(ledger.HEADER_ROW + number, ledger.HEADERS.index(ledger.AREA) + 1)
            assert area.number_format == "0.00"
        block = [c.value for c in sheet[len(mine) + 4] if c.value]
        assert block[0] == "填报单位（盖章）：新建街道"
        assert f"A{len(mine) + 4}:E{len(mine) + 5}" in {str(r) for r in sheet.merged_cells.ranges}
