"""Assessment (考评) as data: indicators defined by a Chinese name, a numerator and a
denominator made of named counts, a direction and a weight; the score and the ranking.

The counts come from :mod:`weijian.oversight.figures` (one SQL pass over the cases and their
events per period); this module turns counts into indicator values and a weighted score, and
knows nothing of the database. Cities define indicators differently: a new definitions
document (``weijian assess load``) changes them without code.

Counts per grid unit and period [start, end):

- ``reported``: cases reported; ``proactive``: of them, by a proactive channel (patrol, grid
  workers, property companies, project tracking — the document's ``proactive_channels``)
- ``reports_due`` / ``reports_on_time``: reports that had a 1-day report deadline / met it
- ``visits_on_time`` / ``visits_late`` / ``visits_overdue``: site-visit deadlines falling in
  the period — met, met late by the period's end, not met by the period's end
- ``disposals_on_time`` / ``disposals_late`` / ``disposals_overdue``: the same for signing a new
  violation off within ``disposal_days`` of its report (cases closed otherwise are left out)
- ``signed_off``: cases signed off in the period; ``open_at_start``: cases open at its start
- ``overdue_open``: cases open at the period's end whose site visit is overdue
- ``rebounds``: reported cases flagged as rebounds
- ``transfers_out`` / ``transfers_in``: transfer / accept-transfer events on the unit's cases
- ``urges`` / ``urges_answered_on_time``: urges (督办) given in the period on the unit's cases,
  and those answered by their reply deadline
- ``ledgers_due`` / ``ledgers_on_time``: the towns' monthly ledgers that fell due in the period,
  and those sent by the due day and not returned by the district (a town's own; a district's
  and the city's are the sums of their towns'; below the town there are none)
- ``ratings`` / ``rating_points`` / ``rating_full``: the reporters' ratings (大家评, 1 to 5)
  given in the period on the unit's cases, the sum of their scores, and five times their
  number — so 群众评价满意度 is a rate from 0 to 1 like the others

A rate whose denominator is 0 has no value. What it scores is a rule of the definitions
document, ``empty_rate``: ``"nothing_wrong"`` (the seeded definitions: nothing was due, so
nothing was missed — the full part of its weight, as a unit that met every deadline gets) or
``"left_out"`` (the indicator leaves the unit's score and its weights; a document without the
key, as the first versions were, keeps this meaning). Overdue open cases are in the on-time
denominators, so leaving a case untouched never helps a rate.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from weijian.errors import InputError

DEFAULT_PATH = Path(__file__).with_name("assessment.json")
UNIT_COUNTS = (
    "reported",
    "proactive",
    "reports_due",
    "reports_on_time",
    "visits_on_time",
    "visits_late",
    "visits_overdue",
    "disposals_on_time",
    "disposals_late",
    "disposals_overdue",
    "signed_off",
    "open_at_start",
    "overdue_open",
    "rebounds",
    "transfers_out",
    "transfers_in",
    "urges",
    "urges_answered_on_time",
    "ledgers_due",
    "ledgers_on_time",
    "compounds",
    "compounds_patrolled",
    "patrols",
    "period_days",
    "ratings",
    "rating_points",
    "rating_full",
)
#: the counts of the towns' ledgers, not of cases (``submissions.ledger_counts``)
LEDGER_COUNTS = ("ledgers_due", "ledgers_on_time")
#: the counts of the patrol tracks, not of cases (``coverage.PATROL_LEAVES``): the compounds
#: (grids of level compound) of the active grids, those a track begun in the period passed
#: within 50 m, the tracks begun in the period by the unit's workers, and the period's length
PATROL_COUNTS = ("compounds", "compounds_patrolled", "patrols", "period_days")
PROPERTY_COUNTS = ("reports", "reports_due", "reports_on_time", "found_by_others")
DIRECTIONS = ("higher", "lower")
#: what a rate over nothing scores (the definitions' ``empty_rate``)
EMPTY_RATE_RULES = {
    "nothing_wrong": "无应办事项的比率指标按无失分计（得满分）",
    "left_out": "无应办事项的比率指标不计分，其权重不计入总权重",
}
#: the counts in Chinese, for the explanation of a formula
COUNT_LABELS = {
    "reported": "上报案件数",
    "proactive": "主动发现案件数",
    "reports_due": "应在1日内上报数",
    "reports_on_time": "1日内上报数",
    "visits_on_time": "按时核查数",
    "visits_late": "超时核查数",
    "visits_overdue": "超期未核查数",
    "disposals_on_time": "按期处置数",
    "disposals_late": "超期处置数",
    "disposals_overdue": "超期未处置数",
    "signed_off": "销号数",
    "open_at_start": "期初在办数",
    "overdue_open": "期末超期未核查数",
    "rebounds": "反弹数",
    "transfers_out": "移交数",
    "transfers_in": "接收移交数",
    "urges": "被督办次数",
    "urges_answered_on_time": "督办按时答复数",
    "ledgers_due": "应报送台账数（月）",
    "ledgers_on_time": "按时报送且未被退回的台账数",
    "compounds": "小区网格数",
    "compounds_patrolled": "期内被巡查轨迹经过（50 米内）的小区数",
    "patrols": "巡查次数（巡查轨迹数）",
    "period_days": "统计天数",
    "ratings": "群众评价数",
    "rating_points": "群众评价得分之和",
    "rating_full": "群众评价满分之和（评价数×5）",
    "reports": "物业报告数",
    "found_by_others": "他人先行发现数",
}


@dataclass(frozen=True)
class Indicator:
    code: str
    name: str
    numerator: tuple[str, ...]
    denominator: tuple[str, ...]
    direction: str
    weight: float
    unit: str
    per: str | None = None  # "week": the value is per week of the period

    def as_json(self) -> dict:
        return {
            "code": self.code,
            "name": self.name,
            "unit": self.unit,
            "direction": self.direction,
            "weight": self.weight,
        }

    @property
    def is_rate(self) -> bool:
        return bool(self.denominator)

    def formula(self) -> str:
        """The indicator in words: its counts, and how it scores."""

        def words(names: tuple[str, ...]) -> str:
            return "＋".join(COUNT_LABELS.get(n, n) for n in names)

        better = "越高越好" if self.direction == "higher" else "越低越好"
        if self.per == "week":
            return (
                f"{words(self.numerator)}÷统计周数（统计天数÷7），{better}；"
                "得分比例按同级各单位的最小值至最大值线性折算（各单位相同时均为 1）"
            )
        if self.is_rate:
            ratio = f"（{words(self.numerator)}）÷（{words(self.denominator)}）"
            part = "比率" if self.direction == "higher" else "1－比率"
            return f"{ratio}，{better}；得分比例＝{part}"
        return (
            f"{words(self.numerator)}，{better}；得分比例按同级各单位的最小值至最大值线性折算"
            "（各单位相同时均为 1）"
        )

    def value(self, counts: dict[str, int]) -> tuple[float | None, int, int | None]:
        """(value, numerator, denominator); a rate over nothing has no value."""
        num = sum(int(counts.get(c, 0)) for c in self.numerator)
        if self.per == "week":
            days = int(counts.get("period_days", 0))
            return (round(num * 7 / days, 4) if days else None), num, None
        if not self.denominator:
            return float(num), num, None
        den = sum(int(counts.get(c, 0)) for c in self.denominator)
        return (num / den if den else None), num, den


@dataclass(frozen=True)
class Definitions:
    name: str
    disposal_days: int
    proactive_channels: tuple[str, ...]
    indicators: tuple[Indicator, ...]
    property_indicators: tuple[Indicator, ...]
    document: dict
    empty_rate: str = "left_out"


#: what the problems of a definitions document call its two lists, in Chinese
WHERE_ZH = {"indicator": "考评指标", "property indicator": "物业考评指标"}


def _indicators(raw, allowed: tuple[str, ...], where: str, problems: list[tuple[str, str]]) -> list:
    """The indicators of one list; each problem found is added as (Chinese, English)."""
    out = []
    zh = WHERE_ZH.get(where, where)
    if not isinstance(raw, list) or not raw:
        problems.append((f"{zh}应为非空列表", f"'{where}' must be a non-empty list"))
        return out
    seen = set()
    for i, spec in enumerate(raw):
        if not isinstance(spec, dict):
            problems.append((f"{zh}第 {i + 1} 项应为对象", f"{where} #{i + 1} must be an object"))
            continue
        code = spec.get("code")
        if not code or code in seen:
            problems.append(
                (
                    f"{zh}第 {i + 1} 项缺少 code 或与其他指标重复",
                    f"{where} #{i + 1}: a unique 'code' is needed",
                )
            )
        seen.add(code)
        for part in ("numerator", "denominator"):
            names = spec.get(part, [])
            if not isinstance(names, list) or (part == "numerator" and not names):
                problems.append(
                    (
                        f"{zh} {code} 的 {part} 应为计数名称的列表",
                        f"{where} {code}: '{part}' must be a list of count names",
                    )
                )
                continue
            for name in names:
                if name not in allowed:
                    problems.append(
                        (
                            f"{zh} {code} 中的计数“{name}”不存在（可用：{'、'.join(allowed)}）",
                            f"{where} {code}: unknown count {name!r} (known: {', '.join(allowed)})",
                        )
                    )
        if spec.get("direction") not in DIRECTIONS:
            problems.append(
                (
                    f"{zh} {code} 的 direction 应为 higher 或 lower",
                    f"{where} {code}: direction must be 'higher' or 'lower'",
                )
            )
        weight = spec.get("weight", 0)
        if not isinstance(weight, int | float) or isinstance(weight, bool) or weight < 0:
            problems.append(
                (
                    f"{zh} {code} 的 weight（权重）应为不小于 0 的数",
                    f"{where} {code}: weight must be a number ≥ 0",
                )
            )
            weight = 0
        if spec.get("per") not in (None, "week") or (spec.get("per") and spec.get("denominator")):
            problems.append(
                (
                    f"{zh} {code} 的 per 只能为 week（按周平均），且不能与 denominator 同用",
                    f"{where} {code}: 'per' may only be 'week', without a denominator",
                )
            )
        if not spec.get("name"):
            problems.append(
                (
                    f"{zh} {code} 缺少中文名称 name",
                    f"{where} {code}: a Chinese 'name' is needed",
                )
            )
        out.append(
            Indicator(
                code=str(code),
                name=str(spec.get("name", code)),
                numerator=tuple(spec.get("numerator") or ()),
                denominator=tuple(spec.get("denominator") or ()),
                direction=spec.get("direction", "higher"),
                weight=float(weight),
                unit=str(spec.get("unit", "%" if spec.get("denominator") else "件")),
                per="week" if spec.get("per") == "week" else None,
            )
        )
    return out


def parse(document: dict) -> Definitions:
    """Validate a definitions document; every problem is named at once."""
    problems: list[tuple[str, str]] = []
    if not isinstance(document, dict):
        raise InputError(
            "考评指标定义应为一个 JSON 对象，请检查文件内容",
            code="assessment.definitions_not_object",
            detail="the assessment definitions must be a JSON object",
        )
    days = document.get("disposal_days", 30)
    if not isinstance(days, int) or isinstance(days, bool) or days < 1:
        problems.append(
            (
                "disposal_days（处置期限天数）应为不小于 1 的整数",
                "'disposal_days' must be a whole number ≥ 1",
            )
        )
        days = 30
    channels = document.get("proactive_channels", [])
    if not isinstance(channels, list) or not all(isinstance(c, str) for c in channels):
        problems.append(
            (
                "proactive_channels（主动发现渠道）应为渠道代码的列表",
                "'proactive_channels' must be a list of channel codes",
            )
        )
        channels = []
    empty_rate = document.get("empty_rate", "left_out")
    if empty_rate not in EMPTY_RATE_RULES:
        problems.append(
            (
                "empty_rate（无应办事项的比率指标如何计分）应为 nothing_wrong（按无失分计）"
                "或 left_out（不计分）",
                "'empty_rate' must be 'nothing_wrong' or 'left_out'",
            )
        )
        empty_rate = "left_out"
    indicators = _indicators(document.get("indicators"), UNIT_COUNTS, "indicator", problems)
    property_indicators = _indicators(
        document.get("property_indicators"), PROPERTY_COUNTS, "property indicator", problems
    )
    if problems:
        listed = "；".join(zh for zh, _ in problems)
        raise InputError(
            "考评指标定义有误，请按 weijian/oversight/assessment.json 的格式修改后重新载入："
            f"{listed}",
            code="assessment.definitions_invalid",
            detail="the assessment definitions are not valid: "
            + "; ".join(en for _, en in problems),
            hint="fix the JSON document (see weijian/oversight/assessment.json for the shape)",
        )
    return Definitions(
        name=str(document.get("name", "")),
        disposal_days=days,
        proactive_channels=tuple(channels),
        indicators=tuple(indicators),
        property_indicators=tuple(property_indicators),
        document=document,
        empty_rate=empty_rate,
    )


def default_document() -> dict:
    return json.loads(DEFAULT_PATH.read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def default_definitions() -> Definitions:
    return parse(default_document())


def values(
    indicators: tuple[Indicator, ...], counts: dict[str, int], heads: list[dict] | None = None
) -> list[dict]:
    """Each indicator's value for ``counts``; ``heads``: the indicators' :meth:`as_json`,
    when made already (for many units)."""
    out = []
    for ind, head in zip(indicators, heads or [ind.as_json() for ind in indicators], strict=True):
        value, num, den = ind.value(counts)
        out.append(
            {
                **head,
                "value": None if value is None else round(value, 6),
                "numerator": num,
                "denominator": den,
            }
        )
    return out


def rank(
    indicators: tuple[Indicator, ...],
    units: list[dict],
    empty_rate: str = "left_out",
    *,
    detail: bool = True,
) -> list[dict]:
    """Score and rank ``units`` (each with ``counts``): a rate scores its value (or 1 − value
    when lower is better); a count scores its place between the lowest and the highest of the
    units ranked together. A rate over nothing scores by ``empty_rate`` (the module's
    docstring); other indicators without a value leave the unit's score and its weights.
    The score is out of 100; ties share a rank. The cases outside any grid of the level (a
    unit without a code, 未划入下级网格) are no unit to assess: they keep their values, listed
    after the units, with neither a score nor a rank, and take no part in the others' spans.

    Each unit's indicators are as :func:`values` gives them, with their score; without
    ``detail``, only each one's code, value and unit (as a table of many units shows them).
    The values are counted for all units at once, indicator by indicator, with the same
    arithmetic as :meth:`Indicator.value` (whole numbers below 2⁵³ divide alike)."""
    n = len(units)
    names = sorted({c for ind in indicators for c in (*ind.numerator, *ind.denominator)})
    names.append("period_days")
    matrix = np.array(
        [[int(u["counts"].get(c, 0)) for c in names] for u in units], dtype=np.int64
    ).reshape(n, len(names))
    column = {name: i for i, name in enumerate(names)}
    assessed = np.array(
        [u["code"] is not None or u.get("level") == "city" for u in units], dtype=bool
    )
    total, weights = np.zeros(n), np.zeros(n)
    # per indicator: values (rounded as values() rounds them), numerators, denominators, each
    # unit's score of it, and whether a rate over nothing was scored full
    table: list[tuple[list, list, list | None, list, list]] = []
    for ind in indicators:
        value, num, den, part, scored, filled = _scored(ind, matrix, column, assessed, empty_rate)
        total += np.where(scored, ind.weight * part, 0.0)
        weights += np.where(scored, ind.weight, 0.0)
        item_scores = (
            [
                round(p, 6) if s else None
                for p, s in zip(part.tolist(), scored.tolist(), strict=True)
            ]
            if detail
            else []
        )
        table.append(
            (value, num.tolist(), None if den is None else den.tolist(), item_scores, filled)
        )
    unit_scores = [
        round(100 * t / w, 2) if a and w else None
        for t, w, a in zip(total.tolist(), weights.tolist(), assessed.tolist(), strict=True)
    ]
    heads = [ind.as_json() for ind in indicators]
    rows = []
    if not detail:
        # each unit's values, indicator by indicator, with each indicator's code and unit
        by_unit = list(zip(*(entry[0] for entry in table), strict=True)) if table else [()] * n
        named = [(head["code"], head["unit"]) for head in heads]
        for unit, values_of_unit, unit_score in zip(units, by_unit, unit_scores, strict=True):
            items = [
                {"code": code, "value": value, "unit": unit_name}
                for (code, unit_name), value in zip(named, values_of_unit, strict=True)
            ]
            rows.append({**unit, "indicators": items, "score": unit_score})
    else:
        for i, unit in enumerate(units):
            items = []
            for head, (value, num, den, item_score, filled) in zip(heads, table, strict=True):
                item = {
                    **head,
                    "value": value[i],
                    "numerator": num[i],
                    "denominator": None if den is None else den[i],
                }
                if assessed[i]:
                    item["score"] = item_score[i]
                    if filled[i]:
                        item["empty"] = True  # nothing was due: nothing missed
                items.append(item)
            rows.append({**unit, "indicators": items, "score": unit_scores[i]})
    ordered = sorted(
        rows,
        key=lambda r: (
            r["score"] is None,
            -(r["score"] or 0),
            r["code"] is None,  # the 未划入下级网格 buckets after the named units
            r["code"] or "",
            [c or "" for c in r.get("chain") or []],
        ),
    )
    previous, position = None, 0
    for place, row in enumerate(ordered, start=1):
        if row["score"] != previous:
            position, previous = place, row["score"]
        row["rank"] = position if row["score"] is not None else None
    return ordered


def _scored(ind: Indicator, matrix: np.ndarray, column: dict, assessed: np.ndarray, rule: str):
    """One indicator for every unit (a row of ``matrix``, its counts by ``column``): the values
    as :func:`values` gives them, the numerators and denominators, each unit's part of the
    score and whether it scores (assessed units only), and whether a rate over nothing was
    scored full (by the empty-rate ``rule``)."""
    n = len(matrix)
    num = matrix[:, [column[c] for c in ind.numerator]].sum(axis=1)
    den = None
    if ind.per == "week":
        days = matrix[:, column["period_days"]]
        raw = [
            round(v * 7 / d, 4) if d else None
            for v, d in zip(num.tolist(), days.tolist(), strict=True)
        ]
    elif not ind.denominator:
        raw = [float(v) for v in num.tolist()]
    else:
        den = matrix[:, [column[c] for c in ind.denominator]].sum(axis=1)
        raw = [v / d if d else None for v, d in zip(num.tolist(), den.tolist(), strict=True)]
    value = [None if v is None else round(v, 6) for v in raw]
    known = np.array([v is not None for v in value], dtype=bool)
    as_float = np.array([np.nan if v is None else v for v in value], dtype=np.float64)
    scored = np.zeros(n, dtype=bool)
    part = np.zeros(n)
    empty = (den == 0) if den is not None else np.zeros(n, dtype=bool)
    if ind.weight > 0 and rule == "nothing_wrong" and den is not None:
        scored |= empty
        part[empty] = 1.0
    live = assessed & ~scored & known if ind.weight > 0 else np.zeros(n, dtype=bool)
    if ind.is_rate:
        part[live] = as_float[live]
    elif live.any():
        seen = as_float[assessed & known]
        low, high = float(seen.min()), float(seen.max())
        part[live] = 1.0 if high == low else (as_float[live] - low) / (high - low)
    if ind.direction == "lower":
        part[live] = 1.0 - part[live]
    scored = (scored | live) & assessed
    filled = (empty & scored).tolist() if rule == "nothing_wrong" else [False] * n
    return value, num, den, part, scored, filled
