"""Case numbers: the district's letters, the year and a counter per district and year
(HJ-2026-000123). A district's prefix is chosen once, at its first case, and never changes."""

from __future__ import annotations

from datetime import datetime

from pypinyin import Style, lazy_pinyin
from sqlalchemy import Connection, text

from weijian.cases.clock import LOCAL


def local_year(moment: datetime) -> int:
    return moment.astimezone(LOCAL).year


def district_prefix(name: str, code: str) -> str:
    """HJ for 浑江区: the pinyin initials of the district's name without its suffix."""
    stem = name
    for suffix in ("朝鲜族自治县", "自治县", "自治旗", "新区", "区", "县", "市", "旗"):
        if stem.endswith(suffix) and len(stem) > len(suffix) + 1:
            stem = stem[: -len(suffix)]
            break
    letters = "".join(lazy_pinyin(stem, style=Style.FIRST_LETTER)).upper()
    letters = "".join(ch for ch in letters if ch.isascii() and ch.isalnum())[:6]
    return letters or "D" + "".join(ch for ch in code if ch.isalnum())[-6:]


def unique_prefix(name: str, code: str, taken) -> str:
    """The district's prefix, or — when another district has it (江源区 and 靖宇县 are both
    JY) — the prefix followed by the last two digits of the district code."""
    prefix = district_prefix(name, code)
    return (prefix + code[-2:]).upper() if prefix in taken else prefix


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
        taken = set(conn.execute(text("SELECT prefix FROM case_prefix")).scalars())
        candidate = unique_prefix(district_name, district_code, taken)
        conn.execute(
            text(
                "INSERT INTO case_prefix (district_code, prefix) VALUES (:d, :p) "
                "ON CONFLICT (district_code) DO NOTHING"
            ),
            {"d": district_code, "p": candidate},
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
