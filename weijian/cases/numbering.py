"""Case numbers: the district's letters, the year and a counter per district and year
(HJ-2026-000123).

A district's prefix is data: a city sets the one it prefers (``weijian cases prefix set``)
before the district's first case; otherwise, at the first case of any district, every district
of the active grid layer without one gets its default, in the order of their codes: the
initials of the name's pinyin, read as place names are read (``place_readings.csv``: 长白 is
Chángbái, CB), and on a clash a longer reading (江源区 JY, then 靖宇县 JYU). Once a district
has cases its prefix never changes, so no number is ever given twice."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from datetime import datetime
from functools import lru_cache
from pathlib import Path

from pypinyin import lazy_pinyin
from sqlalchemy import Connection, text

from weijian.cases.clock import LOCAL
from weijian.errors import ConflictError, InputError

READINGS_PATH = Path(__file__).with_name("place_readings.csv")
PREFIX_RE = re.compile(r"^[A-Z][A-Z0-9]{0,7}$")
SUFFIXES = ("朝鲜族自治县", "自治县", "自治旗", "新区", "区", "县", "市", "旗")


def local_year(moment: datetime) -> int:
    return moment.astimezone(LOCAL).year


@lru_cache(maxsize=1)
def place_readings() -> dict[str, list[str]]:
    """Texts of place names read otherwise than usual → their syllables."""
    with READINGS_PATH.open(encoding="utf-8") as handle:
        rows = csv.DictReader(line for line in handle if not line.startswith("#"))
        return {row["text"]: row["pinyin"].split() for row in rows}


def place_syllables(name: str) -> list[str]:
    """The pinyin of a place name, syllable by syllable, its polyphones read as places are."""
    readings = place_readings()
    longest = max(map(len, readings), default=1)
    out: list[str] = []
    plain = ""
    i = 0
    while i < len(name):
        for size in range(min(longest, len(name) - i), 0, -1):
            if name[i : i + size] in readings:
                out += lazy_pinyin(plain) if plain else []
                out += readings[name[i : i + size]]
                plain = ""
                i += size
                break
        else:
            plain += name[i]
            i += 1
    return out + (lazy_pinyin(plain) if plain else [])


def _stem(name: str) -> str:
    for suffix in SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix) + 1:
            return name[: -len(suffix)]
    return name


def prefix_candidates(name: str, code: str) -> Iterator[str]:
    """The district's prefixes in the order they are tried: the initials (HJ for 浑江区), then
    more of the last syllable (JYU for 靖宇县), then more of each, then the initials with the
    code's last digits — always something."""
    syllables = [
        "".join(ch for ch in s.upper() if ch.isascii() and ch.isalpha())
        for s in place_syllables(_stem(name))
    ]
    syllables = [s for s in syllables if s][:6]
    if syllables:
        initials = "".join(s[0] for s in syllables)
        yield initials
        for extra in range(2, 4):
            yield "".join(s[0] for s in syllables[:-1]) + syllables[-1][:extra]
        for extra in range(2, 4):
            yield syllables[0][:extra] + "".join(s[0] for s in syllables[1:])
        yield initials + code[-2:]
    yield "D" + "".join(ch for ch in code if ch.isalnum())[-6:]


def district_prefix(name: str, code: str) -> str:
    """HJ for 浑江区: the pinyin initials of the district's name without its suffix."""
    return next(prefix_candidates(name, code))


def unique_prefix(name: str, code: str, taken) -> str:
    """The district's first candidate prefix no other district has (江源区 and 靖宇县 are
    both JY: the second is JYU)."""
    taken = set(taken)
    for candidate in prefix_candidates(name, code):
        candidate = candidate[:8]
        if candidate not in taken and PREFIX_RE.match(candidate):
            return candidate
    raise ConflictError(
        f"区县“{name}”（{code}）的案件编号前缀无法自动确定，请用 weijian cases prefix set 设置",
        code="case.prefix_undecided",
        detail=f"no free case-number prefix for district {code} ({name})",
        hint="set one with `weijian cases prefix set CODE PREFIX`",
    )


def default_prefixes(districts, taken=()) -> dict[str, str]:
    """The default prefix of each ``(code, name)`` district, in the order of their codes,
    none of them in ``taken`` nor given twice."""
    taken = set(taken)
    out = {}
    for code, name in sorted(districts):
        out[code] = unique_prefix(name, code, taken)
        taken.add(out[code])
    return out


def assign_default_prefixes(conn: Connection) -> None:
    """Give every district of the active grid layer without a prefix its default, in the
    order of their codes, so that the same city always gets the same prefixes."""
    conn.execute(text("LOCK TABLE case_prefix IN SHARE ROW EXCLUSIVE MODE"))
    known = dict(conn.execute(text("SELECT district_code, prefix FROM case_prefix")).all())
    districts = conn.execute(
        text("SELECT code, name FROM active_grid WHERE level = 'district'")
    ).all()
    missing = [(code, name) for code, name in districts if code not in known]
    for code, prefix in default_prefixes(missing, known.values()).items():
        conn.execute(
            text("INSERT INTO case_prefix (district_code, prefix) VALUES (:d, :p)"),
            {"d": code, "p": prefix},
        )


def prefixes(conn: Connection) -> list[dict]:
    """Every district's prefix with its name and the cases numbered with it."""
    rows = conn.execute(
        text(
            "SELECT p.district_code, p.prefix, g.name, (SELECT count(*) FROM violation_case v "
            "WHERE v.district_code = p.district_code) AS cases FROM case_prefix p "
            "LEFT JOIN active_grid g ON g.code = p.district_code AND g.level = 'district' "
            "ORDER BY p.district_code"
        )
    )
    return [dict(r._mapping) for r in rows]


def set_prefix(conn: Connection, district_code: str, prefix: str) -> str:
    """A city's own prefix for a district, before its first case."""
    prefix = prefix.strip().upper()
    if not PREFIX_RE.match(prefix):
        raise InputError(
            f"案件编号前缀“{prefix}”不可用：应为 1～8 位大写字母或数字，以字母开头，如 CB",
            code="case.prefix_invalid",
            detail=f"{prefix!r} is not a case-number prefix",
            hint="1 to 8 capital letters or digits, starting with a letter, e.g. CB",
        )
    conn.execute(text("LOCK TABLE case_prefix IN SHARE ROW EXCLUSIVE MODE"))
    owner = conn.execute(
        text("SELECT district_code FROM case_prefix WHERE prefix = :p"), {"p": prefix}
    ).scalar()
    if owner is not None and owner != district_code:
        raise ConflictError(
            f"前缀“{prefix}”已由区县 {owner} 使用，请另选一个",
            code="case.prefix_taken",
            detail=f"the prefix {prefix} belongs to district {owner}",
            hint="choose another prefix",
        )
    numbered = conn.execute(
        text("SELECT count(*) FROM violation_case WHERE district_code = :d"), {"d": district_code}
    ).scalar_one()
    if numbered:
        raise ConflictError(
            f"区县 {district_code} 已有 {numbered} 件案件按原前缀编号，前缀不能再改",
            code="case.prefix_in_use",
            detail=f"district {district_code} has {numbered} numbered cases; its prefix stays",
            hint="a prefix is set before the district's first case",
        )
    conn.execute(
        text(
            "INSERT INTO case_prefix (district_code, prefix) VALUES (:d, :p) "
            "ON CONFLICT (district_code) DO UPDATE SET prefix = EXCLUDED.prefix"
        ),
        {"d": district_code, "p": prefix},
    )
    return prefix


def next_number(
    conn: Connection,
    prefixes: dict[str, str],
    district_code: str,
    district_name: str,
    year: int,
) -> tuple[str, int]:
    """The next number of the district's year and its sequence; ``prefixes`` caches the
    districts' prefixes."""
    prefix = (
        prefixes.get(district_code)
        or conn.execute(
            text("SELECT prefix FROM case_prefix WHERE district_code = :d"),
            {"d": district_code},
        ).scalar()
    )
    if prefix is None:
        assign_default_prefixes(conn)
        prefix = conn.execute(
            text("SELECT prefix FROM case_prefix WHERE district_code = :d"),
            {"d": district_code},
        ).scalar()
    if prefix is None:  # a district no longer in the active layer (a case of an old version)
        taken = set(conn.execute(text("SELECT prefix FROM case_prefix")).scalars())
        conn.execute(
            text("INSERT INTO case_prefix (district_code, prefix) VALUES (:d, :p)"),
            {"d": district_code, "p": unique_prefix(district_name, district_code, taken)},
        )
        prefix = conn.execute(
            text("SELECT prefix FROM case_prefix WHERE district_code = :d"),
            {"d": district_code},
        ).scalar_one()
    seq = conn.execute(
        text(
            "INSERT INTO case_counter (district_code, year, last) VALUES (:d, :y, 1) "
            "ON CONFLICT (district_code, year) DO UPDATE SET last = case_counter.last + 1 "
            "RETURNING last"
        ),
        {"d": district_code, "y": year},
    ).scalar_one()
    prefixes[district_code] = prefix  # a district's prefix never changes
    return f"{prefix}-{year}-{seq:06d}", seq
