"""The enforcement workflow as data: states with a category (open / closed) and Chinese labels,
transitions with the roles allowed, the fields and the evidence they require.

The definition is a JSON document (the seed's procedure in ``workflow.json``; a city loads its
own with ``weijian workflow load``, which keeps every version). :func:`parse` validates it into a
:class:`Workflow`; :meth:`Workflow.check` is the one place that decides whether an action may be
taken — the API and the CLI both go through it. Nothing here knows of HTTP or the database.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

from weijian.errors import ConflictError, InputError, PermissionDenied
from weijian.text import LIMITS

DEFAULT_PATH = Path(__file__).with_name("workflow.json")
CATEGORIES = ("open", "closed")
EVIDENCE_KINDS = ("photo", "document")
BEFORE_TRANSFER = "@before_transfer"
INITIAL = "@initial"
SAME = "@same"  # a step that leaves the state as it is (the service of a document)
SPECIAL_TARGETS = (BEFORE_TRANSFER, INITIAL, SAME)
CASE_MOMENTS = ("discovered_at", "reported_at")
ADMIN = "admin"
MAX_TEXT = LIMITS["field"]  # characters of a text field (a name, a structure's description)
#: the steps that need a photo the acting department took on site after the report, unless a
#: workflow says otherwise with ``"site_photo": true | false`` on a transition
SITE_PHOTO_ACTIONS = ("site_visit", "verify")
EVENT_LABELS = {
    "report": "上报立案",
    "add_evidence": "上传证据",
    "link": "关联案件",
    "merge": "合并至其他案件",
    "merged_from": "合并其他案件",
    "assign": "指派承办人",
    "urge": "督办",
    "answer_urge": "答复督办",
    "public_outcome": "公布办理结果",
}


@dataclass(frozen=True)
class State:
    code: str
    label: str
    category: str

    @property
    def is_open(self) -> bool:
        return self.category == "open"


@dataclass(frozen=True)
class FieldSpec:
    code: str
    label: str
    choices: dict[str, str] | None = None
    department: bool = False
    number: bool = False
    date: bool = False

    @property
    def is_text(self) -> bool:
        """A field of free text (a party's name): none of the other kinds."""
        return not (self.choices or self.department or self.number or self.date)


@dataclass(frozen=True)
class Transition:
    action: str
    label: str
    sources: tuple[str, ...]
    target: str  # a state code, or @before_transfer / @initial
    roles: tuple[str, ...]
    holder_only: bool = False
    note_required: bool = False
    fields: tuple[str, ...] = ()
    evidence: dict[str, int] = field(default_factory=dict)
    set_track: str | None = None
    optional_fields: tuple[str, ...] = ()
    site_photo: bool = False  # its photos must be new, taken on site by the acting department
    #: taken only through another part of the product ("documents": issuing, voiding or
    #: superseding a document; "meeting": the joint meeting's decision), never from the form
    via: str | None = None


@dataclass(frozen=True)
class DeadlineRule:
    """The deadline of a stage. It starts at a moment of the case (``discovered_at``,
    ``reported_at``) or at the last event of one of ``start_after`` (else at ``start``), again
    at each later event of ``restart`` (a document served); it lasts ``days``, or the number of
    days the starting event's data gives in ``days_field`` (the compliance period entered with
    a stop order); it is met by the case's ``reported_at`` or by the first event of one of
    ``done`` after its start."""

    code: str
    label: str
    days: int | None
    start: str | None  # a case moment: discovered_at | reported_at (or the fallback of start_after)
    done: tuple[str, ...]  # ("reported_at",) or the actions whose first event meets it
    channels: tuple[str, ...] | None = None
    tracks: tuple[str, ...] | None = None
    start_after: tuple[str, ...] = ()
    restart: tuple[str, ...] = ()
    days_field: str | None = None
    due_field: str | None = None  # a date field of the starting event: due at that day's end

    def applies(self, channel: str, track: str) -> bool:
        return (self.channels is None or channel in self.channels) and (
            self.tracks is None or track in self.tracks
        )


@dataclass(frozen=True)
class Workflow:
    name: str
    roles: dict[str, str]
    department_roles: tuple[str, ...]
    channels: dict[str, str]
    tracks: dict[str, dict]
    states: dict[str, State]
    fields: dict[str, FieldSpec]
    transitions: dict[str, Transition]
    deadlines: tuple[DeadlineRule, ...]
    document: dict = field(repr=False, compare=False, default_factory=dict)
    stalled_days: int = 30  # a case with no event for this many days is stalled

    # -- look-ups ---------------------------------------------------------------------

    def state(self, code: str) -> State:
        try:
            return self.states[code]
        except KeyError:
            raise InputError(
                f"案件状态“{code}”不存在，可用的状态：{_labelled(self.states, 'label')}",
                code="workflow.state_unknown",
                detail=f"unknown state {code!r}",
                hint=f"one of {sorted(self.states)}",
            ) from None

    def is_open(self, code: str) -> bool:
        return self.state(code).is_open

    @property
    def open_states(self) -> list[str]:
        return [s.code for s in self.states.values() if s.is_open]

    @property
    def closed_states(self) -> list[str]:
        return [s.code for s in self.states.values() if not s.is_open]

    def initial(self, track: str) -> str:
        return self.tracks[self.check_track(track)]["initial"]

    def check_track(self, track: str) -> str:
        if track not in self.tracks:
            labels = "、".join(f"{k}（{v['label']}）" for k, v in self.tracks.items())
            raise InputError(
                f"案件类型“{track}”不存在，请使用：{labels}",
                code="workflow.track_unknown",
                detail=f"unknown track {track!r}",
                hint=f"use one of: {labels}",
            )
        return track

    def check_channel(self, channel: str) -> str:
        if channel not in self.channels:
            labels = "、".join(f"{k}（{v}）" for k, v in self.channels.items())
            raise InputError(
                f"来源渠道“{channel}”不存在，请使用：{labels}",
                code="workflow.channel_unknown",
                detail=f"unknown source channel {channel!r}",
                hint=f"use one of: {labels}",
            )
        return channel

    def check_role(self, role: str) -> str:
        if role not in self.roles:
            raise InputError(
                f"角色“{role}”不存在，可用的角色：{_labelled(self.roles)}",
                code="workflow.role_unknown",
                detail=f"unknown role {role!r}",
                hint=f"one of {', '.join(self.roles)}",
            )
        return role

    def transition(self, action: str) -> Transition:
        try:
            return self.transitions[action]
        except KeyError:
            raise InputError(
                f"操作“{action}”不存在，流程中的操作有：{_labelled(self.transitions, 'label')}",
                code="workflow.action_unknown",
                detail=f"unknown action {action!r}",
                hint=f"the workflow's actions are: {', '.join(self.transitions)}",
            ) from None

    def label_of(self, action: str) -> str:
        """The Chinese label of any event's action: a transition's, or one of the events that
        keep the state (report, evidence, link, merge, assignment)."""
        if action in self.transitions:
            return self.transitions[action].label
        return EVENT_LABELS.get(action, action)

    def target(
        self,
        transition: Transition,
        track: str,
        before_transfer: str | None,
        state: str | None = None,
    ) -> str:
        if transition.target == SAME:
            return state or transition.sources[0]
        if transition.target == INITIAL:
            return self.initial(transition.set_track or track)
        if transition.target == BEFORE_TRANSFER:
            if not before_transfer:
                raise ConflictError(
                    f"该案件没有记录移交前的状态，无法“{transition.label}”，"
                    "请联系系统管理员核对该案件的办理记录",
                    code="workflow.no_state_before_transfer",
                    detail="the case has no state recorded from before its transfer",
                )
            return before_transfer
        return transition.target

    # -- the rule ---------------------------------------------------------------------

    def may(self, transition: Transition, role: str, *, is_holder: bool) -> bool:
        """Whether a user of ``role`` may take ``transition`` (scope is checked by the caller;
        ``is_holder``: the user's department holds the case)."""
        if role == ADMIN:
            return True
        if role not in transition.roles:
            return False
        return not (transition.holder_only and role in self.department_roles and not is_holder)

    def available(self, state: str, role: str, *, is_holder: bool) -> list[Transition]:
        return [
            t
            for t in self.transitions.values()
            if state in t.sources and t.via is None and self.may(t, role, is_holder=is_holder)
        ]

    def check(
        self,
        action: str,
        *,
        state: str,
        role: str,
        is_holder: bool,
        data: dict[str, Any] | None = None,
        note: str | None = None,
        evidence_kinds: Counter | None = None,
    ) -> Transition:
        """The transition for ``action`` if everything it needs is there; otherwise the error
        that says what is missing: 403 for the role, 409 for the state, 422 for the input."""
        transition = self.transition(action)
        if not self.may(transition, role, is_holder=is_holder):
            if role in transition.roles:
                raise PermissionDenied(
                    f"“{transition.label}”只能由承办该案件的部门办理，请先将案件移交本部门，"
                    "或请承办部门办理",
                    code="workflow.holder_only",
                    detail=f"“{transition.label}” may only be taken by the department holding "
                    "the case",
                    hint="transfer the case first, or ask the holding department",
                )
            allowed = "、".join(self.roles.get(r, r) for r in transition.roles)
            raise PermissionDenied(
                f"角色 {role}（{self.roles.get(role, role)}）无权执行“{transition.label}”"
                f"（{action}），可执行此操作的角色：{allowed}",
                code="workflow.role_not_allowed",
                detail=f"the role {role} ({self.roles.get(role, role)}) may not take the action "
                f"“{transition.label}” ({action})",
                hint=f"allowed roles: {allowed}",
            )
        if state not in transition.sources:
            here = self.states[state].label if state in self.states else state
            allowed_from = "、".join(self.states[s].label for s in transition.sources)
            raise ConflictError(
                f"案件当前为“{here}”（{state}），不能进行“{transition.label}”；"
                f"此操作只能在以下状态进行：{allowed_from}",
                code="workflow.action_not_allowed",
                detail=f"“{transition.label}” is not allowed while the case is “{here}” ({state})",
                hint=f"it is allowed from: {allowed_from}",
            )
        data = data or {}
        given = tuple(c for c in transition.optional_fields if data.get(c) not in (None, ""))
        for code in transition.fields + given:
            spec = self.fields[code]
            value = data.get(code)
            if value in (None, ""):
                raise InputError(
                    f"“{transition.label}”需要填写“{spec.label}”（{code}）{_field_advice(spec)}",
                    code="workflow.field_missing",
                    detail=f"“{transition.label}” needs the field {code} ({spec.label})",
                    hint=_field_hint(spec),
                )
            if spec.choices is not None and (
                not isinstance(value, str) or value not in spec.choices
            ):
                raise InputError(
                    f"“{spec.label}”（{code}）的值“{value}”不在可选范围内{_field_advice(spec)}",
                    code="workflow.field_choice_invalid",
                    detail=f"{code} ({spec.label}) = {value!r} is not one of the allowed values",
                    hint=_field_hint(spec),
                )
            if spec.number:
                try:
                    number = float(value) if not isinstance(value, bool) else float("nan")
                except (TypeError, ValueError):
                    number = float("nan")
                if not (math.isfinite(number) and number >= 0):
                    raise InputError(
                        f"“{spec.label}”（{code}）应为不小于 0 的数字，收到的是“{value}”，请更正",
                        code="workflow.field_number_invalid",
                        detail=f"{code} ({spec.label}) must be a finite number ≥ 0, got {value!r}",
                    )
            if spec.date:
                _check_date(code, spec, value)
            if spec.is_text and (not isinstance(value, str) or len(value) > MAX_TEXT):
                raise InputError(
                    f"“{spec.label}”（{code}）应为不超过 {MAX_TEXT} 字的文字",
                    code="workflow.field_text_invalid",
                    detail=f"{code} ({spec.label}) must be text of at most {MAX_TEXT} characters",
                )
        if transition.note_required and not (note and note.strip()):
            raise InputError(
                f"“{transition.label}”需要填写说明，请在说明中写明理由",
                code="workflow.note_required",
                detail=f"“{transition.label}” needs a note (说明)",
                hint="say why, in the note field",
            )
        have = evidence_kinds or Counter()
        for kind, count in transition.evidence.items():
            if have[kind] < count:
                label = {"photo": "照片", "document": "文书"}[kind]
                unit = {"photo": "张", "document": "份"}[kind]
                raise InputError(
                    f"“{transition.label}”至少需要 {count} {unit}{label}作为证据，"
                    f"目前只有 {have[kind]} {unit}；"
                    f"请先把{label}上传到本案件，再在操作的证据中列出其 sha256",
                    code="workflow.evidence_missing",
                    detail=f"“{transition.label}” needs at least {count} {kind} ({label}) as "
                    f"evidence; {have[kind]} given",
                    hint="upload it to the case first (POST …/evidence), then list its sha256 "
                    "in the transition's evidence",
                )
        return transition

    def as_json(self) -> dict:
        return self.document


def _labelled(items: dict, attribute: str | None = None) -> str:
    """“reported（已上报待核查）、visited（已现场核查）”: codes with their Chinese labels."""

    def label(value: Any) -> str:
        if attribute is None:
            return str(value)
        return str(value[attribute] if isinstance(value, dict) else getattr(value, attribute))

    return "、".join(f"{k}（{label(v)}）" for k, v in items.items())


def _field_advice(spec: FieldSpec) -> str:
    """What to fill in, in Chinese: “，可选：self（业主自拆）、…”, “，请填写…”."""
    if spec.choices:
        return "，可选：" + "、".join(f"{k}（{v}）" for k, v in spec.choices.items())
    if spec.department:
        return "，请填写责任部门的代码（见责任部门列表）"
    if spec.number:
        return "，请填写数字"
    return ""


def _field_hint(spec: FieldSpec) -> str | None:
    if spec.choices:
        return "one of: " + "、".join(f"{k}（{v}）" for k, v in spec.choices.items())
    if spec.department:
        return "the code of a department (GET /api/v1/jurisdiction/departments)"
    if spec.number:
        return "a number"
    return None


def _check_date(code: str, spec: FieldSpec, value: Any) -> None:
    try:
        date.fromisoformat(str(value)[:10])
    except ValueError:
        raise InputError(
            f"“{spec.label}”应为日期，如 2026-03-05",
            code="workflow.field_date_invalid",
            detail=f"{code} ({spec.label}) must be a date YYYY-MM-DD, got {value!r}",
            hint="give the date as YYYY-MM-DD",
        ) from None


# -- parsing and validation --------------------------------------------------------------


#: what is wrong with a workflow document: (English, Chinese) per problem
Problems = list[tuple[str, str]]
_KIND_WORDS = {"dict": "对象", "list": "列表"}


def parse(document: dict) -> Workflow:
    """Validate a workflow document; every problem is named at once."""
    problems: Problems = []

    def need(key: str, kind: type) -> Any:
        value = document.get(key)
        if not isinstance(value, kind):
            problems.append(
                (f"'{key}' must be a {kind.__name__}", f"“{key}”应为{_KIND_WORDS[kind.__name__]}")
            )
            return kind()
        return value

    roles = need("roles", dict)
    channels = need("channels", dict)
    tracks = need("tracks", dict)
    raw_states = need("states", dict)
    raw_fields = need("fields", dict)
    raw_transitions = need("transitions", list)
    raw_deadlines = document.get("deadlines", [])
    department_roles = tuple(document.get("department_roles", []))
    _check_roles(roles, department_roles, problems)
    states = _parse_states(raw_states, problems)
    _check_tracks(tracks, states, problems)
    fields = _parse_fields(raw_fields, problems)
    transitions = _parse_transitions(raw_transitions, roles, tracks, states, fields, problems)
    deadlines = _parse_deadlines(raw_deadlines, transitions, fields, problems)
    stalled_days = document.get("stalled_days", 30)
    if not isinstance(stalled_days, int) or isinstance(stalled_days, bool) or stalled_days < 1:
        problems.append(
            (
                "'stalled_days' must be a whole number of days ≥ 1",
                "停滞天数（stalled_days）应为不小于 1 的整数",
            )
        )
        stalled_days = 30
    if problems:
        said = "；".join(zh for _, zh in problems)
        raise InputError(
            f"流程定义无效：{said}。"
            "请对照 weijian/cases/workflow.json 的结构修改流程文件后重新导入",
            code="workflow.definition_invalid",
            detail="the workflow definition is not valid: " + "; ".join(en for en, _ in problems),
            hint="fix the JSON document (see weijian/cases/workflow.json for the shape)",
        )
    return Workflow(
        name=document.get("name", ""),
        roles=roles,
        department_roles=department_roles,
        channels=channels,
        tracks=tracks,
        states=_in_workflow_order(states, tracks, transitions),
        fields=fields,
        transitions=transitions,
        deadlines=tuple(deadlines),
        document=document,
        stalled_days=stalled_days,
    )


def _in_workflow_order(states: dict, tracks: dict, transitions: dict) -> dict:
    """The states in the order a case meets them — depth first from each track's first state
    along the transitions as the document lists them, so the main line of a track comes
    before its branches — whatever order the stored JSON keeps its keys in (PostgreSQL's jsonb
    sorts them). A transfer is a detour, not a stage: the states only it or nothing leads to
    come last, in their stored order."""
    order: list[str] = []

    def visit(state: str) -> None:
        order.append(state)
        for t in transitions.values():
            onward = t.action != "transfer" and state in t.sources and t.target in states
            if onward and t.target not in order:
                visit(t.target)

    for track in tracks.values():
        if track.get("initial") in states and track["initial"] not in order:
            visit(track["initial"])
    order += [code for code in states if code not in order]
    return {code: states[code] for code in order}


def _check_roles(roles: dict, department_roles: tuple, problems: Problems) -> None:
    if ADMIN not in roles:
        problems.append(
            ("the roles must include 'admin'", "角色（roles）中必须有 admin（系统管理员）")
        )
    for role in department_roles:
        if role not in roles:
            problems.append(
                (
                    f"department role {role!r} is not among the roles",
                    f"部门角色“{role}”不在角色（roles）中",
                )
            )


def _parse_states(raw_states: dict, problems: Problems) -> dict[str, State]:
    states: dict[str, State] = {}
    for code, spec in raw_states.items():
        category = spec.get("category") if isinstance(spec, dict) else None
        if category not in CATEGORIES:
            problems.append(
                (
                    f"state {code!r}: category must be 'open' or 'closed'",
                    f"状态“{code}”：类别（category）应为 open（在办）或 closed（办结）",
                )
            )
            continue
        states[code] = State(code, spec.get("label") or code, category)
    return states


def _check_tracks(tracks: dict, states: dict[str, State], problems: Problems) -> None:
    for code, spec in tracks.items():
        if not isinstance(spec, dict) or spec.get("initial") not in states:
            problems.append(
                (
                    f"track {code!r}: 'initial' must name a state",
                    f"案件类型“{code}”：初始状态（initial）必须是流程中已定义的状态",
                )
            )


def _parse_fields(raw_fields: dict, problems: Problems) -> dict[str, FieldSpec]:
    fields: dict[str, FieldSpec] = {}
    for code, spec in raw_fields.items():
        if not isinstance(spec, dict):
            problems.append((f"field {code!r} must be an object", f"字段“{code}”应为对象"))
            continue
        fields[code] = FieldSpec(
            code,
            spec.get("label", code),
            choices=spec.get("choices"),
            department=bool(spec.get("department")),
            number=bool(spec.get("number")),
            date=bool(spec.get("date")),
        )
    return fields


def _parse_transitions(
    raw_transitions: list,
    roles: dict,
    tracks: dict,
    states: dict[str, State],
    fields: dict[str, FieldSpec],
    problems: Problems,
) -> dict[str, Transition]:
    transitions: dict[str, Transition] = {}
    for i, spec in enumerate(raw_transitions):
        action = spec.get("action") if isinstance(spec, dict) else None
        if not action:
            problems.append(
                (
                    f"transition #{i + 1} has no 'action'",
                    f"第 {i + 1} 个操作没有操作代码（action）",
                )
            )
            continue
        if action in transitions:
            problems.append((f"action {action!r} is defined twice", f"操作“{action}”定义了两次"))
        transitions[action] = _parse_transition(
            action, spec, roles, tracks, states, fields, problems
        )
    for required in ("transfer", "accept_transfer", "return_transfer"):
        if required not in transitions:
            problems.append(
                (
                    f"the workflow must define the action {required!r}",
                    f"流程必须定义操作“{required}”",
                )
            )
    return transitions


def _parse_transition(
    action: str,
    spec: dict,
    roles: dict,
    tracks: dict,
    states: dict[str, State],
    fields: dict[str, FieldSpec],
    problems: Problems,
) -> Transition:
    sources = tuple(spec.get("from", []))
    target = spec.get("to")
    for source in sources:
        if source not in states:
            problems.append(
                (
                    f"{action}: 'from' names an unknown state {source!r}",
                    f"操作“{action}”：起始状态（from）中的“{source}”不存在",
                )
            )
    if not sources:
        problems.append((f"{action}: 'from' is empty", f"操作“{action}”：起始状态（from）为空"))
    if target not in states and target not in SPECIAL_TARGETS:
        problems.append(
            (
                f"{action}: 'to' names an unknown state {target!r}",
                f"操作“{action}”：目标状态（to）“{target}”不存在",
            )
        )
    for role in spec.get("roles", []):
        if role not in roles:
            problems.append(
                (f"{action}: unknown role {role!r}", f"操作“{action}”：角色“{role}”不存在")
            )
    for code in [*spec.get("fields", []), *spec.get("optional_fields", [])]:
        if code not in fields:
            problems.append(
                (f"{action}: unknown field {code!r}", f"操作“{action}”：字段“{code}”不存在")
            )
    evidence = _evidence_required(action, spec, problems)
    set_track = spec.get("set_track")
    if set_track is not None and set_track not in tracks:
        problems.append(
            (
                f"{action}: set_track names an unknown track {set_track!r}",
                f"操作“{action}”：set_track 中的案件类型“{set_track}”不存在",
            )
        )
    return Transition(
        action=action,
        label=spec.get("label", action),
        sources=sources,
        target=target,
        roles=tuple(spec.get("roles", [])),
        holder_only=bool(spec.get("holder_only")),
        note_required=bool(spec.get("note_required")),
        fields=tuple(spec.get("fields", [])),
        evidence={k: int(v) for k, v in evidence.items()},
        set_track=set_track,
        optional_fields=tuple(spec.get("optional_fields", [])),
        site_photo=bool(spec.get("site_photo", action in SITE_PHOTO_ACTIONS)),
        via=spec.get("via"),
    )


def _evidence_required(action: str, spec: dict, problems: Problems) -> dict:
    """The transition's evidence (kind → count), without the counts that are not valid."""
    evidence = spec.get("evidence", {})
    if not isinstance(evidence, dict):
        problems.append(
            (
                f"{action}: evidence must be an object of kind → count",
                f"操作“{action}”：证据要求（evidence）应为“证据种类 → 份数”的对象",
            )
        )
        evidence = {}
    for kind, count in list(evidence.items()):
        if kind not in EVIDENCE_KINDS:
            problems.append(
                (
                    f"{action}: evidence kind {kind!r} is not photo or document",
                    f"操作“{action}”：证据种类“{kind}”应为 photo（照片）或 document（文书）",
                )
            )
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            problems.append(
                (
                    f"{action}: evidence count of {kind} must be a whole number ≥ 0",
                    f"操作“{action}”：{kind} 的证据份数应为不小于 0 的整数",
                )
            )
            evidence.pop(kind)
    return evidence


def _parse_deadlines(
    raw_deadlines: Any,
    transitions: dict[str, Transition],
    fields: dict[str, FieldSpec],
    problems: Problems,
) -> list[DeadlineRule]:
    deadlines = []
    for spec in raw_deadlines if isinstance(raw_deadlines, list) else []:
        if not isinstance(spec, dict) or not spec.get("code"):
            problems.append(
                (
                    f"deadline {spec!r} must be an object with a code",
                    f"期限“{spec}”应为带代码（code）的对象",
                )
            )
            continue
        rule = _parse_deadline(spec, transitions, fields, problems)
        if rule is not None:
            deadlines.append(rule)
    return deadlines


def _actions(value: Any) -> tuple[str, ...]:
    return tuple(value) if isinstance(value, list) else (value,) if value else ()


def _parse_deadline(
    spec: dict, transitions: dict[str, Transition], fields: dict, problems: Problems
) -> DeadlineRule | None:
    code = spec["code"]
    days, days_field = spec.get("days"), spec.get("days_field")
    due_field = spec.get("due_field")
    if (
        days_field is None
        and due_field is None
        and (not isinstance(days, int) or isinstance(days, bool) or days < 0)
    ):
        problems.append(
            (
                f"deadline {code}: needs whole days ≥ 0, a days_field or a due_field",
                f"期限“{code}”：需要不小于 0 的整数天数（days）、天数字段（days_field）"
                "或期限日期字段（due_field）",
            )
        )
        return None
    if due_field is not None and not (due_field in fields and fields[due_field].date):
        problems.append(
            (
                f"deadline {code}: due_field {due_field!r} is not a date field",
                f"期限“{code}”：期限日期字段“{due_field}”不是日期字段",
            )
        )
    if days_field is not None and not (days_field in fields and fields[days_field].number):
        problems.append(
            (
                f"deadline {code}: days_field {days_field!r} is not a number field",
                f"期限“{code}”：天数字段“{days_field}”不是数字字段",
            )
        )
    start = spec.get("start")
    start_after: tuple[str, ...] = ()
    if isinstance(start, dict):
        start_after, start = _actions(start.get("after")), start.get("else")
        if not start_after:
            problems.append(
                (
                    f"deadline {code}: start.after must name actions",
                    f"期限“{code}”：起算操作（start.after）应列出流程中的操作",
                )
            )
    if start is not None and start not in CASE_MOMENTS:
        problems.append(
            (
                f"deadline {code}: start must be discovered_at, reported_at or after",
                f"期限“{code}”：起算时间（start）应为 discovered_at（发现时间）、"
                "reported_at（上报时间）或某操作之后（after）",
            )
        )
    done = _actions(spec.get("done"))
    restart = _actions(spec.get("restart"))
    for action in (*start_after, *restart, *done):
        if action != "reported_at" and action.partition(":")[0] not in transitions:
            problems.append(
                (
                    f"deadline {code}: {action!r} is not an action of the workflow",
                    f"期限“{code}”：“{action}”不是流程中的操作",
                )
            )
    if not done:
        problems.append(
            (
                f"deadline {code}: done must be reported_at or actions",
                f"期限“{code}”：完成条件（done）应为 reported_at（上报）或流程中的操作",
            )
        )
    return DeadlineRule(
        code=code,
        label=spec.get("label", code),
        days=days if days_field is None and due_field is None else None,
        start=start,
        done=done,
        channels=tuple(spec["channels"]) if "channels" in spec else None,
        tracks=tuple(spec["tracks"]) if "tracks" in spec else None,
        start_after=start_after,
        restart=restart,
        days_field=days_field,
        due_field=due_field,
    )


def default_document() -> dict:
    return json.loads(DEFAULT_PATH.read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def default_workflow() -> Workflow:
    return parse(default_document())
