"""The workbench's API: the inbox (待办/已办/督办/关注), urging and answering, following a
case, the officers a leader dispatches to. The pages at ``/work`` read it, and so may other
systems; the decisions are the case service's (:mod:`weijian.cases.inbox`,
:mod:`weijian.cases.urging`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from weijian.api.dependencies import CasesDep, CurrentUser
from weijian.cases.inbox import InboxFilter
from weijian.text import LIMITS

router = APIRouter(prefix="/api/v1", tags=["workbench"])


@router.get("/inbox", summary="待办 / 已办 / 督办 / 关注: the cases waiting for you, by urgency")
def inbox(
    cases: CasesDep,
    user: CurrentUser,
    tab: Literal["todo", "done", "urged", "followed"] = "todo",
    state: Annotated[str | None, Query(description="state codes, comma-separated")] = None,
    q: Annotated[str | None, Query(max_length=100, description="number or words")] = None,
    overdue: bool | None = None,
    stalled: Annotated[bool | None, Query(description="no event for the workflow's days")] = None,
    mine: Annotated[bool, Query(description="only the cases assigned to you (我的案件)")] = False,
    grid: Annotated[str | None, Query(max_length=40, description="a grid code, any level")] = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict:
    filters = InboxFilter(
        state=state, q=q, overdue=overdue, stalled=stalled, mine=mine, grid=grid or None
    )
    return cases.inbox(user, tab=tab, filters=filters, cursor=cursor, limit=limit)


class UrgeIn(BaseModel):
    note: str = Field(min_length=1, max_length=LIMITS["note"], description="what is expected")
    reply_due: datetime = Field(description="when the answer is due")


class GridUrgeIn(UrgeIn):
    grid: str = Field(description="a grid code: every overdue case in it is urged")


class AnswerIn(BaseModel):
    note: str = Field(min_length=1, max_length=LIMITS["note"])


@router.post("/cases/{ref}/urges", status_code=201, summary="督办: urge one case")
def urge_case(ref: str, body: UrgeIn, cases: CasesDep, user: CurrentUser) -> dict:
    return cases.urge(user, ref, body.note, body.reply_due)


@router.get("/cases/{ref}/urges", summary="The urges of a case and their answers")
def urges_of_case(ref: str, cases: CasesDep, user: CurrentUser) -> list[dict]:
    return cases.urges(user, ref)


@router.post("/urges", status_code=201, summary="督办: urge every overdue case of a grid")
def urge_grid(body: GridUrgeIn, cases: CasesDep, user: CurrentUser) -> dict:
    return cases.urge_grid(user, body.grid, body.note, body.reply_due)


@router.post("/urges/{urge_id}/answer", summary="Answer an urge addressed to you")
def answer_urge(urge_id: int, body: AnswerIn, cases: CasesDep, user: CurrentUser) -> dict:
    return cases.answer_urge(user, urge_id, body.note)


@router.put("/cases/{ref}/follow", summary="关注: follow a case")
def follow(ref: str, cases: CasesDep, user: CurrentUser) -> dict:
    return cases.follow(user, ref, True)


@router.delete("/cases/{ref}/follow", summary="Stop following a case")
def unfollow(ref: str, cases: CasesDep, user: CurrentUser) -> dict:
    return cases.follow(user, ref, False)


@router.get("/officers", summary="The officers of a department, for dispatch (派遣)")
def officers(
    cases: CasesDep,
    user: CurrentUser,
    department: Annotated[
        str | None, Query(description="a department's code (supervisors: the case's)")
    ] = None,
) -> list[dict]:
    return cases.officers(user, department)
