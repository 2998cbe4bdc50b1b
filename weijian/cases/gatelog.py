"""The gate log (门岗登记, the guideline's 二(2)): a property company records the building and
renovation materials that come to its compound's gate — for which unit, whether a permit was
shown, stopped (劝阻) or let in (放行). Entries are append-only, with who recorded them and when.

Repeated entries for one unit without a permit raise a **warning** to the compound's grid
worker, by a rule that is data (``gate_rule.json``, or the city's own through the setting
``gate_rule_file``); a warning becomes a report with one tap, through :meth:`CaseService.create`
like every other report, and stays linked to its case (a second tap answers the same case).

Who reads: the property company its compound(s), the grid worker, community and town of the
compound theirs, city-wide users (the administrator's audit) all. Who writes: the property
company, for a compound in its grid. Plain Python over SQL: no HTTP here.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path

from sqlalchemy import Connection, text

from weijian.cases.clock import LOCAL, beijing, made_at_checked
from weijian.cases.idempotency import Claim, made_by, record_made
from weijian.cases.intake import Intake
from weijian.cases.scope import Principal
from weijian.cases.service import CaseService
from weijian.cases.users import ancestors, grid_of
from weijian.errors import ConflictError, InputError, NotFoundError, PermissionDenied
from weijian.gis.points import point_to_cgcs2000
from weijian.layers.model import GRID_LEVELS
from weijian.text import clean

DEFAULT_RULE = Path(__file__).with_name("gate_rule.json")
#: who records at the gate, who reads the log, who may turn a warning into a report
WRITERS = ("property_company",)
READERS = ("property_company", "grid_worker", "community", "town", "supervisor", "admin")
REPORTERS = ("property_company", "grid_worker")
DECISIONS = {"stopped": "劝阻", "let_in": "放行"}
MAX_MATERIALS = 12
MAX_ROWS = 500
#: what an Idempotency-Key names when its request recorded an entry
ENTRY = "gate_log_entry"


@dataclass(frozen=True)
class Rule:
    materials: tuple[str, ...]
    label: str
    window_days: float
    min_entries: int
    permit_shown: bool
    decisions: tuple[str, ...]

    def as_json(self) -> dict:
        return {
            "materials": list(self.materials),
            "warning": {
                "label": self.label,
                "window_days": self.window_days,
                "min_entries": self.min_entries,
                "permit_shown": self.permit_shown,
                "decisions": list(self.decisions),
            },
        }


@lru_cache(maxsize=4)
def load_rule(path: Path | None = None) -> Rule:
    """The materials offered and the warning rule, from ``path`` (default :data:`DEFAULT_RULE`)."""
    source = path or DEFAULT_RULE
    try:
        doc = json.loads(Path(source).read_text(encoding="utf-8"))
        warning = doc["warning"]
        rule = Rule(
            materials=tuple(str(m) for m in doc.get("materials", [])),
            label=str(warning["label"]),
            window_days=float(warning["window_days"]),
            min_entries=int(warning["min_entries"]),
            permit_shown=bool(warning.get("permit_shown", False)),
            decisions=tuple(warning.get("decisions", list(DECISIONS))),
        )
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise InputError(
            f"门岗登记规则文件 {source} 无法读取或格式有误，请检查 WEIJIAN_GATE_RULE_FILE",
            code="gate_log.rule_invalid",
            detail=f"the gate log rule {source} cannot be read: {e}",
            hint='give {"materials": [...], "warning": {"label", "window_days", "min_entries"}}',
        ) from None
    if rule.window_days <= 0 or rule.min_entries < 1 or set(rule.decisions) - set(DECISIONS):
        raise InputError(
            f"门岗登记规则文件 {source} 的预警条件无效：天数须大于 0，次数至少为 1",
            code="gate_log.rule_invalid",
            detail="window_days must be > 0, min_entries >= 1, decisions stopped|let_in",
        )
    return rule


@dataclass
class GateEntry:
    """What the gate saw: ``unit`` 楼栋/单元/门牌, ``materials`` from the rule's list or free
    text, ``decision`` stopped | let_in; ``lon``/``lat`` (in ``crs``) the unit's point, if given."""

    unit: str
    materials: list[str]
    permit_shown: bool
    decision: str
    compound: str | None = None
    made_at: datetime | None = None
    permit_no: str | None = None
    material_note: str | None = None
    note: str | None = None
    lon: float | None = None
    lat: float | None = None
    crs: str = "wgs84"
    extra: dict = field(default_factory=dict)


def unit_key(unit: str) -> str:
    """The unit as compared: blanks dropped, full-width digits and letters folded, lower case
    (“3 栋 2 单元” and “3栋2单元” are one unit)."""
    folded = "".join(
        chr(ord(ch) - 0xFEE0) if "\uff01" <= ch <= "\uff5e" else ch for ch in unit or ""
    )
    return re.sub(r"[\s\-—_·.,，、/]+", "", folded).lower()


def _denied(principal: Principal, doing: str) -> PermissionDenied:
    return PermissionDenied(
        f"您的角色（{principal.role}）无权{doing}",
        code="gate_log.denied",
        detail=f"a {principal.role} may not {doing}",
    )


class GateLog:
    """The gate log over the case service's database, snapshot and clock."""

    def __init__(self, cases: CaseService):
        self.cases = cases

    @property
    def rule(self) -> Rule:
        return load_rule(self.cases.settings.gate_rule_file)

    # -- places and scope ----------------------------------------------------------------

    def _compound(self, principal: Principal, code: str | None) -> dict:
        """The compound (its chain of grid codes and a point inside it) a property company
        records for: the one named, which must lie in its grid, or its own compound grid."""
        snap = self.cases.jurisdiction.snapshot
        code = code or (principal.grid_code if principal.grid_level == "compound" else None)
        if not code:
            raise InputError(
                "请选择小区（compound），您绑定的网格包含多个小区",
                code="gate_log.compound_missing",
                detail="say the compound: your grid holds more than one",
            )
        try:
            level, name = grid_of(snap, code)
        except NotFoundError:
            level, name = None, None
        if level != "compound":
            raise NotFoundError(
                f"没有代码为“{code}”的小区网格，请核对小区代码",
                code="gate_log.compound_not_found",
                detail=f"no active compound grid has the code {code!r}",
            )
        chain = ancestors(snap, code)
        if not principal.city_wide and principal.grid_code not in chain:
            raise _denied(principal, f"登记小区“{name}”的门岗记录（不在您的网格内）")
        codes = {lvl: None for lvl in GRID_LEVELS}
        for c in chain:
            codes[grid_of(snap, c)[0]] = c
        with self.cases.engine.connect() as conn:
            point = conn.execute(
                text(
                    "SELECT ST_X(p) AS lon, ST_Y(p) AS lat FROM (SELECT ST_PointOnSurface(geom) "
                    "AS p FROM active_grid WHERE level = 'compound' AND code = :c LIMIT 1) s"
                ),
                {"c": code},
            ).one()
        return {"code": code, "name": name, "codes": codes, "lon": point.lon, "lat": point.lat}

    @staticmethod
    def _scope(principal: Principal, alias: str) -> tuple[str, dict]:
        if principal.role not in READERS:
            raise _denied(principal, "查看门岗登记")
        if principal.city_wide:
            return "true", {}
        assert principal.grid_level in GRID_LEVELS
        return f"{alias}.{principal.grid_level}_code = :scope_grid", {
            "scope_grid": principal.grid_code
        }

    # -- recording -----------------------------------------------------------------------

    def _cleaned(self, entry: GateEntry) -> dict:
        unit = clean(entry.unit, "单元", "address", field="unit")
        if not unit or not unit_key(unit):
            raise InputError(
                "请填写楼栋/单元/门牌，如“3栋2单元502”",
                code="gate_log.unit_missing",
                detail="say the unit (building, entrance, door)",
            )
        materials = [clean(m, "材料", "name", field="materials") for m in entry.materials or []]
        materials = list(dict.fromkeys(m for m in materials if m))
        note_materials = clean(entry.material_note, "其他材料", "field", field="material_note")
        if not materials and not note_materials:
            raise InputError(
                "请选择或填写运入的材料，如“" + "、".join(self.rule.materials[:3]) + "”",
                code="gate_log.materials_missing",
                detail="say what materials came in",
            )
        if len(materials) > MAX_MATERIALS:
            raise InputError(
                f"材料最多选 {MAX_MATERIALS} 种",
                code="gate_log.materials_too_many",
                detail=f"at most {MAX_MATERIALS} materials",
            )
        if entry.decision not in DECISIONS:
            raise InputError(
                "处理结果应为 stopped（劝阻）或 let_in（放行）",
                code="gate_log.decision_invalid",
                detail=f"decision {entry.decision!r} is not stopped or let_in",
            )
        permit_no = clean(entry.permit_no, "审批手续编号", "code", field="permit_no")
        lon = lat = None
        if (entry.lon is None) != (entry.lat is None):
            raise InputError(
                "单元位置需同时给出经度和纬度",
                code="gate_log.point_incomplete",
                detail="give both lon and lat of the unit, or neither",
            )
        if entry.lon is not None:
            lon, lat, _ = point_to_cgcs2000(float(entry.lon), float(entry.lat), entry.crs)
        return {
            "unit": unit,
            "unit_key": unit_key(unit),
            "materials": materials,
            "material_note": note_materials,
            "permit_shown": bool(entry.permit_shown),
            "permit_no": permit_no if entry.permit_shown else None,
            "decision": entry.decision,
            "note": clean(entry.note, "备注", "note", multiline=True, field="note"),
            "lon": lon,
            "lat": lat,
        }

    def record(
        self, principal: Principal, entry: GateEntry, idempotency: Claim | None = None
    ) -> dict:
        """Record one entry; the answer is the entry, with the warning it raised or joined.
        ``idempotency``: the request's key, recorded with the entry in its transaction — an
        entry that key made already is answered again."""
        if principal.role not in WRITERS or principal.id is None:
            raise _denied(principal, "登记门岗记录（仅限物业公司）")
        now = self.cases.clock.now()
        max_age = timedelta(days=self.cases.settings.made_at_max_age_days)
        made_at = made_at_checked(entry.made_at, now, max_age)
        values = self._cleaned(entry)
        compound = self._compound(principal, entry.compound)
        with self.cases.engine.begin() as conn:
            known = made_by(conn, idempotency, ENTRY)
            if known is not None:
                return self._entry(conn, known)
            # one unit's entries wait for each other: two at once cannot both miss the warning
            conn.execute(
                text("SELECT pg_advisory_xact_lock(hashtext('gate_log'), hashtext(:k))"),
                {"k": f"{compound['code']}/{values['unit_key']}"},
            )
            entry_id = conn.execute(
                text(
                    "INSERT INTO gate_log_entry (compound_code, community_code, town_code, "
                    "district_code, made_at, unit, unit_key, materials, material_note, "
                    "permit_shown, permit_no, decision, note, lon, lat, recorded_by, "
                    "recorded_at) VALUES (:compound, :community, :town, :district, :made_at, "
                    ":unit, :unit_key, :materials, :material_note, :permit_shown, :permit_no, "
                    ":decision, :note, :lon, :lat, :by, :now) RETURNING id"
                ),
                {
                    **values,
                    "compound": compound["code"],
                    "community": compound["codes"]["community"],
                    "town": compound["codes"]["town"],
                    "district": compound["codes"]["district"],
                    "made_at": made_at,
                    "by": principal.id,
                    "now": now,
                },
            ).scalar_one()
            record_made(conn, idempotency, ENTRY, entry_id)
            self._warn(conn, compound, values, now)
            return self._entry(conn, entry_id)

    def _warn(self, conn: Connection, compound: dict, values: dict, now: datetime) -> None:
        """Raise (or extend) the unit's open warning when its entries meet the rule: those not
        yet part of a reported warning, made within the rule's window before the newest."""
        rule = self.rule
        if values["permit_shown"] != rule.permit_shown or values["decision"] not in rule.decisions:
            return
        rows = conn.execute(
            text(
                "SELECT e.id, e.made_at, e.unit FROM gate_log_entry e WHERE e.compound_code = :c "
                "AND e.unit_key = :k AND e.permit_shown = :p AND e.decision = ANY(:d) "
                "AND NOT EXISTS (SELECT 1 FROM gate_log_warning w WHERE w.case_number IS NOT "
                "NULL AND e.id = ANY(w.entry_ids)) ORDER BY e.made_at"
            ),
            {
                "c": compound["code"],
                "k": values["unit_key"],
                "p": rule.permit_shown,
                "d": list(rule.decisions),
            },
        ).all()
        if not rows:
            return
        newest = rows[-1].made_at
        window = [r for r in rows if r.made_at > newest - timedelta(days=rule.window_days)]
        if len(window) < rule.min_entries:
            return
        ids = [r.id for r in window]
        updated = conn.execute(
            text(
                "UPDATE gate_log_warning SET entry_ids = ARRAY(SELECT DISTINCT unnest("
                "entry_ids || CAST(:ids AS bigint[])) ORDER BY 1), last_entry_at = "
                "greatest(last_entry_at, :last) WHERE compound_code = :c AND unit_key = :k "
                "AND case_number IS NULL RETURNING id"
            ),
            {"ids": ids, "last": newest, "c": compound["code"], "k": values["unit_key"]},
        ).first()
        if updated is None:
            conn.execute(
                text(
                    "INSERT INTO gate_log_warning (compound_code, community_code, town_code, "
                    "district_code, unit, unit_key, rule, raised_at, last_entry_at, entry_ids) "
                    "VALUES (:c, :community, :town, :district, :unit, :k, CAST(:rule AS jsonb), "
                    ":now, :last, :ids)"
                ),
                {
                    "c": compound["code"],
                    "community": compound["codes"]["community"],
                    "town": compound["codes"]["town"],
                    "district": compound["codes"]["district"],
                    "unit": window[0].unit,  # as the first of its entries spelt it
                    "k": values["unit_key"],
                    "rule": json.dumps(rule.as_json()["warning"], ensure_ascii=False),
                    "now": now,
                    "last": newest,
                    "ids": ids,
                },
            )

    # -- reading -------------------------------------------------------------------------

    ENTRY_SQL = (
        "SELECT e.id, e.compound_code, g.name AS compound_name, e.made_at, e.unit, e.unit_key, "
        "e.materials, e.material_note, e.permit_shown, e.permit_no, e.decision, e.note, e.lon, "
        "e.lat, e.recorded_at, u.username AS recorded_by, u.display_name AS recorded_by_name, "
        "(SELECT w.id FROM gate_log_warning w WHERE e.id = ANY(w.entry_ids) "
        "ORDER BY w.id DESC LIMIT 1) AS warning_id "
        "FROM gate_log_entry e JOIN app_user u ON u.id = e.recorded_by "
        "LEFT JOIN active_grid g ON g.level = 'compound' AND g.code = e.compound_code "
    )

    def _entry(self, conn: Connection, entry_id: int) -> dict:
        row = conn.execute(text(self.ENTRY_SQL + "WHERE e.id = :i"), {"i": entry_id}).one()
        return _entry_json(row)

    def entries(
        self,
        principal: Principal,
        *,
        compound: str | None = None,
        made_from: datetime | None = None,
        made_to: datetime | None = None,
        limit: int = 200,
    ) -> dict:
        """The entries in the user's scope, newest first (of one compound, between two times)."""
        where, params = self._scope(principal, "e")
        clauses = [where]
        compound = clean(compound, "小区", "code", field="compound")
        if compound:
            clauses.append("e.compound_code = :compound")
            params["compound"] = compound
        if made_from:
            clauses.append("e.made_at >= :made_from")
            params["made_from"] = _zoned(made_from)
        if made_to:
            clauses.append("e.made_at < :made_to")
            params["made_to"] = _zoned(made_to)
        params["limit"] = max(1, min(limit, MAX_ROWS))
        with self.cases.engine.connect() as conn:
            rows = conn.execute(
                text(
                    self.ENTRY_SQL + "WHERE " + " AND ".join(clauses) + " "
                    "ORDER BY e.made_at DESC, e.id DESC LIMIT :limit"
                ),
                params,
            ).all()
        return {"entries": [_entry_json(r) for r in rows], "rule": self.rule.as_json()}

    WARNING_SQL = (
        "SELECT w.*, g.name AS compound_name, u.display_name AS reported_by_name, "
        "cardinality(w.entry_ids) AS entry_count FROM gate_log_warning w "
        "LEFT JOIN app_user u ON u.id = w.reported_by "
        "LEFT JOIN active_grid g ON g.level = 'compound' AND g.code = w.compound_code "
    )

    def warnings(self, principal: Principal, *, open_only: bool = False) -> dict:
        """The warnings in the user's scope: open ones first, newest first."""
        where, params = self._scope(principal, "w")
        if open_only:
            where += " AND w.case_number IS NULL"
        with self.cases.engine.connect() as conn:
            rows = conn.execute(
                text(
                    self.WARNING_SQL + "WHERE " + where + " ORDER BY (w.case_number IS NULL) "
                    f"DESC, w.last_entry_at DESC, w.id DESC LIMIT {MAX_ROWS}"
                ),
                params,
            ).all()
            return {"warnings": [self._warning_json(conn, r) for r in rows]}

    def _warning_json(self, conn: Connection, row) -> dict:
        entries = conn.execute(
            text(self.ENTRY_SQL + "WHERE e.id = ANY(:ids) ORDER BY e.made_at"),
            {"ids": list(row.entry_ids)},
        ).all()
        return {
            "id": row.id,
            "compound": row.compound_code,
            "compound_name": row.compound_name,
            "unit": row.unit,
            "rule": row.rule,
            "text": _warning_text(row, entries),
            "raised_at": row.raised_at,
            "last_entry_at": row.last_entry_at,
            "entry_count": row.entry_count,
            "entries": [_entry_json(e) for e in entries],
            "case_number": row.case_number,
            "reported_by": row.reported_by_name,
            "reported_at": row.reported_at,
        }

    def _visible_warning(
        self, conn: Connection, principal: Principal, warning_id: int, lock: bool = False
    ):
        where, params = self._scope(principal, "w")
        row = conn.execute(
            text(
                "SELECT w.id FROM gate_log_warning w WHERE w.id = :i AND "
                + where
                + (" FOR UPDATE" if lock else "")
            ),
            {**params, "i": warning_id},
        ).first()
        if row is None:
            raise NotFoundError(
                f"未找到门岗预警 {warning_id}（或不在您的权限范围内）",
                code="gate_log.warning_not_found",
                detail=f"no gate log warning {warning_id} within your scope",
            )
        return conn.execute(text(self.WARNING_SQL + "WHERE w.id = :i"), {"i": warning_id}).one()

    # -- one tap: the warning becomes a report ---------------------------------------------

    def report(self, principal: Principal, warning_id: int) -> dict:
        """Make the warning a case (channel of the one who taps, at the unit's point if an
        entry gave one, else inside the compound). The warning row stays locked while the case
        is made, so a second tap waits and answers the same case."""
        if principal.role not in REPORTERS:
            raise _denied(principal, "将门岗预警上报为案件（仅限网格员、物业公司）")
        with self.cases.engine.begin() as conn:
            row = self._visible_warning(conn, principal, warning_id, lock=True)
            created = False
            if row.case_number is None:
                entries = conn.execute(
                    text(self.ENTRY_SQL + "WHERE e.id = ANY(:ids) ORDER BY e.made_at"),
                    {"ids": list(row.entry_ids)},
                ).all()
                number = self._make_case(principal, row, entries)
                conn.execute(
                    text(
                        "UPDATE gate_log_warning SET case_number = :n, reported_by = :u, "
                        "reported_at = :at WHERE id = :i"
                    ),
                    {"n": number, "u": principal.id, "at": self.cases.clock.now(), "i": row.id},
                )
                created = True
                row = conn.execute(
                    text(self.WARNING_SQL + "WHERE w.id = :i"), {"i": warning_id}
                ).one()
            warning = self._warning_json(conn, row)
        case = self.cases.get(principal, warning["case_number"])
        return {"warning": warning, "case": case, "created": created}

    def _make_case(self, principal: Principal, row, entries) -> str:
        located = [e for e in entries if e.lon is not None]
        if located:
            lon, lat = located[-1].lon, located[-1].lat
        else:
            compound = self._compound_point(row.compound_code)
            lon, lat = compound
        external_id = f"门岗预警-{row.id}"
        intake = Intake(
            lon=lon,
            lat=lat,
            crs="cgcs2000",
            description=_warning_text(row, entries) + "请核查是否存在违法建设。",
            address=f"{row.compound_name or row.compound_code} {row.unit}",
            discovered_at=row.raised_at,
            external_id=external_id,
        )
        try:
            return self.cases.create(intake, principal)["number"]
        except ConflictError as e:
            # made by an earlier tap whose link was lost: the same case
            if e.code != "report.already_imported":
                raise
            with self.cases.engine.connect() as conn:
                return conn.execute(
                    text("SELECT number FROM violation_case WHERE external_id = :e"),
                    {"e": external_id},
                ).scalar_one()

    def _compound_point(self, code: str) -> tuple[float, float]:
        with self.cases.engine.connect() as conn:
            point = conn.execute(
                text(
                    "SELECT ST_X(p) AS lon, ST_Y(p) AS lat FROM (SELECT ST_PointOnSurface(geom) "
                    "AS p FROM active_grid WHERE level = 'compound' AND code = :c LIMIT 1) s"
                ),
                {"c": code},
            ).first()
        if point is None:
            raise ConflictError(
                f"小区“{code}”已不在在用网格中，无法定位，请在上报页面手动上报",
                code="gate_log.compound_gone",
                detail=f"the compound {code!r} is no longer an active grid",
            )
        return point.lon, point.lat


def _zoned(moment: datetime) -> datetime:
    """A naive time is Beijing time."""
    return moment if moment.tzinfo else moment.replace(tzinfo=LOCAL)


def _entry_json(row) -> dict:
    return {
        "id": row.id,
        "compound": row.compound_code,
        "compound_name": row.compound_name,
        "made_at": row.made_at,
        "unit": row.unit,
        "materials": list(row.materials),
        "material_note": row.material_note,
        "permit_shown": row.permit_shown,
        "permit_no": row.permit_no,
        "decision": row.decision,
        "decision_label": DECISIONS[row.decision],
        "note": row.note,
        "lon": row.lon,
        "lat": row.lat,
        "recorded_by": row.recorded_by,
        "recorded_by_name": row.recorded_by_name,
        "recorded_at": row.recorded_at,
        "warning_id": row.warning_id,
    }


def _materials(entry) -> str:
    return "、".join([*entry.materials, *([entry.material_note] if entry.material_note else [])])


def _warning_text(row, entries) -> str:
    """What the warning says, and the report made of it: the unit and each entry."""
    what = "；".join(
        f"{beijing(e.made_at)} {_materials(e)}（{DECISIONS[e.decision]}）" for e in entries
    )
    place = f"{row.compound_name or row.compound_code}{row.unit}"
    return (
        f"门岗登记预警：{place}在 {len(entries)} 次登记中未出示审批手续运入建筑/装修材料"
        f"（规则：{row.rule.get('label', '')}）：{what}。"
    )
