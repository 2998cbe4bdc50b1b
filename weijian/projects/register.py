"""The register of construction projects and their inspections (see the package's docstring).
Plain Python over SQL: no HTTP here."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import BinaryIO

import numpy as np
import shapely
from shapely.geometry import shape
from sqlalchemy import Connection, text

from weijian.cases.evidence import inspect, read_limited
from weijian.cases.history import Problem
from weijian.cases.intake import Intake
from weijian.cases.scope import Principal
from weijian.cases.service import CaseService
from weijian.errors import ConflictError, InputError, NotFoundError, PermissionDenied
from weijian.gis import crs as crs_mod
from weijian.gis.geometry import normalise_polygons
from weijian.gis.points import to_cgcs2000
from weijian.text import clean

STAGES = {
    "approved": "已批准",
    "under_construction": "在建",
    "completion_acceptance": "竣工验收",
    "done": "已完成",
}
#: the moves between stages: forward, and back to construction after a failed acceptance
MOVES = {
    "approved": ("under_construction",),
    "under_construction": ("completion_acceptance",),
    "completion_acceptance": ("done", "under_construction"),
    "done": (),
}
KINDS = {"construction": "施工期间检查", "completion": "竣工验收检查"}
#: who keeps the register and inspects
ROLES = (
    "admin",
    "supervisor",
    "natural_resources",
    "urban_enforcement",
    "county_government",
    "town",
    "department_leader",
)
#: the EPSG code of the CGCS2000 3° Gauss-Krüger zone of a geometry's centre, in SQL
GK_EPSG = "(4534 + (least(greatest(3 * round(ST_X(ST_Centroid({g})) / 3), 75), 135)::int - 75) / 3)"
FIELDS = (
    "p.id, p.code, p.name, p.developer, p.planning_permit, p.construction_permit, p.stage, "
    "p.stage_since, p.district_code, p.town_code, p.area_m2, p.created_at, p.updated_at"
)


def _allowed(principal: Principal) -> None:
    if principal.role not in ROLES:
        raise PermissionDenied(
            "只有自然资源、城管执法、街道（乡镇）、区县政府、督导人员和系统管理员可以管理建设项目",
            code="project.role_not_allowed",
            detail=f"the role {principal.role} may not keep the project register",
        )


def _not_found(ref) -> NotFoundError:
    return NotFoundError(
        f"没有编号为 {ref} 的建设项目，请核对项目编号",
        code="project.not_found",
        detail=f"no project {ref}",
    )


def _in_scope(principal: Principal, district_code: str | None) -> bool:
    """Whether the reader's scope holds a project of ``district_code``."""
    local = not principal.city_wide and principal.district_code
    return not local or district_code in (None, principal.district_code)


def _text(value, label: str, kind: str = "name") -> str | None:
    if value is None or (isinstance(value, float) and value != value):  # NaN of an empty cell
        return None
    return clean(str(value).strip(), label, kind) or None


class Projects:
    """The register over a :class:`CaseService` (its engine, clock, settings, evidence store)."""

    def __init__(self, cases: CaseService):
        self.cases = cases
        self.engine = cases.engine

    # -- the register ---------------------------------------------------------------------

    def import_file(
        self,
        principal: Principal,
        path: Path,
        *,
        name_field: str,
        code_field: str | None = None,
        developer_field: str | None = None,
        planning_permit_field: str | None = None,
        construction_permit_field: str | None = None,
        stage: str = "approved",
        crs: str | None = None,
        encoding: str | None = None,
        member: str | None = None,
        source_name: str | None = None,
    ) -> dict:
        """Each polygon of a red-line file (shapefile, zip, GeoPackage, GeoJSON) registered as a
        project, read by the import core; all of them or none (a code registered already
        refuses the file)."""
        _allowed(principal)
        self._check_stage(stage)
        wanted = {
            "--name-field": name_field,
            "--code-field": code_field,
            "--developer-field": developer_field,
            "--planning-permit-field": planning_permit_field,
            "--construction-permit-field": construction_permit_field,
        }
        # the readers (geopandas, pyogrio) loaded by the first file, not by every process
        from weijian.gis.readers import open_source
        from weijian.layers.importing import prepare

        with open_source(path, member) as source:
            prepared = prepare(path, source, crs=crs, encoding=encoding, wanted_fields=wanted)
        rows = []
        for i, geom in enumerate(prepared.geoms):
            attrs = prepared.attributes.iloc[i]

            def field(name: str | None, label: str, attrs=attrs) -> str | None:
                return _text(attrs[name], label) if name else None

            rows.append(
                {
                    "name": field(name_field, "项目名称"),
                    "code": field(code_field, "项目编号"),
                    "developer": field(developer_field, "建设单位"),
                    "planning_permit": field(planning_permit_field, "规划许可证号"),
                    "construction_permit": field(construction_permit_field, "施工许可证号"),
                    "geom": geom,
                    "area_m2": float(prepared.area_m2[i]),
                }
            )
        report = dict(prepared.report, source=source_name or prepared.report["source"])
        ids = self._insert(principal, rows, stage, report)
        projects = self._summaries("p.id = ANY(:ids)", {"ids": ids})
        return {"imported": len(ids), "projects": projects, "report": report}

    def create(
        self,
        principal: Principal,
        *,
        name: str,
        red_line: dict,
        crs: str = "wgs84",
        code: str | None = None,
        developer: str | None = None,
        planning_permit: str | None = None,
        construction_permit: str | None = None,
        stage: str = "approved",
    ) -> dict:
        """One project with a red line drawn on a map (GeoJSON Polygon or MultiPolygon)."""
        _allowed(principal)
        self._check_stage(stage)
        try:
            drawn = shape(red_line)
        except (ValueError, TypeError, AttributeError, KeyError, IndexError):
            drawn = None
        if drawn is None or drawn.geom_type not in ("Polygon", "MultiPolygon"):
            raise InputError(
                "红线范围应为 GeoJSON 面（Polygon 或 MultiPolygon），"
                "请在地图上依次点出红线的各个角",
                code="project.red_line_invalid",
                detail="red_line must be a GeoJSON Polygon or MultiPolygon",
            )
        geoms, _, _ = normalise_polygons([drawn], "红线")
        if not len(geoms):
            raise InputError(
                "红线范围不是有效的面（至少需要三个不共线的角点）",
                code="project.red_line_invalid",
                detail="the red line is not a usable polygon",
            )
        geom = _to_storage(geoms[0], crs)
        area = float(shapely.area(crs_mod.to_metric(np.array([geom])))[0])
        row = {
            "name": _text(name, "项目名称"),
            "code": _text(code, "项目编号"),
            "developer": _text(developer, "建设单位"),
            "planning_permit": _text(planning_permit, "规划许可证号"),
            "construction_permit": _text(construction_permit, "施工许可证号"),
            "geom": geom,
            "area_m2": area,
        }
        (project_id,) = self._insert(principal, [row], stage, {"source": "drawn", "crs": crs})
        return self.get(principal, project_id)

    def _check_stage(self, stage: str) -> None:
        if stage not in STAGES:
            raise InputError(
                f"项目阶段“{stage}”无效，可选："
                + "、".join(f"{k}（{v}）" for k, v in STAGES.items()),
                code="project.stage_invalid",
                detail=f"unknown stage {stage!r}",
            )

    def _insert(self, principal: Principal, rows: list[dict], stage: str, source: dict) -> list:
        nameless = [i + 1 for i, r in enumerate(rows) if not r["name"]]
        if nameless:
            raise InputError(
                f"第 {'、'.join(map(str, nameless[:10]))} 个红线要素没有项目名称，请补全后重新导入",
                code="project.name_missing",
                detail=f"features {nameless[:10]} have no project name",
            )
        now = self.cases.clock.now()
        with self.engine.begin() as conn:
            # registrations wait for each other: the codes checked and numbered here stay free
            conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('construction_project'))"))
            year = now.year
            for row in rows:
                row["code"] = row["code"] or row["planning_permit"] or None
            codes = [r["code"] for r in rows if r["code"]]
            taken = (
                conn.execute(
                    text("SELECT code FROM construction_project WHERE code = ANY(:c)"), {"c": codes}
                )
                .scalars()
                .all()
            )
            doubled = sorted({c for c in codes if codes.count(c) > 1} | set(taken))
            if doubled:
                raise ConflictError(
                    f"项目编号 {'、'.join(doubled[:10])} 已登记或在文件中重复，未导入任何项目；"
                    "请核对编号，已登记的项目请在项目页面修改",
                    code="project.code_taken",
                    detail=f"project codes taken or repeated: {doubled[:10]}",
                )
            ids = []
            for row in rows:
                if not row["code"]:
                    seq = conn.execute(
                        text("SELECT count(*) + 1 FROM construction_project WHERE code LIKE :p"),
                        {"p": f"XM-{year}-%"},
                    ).scalar_one()
                    row["code"] = f"XM-{year}-{seq:04d}"
                ids.append(
                    conn.execute(
                        text(
                            "INSERT INTO construction_project (code, name, developer, "
                            "planning_permit, construction_permit, stage, stage_since, "
                            "district_code, town_code, red_line, area_m2, source, created_by, "
                            "created_at, updated_at) SELECT :code, :name, :developer, :pp, :cp, "
                            ":stage, :now, (SELECT code FROM active_grid g WHERE "
                            "g.level = 'district' AND ST_Covers(g.geom, s.pt) LIMIT 1), "
                            "(SELECT code FROM active_grid g WHERE g.level = 'town' AND "
                            "ST_Covers(g.geom, s.pt) LIMIT 1), s.geom, :area, "
                            "CAST(:source AS jsonb), :by, :now, :now FROM (SELECT "
                            "ST_Multi(ST_GeomFromWKB(:geom, 4490)) AS geom, "
                            "ST_PointOnSurface(ST_GeomFromWKB(:geom, 4490)) AS pt) s RETURNING id"
                        ),
                        {
                            "code": row["code"],
                            "name": row["name"],
                            "developer": row["developer"],
                            "pp": row["planning_permit"],
                            "cp": row["construction_permit"],
                            "stage": stage,
                            "now": now,
                            "area": row["area_m2"],
                            "geom": shapely.to_wkb(row["geom"]),
                            "source": json.dumps(source, ensure_ascii=False, default=str),
                            "by": principal.username,
                        },
                    ).scalar_one()
                )
            # the open cases already reported inside a new red line belong to the project
            conn.execute(
                text(
                    "UPDATE violation_case v SET project_id = p.id FROM construction_project p "
                    "WHERE p.id = ANY(:ids) AND v.project_id IS NULL AND v.is_open "
                    "AND ST_Covers(p.red_line, v.geom)"
                ),
                {"ids": ids},
            )
        return ids

    def set_stage(self, principal: Principal, ref: str, stage: str) -> dict:
        """The project moved on (已批准 → 在建 → 竣工验收 → 已完成, or back to 在建 after a
        failed acceptance); 已完成 only after a passed completion inspection."""
        _allowed(principal)
        self._check_stage(stage)
        now = self.cases.clock.now()
        with self.engine.begin() as conn:
            row = self._row(conn, ref, principal, lock=True)
            if stage not in MOVES[row["stage"]]:
                allowed = "、".join(STAGES[s] for s in MOVES[row["stage"]]) or "无"
                raise ConflictError(
                    f"项目处于“{STAGES[row['stage']]}”阶段，不能转为“{STAGES[stage]}”；"
                    f"可转为：{allowed}",
                    code="project.stage_move",
                    detail=f"a project {row['stage']} cannot become {stage}",
                )
            if (
                stage == "done"
                and not conn.execute(
                    text(
                        "SELECT 1 FROM project_inspection WHERE project_id = :p AND kind = "
                        "'completion' AND passed AND inspected_at >= :since"
                    ),
                    {"p": row["id"], "since": row["stage_since"]},
                ).first()
            ):
                raise ConflictError(
                    "竣工验收检查尚未通过，项目不能转为“已完成”；请先录入通过的竣工验收检查",
                    code="project.completion_missing",
                    detail="a passed completion inspection is needed first",
                )
            conn.execute(
                text(
                    "UPDATE construction_project SET stage = :s, stage_since = :now, "
                    "updated_at = :now WHERE id = :i"
                ),
                {"s": stage, "now": now, "i": row["id"]},
            )
        return self.get(principal, ref)

    # -- reading ----------------------------------------------------------------------------

    def _row(self, conn: Connection, ref, principal: Principal, lock: bool = False) -> dict:
        """The project ``ref`` (id or code) within the reader's scope: a district's staff reach
        their district's projects only."""
        by = "p.id = :r" if str(ref).isdigit() else "p.code = :r"
        row = conn.execute(
            text(
                f"SELECT {FIELDS} FROM construction_project p WHERE {by}"
                + (" FOR UPDATE" if lock else "")
            ),
            {"r": int(ref) if str(ref).isdigit() else str(ref)},
        ).first()
        if row is None or not _in_scope(principal, row.district_code):
            raise _not_found(ref)
        return dict(row._mapping)

    def _figures_sql(self, where: str) -> str:
        """Each project with its figures: open cases, the last inspections, the area of its
        cases' footprints outside its red line (Gauss-Krüger m²), its outline as GeoJSON."""
        epsg = GK_EPSG.format(g="p.red_line")
        outside = f"ST_Area(ST_Transform(ST_Difference(v.footprint, p.red_line), {epsg}))"
        return f"""
        SELECT {FIELDS},
          (SELECT count(*) FROM violation_case v WHERE v.project_id = p.id) AS cases,
          (SELECT count(*) FROM violation_case v WHERE v.project_id = p.id AND v.is_open)
              AS open_cases,
          (SELECT coalesce(sum({outside}), 0) FROM violation_case v
              WHERE v.project_id = p.id AND v.footprint IS NOT NULL) AS area_outside_m2,
          (SELECT max(inspected_at) FROM project_inspection i WHERE i.project_id = p.id)
              AS last_inspection_at,
          (SELECT max(inspected_at) FROM project_inspection i WHERE i.project_id = p.id
              AND i.kind = 'completion' AND i.inspected_at >= p.stage_since)
              AS completion_inspected_at,
          (SELECT name FROM active_grid g WHERE g.code = p.town_code LIMIT 1) AS town_name,
          ST_AsGeoJSON(p.red_line, 7) AS red_line
        FROM construction_project p WHERE {where} ORDER BY p.id
        """

    def _summary(self, row, now: datetime) -> dict:
        out = {k: row[k] for k in row if k != "red_line"}
        out["stage_label"] = STAGES[row["stage"]]
        out["area_m2"] = round(row["area_m2"], 1)
        out["area_outside_m2"] = round(float(row["area_outside_m2"]), 1)
        out["inspection_due"], out["inspection_overdue"] = self._due(row, now)
        out["red_line"] = json.loads(row["red_line"])
        return out

    def _due(self, row, now: datetime) -> tuple[datetime | None, bool]:
        """When the next inspection falls due, and whether it is overdue: every
        ``project_inspection_days`` during construction; at completion acceptance the
        completion inspection within ``project_completion_days`` of entering the stage."""
        settings = self.cases.settings
        if row["stage"] == "under_construction":
            last = max(filter(None, [row["last_inspection_at"], row["stage_since"]]))
            due = last + timedelta(days=settings.project_inspection_days)
        elif row["stage"] == "completion_acceptance" and row["completion_inspected_at"] is None:
            due = row["stage_since"] + timedelta(days=settings.project_completion_days)
        else:
            return None, False
        return due, now > due

    def _summaries(self, where: str, params: dict) -> list[dict]:
        now = self.cases.clock.now()
        with self.engine.connect() as conn:
            rows = conn.execute(text(self._figures_sql(where)), params).mappings()
            return [self._summary(r, now) for r in rows]

    def list(self, principal: Principal, *, stage: str | None = None, overdue: bool = False):
        """The projects of the reader's scope (a district's staff see their district's)."""
        _allowed(principal)
        where, params = ["true"], {}
        if not principal.city_wide and principal.district_code:
            where.append("p.district_code = :district")
            params["district"] = principal.district_code
        if stage:
            self._check_stage(stage)
            where.append("p.stage = :stage")
            params["stage"] = stage
        out = self._summaries(" AND ".join(where), params)
        return [p for p in out if p["inspection_overdue"]] if overdue else out

    def get(self, principal: Principal, ref) -> dict:
        _allowed(principal)
        now = self.cases.clock.now()
        with self.engine.connect() as conn:
            found = self._row(conn, ref, principal)
            row = (
                conn.execute(text(self._figures_sql("p.id = :i")), {"i": found["id"]})
                .mappings()
                .one()
            )
            out = self._summary(row, now)
            out["inspections"] = [
                dict(r._mapping) | {"kind_label": KINDS[r.kind]}
                for r in conn.execute(
                    text(
                        "SELECT i.id, i.kind, i.inspected_at, i.inspector_name, i.findings, "
                        "i.passed, v.number AS case_number, (SELECT coalesce(json_agg("
                        "json_build_object('sha256', f.sha256, 'filename', f.filename, "
                        "'media_type', f.media_type)), '[]') "
                        "FROM project_photo f "
                        "WHERE f.inspection_id = i.id) AS photos FROM project_inspection i "
                        "LEFT JOIN violation_case v ON v.id = i.case_id WHERE i.project_id = :p "
                        "ORDER BY i.inspected_at DESC, i.id DESC"
                    ),
                    {"p": found["id"]},
                )
            ]
            out["case_list"] = [
                dict(r._mapping)
                for r in conn.execute(
                    text(
                        "SELECT v.number, v.state, v.is_open, v.channel, v.reported_at, v.area_m2, "
                        "ST_X(v.geom) AS lon, ST_Y(v.geom) AS lat, "
                        "ST_Covers(p.red_line, v.geom) AS inside FROM violation_case v "
                        "JOIN construction_project p ON p.id = v.project_id "
                        "WHERE v.project_id = :p ORDER BY v.reported_at DESC"
                    ),
                    {"p": found["id"]},
                )
            ]
        return out

    # -- inspections -----------------------------------------------------------------------

    def inspect(
        self,
        principal: Principal,
        ref,
        *,
        kind: str,
        findings: str,
        passed: bool,
        photos: list[tuple[BinaryIO, str]] = (),
        finding: Intake | None = None,
        inspected_at: datetime | None = None,
    ) -> dict:
        """An inspection recorded (who, when, findings, photos). ``finding``: a violation found
        there — inside the red line or outside it — which opens a case from the
        ``project_tracking`` channel with the project attached."""
        _allowed(principal)
        if kind not in KINDS:
            raise InputError(
                f"检查类型“{kind}”无效，应为 construction（施工期间检查）"
                "或 completion（竣工验收检查）",
                code="project.inspection_kind",
                detail=f"unknown inspection kind {kind!r}",
            )
        findings = clean(findings, "检查情况", "note", multiline=True, field="findings")
        if not findings:
            raise InputError(
                "请填写检查情况", code="project.findings_missing", detail="findings are empty"
            )
        now = self.cases.clock.now()
        with self.engine.connect() as conn:
            project = self._row(conn, ref, principal)
        if project["stage"] == "done":
            raise ConflictError(
                "项目已完成，不再检查", code="project.done", detail="the project is done"
            )
        if kind == "completion" and project["stage"] != "completion_acceptance":
            raise ConflictError(
                "竣工验收检查须在项目进入“竣工验收”阶段后录入",
                code="project.not_in_acceptance",
                detail="a completion inspection needs the completion_acceptance stage",
            )
        stored = []
        max_bytes = int(self.cases.settings.max_evidence_mb * 1024 * 1024)
        for stream, filename in photos:
            content = read_limited(stream, max_bytes, filename=filename)
            inspected = inspect(content, filename, "photo")
            path = self.cases.store.put(inspected, content)
            stored.append((inspected, path, None if path else content))
        case = None
        if finding is not None:
            finding.channel = "project_tracking"
            finding.project_id = project["id"]
            finding.description = finding.description or findings
            case = self.cases.create(finding, principal)
        with self.engine.begin() as conn:
            inspection = conn.execute(
                text(
                    "INSERT INTO project_inspection (project_id, kind, inspected_at, "
                    "inspector_id, inspector_name, findings, passed, case_id, created_at) "
                    "VALUES (:p, :k, :at, :uid, :uname, :f, :ok, (SELECT id FROM violation_case "
                    "WHERE number = :case), :now) RETURNING id"
                ),
                {
                    "p": project["id"],
                    "k": kind,
                    "at": inspected_at or now,
                    "uid": principal.id,
                    "uname": principal.display_name,
                    "f": findings,
                    "ok": bool(passed) and case is None,
                    "case": case["number"] if case else None,
                    "now": now,
                },
            ).scalar_one()
            for inspected, path, content in stored:
                conn.execute(
                    text(
                        "INSERT INTO project_photo (inspection_id, sha256, media_type, filename, "
                        "size, path, content) VALUES (:i, :s, :m, :f, :n, :p, :c) "
                        "ON CONFLICT DO NOTHING"
                    ),
                    {
                        "i": inspection,
                        "s": inspected.sha256,
                        "m": inspected.media_type,
                        "f": inspected.filename,
                        "n": inspected.size,
                        "p": path,
                        "c": content,
                    },
                )
            conn.execute(
                text("UPDATE construction_project SET updated_at = :now WHERE id = :i"),
                {"now": now, "i": project["id"]},
            )
        out = self.get(principal, project["id"])
        out["inspection"] = next(i for i in out["inspections"] if i["id"] == inspection)
        out["case"] = case["number"] if case else None
        return out

    def photo(self, principal: Principal, ref, sha: str) -> tuple[bytes, str]:
        """The bytes and media type of a photo of one of the project's inspections."""
        with self.engine.connect() as conn:
            project = self._row(conn, ref, principal)
            row = conn.execute(
                text(
                    "SELECT f.media_type, f.path, f.content FROM project_photo f JOIN "
                    "project_inspection i ON i.id = f.inspection_id WHERE i.project_id = :p "
                    "AND f.sha256 = :s LIMIT 1"
                ),
                {"p": project["id"], "s": sha},
            ).first()
        if row is None:
            raise NotFoundError(
                "该项目的检查记录中没有这张照片",
                code="project.photo_not_found",
                detail=f"no photo {sha} in the project's inspections",
            )
        content = row.content if row.content is not None else self.cases.store.open_bytes(sha)
        return bytes(content), row.media_type

    def geojson(self, principal: Principal) -> dict:
        """The projects of the reader's scope as GeoJSON, for the map's layer."""
        features = []
        for p in self.list(principal):
            props = {k: p[k] for k in (
                "id", "code", "name", "stage", "stage_label", "open_cases", "area_outside_m2",
                "inspection_overdue", "developer", "planning_permit", "construction_permit",
            )}  # fmt: skip
            features.append({"type": "Feature", "geometry": p["red_line"], "properties": props})
        return {"type": "FeatureCollection", "features": features}


def _to_storage(geom, crs: str) -> shapely.Geometry:
    """A drawn red line in ``crs`` (wgs84 from a browser's map) to CGCS2000."""
    coords = shapely.get_coordinates(geom)
    x, y, _ = to_cgcs2000(coords[:, 0], coords[:, 1], crs)
    return shapely.set_coordinates(geom, np.column_stack([x, y]))


def verify_photos(engine, store) -> tuple[int, list[dict]]:
    """Every photo of the projects' inspections checked against its SHA-256 (``weijian audit
    verify``): how many were read, and the problems, named by the project's code."""
    problems, count = [], 0
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT f.sha256, f.content, f.inspection_id, p.code FROM project_photo f "
                "JOIN project_inspection i ON i.id = f.inspection_id "
                "JOIN construction_project p ON p.id = i.project_id ORDER BY f.inspection_id"
            )
        ).all()
    for row in rows:
        count += 1
        try:
            data = bytes(row.content) if row.content is not None else store.open_bytes(row.sha256)
        except NotFoundError:
            data = None
        if data is None or hashlib.sha256(data).hexdigest() != row.sha256:
            state = "missing" if data is None else "changed: its bytes no longer hash to it"
            problems.append(
                Problem(
                    f"项目 {row.code}",
                    None,
                    None,
                    f"inspection {row.inspection_id}: photo {row.sha256[:12]}… {state}",
                ).as_dict()
            )
    return count, problems
