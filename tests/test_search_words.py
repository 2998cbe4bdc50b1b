"""Searching the cases' words (the inbox's and the case list's ``q``): the index of characters
pairs and threes (migration 0024) only narrows the search, ``ILIKE`` decides — so the narrowing must
never lose a case ``ILIKE`` finds. Checked on the real PostgreSQL against ``ILIKE`` alone, for
random Chinese and mixed-case words, and through the API."""

from __future__ import annotations

import random

from sqlalchemy import text

from tests.casekit import STREET
from weijian.cases import rows
from weijian.cases.rows import like_pattern

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
