"""The map's in-memory caches (weijian.web_map.service): tiles bounded by bytes, answers by
count, the least recently used evicted first. Pure computation, no database."""

from __future__ import annotations

import threading

from weijian.web_map.service import (
    ANSWER_CACHE_ENTRIES,
    TILE_CACHE_BYTES,
    MapService,
    answer_cache,
    tile_cache,
)


def kept(cache, keys) -> list:
    """Which of ``keys`` the cache holds (looked up without counting as a use)."""
    return [key for key in keys if key in cache.cache]


def test_tiles_are_evicted_by_bytes_least_recently_used_first():
    cache = tile_cache(max_bytes=100)
    cache.put("a", b"a" * 40)
    cache.put("b", b"b" * 40)
    assert kept(cache, ["a", "b"]) == ["a", "b"]  # 80 bytes: both fit; "b" used last
    cache.get("a")  # "a" is now the more recent
    cache.put("c", b"c" * 40)  # 120 bytes: the least recently used ("b") goes
    assert cache.get("b") is None
    assert cache.get("a") == b"a" * 40 and cache.get("c") == b"c" * 40
    assert cache.cache.currsize == 80
    cache.put("d", b"d" * 90)  # 90 more bytes: both others go to make room
    assert kept(cache, ["a", "c", "d"]) == ["d"]
    assert cache.cache.currsize == 90


def test_many_small_tiles_fill_the_bytes_not_a_count():
    cache = tile_cache(max_bytes=100)
    for n in range(100):
        cache.put(n, b"x")
    assert kept(cache, range(100)) == list(range(100))
    cache.put("big", b"y" * 10)
    assert kept(cache, range(10)) == []  # the ten oldest made room for ten bytes
    assert kept(cache, range(10, 100)) == list(range(10, 100))
    assert cache.get("big") == b"y" * 10


def test_empty_tiles_are_kept_and_a_tile_larger_than_the_cache_is_not():
    cache = tile_cache(max_bytes=100)
    cache.put("empty", b"")
    cache.put("small", b"s" * 10)
    cache.put("huge", b"h" * 101)
    assert cache.get("huge") is None
    assert cache.get("empty") == b"" and cache.get("small") == b"s" * 10


def test_a_key_already_held_keeps_its_first_value():
    cache = tile_cache(max_bytes=100)
    cache.put("a", b"first")
    cache.put("a", b"second")
    assert cache.get("a") == b"first"
    assert cache.cache.currsize == len(b"first")


def test_answers_are_evicted_by_count_least_recently_used_first():
    cache = answer_cache(entries=3)
    for key in ("a", "b", "c"):
        cache.put(key, {"figures": key})
    cache.get("a")
    cache.put("d", {"figures": "d"})  # a fourth: "b", the least recently used, goes
    assert kept(cache, ["a", "b", "c", "d"]) == ["a", "c", "d"]
    cache.put("e", {"figures": "e"})
    assert kept(cache, ["a", "c", "d", "e"]) == ["a", "d", "e"]


def test_the_map_service_bounds_its_caches_so():
    service = MapService(cases=None, store=None)
    assert service.tile_cache.cache.maxsize == TILE_CACHE_BYTES
    assert service.tile_cache.cache.getsizeof(b"12345") == 5
    assert service._answers.cache.maxsize == ANSWER_CACHE_ENTRIES
    assert service._answers.cache.getsizeof({"a": 1}) == 1


def test_threads_share_the_cache_without_losing_its_bound():
    cache = tile_cache(max_bytes=1000)

    def fill(start: int) -> None:
        for n in range(start, start + 500):
            cache.put(n, b"z" * 7)
            cache.get(n - 3)

    threads = [threading.Thread(target=fill, args=(k * 500,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert cache.cache.currsize <= 1000
    assert cache.cache.currsize == 7 * len(cache.cache)
