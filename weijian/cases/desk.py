"""The workbench's part of the case service: dispatch (派遣), the inbox, urging and
answering, following a case, the officers a leader dispatches to. A mixin of
:class:`~weijian.cases.service.CaseService` (the one façade): it uses the service's engine,
clock, workflow and scope checks."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import text

from weijian.cases import history, inbox, stages, urging, users
from weijian.cases.scope import Principal
from weijian.errors import InputError, PermissionDenied


class WorkbenchMixin:
    def assign(
        self, principal: Principal, ref: str | int, username: str | None, *, version: int | None
    ) -> dict:
        """派遣: give the case to an officer of the holding department, or take it back
        (``username`` None) — a department leader's, the department's or a supervisor's."""
        now = self.clock.now()
        with self.engine.begin() as conn:
            row = self._visible(conn, ref, principal, lock=True)
            self._check_version(row, version)
            wf = self.workflow
            allowed = principal.role in ("admin", "supervisor") or (
                principal.role in wf.department_roles and principal.holds(row["department_code"])
            )
            if not allowed:
                raise PermissionDenied(
                    f"只有承办部门或督导人员才能指派案件 {row['number']} 的承办人",
                    code="assign.not_allowed",
                    detail="only the holding department or a supervisor assigns cases",
                )
            user = None
            if username is not None:
                user = conn.execute(
                    text(
                        "SELECT id, display_name, department_code FROM app_user "
                        "WHERE username = :u AND active"
                    ),
                    {"u": username},
                ).first()
                if user is None:
                    raise users.no_such_user(username)
                if row["department_code"] and user.department_code != row["department_code"]:
                    raise InputError(
                        f"{username} 不属于{row['department_name']}，请指派承办部门的执法人员，"
                        "或先将案件移交",
                        code="assign.not_in_department",
                        detail=f"{username} does not belong to {row['department_name']}",
                        hint="assign an officer of the holding department, or transfer the case",
                    )
            self._update(
                conn,
                row,
                row["state"],
                row["is_open"],
                {"assignee_user_id": user.id if user else None},
                now,
            )
            history.record(
                conn,
                row,
                action="assign",
                actor=principal,
                at=now,
                data={"assignee": username, "assignee_name": user.display_name if user else None},
            )
            changed = row["id"]
        with self.engine.connect() as conn:
            return self._detail(conn, changed, principal, now)

    def inbox(self, principal: Principal, **query) -> dict:
        """A page of the user's 待办 / 已办 / 督办 / 关注 (:mod:`weijian.cases.inbox`)."""
        with self.engine.connect() as conn:
            return inbox.inbox(conn, principal, self.workflow, self.clock.now(), **query)

    def urge(self, principal: Principal, ref: str | int, note: str, reply_due: datetime) -> dict:
        """督办 one case: its holding department answers by ``reply_due``."""
        now = self.clock.now()
        with self.engine.begin() as conn:
            row = self._visible(conn, ref, principal, lock=True)
            return urging.urge_case(conn, principal, row, note, reply_due, now)

    def urge_grid(self, principal: Principal, grid: str, note: str, reply_due: datetime) -> dict:
        """督办 every overdue case of a grid (each gets its urge), in one transaction."""
        if principal.role not in ("admin", "supervisor", "department_leader"):
            raise PermissionDenied(
                "只有督导人员或部门负责人可以督办",
                code="urge.not_allowed",
                detail=f"the role {principal.role} may not urge",
            )
        level = self.grid_level(grid)
        now = self.clock.now()
        batch = uuid.uuid4()
        with self.engine.begin() as conn:
            rows = urging.overdue_cases_of_grid(conn, principal, grid, level, now)
            if principal.role == "department_leader":
                rows = [r for r in rows if principal.holds(r["department_code"])]
            urged = [
                urging.urge_case(conn, principal, r, note, reply_due, now, batch) for r in rows
            ]
        return {
            "grid": grid,
            "batch": str(batch),
            "urged": len(urged),
            "cases": [u["case"] for u in urged],
        }

    def answer_urge(self, principal: Principal, urge_id: int, note: str) -> dict:
        now = self.clock.now()
        with self.engine.begin() as conn:
            return urging.answer(
                conn,
                principal,
                urge_id,
                note,
                now,
                lambda c, case_id: self._visible(c, case_id, principal, lock=True),
            )

    def urges(self, principal: Principal, ref: str | int) -> list[dict]:
        with self.engine.connect() as conn:
            row = self._visible(conn, ref, principal)
            return urging.urges_of(conn, row["id"])

    def follow(self, principal: Principal, ref: str | int, on: bool) -> dict:
        """关注 a case (or stop): it is listed in the user's 关注 tab."""
        if principal.id is None:
            raise PermissionDenied(
                "只有登录的工作人员可以关注案件",
                code="follow.not_allowed",
                detail="only a logged-in user follows cases",
            )
        with self.engine.begin() as conn:
            row = self._visible(conn, ref, principal)
            if on:
                conn.execute(
                    text(
                        "INSERT INTO case_follow (user_id, case_id, since) VALUES (:u, :c, :t) "
                        "ON CONFLICT DO NOTHING"
                    ),
                    {"u": principal.id, "c": row["id"], "t": self.clock.now()},
                )
            else:
                conn.execute(
                    text("DELETE FROM case_follow WHERE user_id = :u AND case_id = :c"),
                    {"u": principal.id, "c": row["id"]},
                )
        return {"case": row["number"], "followed": on}

    def officers(self, principal: Principal, department: str | None = None) -> list[dict]:
        """The active users of a department, each with his open cases: whom a case is
        dispatched to. A department's user sees his own department; a supervisor or an
        administrator names the department (the case's) within his scope."""
        if principal.department_code and department in (None, principal.department_code):
            department = principal.department_code
        elif not (principal.role in ("admin", "supervisor") and department):
            raise PermissionDenied(
                "只有部门工作人员、督导人员和管理员可以查看部门人员；督导人员须指明部门",
                code="officers.not_allowed",
                detail="a department's users list its officers; supervisors name the department",
                hint="supervisors and administrators add ?department=CODE (the case's department)",
            )
        with self.engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT u.id, u.username, u.display_name, u.role, u.district_code, "
                    "(SELECT count(*) FROM violation_case c WHERE c.is_open "
                    "AND c.assignee_user_id = u.id) AS open_cases FROM app_user u "
                    "WHERE u.active AND u.department_code = :d ORDER BY u.role, u.display_name"
                ),
                {"d": department},
            ).mappings()
            rows = [dict(r) for r in rows]
        districts = {r.pop("district_code") for r in rows}
        # a supervisor bound to a district lists the departments of his district only
        if not principal.city_wide and districts - {principal.district_code}:
            raise PermissionDenied(
                f"部门 {department} 不在您的辖区内",
                code="officers.out_of_scope",
                detail=f"the department {department} is outside your scope",
            )
        return rows

    def catch_up_stages(self) -> int:
        """Give a stage to the open cases that have none (a database upgraded from before
        stages were kept): until then the inbox and the map could not call them overdue.
        The server runs this on start; ``weijian cases restage`` recomputes every case."""
        return stages.restage_all(
            self.engine, self.workflow, self.calendar, self.clock.now(), unstaged_only=True
        )
