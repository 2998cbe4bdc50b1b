"""Imports as background jobs: a layer uploaded on 系统管理 and a 12345 hotline export. The
uploaded file is kept durably in ``job-inputs/`` beside the evidence folder (as the results
are in ``job-results/``), in a folder of a random name that the job's parameters give; the
worker runs the same import core as the synchronous routes — the layer import reporting the
parcels it has streamed in, the hotline import the work orders it has registered — and gives
back a report file. A failed import fails the job with the import's own Chinese message; the
import core's transaction leaves the previous version as it was. The upload is let go once its
job is finished for good (:func:`release_input`, called by the runner; never while a retry may
read it again), and a worker's start sweeps away what a dead process left (:func:`sweep_inputs`).

The asker's scope is checked before the file is kept and again, as the synchronous routes
check it, before the job is queued. The parameters the server adds (``input``, ``file_name``,
``asker``) are checked against the asker and the kept file, so a job cannot name another's."""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import re
import secrets
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from weijian.cases import hotline
from weijian.cases.evidence import write_durably
from weijian.cases.scope import Principal
from weijian.cases.service import CaseService
from weijian.errors import InputError, PermissionDenied
from weijian.jobs import store
from weijian.layers.model import check_label, check_layer_name
from weijian.text import cell

log = logging.getLogger("weijian.jobs")

#: grids drawn (or rows written), how many in all, what is being done (Chinese)
Progress = Callable[[int, int, str], None]

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
#: the folder an upload is kept in, under its own (sanitised) name: a random token
INPUT_NAME = r"^[0-9a-f]{32}$"
#: a kept upload no job names is removed at a worker's start once it is this old (a day)
STALE_INPUT_SECONDS = 24 * 3600.0

FIELD_LABELS = {
    "family": "导入类别",
    "layer": "图层名",
    "kind": "分区类型",
    "code_field": "编码字段",
    "name_field": "名称字段",
    "settlement_field": "城镇村属性码字段",
    "title": "图层标题",
    "parent_field": "上级编码字段",
    "responsible_field": "责任人字段",
    "phone_field": "电话字段",
    "crs": "坐标系",
    "encoding": "字符编码",
    "member": "数据集",
    "dry_run": "仅检查",
    "activate": "是否启用",
    "input": "上传文件",
    "file_name": "文件名",
    "asker": "提交人",
}


def input_dir(cases: CaseService) -> Path:
    """Where uploads wait for their job: beside the evidence folder, as the results do."""
    return cases.settings.evidence_root.parent / "job-inputs"


def _input(cases: CaseService, token: str) -> Path:
    folder = input_dir(cases) / token
    path = next((p for p in folder.iterdir() if p.is_file()), None) if folder.is_dir() else None
    if path is None:
        raise InputError(
            "上传的文件已不存在（任务已完成或已清理），请重新上传",
            code="job.input_missing",
            detail=f"the uploaded file {token} of this job is gone",
            hint="upload the file again through POST /api/v1/jobs/uploads",
        )
    return path


def _discard(cases: CaseService, token: str) -> None:
    shutil.rmtree(input_dir(cases) / token, ignore_errors=True)


def _asker(principal: Principal) -> dict[str, Any]:
    return dataclasses.asdict(principal)


def _same_asker(given: dict[str, Any], principal: Principal) -> None:
    if given != _asker(principal):
        raise PermissionDenied(
            "只能为自己提交的上传文件创建导入任务",
            code="job.asker_mismatch",
            detail="the job's asker is not the user asking",
            hint="upload the file through POST /api/v1/jobs/uploads",
        )


class Upload(BaseModel):
    """What the server adds to an uploaded file's parameters."""

    model_config = ConfigDict(extra="forbid")

    input: str = Field(pattern=INPUT_NAME)
    file_name: str = Field(min_length=1, max_length=255)
    asker: dict[str, Any]


# -- layers -----------------------------------------------------------------------------------

Name = Field(default=None, max_length=64)


class LayerImportParameters(Upload):
    family: Literal["zones", "grids"] = "zones"
    layer: str | None = Name
    kind: str | None = Field(default=None, max_length=32)
    code_field: str | None = Name
    name_field: str | None = Name
    settlement_field: str | None = Name
    title: str | None = Field(default=None, max_length=100)
    level: Literal["district", "town", "community", "compound"] | None = None
    parent_field: str | None = Name
    responsible_field: str | None = Name
    phone_field: str | None = Name
    crs: str | None = Field(default=None, max_length=100)
    encoding: str | None = Field(default=None, max_length=32)
    member: str | None = Field(default=None, max_length=255)
    dry_run: bool = False
    activate: bool = True


def may_import_layers(principal: Principal) -> None:
    """As ``api/dependencies.py`` · ``admin_user`` refuses the synchronous import."""
    if principal.role != "admin":
        raise PermissionDenied(
            f"此操作仅限系统管理员；您当前是 {principal.username}（{principal.role}），"
            "请联系系统管理员办理",
            code="permission.admin_required",
            detail=f"this needs an administrator; you are {principal.username} ({principal.role})",
            hint="ask an administrator",
        )


def _missing(label: str, name: str) -> InputError:
    return InputError(
        f"图层导入的参数有误：缺少{label}",
        code="job.parameters_invalid",
        detail=[{"loc": [name], "msg": "Field required", "type": "missing"}],
        hint="see the parameters of each kind of job in the API documentation",
    )


def check_layer(cases: CaseService, p: LayerImportParameters, principal: Principal) -> None:
    """The checks the import makes before it opens the file, made before the job is queued."""
    may_import_layers(principal)
    _same_asker(p.asker, principal)
    _input(cases, p.input)
    if p.family == "grids":
        for name in ("level", "code_field", "name_field"):
            if not getattr(p, name):
                raise _missing(FIELD_LABELS.get(name, "网格层级"), name)
        return
    if not p.layer:
        raise _missing("图层名", "layer")
    check_layer_name(p.layer)
    check_label(p.title, "title", "图层标题")
    check_label(p.kind, "kind", "分区类型")
    if bool(p.kind) == bool(p.code_field):
        raise InputError(
            "分区类型（整个图层为同一种分区）和地类编码字段（如 DLBM）须且只须填写其中一个",
            code="import.kind_or_code_field",
            detail="give exactly one of kind (one kind for the whole layer) and code_field "
            "(a GB/T 21010 land-use code field such as DLBM).",
            hint="e.g. kind urban_managed, or code_field DLBM",
        )


def run_layer(
    cases: CaseService, p: LayerImportParameters, progress: Progress
) -> tuple[bytes, str, str, str]:
    """The import core on the kept file: the new version (inactive when ``activate`` is false)
    and its report as JSON, the file the page reads and the administrator may download."""
    path = _input(cases, p.input)
    progress(0, 0, "正在读取和检查文件")

    def streamed(done: int, total: int) -> None:
        progress(done, total, f"正在导入，已完成 {done:,}/{total:,} 个图斑")

    fields = p.model_dump(exclude={"input", "file_name", "asker", "family"})
    given = {
        "path": path,
        "created_by": p.asker.get("username"),
        "source_name": p.file_name,
        "progress": streamed,
    }
    # the readers (pandas, geopandas, pyogrio) loaded by the first import, not by every process
    from weijian.layers.importing import GridImport, ZoneImport, import_grids, import_zones

    if p.family == "zones":
        report = import_zones(cases.engine, ZoneImport.from_fields(fields, **given))
    else:
        report = import_grids(cases.engine, GridImport.from_fields(fields, **given))
    features = int(report.get("features", {}).get("imported", 0))
    progress(features, features, "正在生成导入报告")
    body = json.dumps(report, ensure_ascii=False, indent=2, default=_plain).encode("utf-8")
    name = report.get("layer") or p.layer or p.level
    title = (
        f"图层导入检查-{name}.json"
        if report.get("version") is None
        else f"图层导入报告-{name}-第{report['version']}版.json"
    )
    return body, "application/json", title, ".json"


def _plain(value: object) -> object:
    """numpy's numbers (and anything else) as JSON's."""
    item = getattr(value, "item", None)
    return item() if callable(item) else str(value)


# -- hotline ----------------------------------------------------------------------------------


class HotlineImportParameters(Upload):
    crs: Literal["wgs84", "gcj02", "bd09", "cgcs2000"] = "gcj02"


def check_hotline(cases: CaseService, p: HotlineImportParameters, principal: Principal) -> None:
    """The role, then the file read as the import reads it: a file that cannot be used at all
    (old .xls, a required column missing, no rows) is refused before it is queued."""
    cases.may_import_hotline(principal)
    _same_asker(p.asker, principal)
    hotline.parse_export(_input(cases, p.input), default_crs=p.crs)


#: the counts of a hotline import kept as the job's summary (the report's own names)
HOTLINE_COUNTS = ("rows", "created", "exists", "errors")


def run_hotline(
    cases: CaseService, p: HotlineImportParameters, progress: Progress
) -> tuple[bytes, str, str, str, dict[str, int]]:
    """The hotline import on the kept file, a case per work order; its report as a workbook,
    and its counts — data rows, cases made, work orders imported before, rows refused — as the
    job's summary."""
    path = _input(cases, p.input)
    principal = Principal(**p.asker)
    progress(0, 0, "正在读取文件")
    rows = [0]  # the work orders in the file, as the import counts them (it tells last)

    def tick(done: int, total: int) -> None:
        rows[0] = total
        progress(done, total, f"正在导入，已完成 {done:,}/{total:,} 条工单")

    result = cases.import_hotline(principal, path, default_crs=p.crs, progress=tick)
    progress(rows[0], rows[0], "正在生成导入报告")
    body = hotline_report_xlsx(result, p.file_name)
    counts = {name: int(result[name]) for name in HOTLINE_COUNTS}
    return body, XLSX, f"12345工单导入结果-{Path(p.file_name).stem}.xlsx", ".xlsx", counts


def hotline_report_xlsx(result: dict, file_name: str) -> bytes:
    """The clerk's report: the counts, then every data row — 行号, 工单编号, 结果 (已创建 /
    已存在 / 错误), 案件编号, 说明 — in one sheet; every cell text, never a formula."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    sheet = book.active
    sheet.title = "导入结果"
    sheet.append(["12345 热线工单导入结果"])
    sheet["A1"].font = Font(bold=True, size=14)
    for label, value in (
        ("文件", cell(file_name)),
        ("数据行", result["rows"]),
        ("新建案件", result["created"]),
        ("已导入过（未重复立案）", result["exists"]),
        ("未导入（见说明）", result["errors"]),
    ):
        sheet.append([label, value])
    sheet.append([])
    sheet.append(list(hotline.REPORT_HEADERS))
    for c in sheet[sheet.max_row]:
        c.font = Font(bold=True)
    header_row = sheet.max_row
    for entry in result["report"]:
        sheet.append(
            [
                entry["row"],
                cell(entry.get("external_id") or ""),
                hotline.STATUS_LABELS.get(entry["status"], entry["status"]),
                cell(entry.get("case_number") or ""),
                cell(entry.get("message") or ""),
            ]
        )
    sheet.freeze_panes = sheet.cell(row=header_row + 1, column=1)
    for column, width in zip("ABCDE", (22, 20, 10, 20, 60), strict=True):
        sheet.column_dimensions[column].width = width
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


# -- the upload kept --------------------------------------------------------------------------


def keep_upload(
    cases: CaseService, principal: Principal, kind: str, parameters: dict, path: Path, name: str
) -> dict[str, Any]:
    """The upload kept durably in a folder of a random name, and the parameters naming it: the
    role is checked first, so a refused user leaves no file behind."""
    if kind == "layer_import":
        may_import_layers(principal)
    else:
        cases.may_import_hotline(principal)
    token = secrets.token_hex(16)
    write_durably(input_dir(cases) / token / path.name, path.read_bytes())
    return {**parameters, "input": token, "file_name": name, "asker": _asker(principal)}


def forget_upload(cases: CaseService, parameters: dict[str, Any]) -> None:
    """The kept upload of a job that was not queued."""
    _discard(cases, parameters["input"])


def release_input(cases: CaseService, parameters: dict[str, Any]) -> None:
    """The kept upload of a job finished for good (succeeded, refused, or failed after its
    last attempt), if the job was made from one."""
    token = parameters.get("input") if isinstance(parameters, dict) else None
    if isinstance(token, str) and re.fullmatch(INPUT_NAME, token):
        _discard(cases, token)


def sweep_inputs(cases: CaseService, *, older_than: float = STALE_INPUT_SECONDS) -> int:
    """At a worker's start: the kept uploads no job will read again — those of finished jobs,
    and those no job names once they are ``older_than`` seconds old (a job asked for is
    recorded the moment its file is kept, so such a folder was left by a process that died
    in between). Those of queued or running jobs stay. The folders removed."""
    folder = input_dir(cases)
    kept = (
        [p for p in folder.iterdir() if p.is_dir() and re.fullmatch(INPUT_NAME, p.name)]
        if folder.is_dir()
        else []
    )
    states = store.states_of_inputs(cases.engine, [p.name for p in kept])
    removed, now = 0, time.time()
    for path in kept:
        state = states.get(path.name)
        if state in store.FINISHED or (state is None and now - _written_at(path) > older_than):
            shutil.rmtree(path, ignore_errors=True)
            removed += 1
    return removed


def _written_at(path: Path) -> float:
    """When a kept upload was last written (its folder's or its file's time, the later)."""
    try:
        return max([path.stat().st_mtime, *(p.stat().st_mtime for p in path.iterdir())])
    except OSError:
        return 0.0  # gone meanwhile: as old as can be
