"""The kinds of enforcement document, as data a city edits (``documents.json``, its own copy in
``WEIJIAN_DOCUMENT_TEMPLATES`` winning): each kind's title, the word of its number, its
template, the workflow step issuing it takes, the field whose days become the stage deadline,
its legal basis, and the fields its form asks for — checked here on the way in."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from weijian.errors import InputError
from weijian.text import clean

DEFAULT = Path(__file__).with_name("documents.json")
FIELD_TYPES = ("text", "textarea", "number", "date", "choice", "department", "document")
NUMBER_NAMES = ("issuer", "word", "year", "serial")


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    type: str = "text"
    required: bool = False
    default: Any = None
    max: int | None = None
    workflow_field: bool = False  # its choices (and its value) are the workflow's field's

    def as_json(self) -> dict:
        return {
            "name": self.name,
            "label": self.label,
            "type": self.type,
            "required": self.required,
            "max": self.max,
        }


@dataclass(frozen=True)
class Kind:
    code: str
    title: str
    word: str
    template: str
    action: str
    fields: tuple[Field, ...]
    deadline_field: str | None = None
    appeal: bool = False
    photos: bool = False
    served: bool = False  # served on the party, with a proof of service (送达回证)
    settings: dict | None = None  # the kind's other entries (legal_basis, violated …)

    @property
    def noun(self) -> str:
        """What the text calls the document: 通知书, 决定书, 公告 …"""
        for noun in ("通知书", "决定书", "公告", "笔录", "回证", "函"):
            if self.title.endswith(noun):
                return noun
        return "文书"


@dataclass(frozen=True)
class Catalogue:
    number: str
    issuers: dict[str, str]
    review: dict
    kinds: dict[str, Kind]
    source: str

    def kind(self, code: str) -> Kind:
        found = self.kinds.get(code)
        if found is None:
            titles = "、".join(k.title for k in self.kinds.values())
            raise InputError(
                f"没有“{code}”这种执法文书，可选：{titles}",
                code="document.kind_unknown",
                detail=f"unknown document kind {code!r}",
                hint=f"use one of: {', '.join(self.kinds)}",
            )
        return found

    def number_of(
        self, kind: Kind, department_code: str, department_name: str, year: int, serial: int
    ) -> str:
        issuer = self.issuers.get(department_code) or department_name
        return self.number.format(issuer=issuer, word=kind.word, year=year, serial=serial)


def _bad(source: str, what: str, detail: str) -> InputError:
    return InputError(
        f"执法文书配置文件 {source} 有误：{what}，请改正后重启服务",
        code="document.catalogue_invalid",
        detail=f"{source}: {detail}",
        hint="compare with weijian/enforcement/documents.json",
    )


def load(folder: Path | None, workflow_actions: set[str]) -> Catalogue:
    """The catalogue of the city's folder if it has one, else the default; checked against
    the workflow's actions."""
    path = Path(folder) / "documents.json" if folder else None
    if path is None or not path.is_file():
        path = DEFAULT
    source = str(path)
    try:
        spec = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, ValueError) as exc:
        raise _bad(source, f"无法读取或不是 JSON（{exc}）", str(exc)) from None
    number = spec.get("number", "")
    try:
        number.format(issuer="", word="", year=0, serial=0)
    except (KeyError, IndexError, ValueError, AttributeError):
        raise _bad(
            source,
            "文号格式（number）只能使用 {issuer}{word}{year}{serial}",
            f"number {number!r} uses other names than {NUMBER_NAMES}",
        ) from None
    kinds = {}
    for code, item in (spec.get("kinds") or {}).items():
        kinds[code] = _kind(source, code, item, workflow_actions)
    if not kinds:
        raise _bad(source, "没有任何文书种类（kinds）", "no kinds")
    review = {"body": "本级人民政府", "days": 60, "court": "人民法院", "months": 6}
    review.update(spec.get("review") or {})
    return Catalogue(number, dict(spec.get("issuers") or {}), review, kinds, source)


def _kind(source: str, code: str, item: dict, actions: set[str]) -> Kind:
    for key in ("title", "word", "template", "action"):
        if not isinstance(item.get(key), str) or not item[key]:
            raise _bad(source, f"文书“{code}”缺少 {key}", f"kind {code}: {key} missing")
    if item["action"] not in actions:
        raise _bad(
            source,
            f"文书“{item['title']}”的 action“{item['action']}”不是流程中的操作",
            f"kind {code}: action {item['action']!r} is not in the workflow",
        )
    fields = []
    for f in item.get("fields") or []:
        if not isinstance(f, dict) or not f.get("name") or f.get("type", "text") not in FIELD_TYPES:
            raise _bad(source, f"文书“{item['title']}”的字段 {f} 无效", f"kind {code}: field {f!r}")
        fields.append(
            Field(
                name=f["name"],
                label=f.get("label", f["name"]),
                type=f.get("type", "text"),
                required=bool(f.get("required")),
                default=f.get("default"),
                max=f.get("max"),
                workflow_field=bool(f.get("workflow_field")),
            )
        )
    deadline = item.get("deadline_field")
    if deadline and deadline not in {f.name for f in fields}:
        raise _bad(
            source,
            f"文书“{item['title']}”的期限字段 {deadline} 不在字段中",
            f"kind {code}: deadline_field {deadline!r} is not a field",
        )
    known = {
        "title", "word", "template", "action", "fields", "deadline_field", "appeal", "photos",
        "served",
    }  # fmt: skip
    return Kind(
        code=code,
        title=item["title"],
        word=item["word"],
        template=item["template"],
        action=item["action"],
        fields=tuple(fields),
        deadline_field=deadline,
        appeal=bool(item.get("appeal")),
        photos=bool(item.get("photos")),
        served=bool(item.get("served")),
        settings={k: v for k, v in item.items() if k not in known},
    )


def checked(kind: Kind, values: dict | None, choices: dict[str, dict]) -> dict:
    """The form's values for ``kind``: text cleaned, numbers whole and ≥ 0, dates real,
    choices among ``choices`` (by field name); every required field given."""
    values = dict(values or {})
    out: dict[str, Any] = {}
    for field in kind.fields:
        value = values.get(field.name)
        if isinstance(value, str):
            value = clean(value, field.label, "note", multiline=True, field=field.name) or ""
            value = value.strip()
        if value in (None, ""):
            if field.required:
                raise InputError(
                    f"请填写“{field.label}”，制作{kind.title}需要它",
                    code="document.field_missing",
                    detail=f"{kind.code}: {field.name} is required",
                    hint=f"give fields.{field.name}",
                )
            continue
        out[field.name] = _typed(kind, field, value, choices.get(field.name))
    return out


def _typed(kind: Kind, field: Field, value: Any, choices: dict | None) -> Any:
    def bad(what: str) -> InputError:
        return InputError(
            f"“{field.label}”{what}",
            code="document.field_invalid",
            detail=f"{kind.code}: {field.name}={value!r} is not valid",
            hint=f"see GET /api/v1/documents/kinds for {field.name}",
        )

    if field.type == "number":
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise bad("应为天数（整数）") from None
        if number != int(number) or number < 1:
            raise bad("应为不小于 1 的整数")
        if field.max is not None and number > field.max:
            raise bad(f"不能超过 {field.max}")
        return int(number)
    if field.type == "date":
        try:
            return date.fromisoformat(str(value)[:10]).isoformat()
        except ValueError:
            raise bad("应为日期，如 2026-12-05") from None
    if field.type == "document":
        if choices is not None and str(value) not in choices:
            raise bad(
                "应为本案件已签发、需要送达的文书之一"
                + ("：" + "、".join(choices.values()) if choices else "（本案件尚无）")
            )
        try:
            return int(value)
        except (TypeError, ValueError):
            raise bad("应为本案件已制发文书的编号") from None
    if field.type in ("choice", "department"):
        if choices is not None and str(value) not in choices:
            raise bad(f"应为以下之一：{'、'.join(choices.values())}")
        return str(value)
    return str(value)
