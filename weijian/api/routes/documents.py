"""Enforcement documents (执法文书) over REST: the kinds a case may be given now with their
forms, issuing (a workflow step), voiding, the case's documents, the PDF as issued, and the
register of numbers. Every route is a thin call into
:class:`weijian.enforcement.documents.Documents`."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field

from weijian.api.dependencies import CasesDep, CurrentUser
from weijian.api.files import file_response
from weijian.enforcement.documents import Documents, register_workbook
from weijian.text import LIMITS

router = APIRouter(prefix="/api/v1", tags=["documents"])
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@router.get("/documents/kinds", summary="The documents a case may be given now, with their forms")
def document_kinds(
    cases: CasesDep,
    user: CurrentUser,
    case: Annotated[str, Query(description="the case's number", max_length=LIMITS["code"])],
) -> dict:
    return Documents(cases).kinds_for(user, case)


class DocumentIn(BaseModel):
    kind: str = Field(max_length=LIMITS["code"], examples=["stop_order"])
    fields: dict[str, Any] = Field(
        default_factory=dict,
        description="the form's values, by the names GET /documents/kinds gives",
        examples=[{"party": "张三", "compliance_days": 3}],
    )
    version: int | None = Field(default=None, description="the case's version the form was read at")
    supersedes: int | None = Field(
        default=None, description="the id of the case's document of the same kind it replaces"
    )
    photos: list[str] = Field(
        default_factory=list, max_length=20, description="sha256 of photos of the case it cites"
    )
    note: str | None = Field(default=None, max_length=LIMITS["note"])


@router.post(
    "/cases/{number}/documents",
    status_code=201,
    summary="Issue a document: numbered, its PDF kept with its hash, its workflow step taken",
)
def issue_document(number: str, body: DocumentIn, cases: CasesDep, user: CurrentUser) -> dict:
    return Documents(cases).issue(
        user,
        number,
        body.kind,
        body.fields,
        version=body.version,
        supersedes=body.supersedes,
        photos=body.photos,
        note=body.note,
    )


@router.get("/cases/{number}/documents", summary="The case's documents, voided and superseded too")
def case_documents(number: str, cases: CasesDep, user: CurrentUser) -> dict:
    return Documents(cases).of_case(user, number)


class VoidIn(BaseModel):
    reason: str = Field(min_length=1, max_length=LIMITS["note"], examples=["当事人姓名有误"])


@router.post(
    "/cases/{number}/documents/{document_id}/void",
    summary="Void an issued document: its number stays in the register, marked 作废",
)
def void_document(
    number: str, document_id: int, body: VoidIn, cases: CasesDep, user: CurrentUser
) -> dict:
    return Documents(cases).void(user, number, document_id, body.reason)


@router.get(
    "/documents/{document_id}.pdf",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}},
    summary="The document's PDF exactly as issued",
)
def document_pdf(document_id: int, cases: CasesDep, user: CurrentUser) -> Response:
    content, filename = Documents(cases).pdf(user, document_id)
    return file_response(content, "application/pdf", filename, inline=True)


@router.get(
    "/documents",
    summary="The register of document numbers (文书登记簿) of your scope, as JSON or Excel",
    responses={200: {"content": {XLSX: {}}}},
)
def document_register(
    cases: CasesDep,
    user: CurrentUser,
    department: Annotated[str | None, Query(max_length=LIMITS["code"])] = None,
    kind: Annotated[str | None, Query(max_length=LIMITS["code"])] = None,
    year: Annotated[int | None, Query(ge=2000, le=2100)] = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
    format: Literal["json", "xlsx"] = "json",
):
    documents = Documents(cases)
    register = documents.register(user, department=department, kind=kind, year=year, limit=limit)
    if format == "json":
        return register
    title = f"执法文书登记簿（{year or '全部'}年）"
    return file_response(register_workbook(register, title), XLSX, f"{title}.xlsx", inline=False)


@router.get("/documents/catalogue", summary="The kinds of document (for filters)")
def document_catalogue(cases: CasesDep, user: CurrentUser) -> dict:
    return {"kinds": Documents(cases).kinds()}
