"""Before a report is sent: who will be responsible for the spot, and the open cases near enough
to be the same building or the signed-off ones it would be a rebound of — asked by the same
steps :meth:`~weijian.cases.service.CaseService.create` takes (the point, the jurisdiction
answer, the reporter's grid, :func:`~weijian.cases.intake.duplicates_and_rebounds`), so the
field app never copies a rule. A mixin of the case service."""

from __future__ import annotations

from sqlalchemy import Connection

from weijian.cases.intake import Intake, duplicates_and_rebounds
from weijian.cases.scope import CITIZEN, PUBLIC, Principal
from weijian.gis.points import point_to_cgcs2000
from weijian.jurisdiction.engine import grid_codes, public_answer

GRID_LEVELS = ("district", "town", "community", "compound")


class PrecheckMixin:
    def precheck(
        self, principal: Principal | None, lon: float | None, lat: float | None, crs: str
    ) -> dict:
        """What a report at (lon, lat) would meet: the jurisdiction answer (the people
        responsible only for a reader whose scope holds the spot, as ``GET
        /api/v1/jurisdiction`` answers), a Chinese sentence of who will be responsible, open
        duplicates and rebounds nearest first — with their numbers only for staff who may read
        those cases. A spot a
        report would be refused for (outside the city, outside the reporter's grid) is refused
        here with the same error."""
        now = self.clock.now()
        intake = Intake(lon=lon, lat=lat, crs=crs, description="")
        given = None
        if lon is not None and lat is not None:
            _, _, source = point_to_cgcs2000(float(lon), float(lat), crs)
            given = {"x": lon, "y": lat, "crs": source.label}
        x, y, answer, _ = self._located(intake, principal, now, given=given)
        with self.engine.connect() as conn:
            duplicates, rebounds = _nearby(self, conn, x, y, now)
        staff = principal is not None and principal.role not in (CITIZEN, PUBLIC)

        def number(case: dict) -> str | None:
            """A case's number, for staff who may read that case."""
            return case["number"] if staff and principal.can_read(case) else None

        shown = (
            answer
            if principal is not None and principal.sees_people_of(grid_codes(answer))
            else public_answer(answer)
        )
        labels = {code: state.label for code, state in self.workflow.states.items()}
        return {
            "jurisdiction": shown,
            "responsible": responsible_text(answer),
            "duplicates": [
                {
                    "number": number(d),
                    "distance_m": d["distance_m"],
                    "state": d["state"],
                    "state_label": labels.get(d["state"], d["state"]),
                }
                for d in duplicates
            ],
            "rebounds": [
                {
                    "number": number(r),
                    "distance_m": r["distance_m"],
                    "closed_at": r["signed_off_at"],
                }
                for r in rebounds
            ],
            "radius_m": {
                "duplicates": self.settings.duplicate_radius_m,
                "rebounds": self.settings.rebound_radius_m,
            },
        }


def _nearby(service, conn: Connection, lon: float, lat: float, now) -> tuple[list, list]:
    zone = service.jurisdiction.snapshot.gk_zone
    return duplicates_and_rebounds(conn, zone, lon, lat, now, service.settings)


def responsible_text(answer: dict) -> str:
    """Who will be responsible, as a sentence: the department and the grids of the spot."""
    grids = answer.get("grid") or {}
    place = " ".join(
        (grids.get(level) or {}).get("name") or "" for level in GRID_LEVELS if grids.get(level)
    ).strip()
    where = f"（{place}）" if place else ""
    department = answer.get("department")
    if not department:
        reason = answer.get("reason_text") or "暂无适用的责任规则"
        return f"暂无明确的责任部门{where}：{reason}；上报后由督导人员指定承办部门"
    sentence = f"由{department['name']}负责{where}"
    if answer.get("ambiguous"):
        sentence += "；该位置靠近管辖边界，承办部门可能需要核实"
    return sentence
