"""Cases: intake from every channel, the workflow, evidence, links and merges, queries.

:class:`CaseService` is what the API, the Open311 adapter, the hotline import and the CLI call.
It joins the pure parts — the workflow (:mod:`.workflow`), deadlines (:mod:`.deadlines`),
scope (:mod:`.scope`), evidence inspection (:mod:`.evidence`), the hash chain (:mod:`.history`)
— to PostGIS and the jurisdiction snapshot. Every change runs in one transaction that locks the
case row, checks the optimistic version, updates the row and appends its event, so two officers
acting at once get one success and one 409, and the history stays one unbroken chain.
The steps of intake live in :mod:`.intake`, case numbers in :mod:`.numbering`, lists and their
paging in :mod:`.listing`, what a case reads as in :mod:`.detail`.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

from cachetools import LRUCache
from sqlalchemy import Connection, Engine, text

from weijian.cases import deadlines, definitions, history, hotline, listing, proof, stages
from weijian.cases.clock import LOCAL, Clock, beijing, made_at_checked
from weijian.cases.desk import WorkbenchMixin
from weijian.cases.detail import case_detail, last_change
from weijian.cases.detail import summary as case_summary
from weijian.cases.evidence import (
    Device,
    EvidenceStore,
    gps_check,
    inspect,
    read_limited,
    thumbnail,
)
from weijian.cases.footage import FootageMixin, refuse_whole
from weijian.cases.idempotency import Claim, made_by, record_made
from weijian.cases.intake import (
    CLOCK_SKEW,
    MAX_FOOTPRINT_DISTANCE_M,
    STAFF_CHANNELS,
    Intake,
    Report,
    channel_for,
    check_not_imported,
    check_reporter_grid,
    cleaned,
    cleaned_fields,
    deadlines_due,
    description_of,
    district_of,
    duplicates_and_rebounds,
    first_event,
    footprint_of,
    initial_flags,
    insert_case,
    point_of,
    rate_limit,
    rebound_flag,
    report_times,
)
from weijian.cases.links import LinksMixin, link_to_open
from weijian.cases.listing import MAX_PAGE, CaseFilter
from weijian.cases.numbering import district_prefix, local_year, next_number, unique_prefix
from weijian.cases.precheck import PrecheckMixin
from weijian.cases.rows import CASE_COLUMNS, case_row, json_text, overdue_sql
from weijian.cases.scope import Principal
from weijian.cases.workflow import Workflow, parse
from weijian.errors import (
    ConflictError,
    InputError,
    NotFoundError,
    PermissionDenied,
    WeijianError,
)
from weijian.jurisdiction.engine import lookup
from weijian.jurisdiction.service import effective_departments
from weijian.jurisdiction.snapshot import SnapshotHolder
from weijian.settings import Settings
from weijian.text import clean

__all__ = [
    "CASE_COLUMNS",
    "CLOCK_SKEW",
    "MAX_FOOTPRINT_DISTANCE_M",
    "MAX_PAGE",
    "STAFF_CHANNELS",
    "WORKFLOW_CHECK_S",
    "CaseService",
    "Intake",
    "district_prefix",
    "overdue_sql",
    "unique_prefix",
]

WORKFLOW_CHECK_S = 1.0
THUMBS_KEPT = 512  # thumbnails kept in memory (~20 kB each at 320 px)


class CaseService(WorkbenchMixin, LinksMixin, PrecheckMixin, FootageMixin):
    def __init__(
        self,
        engine: Engine,
        jurisdiction: SnapshotHolder,
        settings: Settings,
        clock: Clock | None = None,
    ):
        self.engine = engine
        # read-only work (the map's tiles and clicks, statistics, assessment, exports) goes to a
        # streaming replica when there is one: the snapshot holder's
        self.read_engine = getattr(jurisdiction, "read_engine", engine)
        self.jurisdiction = jurisdiction
        self.settings = settings
        self.clock = clock or Clock()
        self.calendar = deadlines.load_calendar(settings.deadline_days, settings.holiday_file)
        self.store = EvidenceStore(settings.evidence_root, settings.evidence_storage)
        self._workflow: tuple[int, Workflow] | None = None
        self._workflow_checked = 0.0
        self._prefixes: dict[str, str] = {}
        self._thumbs: LRUCache = LRUCache(maxsize=THUMBS_KEPT)
        self._thumbs_lock = threading.Lock()  # the server's threads share the cache

    # -- the workflow in force -----------------------------------------------------------

    @property
    def workflow(self) -> Workflow:
        """The workflow in force, re-read when its version changes (looked at once a second
        at most: a loaded workflow reaches every worker within that second)."""
        now = time.monotonic()
        if self._workflow is not None and now - self._workflow_checked < WORKFLOW_CHECK_S:
            return self._workflow[1]
        self._workflow_checked = now
        with self.engine.connect() as conn:
            version = definitions.active_version(conn, "workflow_definition")
            if self._workflow is None or self._workflow[0] != version:
                doc = definitions.document(conn, "workflow_definition", version)
                self._workflow = (version, parse(doc))
        return self._workflow[1]

    def workflow_json(self) -> dict:
        wf = self.workflow
        return {"version": self._workflow[0], **wf.as_json()}

    # -- intake ----------------------------------------------------------------------------

    def create(
        self,
        intake: Intake,
        principal: Principal | None = None,
        *,
        client_address: str | None = None,
        whole_city: bool = False,
        idempotency: Claim | None = None,
        challenge: str | None = None,
    ) -> dict:
        """Register a report: locate it, freeze the jurisdiction answer, number it, offer
        duplicates, flag a rebound, start its deadlines. Returns the new case with
        ``possible_duplicates`` and, for an anonymous report, its one-time ``receipt``.
        ``idempotency``: the request's key, recorded with the case in its transaction — a
        report whose case that key made already answers that case. ``challenge``: a solved
        proof of work ("<nonce>:<n>"), which an anonymous report past its address's hourly share
        needs. An anonymous report within the duplicate radius of an open case is linked to the
        nearest one (``linked_to``), so the citizen learns it is already being handled."""
        wf = self.workflow
        now = self.clock.now()
        intake = cleaned(intake)
        report = self._checked(intake, principal, wf, now, whole_city=whole_city)
        anonymous = report.channel == "citizen" and principal is None
        receipt = None
        with self.engine.begin() as conn:
            made = made_by(conn, idempotency, "case")
            if made is not None:
                return _created(self._detail(conn, made, principal, now), [], None)
            if anonymous:
                rate_limit(
                    conn,
                    client_address or "unknown",
                    now,
                    self.settings.citizen_reports_per_hour,
                    challenge,
                )
            if intake.external_id:
                check_not_imported(conn, report.channel, intake.external_id)
            duplicates, rebounds = duplicates_and_rebounds(
                conn,
                self.jurisdiction.snapshot.gk_zone,
                report.lon,
                report.lat,
                now,
                self.settings,
            )
            if rebounds:
                report.flags["rebound"] = rebound_flag(rebounds[0])
            year = local_year(report.reported_at)
            number, seq = next_number(
                conn, self._prefixes, report.district["code"], report.district["name"], year
            )
            if anonymous:
                receipt = secrets.token_urlsafe(12)
            first = first_event(number, report, intake, principal, duplicates, now)
            case_id = insert_case(
                conn,
                report,
                intake,
                principal,
                number=number,
                year=year,
                seq=seq,
                rebound_of=rebounds[0]["id"] if rebounds else None,
                receipt=receipt,
                head=first["hash"],
                now=now,
            )
            history.insert(conn, case_id, first)
            if anonymous and duplicates:
                link_to_open(conn, case_id, duplicates[0], now)
            record_made(conn, idempotency, "case", case_id)
            conn.execute(
                text(
                    "UPDATE violation_case SET last_event_at = :at, last_action = 'report' "
                    "WHERE id = :i"
                ),
                {"at": first["at"], "i": case_id},
            )
            stages.restage(conn, wf, self.calendar, case_id, now)
        with self.engine.connect() as conn:
            out = self._detail(conn, case_id, principal, now, fresh=True)
        out = _created(out, duplicates, receipt)
        if anonymous and duplicates:
            near = duplicates[0]
            state = wf.states.get(near["state"])
            out["linked_to"] = {
                "number": near["number"],
                "state": near["state"],
                "state_label": state.label if state else near["state"],
                "distance_m": near["distance_m"],
            }
        return out

    def _checked(
        self,
        intake: Intake,
        principal: Principal | None,
        wf: Workflow,
        now: datetime,
        *,
        whole_city: bool,
    ) -> Report:
        """The report checked and located, with its jurisdiction answer, the deadlines it
        starts and its first flags; nothing is stored yet."""
        channel = channel_for(wf, principal, intake.channel)
        track = wf.check_track(intake.track or "new")
        description = description_of(intake)
        lon, lat, answer, district = self._located(intake, principal, now, whole_city=whole_city)
        snap = self.jurisdiction.snapshot
        footprint, area = footprint_of(
            intake, lon, lat, snap, max_area_m2=self.settings.max_footprint_m2
        )
        reported_at, discovered_at = report_times(intake, now, self.made_at_max_age)
        state = wf.initial(track)
        due = deadlines_due(wf, self.calendar, channel, track, reported_at, discovered_at)
        return Report(
            channel=channel,
            track=track,
            description=description,
            lon=lon,
            lat=lat,
            answer=answer,
            district=district,
            footprint=footprint,
            area=area,
            reported_at=reported_at,
            discovered_at=discovered_at,
            state=state,
            due=due,
            flags=initial_flags(answer, due, reported_at),
        )

    def _located(
        self,
        intake: Intake,
        principal: Principal | None,
        now: datetime,
        *,
        whole_city: bool = False,
        given: dict | None = None,
    ) -> tuple[float, float, dict, dict]:
        """The report's point in CGCS2000, its jurisdiction answer and district — a point
        outside the city or the reporter's grid refused (a report and its check alike)."""
        lon, lat = point_of(intake)
        answer = lookup(
            self.jurisdiction.snapshot, lon, lat, on=now.astimezone(LOCAL).date(), given=given
        )
        district = district_of(answer, lon, lat)
        if not whole_city:
            check_reporter_grid(principal, answer)
        return lon, lat, answer, district

    @property
    def made_at_max_age(self) -> timedelta:
        """How old a record made on a device offline may be when it reaches the server."""
        return timedelta(days=self.settings.made_at_max_age_days)

    # -- reading ---------------------------------------------------------------------------

    def _visible(
        self, conn: Connection, ref: str | int, principal: Principal, lock: bool = False
    ) -> dict:
        row = case_row(conn, ref, lock)
        if row is None or not principal.can_read(row):
            raise NotFoundError(
                f"未找到案件 {ref}（或不在您的权限范围内），请核对案件编号；您只能查看本网格的案件",
                code="case.not_found",
                detail=f"no case {ref} within your scope",
                hint="check the case number; you see only the cases of your grid",
            )
        return row

    def summary(self, row: dict, now: datetime, wf: Workflow | None = None) -> dict:
        return case_summary(row, now, wf or self.workflow)

    def _detail(
        self,
        conn: Connection,
        case_id: int,
        principal: Principal | None,
        now: datetime,
        fresh: bool = False,
    ) -> dict:
        """The whole case; ``fresh``: just created, so no evidence or links to look for."""
        return case_detail(conn, case_id, principal, now, self.workflow, self.calendar, fresh)

    def get(self, principal: Principal, ref: str | int) -> dict:
        now = self.clock.now()
        with self.engine.connect() as conn:
            row = self._visible(conn, ref, principal)
            return self._detail(conn, row["id"], principal, now)

    def list(
        self,
        principal: Principal,
        *,
        bbox: tuple[float, float, float, float] | None = None,
        states: list[str] | None = None,
        category: str | None = None,
        grid: str | None = None,
        channel: str | None = None,
        track: str | None = None,
        department: str | None = None,
        reported_from: datetime | None = None,
        reported_to: datetime | None = None,
        overdue: bool | None = None,
        q: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
        with_total: bool = False,
    ) -> dict:
        """Cases in the principal's scope, newest report first, a page at a time (keyset
        paging: ``next_cursor`` fetches the next page however many cases there are)."""
        wf = self.workflow
        now = self.clock.now()
        wanted = CaseFilter(
            bbox=bbox,
            states=states,
            category=category,
            grid=grid,
            channel=channel,
            track=track,
            department=department,
            reported_from=reported_from,
            reported_to=reported_to,
            overdue=overdue,
            q=q,
        )
        listing.check_limit(limit)
        with self.engine.connect() as conn:
            where, params = listing.conditions(conn, principal, wf, now, self.grid_level, wanted)
            page_where = listing.after_cursor(where, params, cursor)
            rows = listing.page_rows(conn, page_where, params, limit)
            total = listing.count(conn, where, params) if with_total else None
        items = [self.summary(dict(r._mapping), now, wf) for r in rows[:limit]]
        return listing.page(items, rows, limit, total)

    def grid_level(self, code: str) -> str:
        for level, grid in self.jurisdiction.snapshot.grids.items():
            if code in grid.row_of:
                return level
        with self.engine.connect() as conn:
            level = conn.execute(
                text("SELECT level FROM grid WHERE code = :c LIMIT 1"), {"c": code}
            ).scalar()
        if level is None:
            raise NotFoundError(
                f"没有代码为“{code}”的网格，请核对网格代码",
                code="grid.not_found",
                detail=f"no grid has the code {code!r}",
            )
        return level

    # -- changing --------------------------------------------------------------------------

    def _check_version(self, row: dict, version: int | None) -> None:
        if version is None:
            raise InputError(
                f'请注明您修改的是案件的哪个版本：请求中应带上 "version": {row["version"]}'
                "（即您读取到的案件版本），或使用 If-Match 请求头",
                code="case.version_missing",
                detail="say which version of the case you are changing",
                hint=f'send "version": {row["version"]} (from the case you read), or an '
                "If-Match header",
            )
        if version != row["version"]:
            raise self._version_conflict(row, version)

    def _version_conflict(self, row: dict, version: int) -> ConflictError:
        """The 409 of a change based on an older version: who changed the case since, what and
        when, in the message and in the body's ``case``."""
        wf = self.workflow
        with self.engine.connect() as conn:
            change = last_change(conn, row["id"], wf)
        state = wf.states[row["state"]].label if row["state"] in wf.states else row["state"]
        by = (
            f"已由{change['actor']['name']}（{change['actor']['role_label']}）于"
            f"{beijing(change['at'])}办理“{change['label']}”，"
            if change
            else "已被他人修改，"
        )
        error = ConflictError(
            f"案件{row['number']}{by}现为第{row['version']}版（{state}），您提交时依据的是第"
            f"{version}版。请查看案件的最新情况，核对后再决定是否继续办理。",
            code="case.version_conflict",
            detail=f"case {row['number']} was changed by someone else: it is at version "
            f"{row['version']} (state {row['state']}), you sent version {version}",
            hint="read the case again, then decide whether your change still applies",
        )
        if change:
            change["at"] = change["at"].isoformat()
        error.context = {
            "case": {
                "number": row["number"],
                "version": row["version"],
                "state": row["state"],
                "state_label": state,
                "last_change": change,
            }
        }
        return error

    def _evidence_kinds(self, conn: Connection, case_id: int, hashes: list[str]) -> Counter:
        if not hashes:
            return Counter()
        rows = dict(
            conn.execute(
                text(
                    "SELECT sha256, kind FROM case_evidence WHERE case_id = :c AND sha256 = ANY(:h)"
                ),
                {"c": case_id, "h": hashes},
            ).all()
        )
        unknown = [h for h in hashes if h not in rows]
        if unknown:
            raise InputError(
                f"证据 {unknown[0][:16]}… 未上传到本案件，请先上传该证据，再办理此操作",
                code="evidence.not_uploaded",
                detail=f"evidence {unknown[0][:16]}… was not uploaded to this case",
                hint="upload it first (POST /api/v1/cases/{number}/evidence)",
            )
        return Counter(rows[h] for h in dict.fromkeys(hashes))

    def transition(
        self,
        principal: Principal,
        ref: str | int,
        action: str,
        *,
        version: int | None,
        note: str | None = None,
        data: dict | None = None,
        evidence: list[str] | None = None,
        made_at: datetime | None = None,
    ) -> dict:
        """Take a workflow action. ``made_at``: when the step was made on the device (the
        offline queue sends it later), kept in the event; its deadlines count the event's own
        time, when the step reached the case (see the README)."""
        wf = self.workflow
        now = self.clock.now()
        data = cleaned_fields(wf, data)
        data.pop("made_at", None)  # said by the argument, checked; never by the form's data
        made = made_at_checked(made_at, now, self.made_at_max_age) if made_at else None
        note = clean(note, "说明", "note", multiline=True, field="note")
        evidence = list(dict.fromkeys(evidence or []))
        with self.engine.begin() as conn:
            row = self._visible(conn, ref, principal, lock=True)
            self._check_version(row, version)
            if wf.transition(action).via is not None:
                raise _elsewhere(wf.transition(action))
            extra = {"made_at": made.isoformat()} if made is not None else None
            self.step(
                conn,
                principal,
                row,
                action,
                data=data,
                note=note,
                evidence=evidence,
                now=now,
                extra=extra,
            )
            changed = row["id"]
        with self.engine.connect() as conn:
            return self._detail(conn, changed, principal, now)

    def step(
        self,
        conn: Connection,
        principal: Principal,
        row: dict,
        action: str,
        *,
        data: dict,
        note: str | None,
        evidence: list[str],
        now: datetime,
        extra: dict | None = None,
    ) -> None:
        """Take a workflow action on the case ``row``, locked by the caller's transaction:
        the workflow's checks, the case row, the event and the stage. ``data`` is the form's
        cleaned fields; ``extra``, what the caller adds after the checks (when the step was made on
        the device, a document's kind and number)."""
        wf = self.workflow
        transition = wf.check(
            action,
            state=row["state"],
            role=principal.acts_as,
            is_holder=principal.holds(row["department_code"]),
            data=data,
            note=note,
            evidence_kinds=self._evidence_kinds(conn, row["id"], evidence),
        )
        data = {**data, **(extra or {})}
        proof.check_site_photos(conn, row, principal, wf, transition, evidence)
        before = (row["transfer"] or {}).get("from_state")
        target = wf.target(transition, row["track"], before, row["state"])
        updates: dict[str, Any] = {}
        track = transition.set_track or row["track"]
        if transition.set_track:
            updates["track"] = track
        if action == "transfer":
            updates.update(self._transfer(row, principal, data, now))
        elif action in ("accept_transfer", "return_transfer"):
            updates["transfer"] = None
            if action == "return_transfer":
                sender = row["transfer"]["from_department"] or {}
                updates.update(
                    department_code=sender.get("code"),
                    department_type=sender.get("type"),
                    department_name=sender.get("name"),
                )
            data["returned_to" if action == "return_transfer" else "accepted_by"] = (
                row["transfer"]["from_department"]
                if action == "return_transfer"
                else row["department_code"]
            )
        if action == "site_visit" and row["visited_at"] is None:
            updates["visited_at"] = now
        if action == "reopen":
            updates.update(closed_at=None, signed_off_at=None, visited_at=None)
            rule = next((r for r in wf.deadlines if r.code == "site_visit"), None)
            if rule and rule.applies(row["channel"], track):
                updates["visit_due"] = self.calendar.add_days(now, rule.days)
        is_open = wf.is_open(target)
        if not is_open and row["is_open"]:
            updates["closed_at"] = now
        if target == "signed_off":
            updates["signed_off_at"] = now
        self._update(conn, row, target, is_open, updates, now)
        history.append(
            conn,
            row,
            action=action,
            from_state=row["state"],
            to_state=target,
            actor=principal,
            at=now,
            note=note,
            data=data,
            evidence=evidence,
        )
        stages.restage(conn, wf, self.calendar, row["id"], now)

    def _transfer(self, row: dict, principal: Principal, data: dict, now: datetime) -> dict:
        code = data["to_department"]
        departments = {d["code"]: d for d in effective_departments(self.jurisdiction.snapshot)}
        target = departments.get(code)
        if target is None:
            raise InputError(
                f"没有代码为“{code}”的责任部门，请在责任部门列表中核对接收部门的代码",
                code="transfer.department_unknown",
                detail=f"no department has the code {code!r}",
                hint="see GET /api/v1/jurisdiction/departments",
            )
        if code == row["department_code"]:
            raise InputError(
                f"案件已由{target['name']}承办，不能移交给同一部门",
                code="transfer.same_department",
                detail=f"the case is held by {target['name']} already",
            )
        data["to_department_name"] = target["name"]
        data["from_department"] = row["department_code"]
        return {
            "department_code": code,
            "department_type": target["type"],
            "department_name": target["name"],
            "transfer": {
                "from_department": {
                    "code": row["department_code"],
                    "type": row["department_type"],
                    "name": row["department_name"],
                },
                "from_state": row["state"],
                "to_department": code,
                "reason": data["reason"],
                "at": now.isoformat(),
                "by": principal.username,
            },
        }

    def _update(
        self, conn: Connection, row: dict, state: str, is_open: bool, updates: dict, now
    ) -> None:
        sets = [
            "state = :state",
            "is_open = :is_open",
            "version = version + 1",
            "updated_at = :now",
        ]
        params = {"state": state, "is_open": is_open, "now": now, "id": row["id"]}
        for column, value in updates.items():
            if column == "transfer":
                sets.append("transfer = CAST(:transfer AS jsonb)")
                params["transfer"] = None if value is None else json_text(value)
            else:
                sets.append(f"{column} = :{column}")
                params[column] = value
        conn.execute(text(f"UPDATE violation_case SET {', '.join(sets)} WHERE id = :id"), params)
        row["version"] += 1

    def add_evidence(
        self,
        principal: Principal,
        ref: str | int,
        stream: BinaryIO,
        filename: str,
        kind: str,
        note: str | None = None,
        device: Device | None = None,
    ) -> dict:
        """Store a photo or document on a case; flag a photo taken too far away (where its
        EXIF says, else where the device said). Appends an ``add_evidence`` event; does not
        change the case's version. ``device``: when and where the phone says it was taken."""
        note = clean(note, "说明", "note", multiline=True, field="note")
        max_bytes = int(self.settings.max_evidence_mb * 1024 * 1024)
        now = self.clock.now()
        device = device.checked(now) if device else Device()
        with self.engine.connect() as conn:
            row = self._visible(conn, ref, principal)
        inspected, content, check, path = self._stored_file(
            stream, filename, kind, max_bytes, device, row["lon"], row["lat"]
        )
        with self.engine.begin() as conn:
            row = self._visible(conn, ref, principal, lock=True)
            inserted = self._insert_evidence(
                conn, row, inspected, content, path, check, device, principal, now, note
            )
        return {
            "case": row["number"],
            "sha256": inspected.sha256,
            "kind": inspected.kind,
            "media_type": inspected.media_type,
            "filename": inspected.filename,
            "size": inspected.size,
            "gps": {"lon": inspected.gps[0], "lat": inspected.gps[1]} if inspected.gps else None,
            "device": device.as_json(),
            "distance_m": check["distance_m"],
            "flagged": check["flagged"],
            "flag_reason": check["reason"],
            "already_uploaded": inserted is None,
        }

    def _stored_file(
        self, stream: BinaryIO, filename: str, kind: str, max_bytes: int, device: Device, lon, lat
    ):
        """An upload read within ``max_bytes``, judged by its bytes, its photo's place checked
        against the case's (lon, lat), and put in the evidence store: (inspected, content, GPS
        check, path)."""
        content = read_limited(stream, max_bytes, filename=filename)
        inspected = inspect(content, filename, kind)
        check = (
            gps_check(device.located(inspected), lon, lat, self.settings.gps_limit_m)
            if inspected.kind == "photo"
            else {"distance_m": None, "flagged": False, "reason": None}
        )
        return inspected, content, check, self.store.put(inspected, content)

    def _insert_evidence(
        self,
        conn: Connection,
        row: dict,
        inspected,
        content: bytes,
        path,
        check: dict,
        device: Device,
        actor: Principal,
        now: datetime,
        note: str | None,
    ) -> int | None:
        """A file stored by the evidence store, recorded on the case (locked ``row``) with its
        ``add_evidence`` event; None when the case holds these bytes already."""
        inserted = conn.execute(
            text(
                "INSERT INTO case_evidence (case_id, sha256, kind, media_type, filename, size, "
                "width, height, taken_at, gps_lon, gps_lat, distance_m, flagged, flag_reason, "
                "storage, path, content, uploaded_by, uploaded_at, device_taken_at, "
                "device_lon, device_lat) VALUES (:case_id, :sha, "
                ":kind, :media, :filename, :size, :w, :h, :taken, :glon, :glat, :dist, :flag, "
                ":reason, :storage, :path, :content, :by, :now, :dtaken, :dlon, :dlat) "
                "ON CONFLICT (case_id, sha256) DO NOTHING RETURNING id"
            ),
            {
                "dtaken": device.taken_at,
                "dlon": device.lon,
                "dlat": device.lat,
                "case_id": row["id"],
                "sha": inspected.sha256,
                "kind": inspected.kind,
                "media": inspected.media_type,
                "filename": inspected.filename,
                "size": inspected.size,
                "w": inspected.width,
                "h": inspected.height,
                "taken": inspected.taken_at,
                "glon": inspected.gps[0] if inspected.gps else None,
                "glat": inspected.gps[1] if inspected.gps else None,
                "dist": check["distance_m"],
                "flag": check["flagged"],
                "reason": check["reason"],
                "storage": self.settings.evidence_storage,
                "path": path,
                "content": content if self.settings.evidence_storage == "database" else None,
                "by": actor.id,
                "now": now,
            },
        ).scalar()
        if inserted is not None:
            history.record(
                conn,
                row,
                action="add_evidence",
                actor=actor,
                at=now,
                note=note,
                data={
                    "kind": inspected.kind,
                    "filename": inspected.filename,
                    "gps_distance_m": check["distance_m"],
                    "gps_flagged": check["flagged"],
                },
                evidence=[inspected.sha256],
            )
        return inserted

    def evidence_meta(self, principal: Principal, ref: str | int, sha: str) -> dict:
        """What a case's file is (sha256, kind, media type, file name), or 404 — cheap: the
        bytes are not read."""
        with self.engine.connect() as conn:
            row = self._visible(conn, ref, principal)
            item = conn.execute(
                text(
                    "SELECT sha256, kind, media_type, filename, storage FROM case_evidence "
                    "WHERE case_id = :c AND sha256 = :s"
                ),
                {"c": row["id"], "s": sha},
            ).first()
        if item is None:
            raise NotFoundError(f"case {row['number']} has no evidence {sha}")
        return {**item._mapping, "case_id": row["id"]}

    def evidence_thumbnail(self, meta: dict, width: int) -> bytes:
        """A JPEG of the image ``meta`` names (:meth:`evidence_meta`), at most ``width``
        pixels wide; kept in memory, as the same thumbnails are asked for again and again."""
        refuse_whole(meta["media_type"], meta["sha256"])
        key = (meta["sha256"], width)
        with self._thumbs_lock:
            found = self._thumbs.get(key)
        if found is None:
            if meta["storage"] == "database":
                with self.engine.connect() as conn:
                    content = conn.execute(
                        text(
                            "SELECT content FROM case_evidence WHERE case_id = :c AND sha256 = :s"
                        ),
                        {"c": meta["case_id"], "s": meta["sha256"]},
                    ).scalar_one()
            else:
                content = self.store.open_bytes(meta["sha256"])
            found = thumbnail(bytes(content), meta["media_type"], width)
            with self._thumbs_lock:
                self._thumbs[key] = found
        return found

    def evidence_bytes(self, principal: Principal, ref: str | int, sha: str) -> tuple[bytes, dict]:
        with self.engine.connect() as conn:
            row = self._visible(conn, ref, principal)
            item = conn.execute(
                text(
                    "SELECT sha256, media_type, filename, storage, content FROM case_evidence "
                    "WHERE case_id = :c AND sha256 = :s"
                ),
                {"c": row["id"], "s": sha},
            ).first()
        if item is None:
            raise NotFoundError(
                f"案件 {row['number']} 中没有证据 {sha}，请核对证据的 sha256",
                code="evidence.not_found",
                detail=f"case {row['number']} has no evidence {sha}",
            )
        refuse_whole(item.media_type, sha, row["number"])
        content = item.content if item.storage == "database" else self.store.open_bytes(sha)
        return bytes(content), {"media_type": item.media_type, "filename": item.filename}

    # -- bulk import of hotline exports ---------------------------------------------------

    def may_import_hotline(self, principal: Principal) -> None:
        """Administrators, supervisors and the departments import 12345 exports."""
        if principal.role not in ("admin", "supervisor", *self.workflow.department_roles):
            roles = self.workflow.roles
            raise PermissionDenied(
                f"角色 {principal.role}（{roles.get(principal.role, principal.role)}）"
                "无权导入 12345 热线工单，请由系统管理员、督导人员或责任部门导入",
                code="hotline.role_not_allowed",
                detail=f"the role {principal.role} may not import hotline work orders",
                hint="an administrator, a supervisor or a department imports them",
            )

    def import_hotline(
        self,
        principal: Principal,
        path: Path,
        *,
        default_crs: str = "gcj02",
        progress: Callable[[int, int], None] | None = None,
    ) -> dict:
        """Create a case per work order of a 12345 export; rows imported before are reported
        as existing, bad rows as errors with the reason — one row never stops the others.
        ``progress(done, total)`` is told after each work order."""
        self.may_import_hotline(principal)
        parsed = hotline.parse_export(path, default_crs=default_crs)
        outcomes: dict[int, dict] = {}
        for done, row in enumerate(parsed.rows, start=1):
            if progress is not None and done > 1:
                progress(done - 1, len(parsed.rows))
            intake = Intake(
                lon=row.lon,
                lat=row.lat,
                crs=row.crs,
                description=row.description,
                channel="hotline",
                track=row.track,
                address=row.address,
                discovered_at=row.discovered_at,
                reported_at=row.reported_at,
                reporter_name=row.reporter_name,
                reporter_phone=row.reporter_phone,
                external_id=row.external_id,
            )
            try:
                case = self.create(intake, principal, whole_city=True)
                outcomes[row.row] = {"status": "created", "case_number": case["number"]}
            except ConflictError as exc:
                known = self._by_external("hotline", row.external_id)
                outcomes[row.row] = (
                    {"status": "exists", "case_number": known, "message": "此前已导入"}
                    if known
                    else {"status": "error", "case_number": None, "message": _refused(row.row, exc)}
                )
            except WeijianError as exc:
                outcomes[row.row] = {
                    "status": "error",
                    "case_number": None,
                    "message": _refused(row.row, exc),
                }
        if progress is not None:
            progress(len(parsed.rows), len(parsed.rows))
        rows = hotline.report_rows(parsed, outcomes)
        counts = Counter(r["status"] for r in rows)
        return {
            "file": path.name,
            "rows": parsed.total,
            "created": counts["created"],
            "exists": counts["exists"],
            "errors": counts["error"],
            "columns": parsed.columns,
            "report": rows,
        }

    def _by_external(self, channel: str, external_id: str) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(
                text("SELECT number FROM violation_case WHERE channel = :c AND external_id = :e"),
                {"c": channel, "e": external_id},
            ).scalar()


def _elsewhere(transition) -> InputError:
    where = {"documents": "案件页的“执法文书”", "meeting": "联席会议页面"}.get(
        transition.via, transition.via
    )
    return InputError(
        f"“{transition.label}”请在{where}中办理",
        code="workflow.taken_elsewhere",
        detail=f"{transition.action} is taken through the {transition.via} part of the product",
        hint=f"use the {transition.via} endpoints",
    )


def _refused(row: int, exc: WeijianError) -> str:
    """Why a work order was not registered, for the hotline clerk: the refusal's Chinese
    message, or its English account in brackets where the refusal has no Chinese."""
    return f"第{row}行：{exc.zh or '无法立案（' + exc.en + '）'}"


def _created(case: dict, duplicates: list[dict], receipt: str | None) -> dict:
    """The new case as :meth:`CaseService.create` answers it: with the possible duplicates
    and, for an anonymous report, the receipt."""
    case["possible_duplicates"] = [
        {k: v for k, v in d.items() if k not in ("signed_off_at", "is_open")} for d in duplicates
    ]
    if receipt:
        case["receipt"] = receipt
    return case
