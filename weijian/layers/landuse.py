"""Land-use codes (field ``DLBM`` of the national land survey) → zone kinds, and the settlement
code (城镇村属性码, field ``CZCSXM``) that makes a village's construction land rural.

Both are data shipped beside this module: ``landuse_codes.csv`` holds every code of
GB/T 21010-2017, of the third survey's work classification (三调: ``05H1``, ``08H2A``,
``0810A``, the ``K`` codes …) and of GB/T 21010-2007 (二调), each with its name and kind;
``settlement_codes.csv`` the settlement codes and what construction land becomes in each.
A code is looked up as written (spaces around it and the case of its letters aside): a value
that is not in its table refuses the whole column, with every such value and its count."""

from __future__ import annotations

import csv
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from weijian.errors import InputError
from weijian.layers.model import ZONE_KINDS

LAND_USE_TABLE = Path(__file__).with_name("landuse_codes.csv")
SETTLEMENT_TABLE = Path(__file__).with_name("settlement_codes.csv")
SCHEMES = ("2017", "三调", "2007", "二调")
_SHOWN = 12  # unknown values listed in a refusal


@dataclass(frozen=True)
class LandUseClass:
    code: str
    name: str
    kind: str
    schemes: tuple[str, ...]  # the classifications that use the code (SCHEMES)


@dataclass(frozen=True)
class SettlementClass:
    code: str
    name: str
    construction_kind: str  # what a parcel of kind ``construction`` becomes in it


def normalise_code(value: object) -> str:
    """A code as the tables write it: no surrounding spaces, capital letters; ``""`` when
    empty. A numeric DBF field read as a float loses its ``.0``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip().upper()
    return text[:-2] if text.endswith(".0") else text


def _rows(path: Path, columns: tuple[str, ...]) -> list[dict[str, str]]:
    """The rows of a packaged table: ``#`` lines are its header of comments."""
    lines = [ln for ln in path.read_text("utf-8").splitlines() if ln and not ln.startswith("#")]
    reader = csv.DictReader(lines)
    if tuple(reader.fieldnames or ()) != columns:
        raise ValueError(f"{path.name}: columns {reader.fieldnames}, expected {list(columns)}")
    rows = list(reader)
    seen: set[str] = set()
    for row in rows:
        code = row["code"]
        if not code or code != normalise_code(code) or code in seen:
            raise ValueError(f"{path.name}: code {code!r} is empty, not normalised or repeated")
        seen.add(code)
    return rows


@cache
def land_use_classes() -> dict[str, LandUseClass]:
    """Every accepted land-use code, by code."""
    classes = {}
    for row in _rows(LAND_USE_TABLE, ("code", "name", "kind", "schemes")):
        schemes = tuple(row["schemes"].split())
        if row["kind"] not in ZONE_KINDS or not schemes or set(schemes) - set(SCHEMES):
            raise ValueError(f"{LAND_USE_TABLE.name}: bad kind or schemes in {row}")
        classes[row["code"]] = LandUseClass(row["code"], row["name"], row["kind"], schemes)
    return classes


@cache
def settlement_classes() -> dict[str, SettlementClass]:
    """Every settlement code (城镇村属性码), by code."""
    classes = {}
    for row in _rows(SETTLEMENT_TABLE, ("code", "name", "construction_kind")):
        if row["construction_kind"] not in ZONE_KINDS:
            raise ValueError(f"{SETTLEMENT_TABLE.name}: bad construction_kind in {row}")
        classes[row["code"]] = SettlementClass(row["code"], row["name"], row["construction_kind"])
    return classes


def class_for_code(code: object) -> LandUseClass | None:
    """The class of a land-use code, or None when the code is in none of the classifications."""
    return land_use_classes().get(normalise_code(code))


def kind_for_code(code: object) -> str | None:
    """The zone kind of a land-use code, or None when it is not an accepted code."""
    found = class_for_code(code)
    return found.kind if found else None


def _listed(unknown: Counter[str]) -> tuple[str, str]:
    """The unknown values with their counts, most frequent first (empty last among equals):
    in English and Chinese."""
    ordered = sorted(unknown.items(), key=lambda item: (-item[1], not item[0], item[0]))
    shown, rest = ordered[:_SHOWN], len(ordered) - _SHOWN
    en = ", ".join(f"{c!r} ×{n}" if c else f"empty ×{n}" for c, n in shown)
    zh = "、".join(f"“{c}” {n} 个" if c else f"空值 {n} 个" for c, n in shown)
    if rest > 0:
        en += f" and {rest} other values"
        zh += f"等，另有 {rest} 种值"
    return en, zh


def kinds_for_codes(codes: Sequence[str | None], field: str) -> list[str]:
    """Kinds for every code; refuses the whole column when any code is in no classification."""
    table = land_use_classes()
    kinds: list[str] = []
    unknown: Counter[str] = Counter()
    looked_up: dict[str | None, tuple] = {}  # a layer has a few dozen distinct codes
    for value in codes:
        if value not in looked_up:
            code = normalise_code(value)
            looked_up[value] = (code, table.get(code))
        code, found = looked_up[value]
        if found is None:
            unknown[code] += 1
        kinds.append(found.kind if found else "")
    if unknown:
        total = sum(unknown.values())
        en, zh = _listed(unknown)
        raise InputError(
            f"字段 {field} 中有 {total} 个图斑的值不是地类编码（GB/T 21010-2017、第三次全国国土"
            f"调查工作分类或 GB/T 21010-2007）：{zh}。请确认 {field} 是地类编码字段（如 DLBM）"
            "并更正这些图斑，或用 --kind 将整个图层导入为同一种分区。",
            code="landuse.code_unknown",
            detail=f"field {field} holds {total} values that are not GB/T 21010 land-use codes "
            f"(2017, the third survey's work classification, or 2007): {en}.",
            hint=f"check that {field} is the land-use code field (地类编码, e.g. DLBM) and "
            "correct those parcels (the accepted codes: weijian/layers/landuse_codes.csv), or "
            "import with --kind for a layer of one kind",
        )
    return kinds


def settle_kinds(
    kinds: Sequence[str], settlements: Iterable[object], field: str
) -> tuple[list[str], dict]:
    """The kinds after the settlement code of each parcel (城镇村属性码): construction land in a
    village becomes rural construction land (settlement_codes.csv). Refuses the whole column
    when a value is not a settlement code; an empty value changes nothing.

    Returns the new kinds and the report: the field, the parcels per code, how many parcels
    had no code and how many changed kind."""
    table = settlement_classes()
    settled: list[str] = []
    per_code: Counter[str] = Counter()
    unknown: Counter[str] = Counter()
    empty = changed = 0
    for kind, value in zip(kinds, settlements, strict=True):
        code = normalise_code(value)
        entry = table.get(code)
        if not code:
            empty += 1
        elif entry is None:
            unknown[code] += 1
        else:
            per_code[code] += 1
            if kind == "construction" and entry.construction_kind != kind:
                kind = entry.construction_kind
                changed += 1
        settled.append(kind)
    if unknown:
        total = sum(unknown.values())
        en, zh = _listed(unknown)
        known = ", ".join(table)
        raise InputError(
            f"字段 {field} 中有 {total} 个图斑的值不是城镇村属性码（{'、'.join(table)}）：{zh}。"
            f"请确认 {field} 是城镇村属性码字段（如 CZCSXM）并更正这些图斑；城镇村范围以外的"
            "图斑该字段应为空。",
            code="landuse.settlement_code_unknown",
            detail=f"field {field} holds {total} values that are not settlement codes "
            f"(城镇村属性码: {known}): {en}.",
            hint=f"check that {field} is the settlement code field (城镇村属性码, e.g. CZCSXM) "
            "and correct those parcels; parcels outside cities, towns and villages leave it "
            "empty",
        )
    report = {
        "field": field,
        "codes": dict(sorted(per_code.items())),
        "empty": empty,
        "changed": changed,
    }
    return settled, report
