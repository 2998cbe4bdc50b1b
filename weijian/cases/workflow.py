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

DEFAULT_PATH = Path(__file__).with_name("workflow.json")
CATEGORIES = ("open", "closed")
EVIDENCE_KINDS = ("photo", "document")
BEFORE_TRANSFER = "@before_transfer"
INITIAL = "@initial"
SAME = "@same"  # a step that leaves the state as it is (the service of a document)
SPECIAL_TARGETS = (BEFORE_TRANSFER, INITIAL, SAME)
CASE_MOMENTS = ("discovered_at", "reported_at")
ADMIN = "admin"
EVENT_LABELS = {
    "report": "上报立案",
    "add_evidence": "上传证据",
    "link": "关联案件",
    "merge": "合并至其他案件",
    "merged_from": "合并其他案件",
    "assign": "指派承办人",
    "urge": "督办",
    "answer_urge": "答复督办",
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
                f"unknown state {code!r}", hint=f"one of {sorted(self.states)}"
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
            raise InputError(f"unknown track {track!r}", hint=f"use one of: {labels}")
        return track

    def check_channel(self, channel: str) -> str:
        if channel not in self.channels:
            labels = "、".join(f"{k}（{v}）" for k, v in self.channels.items())
            raise InputError(f"unknown source channel {channel!r}", hint=f"use one of: {labels}")
        return channel

    def check_role(self, role: str) -> str:
        if role not in self.roles:
            raise InputError(f"unknown role {role!r}", hint=f"one of {', '.join(self.roles)}")
        return role

    def transition(self, action: str) -> Transition:
        try:
            return self.transitions[action]
        except KeyError:
            raise InputError(
                f"unknown action {action!r}",
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
                raise ConflictError("the case has no state recorded from before its transfer")
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
            if state in t.sources and self.may(t, role, is_holder=is_holder)
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
                    f"“{transition.label}” may only be taken by the department holding the case",
                    hint="transfer the case first, or ask the holding department",
                )
            allowed = "、".join(self.roles.get(r, r) for r in transition.roles)
            raise PermissionDenied(
                f"the role {role} ({self.roles.get(role, role)}) may not take the action "
                f"“{transition.label}” ({action})",
                hint=f"allowed roles: {allowed}",
            )
        if state not in transition.sources:
            here = self.states[state].label if state in self.states else state
            allowed_from = "、".join(self.states[s].label for s in transition.sources)
            raise ConflictError(
                f"“{transition.label}” is not allowed while the case is “{here}” ({state})",
                hint=f"it is allowed from: {allowed_from}",
            )
        data = data or {}
        given = tuple(c for c in transition.optional_fields if data.get(c) not in (None, ""))
        for code in transition.fields + given:
            spec = self.fields[code]
            value = data.get(code)
            if value in (None, ""):
                raise InputError(
                    f"“{transition.label}” needs the field {code} ({spec.label})",
                    hint=_field_hint(spec),
                )
            if spec.choices is not None and (
                not isinstance(value, str) or value not in spec.choices
            ):
                raise InputError(
                    f"{code} ({spec.label}) = {value!r} is not one of the allowed values",
                    hint=_field_hint(spec),
                )
            if spec.number:
                try:
                    number = float(value) if not isinstance(value, bool) else float("nan")
                except (TypeError, ValueError):
                    number = float("nan")
                if not (math.isfinite(number) and number >= 0):
                    raise InputError(
                        f"{code} ({spec.label}) must be a finite number ≥ 0, got {value!r}"
                    )
            if spec.date:
                _check_date(code, spec, value)
        if transition.note_required and not (note and note.strip()):
            raise InputError(
                f"“{transition.label}” needs a note (说明)", hint="say why, in the note field"
            )
        have = evidence_kinds or Counter()
        for kind, count in transition.evidence.items():
            if have[kind] < count:
                label = {"photo": "照片", "document": "文书"}[kind]
                raise InputError(
                    f"“{transition.label}” needs at least {count} {kind} ({label}) as evidence; "
                    f"{have[kind]} given",
                    hint="upload it to the case first (POST …/evidence), then list its sha256 "
                    "in the transition's evidence",
                )
        return transition

    def as_json(self) -> dict:
        return self.document


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


def parse(document: dict) -> Workflow:
    """Validate a workflow document; every problem is named at once."""
    problems: list[str] = []

    def need(key: str, kind: type) -> Any:
        value = document.get(key)
        if not isinstance(value, kind):
            problems.append(f"'{key}' must be a {kind.__name__}")
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
        problems.append("'stalled_days' must be a whole number of days ≥ 1")
        stalled_days = 30
    if problems:
        raise InputError(
            "the workflow definition is not valid: " + "; ".join(problems),
            hint="fix the JSON document (see weijian/cases/workflow.json for the shape)",
        )
    return Workflow(
        name=document.get("name", ""),
        roles=roles,
        department_roles=department_roles,
        channels=channels,
        tracks=tracks,
        states=states,
        fields=fields,
        transitions=transitions,
        deadlines=tuple(deadlines),
        document=document,
        stalled_days=stalled_days,
    )


def _check_roles(roles: dict, department_roles: tuple, problems: list[str]) -> None:
    if ADMIN not in roles:
        problems.append("the roles must include 'admin'")
    for role in department_roles:
        if role not in roles:
            problems.append(f"department role {role!r} is not among the roles")


def _parse_states(raw_states: dict, problems: list[str]) -> dict[str, State]:
    states: dict[str, State] = {}
    for code, spec in raw_states.items():
        category = spec.get("category") if isinstance(spec, dict) else None
        if category not in CATEGORIES:
            problems.append(f"state {code!r}: category must be 'open' or 'closed'")
            continue
        states[code] = State(code, spec.get("label") or code, category)
    return states


def _check_tracks(tracks: dict, states: dict[str, State], problems: list[str]) -> None:
    for code, spec in tracks.items():
        if not isinstance(spec, dict) or spec.get("initial") not in states:
            problems.append(f"track {code!r}: 'initial' must name a state")


def _parse_fields(raw_fields: dict, problems: list[str]) -> dict[str, FieldSpec]:
    fields: dict[str, FieldSpec] = {}
    for code, spec in raw_fields.items():
        if not isinstance(spec, dict):
            problems.append(f"field {code!r} must be an object")
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
    problems: list[str],
) -> dict[str, Transition]:
    transitions: dict[str, Transition] = {}
    for i, spec in enumerate(raw_transitions):
        action = spec.get("action") if isinstance(spec, dict) else None
        if not action:
            problems.append(f"transition #{i + 1} has no 'action'")
            continue
        if action in transitions:
            problems.append(f"action {action!r} is defined twice")
        transitions[action] = _parse_transition(
            action, spec, roles, tracks, states, fields, problems
        )
    for required in ("transfer", "accept_transfer", "return_transfer"):
        if required not in transitions:
            problems.append(f"the workflow must define the action {required!r}")
    return transitions


def _parse_transition(
    action: str,
    spec: dict,
    roles: dict,
    tracks: dict,
    states: dict[str, State],
    fields: dict[str, FieldSpec],
    problems: list[str],
) -> Transition:
    sources = tuple(spec.get("from", []))
    target = spec.get("to")
    for source in sources:
        if source not in states:
            problems.append(f"{action}: 'from' names an unknown state {source!r}")
    if not sources:
        problems.append(f"{action}: 'from' is empty")
    if target not in states and target not in SPECIAL_TARGETS:
        problems.append(f"{action}: 'to' names an unknown state {target!r}")
    for role in spec.get("roles", []):
        if role not in roles:
            problems.append(f"{action}: unknown role {role!r}")
    for code in [*spec.get("fields", []), *spec.get("optional_fields", [])]:
        if code not in fields:
            problems.append(f"{action}: unknown field {code!r}")
    evidence = _evidence_required(action, spec, problems)
    set_track = spec.get("set_track")
    if set_track is not None and set_track not in tracks:
        problems.append(f"{action}: set_track names an unknown track {set_track!r}")
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
    )


def _evidence_required(action: str, spec: dict, problems: list[str]) -> dict:
    """The transition's evidence (kind → count), without the counts that are not valid."""
    evidence = spec.get("evidence", {})
    if not isinstance(evidence, dict):
        problems.append(f"{action}: evidence must be an object of kind → count")
        evidence = {}
    for kind, count in list(evidence.items()):
        if kind not in EVIDENCE_KINDS:
            problems.append(f"{action}: evidence kind {kind!r} is not photo or document")
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            problems.append(f"{action}: evidence count of {kind} must be a whole number ≥ 0")
            evidence.pop(kind)
    return evidence


def _parse_deadlines(
    raw_deadlines: Any,
    transitions: dict[str, Transition],
    fields: dict[str, FieldSpec],
    problems: list[str],
) -> list[DeadlineRule]:
    deadlines = []
    for spec in raw_deadlines if isinstance(raw_deadlines, list) else []:
        if not isinstance(spec, dict) or not spec.get("code"):
            problems.append(f"deadline {spec!r} must be an object with a code")
            continue
        rule = _parse_deadline(spec, transitions, fields, problems)
        if rule is not None:
            deadlines.append(rule)
    return deadlines


def _actions(value: Any) -> tuple[str, ...]:
    return tuple(value) if isinstance(value, list) else (value,) if value else ()


def _parse_deadline(
    spec: dict, transitions: dict[str, Transition], fields: dict, problems: list[str]
) -> DeadlineRule | None:
    code = spec["code"]
    days, days_field = spec.get("days"), spec.get("days_field")
    if days_field is None and (not isinstance(days, int) or isinstance(days, bool) or days < 0):
        problems.append(f"deadline {code}: needs whole days ≥ 0, or a days_field")
        return None
    if days_field is not None and not (days_field in fields and fields[days_field].number):
        problems.append(f"deadline {code}: days_field {days_field!r} is not a number field")
    start = spec.get("start")
    start_after: tuple[str, ...] = ()
    if isinstance(start, dict):
        start_after, start = _actions(start.get("after")), start.get("else")
        if not start_after:
            problems.append(f"deadline {code}: start.after must name actions")
    if start is not None and start not in CASE_MOMENTS:
        problems.append(f"deadline {code}: start must be discovered_at, reported_at or after")
    done = _actions(spec.get("done"))
    restart = _actions(spec.get("restart"))
    for action in (*start_after, *restart, *done):
        if action != "reported_at" and action not in transitions:
            problems.append(f"deadline {code}: {action!r} is not an action of the workflow")
    if not done:
        problems.append(f"deadline {code}: done must be reported_at or actions")
    return DeadlineRule(
        code=code,
        label=spec.get("label", code),
        days=days if days_field is None else None,
        start=start,
        done=done,
        channels=tuple(spec["channels"]) if "channels" in spec else None,
        tracks=tuple(spec["tracks"]) if "tracks" in spec else None,
        start_after=start_after,
        restart=restart,
        days_field=days_field,
    )


def default_document() -> dict:
    return json.loads(DEFAULT_PATH.read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def default_workflow() -> Workflow:
    return parse(default_document())
