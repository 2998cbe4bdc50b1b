"""Links and merges of cases: two cases recorded as duplicates or related, a duplicate closed by
merging it into the case that goes on. A mixin of :class:`~weijian.cases.service.CaseService`
(the one façade): it uses the service's engine, clock, workflow, scope and version checks."""

from __future__ import annotations

from sqlalchemy import text

from weijian.cases import history
from weijian.cases.rows import case_row
from weijian.cases.scope import CITIZEN, Principal
from weijian.errors import ConflictError, InputError, PermissionDenied
from weijian.text import clean

#: who links a citizen's report to the open case it repeats: the report itself
PUBLIC = Principal(id=None, username="citizen", display_name="群众", role=CITIZEN)


def record_link(conn, a: dict, b: dict, kind: str, note, actor: Principal, now, **data) -> bool:
    """The link of cases ``a`` and ``b`` (rows, locked) stored once, and both histories told;
    False when they were linked already (nothing written)."""
    first, second = sorted((a, b), key=lambda r: r["id"])
    made = conn.execute(
        text(
            "INSERT INTO case_link (case_id, other_id, kind, note, created_by, created_at) "
            "VALUES (:a, :b, :k, :n, :u, :t) ON CONFLICT DO NOTHING RETURNING id"
        ),
        {"a": first["id"], "b": second["id"], "k": kind, "n": note, "u": actor.id, "t": now},
    ).scalar()
    if made is None:
        return False
    for this, that in ((first, second), (second, first)):
        history.record(
            conn,
            this,
            action="link",
            actor=actor,
            at=now,
            note=note,
            data={"other": that["number"], "kind": kind, **data},
        )
    return True


def link_to_open(conn, case_id: int, other: dict, now) -> None:
    """A citizen's new report linked, in its own transaction, as a duplicate of ``other`` (an
    open case within the duplicate radius, with its ``id``, ``number`` and ``distance_m``);
    both histories say so."""
    note = f"群众举报位置与在办案件相距 {other['distance_m']:g} 米，系统自动关联为重复举报"
    new, near = case_row(conn, case_id, True), case_row(conn, other["id"], True)
    record_link(conn, new, near, "duplicate", note, PUBLIC, now, automatic=True)


class LinksMixin:
    def link(
        self,
        principal: Principal,
        ref: str | int,
        other_ref: str | int,
        kind: str = "duplicate",
        note: str | None = None,
    ) -> dict:
        """Record that two cases are duplicates or related; both histories say so."""
        note = clean(note, "说明", "note", multiline=True, field="note")
        if kind not in ("duplicate", "related"):
            raise InputError(
                f"关联类型“{kind}”无效，应为 duplicate（重复）或 related（相关）",
                code="link.kind_invalid",
                detail="kind must be duplicate or related",
            )
        now = self.clock.now()
        with self.engine.begin() as conn:
            first, second = sorted(
                [self._visible(conn, ref, principal), self._visible(conn, other_ref, principal)],
                key=lambda r: r["id"],
            )
            if first["id"] == second["id"]:
                raise InputError(
                    f"案件 {first['number']} 不能与自身关联，请选择另一个案件",
                    code="link.same_case",
                    detail="a case cannot be linked to itself",
                )
            for r in (first, second):
                self._visible(conn, r["id"], principal, lock=True)
            if not record_link(conn, first, second, kind, note, principal, now):
                raise ConflictError(
                    f"案件 {first['number']} 与 {second['number']} 已经关联，无需重复关联",
                    code="link.exists",
                    detail=f"{first['number']} and {second['number']} are linked already",
                )
            this = first if str(ref) in (first["number"], str(first["id"])) else second
            changed = this["id"]
        with self.engine.connect() as conn:
            return self._detail(conn, changed, principal, now)

    def merge(
        self,
        principal: Principal,
        ref: str | int,
        into: str | int,
        *,
        version: int | None,
        note: str | None = None,
    ) -> dict:
        """Close a duplicate by merging it into the case that goes on; its history, evidence
        and number are kept, and both histories record the merge."""
        note = clean(note, "说明", "note", multiline=True, field="note")
        wf = self.workflow
        if "merged" not in wf.states:
            raise ConflictError(
                "当前施行的流程中没有“已合并”（merged）状态，无法合并案件，请联系系统管理员",
                code="merge.no_merged_state",
                detail="the workflow in force has no 'merged' state",
            )
        if principal.role not in ("admin", "supervisor", *wf.department_roles):
            raise PermissionDenied(
                f"角色 {principal.role}（{wf.roles.get(principal.role, principal.role)}）"
                "无权合并案件，请由承办部门或督导人员合并",
                code="merge.role_not_allowed",
                detail=f"the role {principal.role} may not merge cases",
            )
        now = self.clock.now()
        with self.engine.begin() as conn:
            source = self._visible(conn, ref, principal)
            target = self._visible(conn, into, principal)
            if source["id"] == target["id"]:
                raise InputError(
                    f"案件 {source['number']} 不能合并到自身，请选择继续办理的另一个案件",
                    code="merge.same_case",
                    detail="a case cannot be merged into itself",
                )
            locked = {
                r["id"]: self._visible(conn, r["id"], principal, lock=True)
                for r in sorted((source, target), key=lambda r: r["id"])
            }
            source, target = locked[source["id"]], locked[target["id"]]
            self._check_version(source, version)
            if not source["is_open"] or not target["is_open"]:
                closed = source if not source["is_open"] else target
                raise ConflictError(
                    f"只有在办的案件才能合并，案件 {closed['number']} 已办结，请先重新立案",
                    code="merge.case_closed",
                    detail="only open cases can be merged",
                    hint="reopen it first",
                )
            if principal.role in wf.department_roles and not principal.holds(
                source["department_code"]
            ):
                raise PermissionDenied(
                    f"只有承办案件 {source['number']} 的部门才能合并该案件",
                    code="merge.holder_only",
                    detail="only the department holding the case may merge it",
                )
            self._update(
                conn, source, "merged", False, {"merged_into": target["id"], "closed_at": now}, now
            )
            conn.execute(
                text(
                    "INSERT INTO case_link (case_id, other_id, kind, note, created_by, created_at) "
                    "VALUES (:a, :b, 'merged', :n, :u, :t) ON CONFLICT (case_id, other_id) "
                    "DO NOTHING"
                ),
                {"a": source["id"], "b": target["id"], "n": note, "u": principal.id, "t": now},
            )
            history.append(
                conn,
                source,
                action="merge",
                from_state=source["state"],
                to_state="merged",
                actor=principal,
                at=now,
                note=note,
                data={"into": target["number"]},
            )
            history.record(
                conn,
                target,
                action="merged_from",
                actor=principal,
                at=now,
                note=note,
                data={"from": source["number"]},
            )
            changed = source["id"]
        with self.engine.connect() as conn:
            return self._detail(conn, changed, principal, now)
