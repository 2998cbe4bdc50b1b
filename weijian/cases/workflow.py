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
from functools import lru_cache
from pathlib import Path
from typing import Any

from weijian.errors import ConflictError, InputError, PermissionDenied

DEFAULT_PATH = Path(__file__).with_name("workflow.json")
CATEGORIES = ("open", "closed")
EVIDENCE_KINDS = ("photo", "document")
BEFORE_TRANSFER = "@before_transfer"
INITIAL = "@initial"
SPECIAL_TARGETS = (BEFORE_TRANSFER, INITIAL)
ADMIN = "admin"
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
    site_photo: bool = False  # its photos must be new, taken on site by the acting department


@dataclass(frozen=True)
class DeadlineRule:
    code: str
    label: str
    days: int
    start: str  # a case timestamp: discovered_at | reported_at
    done: str  # a case timestamp (reported_at) or the action whose first event meets it
    channels: tuple[str, ...] | None = None
    tracks: tuple[str, ...] | None = None

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

    def target(self, transition: Transition, track: str, before_transfer: str | None) -> str:
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
        for code in transition.fields:
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
    deadlines = _parse_deadlines(raw_deadlines, transitions, problems)
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
    for code in spec.get("fields", []):
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
        site_photo=bool(spec.get("site_photo", action in SITE_PHOTO_ACTIONS)),
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
    raw_deadlines: Any, transitions: dict[str, Transition], problems: list[str]
) -> list[DeadlineRule]:
    deadlines = []
    for spec in raw_deadlines if isinstance(raw_deadlines, list) else []:
        if not isinstance(spec, dict):
            problems.append(f"deadline {spec!r} must be an object")
            continue
        code = spec.get("code")
        days = spec.get("days")
        if not code or not isinstance(days, int) or days < 0:
            problems.append(f"deadline {spec!r}: needs a code and whole days ≥ 0")
            continue
        if spec.get("start") not in ("discovered_at", "reported_at"):
            problems.append(f"deadline {code}: start must be discovered_at or reported_at")
        done = spec.get("done")
        if done != "reported_at" and done not in transitions:
            problems.append(f"deadline {code}: done must be reported_at or an action")
        deadlines.append(
            DeadlineRule(
                code=code,
                label=spec.get("label", code),
                days=days,
                start=spec.get("start"),
                done=done,
                channels=tuple(spec["channels"]) if "channels" in spec else None,
                tracks=tuple(spec["tracks"]) if "tracks" in spec else None,
            )
        )
    return deadlines


def default_document() -> dict:
    return json.loads(DEFAULT_PATH.read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def default_workflow() -> Workflow:
    return parse(default_document())
