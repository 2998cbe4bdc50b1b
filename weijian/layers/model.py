"""What a layer is made of: the storage SRID, the zone kinds, the four grid levels, the two
layer families and the channel that announces an activation. The tables themselves are created
by the Alembic migrations (``weijian/db/migrations``); the repository modules query them in SQL.
Geometries are stored in CGCS2000 geographic (EPSG:4490)."""

from __future__ import annotations

import re

from weijian.errors import InputError

STORAGE_SRID = 4490
ZONE_KINDS = (
    "urban_managed",
    "town_planned",
    "rural_construction",
    "homestead",
    "agricultural",
    "farmland",
    "forest",
    "construction",
    "unused",
)
GRID_LEVELS = ("district", "town", "community", "compound")
LAYER_FAMILIES = ("zones", "grids")
NOTIFY_CHANNEL = "weijian_layer_activated"

#: a layer's name: letters, digits, _ and - (Chinese characters allowed), nothing else —
#: no space, no newline, no control character (checked over the whole string)
LAYER_NAME = re.compile(r"[A-Za-z0-9_\-\u4e00-\u9fff]{1,63}")
TITLE_MAX = 100
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _visible(value: object) -> str:
    """``value`` with its control characters written out (a newline as \\n)."""
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], str(value))


def check_layer_name(name: str) -> None:
    if not isinstance(name, str) or not LAYER_NAME.fullmatch(name):
        raise InputError(
            f"图层名“{_visible(name)}”不可用（不可含空格、换行或其他控制字符）。"
            "请使用 1–63 个字母、数字、_ 或 -（可含汉字），如 landuse",
            code="layer.name_invalid",
            detail=f"layer name {name!r} is not usable.",
            hint="use 1–63 letters, digits, _ or - (Chinese characters allowed), e.g. landuse",
        )


def check_label(value: str | None, what: str, what_zh: str) -> None:
    """A title or kind people read: one line of at most ``TITLE_MAX`` characters, without
    control characters (a newline would break every list and printed map it appears in)."""
    if value is None:
        return
    if _CONTROL.search(value) or len(value) > TITLE_MAX:
        raise InputError(
            f"{what_zh}“{_visible(value[:40])}”不可用：须为一行、不超过 {TITLE_MAX} 个字，"
            "且不含换行符或其他控制字符",
            code="layer.label_invalid",
            detail=f"{what} {value[:40]!r} is not usable: one line of at most {TITLE_MAX} "
            "characters without newlines or control characters.",
            hint="remove the line breaks and control characters",
        )
