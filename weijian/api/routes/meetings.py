"""The joint meeting (联席会议) over REST: a district's key cases with their reasons, meetings
gathering them for a date, the printable agenda, the decision on each case (a workflow step
whose date becomes the case's stage deadline) and the report that it was carried out. Every
route is a thin call into :class:`weijian.enforcement.meeting.Meetings`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field

from weijian.api.dependencies import CasesDep, CurrentUser
from weijian.api.files import file_response
from weijian.enforcement.meeting import MAX_CASES, Meetings
from weijian.text import LIMITS

router = APIRouter(prefix="/api/v1", tags=["meetings"])

District = Annotated[
    str | None,
    Query(max_length=LIMITS["code"], description="the district's grid code (yours by default)"),
]


@router.get("/meetings/key-cases", summary="A district's key cases now, with the reasons")
def key_cases(
    cases: CasesDep,
    user: CurrentUser,
    district: District = None,
    limit: Annotated[int, Query(ge=1, le=2000)] = MAX_CASES,
) -> dict:
    return Meetings(cases).key_cases(user, district, limit)


class MeetingIn(BaseModel):
    district: str | None = Field(default=None, max_length=LIMITS["code"], examples=["220602"])
    held_on: str = Field(max_length=40, description="the meeting's date, YYYY-MM-DD")
    title: str | None = Field(default=None, max_length=LIMITS["name"])
    cases: list[str] | None = Field(
        default=None,
        max_length=MAX_CASES,
        description="the numbers of the key cases taken up, in order (all of them when left out)",
    )


@router.post("/meetings", status_code=201, summary="Gather a district's key cases for a meeting")
def create_meeting(body: MeetingIn, cases: CasesDep, user: CurrentUser) -> dict:
    return Meetings(cases).create(
        user, district=body.district, held_on=body.held_on, cases=body.cases, title=body.title
    )


@router.get("/meetings", summary="The meetings of your districts, newest first")
def list_meetings(cases: CasesDep, user: CurrentUser, district: District = None) -> dict:
    return Meetings(cases).list(user, district)


@router.get("/meetings/{meeting_id}", summary="A meeting with its cases and decisions")
def get_meeting(meeting_id: int, cases: CasesDep, user: CurrentUser) -> dict:
    return Meetings(cases).get(user, meeting_id)


@router.get(
    "/meetings/{meeting_id}/agenda.pdf",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}},
    summary="The printable agenda (议程)",
)
def agenda(meeting_id: int, cases: CasesDep, user: CurrentUser) -> Response:
    content, filename = Meetings(cases).agenda(user, meeting_id)
    return file_response(content, "application/pdf", filename, inline=True)


class DecisionIn(BaseModel):
    case: str = Field(max_length=LIMITS["code"], examples=["HJ-2026-000001"])
    decision: str = Field(max_length=LIMITS["note"], examples=["由区城管执法局牵头组织强制拆除"])
    assignee: str = Field(max_length=LIMITS["field"], examples=["区城管执法局"])
    decided_due: str = Field(max_length=40, description="办结期限, YYYY-MM-DD")
    version: int | None = Field(default=None, description="the case's version, when read")


@router.post(
    "/meetings/{meeting_id}/decisions",
    summary="Record the meeting's decision on one of its cases (its deadline the stage's)",
)
def decide(meeting_id: int, body: DecisionIn, cases: CasesDep, user: CurrentUser) -> dict:
    return Meetings(cases).decide(
        user,
        meeting_id,
        case=body.case,
        decision=body.decision,
        assignee=body.assignee,
        decided_due=body.decided_due,
        version=body.version,
    )


class DoneIn(BaseModel):
    note: str = Field(max_length=LIMITS["note"], examples=["违建已于3月20日全部拆除"])


@router.post(
    "/cases/{number}/meeting-done",
    summary="Report that the meeting's decision on the case was carried out",
)
def meeting_done(number: str, body: DoneIn, cases: CasesDep, user: CurrentUser) -> dict:
    return Meetings(cases).done(user, number, body.note)


@router.get("/cases/{number}/meeting", summary="The meeting's last decision on the case")
def case_meeting(number: str, cases: CasesDep, user: CurrentUser) -> dict:
    return Meetings(cases).of_case(user, number)
