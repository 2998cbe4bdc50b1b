"""GB/T 21010 land-use codes (field ``DLBM`` of the national land survey) → zone kinds.

Both the 2017 four-digit codes (third national land survey, 三调) and the 2007 three-digit codes
(二调) are understood; survey suffixes such as ``K`` (可调整) are ignored. The longest matching
prefix wins, so ``0702`` (农村宅基地) beats ``07`` (住宅用地)."""

from __future__ import annotations

import re

from weijian.errors import InputError

# (code prefix, kind, Chinese class name) — 2017 codes
GBT21010_2017: tuple[tuple[str, str, str], ...] = (
    ("01", "farmland", "耕地"),
    ("02", "agricultural", "园地"),
    ("03", "forest", "林地"),
    ("04", "agricultural", "草地"),
    ("0404", "unused", "其他草地"),
    ("05", "construction", "商服用地"),
    ("06", "construction", "工矿仓储用地"),
    ("07", "construction", "住宅用地"),
    ("0702", "homestead", "农村宅基地"),
    ("08", "construction", "公共管理与公共服务用地"),
    ("09", "construction", "特殊用地"),
    ("10", "construction", "交通运输用地"),
    ("1006", "agricultural", "农村道路"),
    ("11", "unused", "水域及水利设施用地"),
    ("1104", "agricultural", "坑塘水面"),
    ("1107", "agricultural", "沟渠"),
    ("1109", "construction", "水工建筑用地"),
    ("12", "unused", "其他土地"),
    ("1201", "construction", "空闲地"),
    ("1202", "agricultural", "设施农用地"),
    ("1203", "agricultural", "田坎"),
)
# 2007 three-digit codes whose first two digits differ in meaning from 2017
GBT21010_2007: tuple[tuple[str, str, str], ...] = (
    ("01", "farmland", "耕地"),
    ("02", "agricultural", "园地"),
    ("03", "forest", "林地"),
    ("04", "agricultural", "草地"),
    ("043", "unused", "其他草地"),
    ("05", "construction", "商服用地"),
    ("06", "construction", "工矿仓储用地"),
    ("07", "construction", "住宅用地"),
    ("072", "homestead", "农村宅基地"),
    ("08", "construction", "公共管理与公共服务用地"),
    ("09", "construction", "特殊用地"),
    ("10", "construction", "交通运输用地"),
    ("104", "agricultural", "农村道路"),
    ("11", "unused", "水域及水利设施用地"),
    ("114", "agricultural", "坑塘水面"),
    ("117", "agricultural", "沟渠"),
    ("118", "construction", "水工建筑用地"),
    ("12", "unused", "其他土地"),
    ("122", "agricultural", "设施农用地"),
    ("123", "agricultural", "田坎"),
    ("20", "construction", "城镇村及工矿用地"),
    ("203", "rural_construction", "村庄"),
)
_CODE = re.compile(r"^\s*(\d{2,6})[A-Za-z]*\s*$")


def _lookup(table: tuple[tuple[str, str, str], ...], code: str) -> str | None:
    best = None
    for prefix, kind, _ in table:
        if code.startswith(prefix) and (best is None or len(prefix) > len(best[0])):
            best = (prefix, kind)
    return best[1] if best else None


def kind_for_code(code: object) -> str | None:
    """The zone kind of a land-use code, or None when it is not a GB/T 21010 code."""
    if code is None:
        return None
    text = str(code)
    if text.endswith(".0"):  # numeric DBF field read as float
        text = text[:-2]
    match = _CODE.match(text)
    if not match:
        return None
    digits = match.group(1)
    table = GBT21010_2007 if len(digits) == 3 else GBT21010_2017
    if len(digits) == 3 and digits.startswith("20"):
        table = GBT21010_2007
    return _lookup(table, digits)


def kinds_for_codes(codes: list[object], field: str) -> list[str]:
    """Kinds for every code; refuses the whole column when any code is not GB/T 21010."""
    cache: dict[object, str | None] = {}
    kinds: list[str] = []
    unknown: dict[str, int] = {}
    for code in codes:
        if code not in cache:
            cache[code] = kind_for_code(code)
        kind = cache[code]
        if kind is None:
            unknown[str(code)] = unknown.get(str(code), 0) + 1
        kinds.append(kind or "")
    if unknown:
        examples = ", ".join(f"{c!r} ×{n}" for c, n in list(unknown.items())[:6])
        raise InputError(
            f"field {field} holds {sum(unknown.values())} values that are not GB/T 21010 "
            f"land-use codes: {examples}.",
            hint=f"check that {field} is the land-use code field (地类编码, e.g. DLBM), or "
            "import with --kind for a layer of one kind",
        )
    return kinds
