"""Searching the cases' words (the inbox's and the case list's ``q``): the index of characters
pairs and threes (migration 0024) only narrows the search, ``ILIKE`` decides — so the narrowing must
never lose a case ``ILIKE`` finds. Checked on the real PostgreSQL against ``ILIKE`` alone, for
random Chinese and mixed-case words, and through the API."""

from __future__ import annotations

import random

from sqlalchemy import event, text

from tests.casekit import STREET
from weijian.cases import inbox, rows, users
from weijian.cases.rows import like_pattern
from weijian.cases.workflow import default_workflow

#: characters words are made of: Chinese, both cases of Latin letters, digits, and those that
#: mean something to LIKE or to the pattern's escape
ALPHABET = list("红旗街道鑫路违建彩钢房号楼") + list("aAbBzZ") + list("0126") + list("%_\\ -")


def _word(rng: random.Random, longest: int) -> str:
    return "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, longest)))


def _flip(rng: random.Random, words: str) -> str:
    return "".join(c.swapcase() if rng.random() < 0.5 else c for c in words)


def test_the_index_never_loses_a_case_ilike_finds(engine):
    """Random number, address and description (some missing) against random searches: a part
    of one of them (Latin letters in either case), or any words; each search finds a case by
    ``ILIKE`` only where the runs of characters of the case hold those of the search."""
    rng = random.Random(24)
    rows = []
    for _ in range(6000):
        fields = [_word(rng, 12) if rng.random() < 0.85 else None for _ in range(3)]
        if rng.random() < 0.7 and any(fields):
            source = rng.choice([f for f in fields if f])
            start = rng.randint(0, len(source))
            words = _flip(rng, source[start : start + rng.randint(1, 5)])
        else:
            words = _word(rng, 4)
        if rng.random() < 0.1:
            words = f"  {words} "  # typed with spaces around
        rows.append((*fields, words.strip(), like_pattern(words)))
    columns = list(zip(*rows, strict=True))
    with engine.connect() as conn:
        found, narrowed = conn.execute(
            text(
                "SELECT count(*) FILTER (WHERE a ILIKE p ESCAPE '\\' OR b ILIKE p ESCAPE '\\' "
                "OR c ILIKE p ESCAPE '\\'), "
                "count(*) FILTER (WHERE (a ILIKE p ESCAPE '\\' OR b ILIKE p ESCAPE '\\' "
                "OR c ILIKE p ESCAPE '\\') "
                "AND coalesce(weijian_text_grams(a, b, c) @> weijian_query_grams(q), false)) "
                "FROM unnest(CAST(:a AS text[]), CAST(:b AS text[]), CAST(:c AS text[]), "
                "CAST(:q AS text[]), CAST(:p AS text[])) AS t(a, b, c, q, p)"
            ),
            dict(zip("abcqp", map(list, columns), strict=True)),
        ).one()
        assert found > 3000  # most searches find their case
        assert narrowed == found
        # and it narrows: runs the case does not hold, in another order, are not found
        for words in ("旗红", "红旗街", "旗红a", "ab红"):
            held = conn.execute(
                text("SELECT weijian_text_grams('红旗Ab', NULL) @> weijian_query_grams(:q)"),
                {"q": words},
            ).scalar_one()
            assert held is False, words


def test_the_search_reads_the_index_for_rare_words_only(case_api, engine, monkeypatch):
    """The search's condition is the index's expression (a condition written otherwise would
    leave the index unread); and words whose every run of characters most cases hold (2026, in
    every number) are looked for without it, as ANALYZE counted them."""
    api = case_api
    numbers = [api.report("town1", STREET, channel="patrol")["number"] for _ in range(4)]
    with engine.connect() as conn:
        conn.execute(text("ANALYZE violation_case"))
        monkeypatch.setattr(rows, "_common", None)
        common = rows.common_grams(conn)
        assert {"2", "20", "202", "026"} <= common and "鑫" not in common
        rare, params = rows.words_sql(conn, "鑫源", ("number", "address", "description"))
        assert params["q_grams"] == ["鑫源"]
        conn.execute(text("SET LOCAL enable_seqscan = off"))
        plan = conn.execute(
            text(f"EXPLAIN SELECT c.id FROM violation_case c WHERE {rare}"), params
        ).scalars()
        assert "violation_case_grams" in "\n".join(plan)
        everywhere, params = rows.words_sql(conn, "2026", ("number",))
        assert "weijian_text_grams" not in everywhere and "q_grams" not in params
        # one run of the words rare, the other common: only the rare one is asked of the index
        _, params = rows.words_sql(conn, "026鑫", ("number",))
        assert params["q_grams"] == ["26鑫"]
    listed = api.get("/api/v1/cases", "supervisor", q="2026").json()["items"]
    assert sorted(c["number"] for c in listed) == sorted(numbers)


def test_searching_chinese_words_in_the_inbox_and_the_case_list(case_api):
    """One and two Chinese characters, Latin letters in the other case, a number's part: the
    inbox and the case list find the case by its address (the inbox by its description too), and
    nothing else."""
    api = case_api
    hit = api.report(
        "town1", STREET, channel="patrol", address="红旗街道鑫源路8号AB栋", description="顶楼加建"
    )
    other = api.report(
        "town1", STREET, channel="patrol", address="江源区孙家堡子", description="围墙"
    )
    for words in ("鑫", "鑫源", "红旗街", "ab栋", "  源路8 "):
        listed = api.get("/api/v1/cases", "supervisor", q=words).json()["items"]
        assert [c["number"] for c in listed] == [hit["number"]], words
        todo = api.get("/api/v1/inbox", "ue_hj", q=words).json()
        assert [i["number"] for i in todo["items"]] == [hit["number"]], words
        assert todo["counts"]["todo"] == 1
    for words in ("源鑫", "墙围", "红 旗"):
        assert api.get("/api/v1/cases", "supervisor", q=words).json()["items"] == [], words
    both = {c["number"] for c in api.get("/api/v1/cases", "supervisor", q="区").json()["items"]}
    assert both == {other["number"]}
    assert [i["number"] for i in api.get("/api/v1/inbox", "ue_hj", q="加建").json()["items"]] == [
        hit["number"]
    ]
    tail = hit["number"].rsplit("-", 1)[1]
    assert hit["number"] in [
        i["number"] for i in api.get("/api/v1/inbox", "ue_hj", q=tail).json()["items"]
    ]


def test_a_todo_counted_under_a_search_is_read_from_its_index_alone(case_api, engine):
    """The 待办's indexes carry the words (migration 0025): its count under a search for a
    word most cases hold reads no case's row. A description too long for those indexes (the
    longest a report may have, 2,000 four-byte characters) is accepted and found from the
    index of its own, as are the short ones; the bound the inbox names is the indexes'."""
    api = case_api
    short = api.report("town1", STREET, channel="patrol", description="加建彩钢房")
    longest = "加" * 1999 + "𠀋"
    long = api.report("town1", STREET, channel="patrol", description=longest)
    assert len(longest.encode()) > inbox.INDEXED_DESCRIPTION_BYTES
    both = {short["number"], long["number"]}
    for words, expected in (("加建", {short["number"]}), ("加加", {long["number"]}),
                            ("𠀋", {long["number"]}), ("2026", both)):  # fmt: skip
        todo = api.get("/api/v1/inbox", "ue_hj", q=words).json()
        assert {i["number"] for i in todo["items"]} == expected, words
        assert todo["counts"]["todo"] == len(expected), words
    with engine.connect() as conn:
        defs = dict(
            conn.execute(
                text("SELECT indexname, indexdef FROM pg_indexes WHERE indexname LIKE :n"),
                {"n": "violation_case_inbox_%"},
            ).all()
        )
    for level in ("department", "district", "town", "community"):
        definition = defs[f"violation_case_inbox_{level}"]
        assert "number, address, description" in definition, definition
        assert inbox.DESCRIPTION_SPLIT[0].replace("c.", "") in definition, definition
    assert inbox.DESCRIPTION_SPLIT[1].replace("c.", "") in defs["violation_case_inbox_long"]
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE violation_case"))  # as autovacuum keeps it
    caught = []

    def catch(conn, cursor, statement, params, context, many):
        if statement.startswith("SELECT (SELECT count(*)") and "todo_dept" in params:
            caught.append((statement, params))  # the 待办's count

    now = api.clock.now()
    with engine.begin() as conn:
        officer = users.principal_for_token(conn, api.tokens["ue_hj"], now)
        event.listen(conn, "before_cursor_execute", catch)
        counts = inbox.inbox(conn, officer, default_workflow(), now,
                             filters=inbox.InboxFilter(q="2026"))["counts"]  # fmt: skip
        event.remove(conn, "before_cursor_execute", catch)
        assert counts["todo"] == 2
        [(statement, params)] = caught
        conn.execute(text("SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off"))
        cursor = conn.connection.driver_connection.cursor()
        plan = "\n".join(r[0] for r in cursor.execute(f"EXPLAIN {statement}", params))
    assert "Index Only Scan using violation_case_inbox_department" in plan, plan
    assert "violation_case_inbox_long" in plan, plan
