"""Enforcement documents issued on a case (执法文书): made from the case's data and the form's
by a template a city edits, numbered from a sequence per department, kind and year that never
repeats or skips (a number is taken by the transaction that issues, under its row's lock, so a
failed issue uses none), kept as the case's evidence with its hash, and never changed: a
document is voided (its number stays, marked 作废) or superseded by a later one (which keeps
it). Issuing is the workflow step of its kind, so the period it sets becomes the stage
deadline; its proof of service (送达回证) moves that deadline to run from service."""

from __future__ import annotations

import base64
import io
import threading
from collections import Counter
from contextlib import contextmanager
from datetime import datetime
from functools import lru_cache
from pathlib import Path

import shapely
from sqlalchemy import Connection, text

from weijian.cases import history
from weijian.cases.clock import LOCAL
from weijian.cases.evidence import Device, inspect
from weijian.cases.intake import cleaned_fields
from weijian.cases.rows import json_text
from weijian.cases.scope import Principal, scope_sql
from weijian.cases.service import CaseService
from weijian.enforcement import catalogue
from weijian.enforcement.catalogue import Catalogue, Kind
from weijian.enforcement.pdf import render_pdf
from weijian.errors import ConflictError, InputError, NotFoundError
from weijian.jurisdiction.service import effective_departments
from weijian.text import cell

STATUS_LABELS = {"issued": "有效", "voided": "已作废", "superseded": "已被替代"}
DOCUMENT_COLUMNS = (
    "d.id, d.case_id, d.kind, d.department_code, d.department_name, d.year, d.serial, "
    "d.number, d.title, d.status, d.fields, d.deadline_days, d.sha256, d.size, d.pages, "
    "d.supersedes, d.serves, d.issued_at, d.served_on, d.service_method, d.voided_at, "
    "d.void_reason, u.display_name AS issued_by_name"
)
NO_GPS = {"distance_m": None, "flagged": False, "reason": None}


_TURNS: dict[tuple, threading.Lock] = {}
_TURNS_LOCK = threading.Lock()


@contextmanager
def _turn(department: str, kind: str, year: int):
    """This process's issues of one sequence wait their turn here, before they take a
    database connection: twenty parallel issues would otherwise hold twenty connections while
    waiting for the sequence's row lock, which still orders the issues of other processes."""
    with _TURNS_LOCK:
        lock = _TURNS.setdefault((department, kind, year), threading.Lock())
    with lock:
        yield


@lru_cache(maxsize=8)
def _catalogue(folder: str | None, stamp: int | None, actions: frozenset[str]) -> Catalogue:
    """The catalogue, read again when the city's file changes (``stamp``)."""
    return catalogue.load(Path(folder) if folder else None, set(actions))


class Documents:
    """The documents of the cases ``cases`` holds."""

    def __init__(self, cases: CaseService):
        self.cases = cases

    @property
    def catalogue(self) -> Catalogue:
        folder = self.cases.settings.document_templates
        own = Path(folder) / "documents.json" if folder else None
        stamp = own.stat().st_mtime_ns if own is not None and own.is_file() else None
        return _catalogue(
            str(folder) if folder else None, stamp, frozenset(self.cases.workflow.transitions)
        )

    # -- what may be issued, and the form ----------------------------------------------------

    def kinds(self) -> list[dict]:
        """The kinds of document, for filters: code and title."""
        return [{"kind": k.code, "title": k.title} for k in self.catalogue.kinds.values()]

    def kinds_for(self, principal: Principal, ref: str | int) -> dict:
        """Every kind with whether the user may issue it on the case now, its form's fields
        with their defaults drawn from the case, and the choices of its choice fields."""
        wf = self.cases.workflow
        now = self.cases.clock.now()
        with self.cases.engine.connect() as conn:
            row = self.cases._visible(conn, ref, principal)
            docs = self._of_case(conn, row["id"])
            events = history.events_of(conn, row["id"])
        out = []
        for kind in self.catalogue.kinds.values():
            transition = wf.transitions[kind.action]
            allowed = row["state"] in transition.sources and wf.may(
                transition, principal.acts_as, is_holder=principal.holds(row["department_code"])
            )
            reissuable = [d for d in docs if d["kind"] == kind.code and d["status"] == "issued"]
            why = None
            if not allowed:
                why = (
                    f"案件当前状态为“{wf.state(row['state']).label}”，或您不是承办部门，"
                    f"不能制发{kind.title}"
                )
            choices = self._choices(kind, row, docs)
            out.append(
                {
                    "kind": kind.code,
                    "title": kind.title,
                    "action": kind.action,
                    "action_label": transition.label,
                    "available": allowed,
                    "why_not": why,
                    "photos": kind.photos,
                    "deadline_field": kind.deadline_field,
                    "supersedable": [{"id": d["id"], "number": d["number"]} for d in reissuable],
                    "fields": [
                        {
                            **f.as_json(),
                            "default": self._default(f, kind, row, docs, events, now),
                            "choices": choices.get(f.name),
                        }
                        for f in kind.fields
                    ],
                }
            )
        return {"case": row["number"], "version": row["version"], "kinds": out}

    def _choices(self, kind: Kind, row: dict, docs: list[dict]) -> dict[str, dict]:
        wf = self.cases.workflow
        out: dict[str, dict] = {}
        for field in kind.fields:
            if field.workflow_field and field.type == "choice":
                out[field.name] = dict(wf.fields[field.name].choices or {})
            elif field.type == "department":
                out[field.name] = {
                    d["code"]: d["name"]
                    for d in effective_departments(self.cases.jurisdiction.snapshot)
                    if d["code"] != row["department_code"]
                }
            elif field.type == "document":
                out[field.name] = {
                    str(d["id"]): f"{d['title']}（{d['number']}）"
                    for d in docs
                    if d["status"] == "issued" and self._served_kind(d["kind"])
                }
        return out

    def _served_kind(self, code: str) -> bool:
        kind = self.catalogue.kinds.get(code)
        return kind is not None and kind.served

    def _default(self, field, kind: Kind, row: dict, docs, events, now: datetime):
        value = field.default
        if field.name == "party" and value is None:
            value = "@party"
        if not (isinstance(value, str) and value.startswith("@")):
            return value
        name = value[1:]
        if name == "today":
            return now.astimezone(LOCAL).date().isoformat()
        if name == "facts":
            return f"未取得规划许可擅自建设（{row['description']}）"
        if name == "address":
            return row["address"] or ""
        if name == "party":
            for doc in reversed(docs):
                if doc["fields"].get("party"):
                    return doc["fields"]["party"]
            for event in reversed(events):
                if (event.get("data") or {}).get("party"):
                    return event["data"]["party"]
            return ""
        if name == "decision_number":
            found = [
                d for d in docs if d["kind"] == "demolition_decision" and d["status"] == "issued"
            ]
            return found[-1]["number"] if found else ""
        return (kind.settings or {}).get(name, "")

    # -- issuing ---------------------------------------------------------------------------

    def issue(
        self,
        principal: Principal,
        ref: str | int,
        kind_code: str,
        values: dict | None,
        *,
        version: int | None = None,
        supersedes: int | None = None,
        photos: list[str] | None = None,
        note: str | None = None,
    ) -> dict:
        """Issue a document of ``kind_code`` on the case: its number, its PDF kept as the
        case's evidence, and its workflow step, in one transaction. ``supersedes``: the id of
        the case's issued document of the same kind this one replaces."""
        cases, wf = self.cases, self.cases.workflow
        kind = self.catalogue.kind(kind_code)
        now = cases.clock.now()
        today = now.astimezone(LOCAL).date()
        photos = list(dict.fromkeys(photos or []))
        action = "reissue_document" if supersedes is not None else kind.action
        with cases.engine.connect() as conn:
            row = cases._visible(conn, ref, principal)
            holder = principal.holds(row["department_code"])
            if not wf.may(wf.transitions[action], principal.acts_as, is_holder=holder):
                wf.check(action, state=row["state"], role=principal.acts_as, is_holder=holder)
            docs = self._of_case(conn, row["id"])
            events = history.events_of(conn, row["id"])
            given = {k: v for k, v in (values or {}).items() if v not in (None, "")}
            for f in kind.fields:  # what the form leaves out, the form's default gives
                if f.name not in given:
                    default = self._default(f, kind, row, docs, events, now)
                    if default not in (None, ""):
                        given[f.name] = default
            values = catalogue.checked(kind, given, self._choices(kind, row, docs))
            chain = _place_names(conn, row)
            excerpt = self._excerpt(conn, row, today)
        transition = wf.transitions[action]
        step_fields = set(transition.fields) | set(transition.optional_fields)
        data = cleaned_fields(wf, {k: v for k, v in values.items() if k in step_fields})
        with _turn(row["department_code"], kind.code, today.year), cases.engine.begin() as conn:
            row = cases._visible(conn, ref, principal, lock=True)
            cases._check_version(row, version)
            old = self._locked(conn, row, supersedes, kind) if supersedes is not None else None
            served = self._served(conn, row, values) if "serves" in values else None
            kinds = cases._evidence_kinds(conn, row["id"], photos) + Counter(document=1)
            wf.check(
                action,
                state=row["state"],
                role=principal.acts_as,
                is_holder=principal.holds(row["department_code"]),
                data=data,
                note=note or kind.title,
                evidence_kinds=kinds,
            )
            serial = self._next_serial(conn, row["department_code"], kind.code, today.year)
            number = self.catalogue.number_of(
                kind, row["department_code"], row["department_name"], today.year, serial
            )
            context = self._context(kind, row, values, number, today, excerpt, served, docs, chain)
            pdf, pages = render_pdf(kind.template, context, cases.settings.document_templates)
            inspected = inspect(pdf, f"{kind.title}{number}.pdf", "document")
            path = cases.store.put(inspected, pdf)
            shown = f"{kind.title}（{number}）"
            cases._insert_evidence(
                conn, row, inspected, pdf, path, NO_GPS, Device(), principal, now, shown
            )
            document_id = self._insert(
                conn,
                row,
                kind,
                values,
                number,
                serial,
                today.year,
                inspected,
                pages,
                old,
                served,
                principal,
                now,
            )
            summary = {
                "id": document_id,
                "kind": kind.code,
                "title": kind.title,
                "number": number,
                "sha256": inspected.sha256,
            }
            extra = {
                "document": summary,
                "document_kind": served["kind"] if served else kind.code,
            }
            if old is not None:
                extra["supersedes"] = {"id": old["id"], "number": old["number"]}
                if kind.deadline_field and kind.deadline_field in values:
                    extra[kind.deadline_field] = values[kind.deadline_field]
            if served is not None:
                extra["serves"] = {
                    "id": served["id"],
                    "number": served["number"],
                    "title": served["title"],
                }
            cases.step(
                conn,
                principal,
                row,
                action,
                data=data,
                note=note or f"制发{shown}",
                evidence=[inspected.sha256, *photos],
                now=now,
                extra=extra,
            )
        return self.get(principal, document_id)

    def _excerpt(self, conn: Connection, row: dict, today) -> bytes:
        """The site's map: its footprint (or its point), drawn by the patrol renderer (which
        matplotlib draws: loaded by the first document, not by every worker)."""
        from weijian.patrol.excerpt import site_excerpt

        footprint = conn.execute(
            text("SELECT ST_AsBinary(footprint) FROM violation_case WHERE id = :i"),
            {"i": row["id"]},
        ).scalar()
        return site_excerpt(
            conn,
            self.cases.jurisdiction.snapshot,
            row["lon"],
            row["lat"],
            today,
            footprint=shapely.from_wkb(bytes(footprint)) if footprint else None,
            label=row["number"],
        )

    def _context(
        self, kind: Kind, row, values, number, today, excerpt, served, docs, chain
    ) -> dict:
        wf = self.cases.workflow
        stop = [d for d in docs if d["kind"] == "stop_order" and d["status"] == "issued"]
        departments = self._choices(kind, row, docs).get("to_department") or {}
        return {
            "title": f"{kind.title} {number}",
            "doc": {
                "title": kind.title,
                "number": number,
                "issuer": row["department_name"] or "",
                "issued_on": today,
                "noun": kind.noun,
                "kind": kind.code,
            },
            "kind": {"appeal": kind.appeal, **(kind.settings or {})},
            "case": {
                "number": row["number"],
                "address": row["address"] or "",
                "lon": row["lon"],
                "lat": row["lat"],
                "district": chain.get("district", ""),
                "town": chain.get("town", ""),
                "area_m2": row["area_m2"],
                "structure": "",
                "description": row["description"],
            },
            "f": {f.name: values.get(f.name, "") for f in kind.fields},
            "review": self.catalogue.review,
            "excerpt": "data:image/png;base64," + base64.b64encode(excerpt).decode(),
            "served": served or {},
            "stop_order": stop[-1] if stop else None,
            "to_department_name": departments.get(values.get("to_department"), ""),
            "reason_label": (wf.fields["reason"].choices or {}).get(values.get("reason"), ""),
            "service_method_label": (wf.fields["service_method"].choices or {}).get(
                values.get("service_method"), ""
            ),
        }

    def _next_serial(self, conn: Connection, department: str, kind: str, year: int) -> int:
        """The next number of (department, kind, year), its row locked until the issuing
        transaction ends: the parallel issues of one sequence take their turns."""
        return conn.execute(
            text(
                "INSERT INTO document_sequence (department_code, kind, year, last_number) "
                "VALUES (:d, :k, :y, 1) ON CONFLICT (department_code, kind, year) "
                "DO UPDATE SET last_number = document_sequence.last_number + 1 "
                "RETURNING last_number"
            ),
            {"d": department, "k": kind, "y": year},
        ).scalar_one()

    def _insert(
        self,
        conn,
        row,
        kind,
        values,
        number,
        serial,
        year,
        inspected,
        pages,
        old,
        served,
        principal,
        now,
    ) -> int:
        document_id = conn.execute(
            text(
                "INSERT INTO enforcement_document (case_id, kind, department_code, "
                "department_name, year, serial, number, title, fields, deadline_days, sha256, "
                "size, pages, supersedes, serves, issued_by, issued_at) VALUES (:c, :k, :dc, "
                ":dn, :y, :s, :n, :t, CAST(:f AS jsonb), :dd, :sha, :size, :pages, :old, "
                ":serves, :by, :now) RETURNING id"
            ),
            {
                "c": row["id"],
                "k": kind.code,
                "dc": row["department_code"],
                "dn": row["department_name"] or "",
                "y": year,
                "s": serial,
                "n": number,
                "t": kind.title,
                "f": json_text(values),
                "dd": values.get(kind.deadline_field) if kind.deadline_field else None,
                "sha": inspected.sha256,
                "size": inspected.size,
                "pages": pages,
                "old": old["id"] if old else None,
                "serves": served["id"] if served else None,
                "by": principal.id,
                "now": now,
            },
        ).scalar_one()
        if old is not None:
            conn.execute(
                text("UPDATE enforcement_document SET status = 'superseded' WHERE id = :i"),
                {"i": old["id"]},
            )
        if served is not None:
            conn.execute(
                text(
                    "UPDATE enforcement_document SET served_on = :on, service_method = :m "
                    "WHERE id = :i"
                ),
                {"on": values["served_on"], "m": values["service_method"], "i": served["id"]},
            )
        return document_id

    def _locked(self, conn: Connection, row: dict, document_id: int, kind: Kind) -> dict:
        old = self._one(conn, row, document_id, lock=True)
        if old["kind"] != kind.code:
            raise InputError(
                f"{old['title']}（{old['number']}）只能由同种文书替代，不能由{kind.title}替代",
                code="document.supersede_kind",
                detail=f"document {document_id} is a {old['kind']}, not a {kind.code}",
            )
        if old["status"] != "issued":
            raise ConflictError(
                f"{old['title']}（{old['number']}）{STATUS_LABELS[old['status']]}，不能再被替代",
                code="document.not_current",
                detail=f"document {document_id} is {old['status']}",
            )
        return old

    def _served(self, conn: Connection, row: dict, values: dict) -> dict:
        served = self._one(conn, row, values["serves"], lock=True)
        if served["status"] != "issued":
            raise ConflictError(
                f"{served['title']}（{served['number']}）{STATUS_LABELS[served['status']]}，"
                "不能再送达，请送达替代它的文书",
                code="document.not_current",
                detail=f"document {served['id']} is {served['status']}",
            )
        return served

    # -- voiding ---------------------------------------------------------------------------

    def void(self, principal: Principal, ref: str | int, document_id: int, reason: str | None):
        """Void an issued document: its number stays in the register, marked 作废; the
        period it set no longer runs (the deadlines skip a voided document's step)."""
        cases = self.cases
        now = cases.clock.now()
        with cases.engine.begin() as conn:
            row = cases._visible(conn, ref, principal, lock=True)
            doc = self._one(conn, row, document_id, lock=True)
            if doc["status"] != "issued":
                raise ConflictError(
                    f"{doc['title']}（{doc['number']}）{STATUS_LABELS[doc['status']]}，不能再作废",
                    code="document.not_current",
                    detail=f"document {document_id} is {doc['status']}",
                )
            cases.step(
                conn,
                principal,
                row,
                "void_document",
                data={},
                note=reason,
                evidence=[],
                now=now,
                extra={
                    "document": {
                        "id": doc["id"],
                        "kind": doc["kind"],
                        "title": doc["title"],
                        "number": doc["number"],
                        "sha256": doc["sha256"],
                    },
                    "document_kind": doc["kind"],
                },
            )
            conn.execute(
                text(
                    "UPDATE enforcement_document SET status = 'voided', voided_by = :by, "
                    "voided_at = :now, void_reason = :why WHERE id = :i"
                ),
                {"by": principal.id, "now": now, "why": reason, "i": doc["id"]},
            )
            if doc["serves"] is not None:  # a voided proof of service: the document is unserved
                conn.execute(
                    text(
                        "UPDATE enforcement_document SET served_on = NULL, service_method = NULL "
                        "WHERE id = :i"
                    ),
                    {"i": doc["serves"]},
                )
        return self.get(principal, document_id)

    # -- reading ---------------------------------------------------------------------------

    def _one(self, conn: Connection, row: dict, document_id: int, lock: bool = False) -> dict:
        found = (
            conn.execute(
                text(
                    f"SELECT {DOCUMENT_COLUMNS} FROM enforcement_document d "
                    "LEFT JOIN app_user u ON u.id = d.issued_by WHERE d.id = :i AND d.case_id = :c"
                    + (" FOR UPDATE OF d" if lock else "")
                ),
                {"i": document_id, "c": row["id"]},
            )
            .mappings()
            .first()
        )
        if found is None:
            raise NotFoundError(
                f"案件 {row['number']} 没有编号为 {document_id} 的执法文书，请核对",
                code="document.not_found",
                detail=f"case {row['number']} has no document {document_id}",
            )
        return dict(found)

    def _of_case(self, conn: Connection, case_id: int) -> list[dict]:
        rows = conn.execute(
            text(
                f"SELECT {DOCUMENT_COLUMNS} FROM enforcement_document d "
                "LEFT JOIN app_user u ON u.id = d.issued_by WHERE d.case_id = :c ORDER BY d.id"
            ),
            {"c": case_id},
        ).mappings()
        return [dict(r) for r in rows]

    def of_case(self, principal: Principal, ref: str | int) -> dict:
        with self.cases.engine.connect() as conn:
            row = self.cases._visible(conn, ref, principal)
            docs = self._of_case(conn, row["id"])
        return {"case": row["number"], "documents": [_shown(d, row["number"]) for d in docs]}

    def get(self, principal: Principal, document_id: int) -> dict:
        with self.cases.engine.connect() as conn:
            number = conn.execute(
                text(
                    "SELECT c.number FROM enforcement_document d JOIN violation_case c "
                    "ON c.id = d.case_id WHERE d.id = :i"
                ),
                {"i": document_id},
            ).scalar()
            if number is None:
                raise NotFoundError(
                    f"没有编号为 {document_id} 的执法文书",
                    code="document.not_found",
                    detail=f"no document {document_id}",
                )
            row = self.cases._visible(conn, number, principal)
            return _shown(self._one(conn, row, document_id), row["number"])

    def pdf(self, principal: Principal, document_id: int) -> tuple[bytes, str]:
        """The issued PDF, exactly as kept (its hash checked by the evidence store's reader)."""
        doc = self.get(principal, document_id)
        content, _ = self.cases.evidence_bytes(principal, doc["case"], doc["sha256"])
        return content, f"{doc['title']}{doc['number']}.pdf"

    def register(
        self,
        principal: Principal,
        *,
        department: str | None = None,
        kind: str | None = None,
        year: int | None = None,
        limit: int = 500,
    ) -> dict:
        """The register of numbers (文书登记簿) of the cases the user may read: every number
        given, in order, with its status — a voided number shown as voided."""
        scope, params = scope_sql(principal, "c")
        where = [scope]
        if department:
            where.append("d.department_code = :dep")
            params["dep"] = department
        if kind:
            self.catalogue.kind(kind)
            where.append("d.kind = :kind")
            params["kind"] = kind
        if year:
            where.append("d.year = :year")
            params["year"] = year
        params["limit"] = max(1, min(limit, 5000))
        with self.cases.engine.connect() as conn:
            rows = (
                conn.execute(
                    text(
                        f"SELECT {DOCUMENT_COLUMNS}, c.number AS case_number FROM "
                        "enforcement_document d JOIN violation_case c ON c.id = d.case_id "
                        "LEFT JOIN app_user u ON u.id = d.issued_by "
                        f"WHERE {' AND '.join(where)} "
                        "ORDER BY d.department_code, d.kind, d.year DESC, d.serial LIMIT :limit"
                    ),
                    params,
                )
                .mappings()
                .all()
            )
        return {"documents": [_shown(dict(r), r["case_number"]) for r in rows]}


REGISTER_COLUMNS = (
    ("文号", 30, lambda d: d["number"]),
    ("文书", 22, lambda d: d["title"]),
    ("状态", 10, lambda d: d["status_label"]),
    ("案件编号", 18, lambda d: d["case"]),
    ("承办部门", 26, lambda d: d["department_name"]),
    ("签发时间", 18, lambda d: d["issued_at"].astimezone(LOCAL).strftime("%Y-%m-%d %H:%M")),
    ("签发人", 12, lambda d: d["issued_by"] or ""),
    ("期限（日）", 10, lambda d: d["deadline_days"]),
    ("送达日期", 12, lambda d: d["served_on"].isoformat() if d["served_on"] else ""),
    ("作废原因", 30, lambda d: d["void_reason"] or ""),
    ("SHA-256", 66, lambda d: d["sha256"]),
)


def register_workbook(register: dict, title: str) -> bytes:
    """The register of numbers as an Excel workbook (文书登记簿), every cell through
    :func:`weijian.text.cell` (never a formula)."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    sheet = book.active
    sheet.title = "文书登记簿"
    sheet.append([cell(title)])
    sheet["A1"].font = Font(bold=True, size=14)
    sheet.append([name for name, _, _ in REGISTER_COLUMNS])
    for column, (_, width, _) in enumerate(REGISTER_COLUMNS, start=1):
        sheet.cell(row=2, column=column).font = Font(bold=True)
        sheet.column_dimensions[sheet.cell(row=2, column=column).column_letter].width = width
    for doc in register["documents"]:
        sheet.append([cell(value(doc)) for _, _, value in REGISTER_COLUMNS])
    sheet.freeze_panes = "A3"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _place_names(conn: Connection, row: dict) -> dict[str, str]:
    """The names of the case's district and town (街道/乡镇)."""
    names = {}
    for level in ("district", "town"):
        code = row[f"{level}_code"]
        if code:
            found = conn.execute(
                text("SELECT name FROM grid WHERE code = :c AND level = :l LIMIT 1"),
                {"c": code, "l": level},
            ).scalar()
            names[level] = found or ""
    return names


def _shown(doc: dict, case_number: str) -> dict:
    return {
        "id": doc["id"],
        "case": case_number,
        "kind": doc["kind"],
        "title": doc["title"],
        "number": doc["number"],
        "department_code": doc["department_code"],
        "department_name": doc["department_name"],
        "year": doc["year"],
        "serial": doc["serial"],
        "status": doc["status"],
        "status_label": STATUS_LABELS[doc["status"]],
        "fields": doc["fields"],
        "deadline_days": doc["deadline_days"],
        "sha256": doc["sha256"],
        "size": doc["size"],
        "pages": doc["pages"],
        "supersedes": doc["supersedes"],
        "serves": doc["serves"],
        "issued_at": doc["issued_at"],
        "issued_by": doc["issued_by_name"],
        "served_on": doc["served_on"],
        "service_method": doc["service_method"],
        "voided_at": doc["voided_at"],
        "void_reason": doc["void_reason"],
        "pdf": f"/api/v1/documents/{doc['id']}.pdf",
    }


def verify_documents(engine) -> tuple[dict, list[dict]]:
    """What ``weijian audit verify`` checks of the documents: each one's PDF is the case's
    evidence by its hash (whose bytes the evidence check reads), and every number of every
    sequence was given to a document (none skipped, none twice). (counts, problems)."""
    problems = []
    with engine.connect() as conn:
        counts = (
            conn.execute(
                text(
                    "SELECT count(*) AS documents, "
                    "count(*) FILTER (WHERE status = 'voided') AS voided, "
                    "count(*) FILTER (WHERE status = 'superseded') AS superseded "
                    "FROM enforcement_document"
                )
            )
            .mappings()
            .one()
        )
        for r in conn.execute(
            text(
                "SELECT c.number, d.number AS document FROM enforcement_document d "
                "JOIN violation_case c ON c.id = d.case_id WHERE NOT EXISTS (SELECT 1 FROM "
                "case_evidence e WHERE e.case_id = d.case_id AND e.sha256 = d.sha256)"
            )
        ):
            problems.append(
                {
                    "case": r.number,
                    "seq": None,
                    "event_id": None,
                    "problem": f"document {r.document}: its PDF is not among the case's evidence",
                }
            )
        for r in conn.execute(
            text(
                "SELECT s.department_code, s.kind, s.year, s.last_number, "
                "array_agg(d.serial ORDER BY d.serial) FILTER (WHERE d.serial IS NOT NULL) AS got "
                "FROM document_sequence s LEFT JOIN enforcement_document d USING "
                "(department_code, kind, year) GROUP BY 1, 2, 3, 4"
            )
        ):
            got = list(r.got or [])
            if got != list(range(1, r.last_number + 1)):
                problems.append(
                    {
                        "case": None,
                        "seq": None,
                        "event_id": None,
                        "problem": f"documents {r.department_code} {r.kind} {r.year}: numbers "
                        f"{got} are not 1…{r.last_number}",
                    }
                )
    return dict(counts), problems
