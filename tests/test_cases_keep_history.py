"""``weijian cases keep-history [--town CODE]`` through the real command line on the hand-built
city: after random steps through the API, with the kept deadlines (``case_due``) deleted as in
a history loaded in bulk, the command writes for one town's cases — and then for all — the rows
``stages.due_history`` computes from each case's events, which are the rows the case service
had kept after those steps; it says how many cases it did in how long. An unknown town is
refused in Chinese with an exit code, no traceback, and nothing written."""

from __future__ import annotations

import random

from sqlalchemy import text

from tests import casekit
from tests.casekit import RED_FLAG, STREET, TOWN1
from tests.test_case_due import kept_rows, patient_login, walk
from weijian.cases import history, stages
from weijian.cases.deadlines import WorkCalendar
from weijian.cases.workflow import default_workflow


def computed(conn) -> dict[tuple[int, int], tuple[str, tuple]]:
    """Every case's rows as ``stages.due_history`` computes them from its events, with the
    case's town: (case id, seq) → (town, (pending due, rectification due))."""
    wf, calendar, out = default_workflow(), WorkCalendar(), {}
    cases = conn.execute(text(f"SELECT {stages.CASE_FIELDS}, town_code FROM violation_case"))
    for case in cases.mappings():
        events = history.events_of(conn, case["id"])
        for row in stages.due_history(wf, calendar, dict(case), events):
            out[row["i"], row["seq"]] = (case["town_code"], (row["pending"], row["rect"]))
    return out


def test_keep_history_writes_the_rows_of_each_step_for_a_town_then_for_all(
    case_api, cli, engine, monkeypatch
):
    monkeypatch.setattr(casekit, "login", patient_login)
    api = case_api
    numbers = [api.report("town1", STREET, channel="patrol")["number"] for _ in range(3)]
    numbers += [api.report("town2", RED_FLAG, channel="patrol")["number"] for _ in range(2)]
    assert walk(api, random.Random(5), numbers, 30) > 10
    with engine.begin() as conn:
        by_service = kept_rows(conn)
        expected = computed(conn)
        conn.execute(text("DELETE FROM case_due"))  # as a history loaded in bulk
    assert {town for town, _ in expected.values()} == {TOWN1, "220602002"}
    assert len(expected) > len(numbers)  # steps the deadlines read, beyond the reports

    bad = cli("cases", "keep-history", "--town", "999999")
    assert bad.exit_code == 3, bad.output
    assert "没有代码为“999999”的镇（街道）" in bad.output
    assert "Traceback" not in bad.output and isinstance(bad.exception, SystemExit)
    with engine.connect() as conn:
        assert kept_rows(conn) == {}

    one = cli("cases", "keep-history", "--town", TOWN1)
    assert one.exit_code == 0, one.output
    assert f"已为镇（街道）{TOWN1} 的 3 件案件写入各步之后的期限（case_due），用时" in one.output
    with engine.connect() as conn:
        town_rows = kept_rows(conn)
    assert town_rows == {k: v for k, (town, v) in expected.items() if town == TOWN1}

    every = cli("cases", "keep-history")
    assert every.exit_code == 0, every.output
    assert "已为全部 5 件案件写入各步之后的期限" in every.output
    with engine.connect() as conn:
        rebuilt = kept_rows(conn)
    assert rebuilt == {k: v for k, (_, v) in expected.items()}
    # what the case service kept after the same steps
    assert all(by_service[key] == values for key, values in rebuilt.items())
