"""The rules that make an open case a key case (重点案件) for the joint meeting (联席会议), as data
a city edits: ``key_rules.json`` beside this module, or the city's own copy of it in
``WEIJIAN_DOCUMENT_TEMPLATES``, which wins. Five kinds of rule, each with its parameters:

- ``large_area``: the footprint's area (``area_m2``, figured in Gauss-Krüger at intake) at
  least ``min_area_m2``;
- ``repeated_rebound``: a rebound (flagged at intake) where at least ``min_rebounds`` cases
  were signed off before, within the rebound radius;
- ``refused_stop_order``: the workflow deadline ``deadline`` (the stop order's 整改期限) passed
  more than ``grace_days`` days ago and its stage still not done (no seal, no demolition);
- ``cross_department``: transferred at least ``min_transfers`` times, or a transfer returned
  at least ``min_returns`` times;
- ``long_overdue``: the case's current stage overdue by more than ``min_days`` days.

The file is checked here, with every problem named in Chinese."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from weijian.errors import InputError

DEFAULT = Path(__file__).with_name("key_rules.json")
FILE_NAME = "key_rules.json"

#: the kinds of rule: their parameters, each with its words and what it must be
PARAMETERS: dict[str, dict[str, tuple[str, str]]] = {
    "large_area": {"min_area_m2": ("面积下限（平方米）", "positive")},
    "repeated_rebound": {"min_rebounds": ("此前销号次数下限", "count")},
    "refused_stop_order": {
        "deadline": ("所依据的办理时限代码", "deadline"),
        "grace_days": ("宽限天数", "days"),
    },
    "cross_department": {
        "min_transfers": ("移交次数下限", "count"),
        "min_returns": ("退回次数下限", "count"),
    },
    "long_overdue": {"min_days": ("超期天数下限", "days")},
}
KIND_WORDS = {
    "large_area": "违建面积大",
    "repeated_rebound": "反复反弹",
    "refused_stop_order": "拒不停止违法建设",
    "cross_department": "部门间管辖争议",
    "long_overdue": "长期超期",
}
PARAMETERS_WORDS = {name: words for p in PARAMETERS.values() for name, (words, _) in p.items()}
RULE_KEYS = {"code", "label", "note", "enabled"}
WHAT = {
    "positive": "应为大于 0 的数",
    "count": "应为不小于 1 的整数",
    "days": "应为不小于 0 的整数（天数）",
}


@dataclass(frozen=True)
class KeyRule:
    code: str
    label: str
    params: dict = field(default_factory=dict)
    note: str | None = None

    def __getitem__(self, name: str):
        return self.params[name]

    def describe(self, deadline_labels: dict[str, str]) -> str:
        """The rule in a sentence, for the agenda's footnote."""
        p = self.params
        if self.code == "large_area":
            return f"违建面积达到 {p['min_area_m2']:g} 平方米"
        if self.code == "repeated_rebound":
            return f"同一地点此前已销号 {p['min_rebounds']} 次及以上又出现违建"
        if self.code == "refused_stop_order":
            label = deadline_labels.get(p["deadline"], p["deadline"])
            grace = f"超过 {p['grace_days']} 日" if p["grace_days"] else ""
            return f"“{label}”届满{grace}仍未查封或拆除"
        if self.code == "cross_department":
            return (
                f"部门间移交 {p['min_transfers']} 次及以上，"
                f"或移交被退回 {p['min_returns']} 次及以上"
            )
        return f"当前办理阶段超期超过 {p['min_days']} 日"


@dataclass(frozen=True)
class KeyRules:
    rules: tuple[KeyRule, ...]
    source: str

    def get(self, code: str) -> KeyRule | None:
        return next((r for r in self.rules if r.code == code), None)


def _bad(source: str, what: str, detail: str) -> InputError:
    return InputError(
        f"联席会议重点案件规则文件 {source} 有误：{what}，请改正后重试",
        code="meeting.rules_invalid",
        detail=f"{source}: {detail}",
        hint="compare with weijian/enforcement/key_rules.json",
    )


def _checked_param(source: str, where: str, name: str, value, kind: str, deadlines: set[str]):
    words = PARAMETERS_WORDS[name]
    if kind == "deadline":
        if not isinstance(value, str) or value not in deadlines:
            known = "、".join(sorted(deadlines))
            raise _bad(
                source,
                f"{where}的“{name}”（{words}）应为流程中的办理时限代码之一：{known}",
                f"{where}: {name}={value!r} is not a deadline of the workflow",
            )
        return value
    number = value if isinstance(value, int | float) and not isinstance(value, bool) else None
    if number is None or number != number or number in (float("inf"), float("-inf")):
        ok = False
    elif kind == "positive":
        ok = number > 0
    else:
        ok = number == int(number) and number >= (1 if kind == "count" else 0)
    if not ok:
        raise _bad(
            source,
            f"{where}的“{name}”（{words}）{WHAT[kind]}，"
            f"现为 {json.dumps(value, ensure_ascii=False)}",
            f"{where}: {name}={value!r}: {kind}",
        )
    return float(number) if kind == "positive" else int(number)


def _rule(source: str, n: int, item, deadlines: set[str]) -> KeyRule | None:
    """The ``n``-th rule of the file (None when it is switched off)."""
    where = f"第 {n} 条规则"
    if not isinstance(item, dict):
        raise _bad(source, f"{where}应为一个对象（{{…}}）", f"rule {n} is not an object")
    code = item.get("code")
    if code not in PARAMETERS:
        kinds = "、".join(f"{k}（{w}）" for k, w in KIND_WORDS.items())
        raise _bad(
            source,
            f"{where}的种类“{code}”无效，应为以下之一：{kinds}",
            f"rule {n}: code {code!r} is none of {sorted(PARAMETERS)}",
        )
    where = f"第 {n} 条规则（{code}）"
    unknown = sorted(set(item) - RULE_KEYS - set(PARAMETERS[code]))
    if unknown:
        allowed = "、".join(sorted(RULE_KEYS | set(PARAMETERS[code])))
        raise _bad(
            source,
            f"{where}有不认识的项“{'、'.join(unknown)}”，可用的项：{allowed}",
            f"rule {n}: unknown keys {unknown}",
        )
    label = item.get("label")
    if not isinstance(label, str) or not label.strip() or len(label) > 40:
        raise _bad(
            source, f"{where}缺少名称（label，40 字以内）", f"rule {n}: label missing or too long"
        )
    enabled = item.get("enabled", True)
    if not isinstance(enabled, bool):
        raise _bad(source, f"{where}的 enabled 应为 true 或 false", f"rule {n}: enabled")
    params = {}
    for name, (words, kind) in PARAMETERS[code].items():
        if name not in item:
            raise _bad(source, f"{where}缺少参数“{name}”（{words}）", f"rule {n}: {name} missing")
        params[name] = _checked_param(source, where, name, item[name], kind, deadlines)
    note = item.get("note")
    rule = KeyRule(code, label.strip(), params, note if isinstance(note, str) else None)
    return rule if enabled else None


def parse(spec, source: str, deadlines: set[str]) -> KeyRules:
    """The rules of a file's JSON, checked against the workflow's deadline codes."""
    if not isinstance(spec, dict) or not isinstance(spec.get("rules"), list):
        raise _bad(source, '应为 {"rules": [ … ]} 的形式', "no list 'rules'")
    unknown = sorted(set(spec) - {"rules", "note"})
    if unknown:
        raise _bad(source, f"有不认识的项“{'、'.join(unknown)}”", f"unknown keys {unknown}")
    rules, seen = [], set()
    for n, item in enumerate(spec["rules"], start=1):
        rule = _rule(source, n, item, deadlines)
        code = item.get("code")
        if code in seen:
            raise _bad(source, f"规则“{code}”出现了两次", f"rule {code} twice")
        seen.add(code)
        if rule is not None:
            rules.append(rule)
    return KeyRules(tuple(rules), source)


def path_of(folder: Path | None) -> Path:
    """The city's file where it has one, else the default."""
    own = Path(folder) / FILE_NAME if folder else None
    return own if own is not None and own.is_file() else DEFAULT


def load(folder: Path | None, deadlines: set[str]) -> KeyRules:
    """The rules in force: read again when the file changes."""
    path = path_of(folder)
    return _load(str(path), path.stat().st_mtime_ns, frozenset(deadlines))


@lru_cache(maxsize=8)
def _load(path: str, stamp: int, deadlines: frozenset[str]) -> KeyRules:
    try:
        spec = json.loads(Path(path).read_text(encoding="utf-8-sig"))
    except (OSError, ValueError) as exc:
        raise _bad(path, f"无法读取或不是有效的 JSON（{exc}）", str(exc)) from None
    return parse(spec, path, set(deadlines))
