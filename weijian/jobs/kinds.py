"""The kinds of background job: each one's parameters (checked when asked for, in Chinese),
the check of the asker's scope made before the job is queued, and the work itself, which
reports its progress and gives back one file."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from weijian.cases.scope import Principal
from weijian.cases.service import CaseService
from weijian.errors import InputError, PermissionDenied
from weijian.jobs import batches, imports
from weijian.oversight import dashboard
from weijian.patrol import service as patrol

#: grids drawn (or rows written), how many in all, what is being done (Chinese)
Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class Result:
    content: bytes
    media_type: str
    file_name: str
    suffix: str
    #: the file's figures in a few numbers, kept on the job row for the page (or None)
    summary: dict[str, Any] | None = None


class AtlasParameters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    district: str = Field(min_length=1, max_length=32, pattern=r"^[0-9A-Za-z_-]+$")
    level: Literal["town", "community", "compound"] = "community"
    paper: Literal["A4", "A3"] = "A4"
    orientation: Literal["portrait", "landscape", "auto"] = "auto"


def _check_atlas(cases: CaseService, p: AtlasParameters, principal: Principal) -> None:
    patrol.atlas_grids(cases, p.district, p.level, p.paper, p.orientation, principal)


def _run_atlas(cases: CaseService, p: AtlasParameters, progress: Progress) -> Result:
    # one process: a worker's job never forks (the worker's threads and its connections)
    content, info = patrol.atlas(
        cases, p.district, p.level, p.paper, p.orientation, None, processes=1, progress=progress
    )
    return Result(content, "application/pdf", info["filename"], ".pdf")


class StatsParameters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    period: str = Field(min_length=4, max_length=7)
    table: Literal["district", "town", "community"] = "town"
    sort: Literal["score", "clear"] = "score"
    campaign: int | None = Field(default=None, ge=1, le=2**31 - 1)


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _check_stats(cases: CaseService, p: StatsParameters, principal: Principal) -> None:
    if not principal.city_wide or principal.role in ("grid_worker", "property_company"):
        raise PermissionDenied(
            "全市统计导出仅限全市督导人员和系统管理员；本辖区的统计请在统计页面直接导出",
            code="job.city_wide_only",
            detail="a city-wide statistics export is asked for by city-wide users",
            hint="export your own scope's table from GET /api/v1/stats?format=xlsx",
        )
    dashboard.parse_period(p.period)


def _run_stats(cases: CaseService, p: StatsParameters, progress: Progress) -> Result:
    # asked for by a city-wide user only (checked before queueing): the city's figures, which
    # every city-wide user reads alike
    city = Principal(id=None, username="jobs", display_name="后台任务", role="supervisor")
    first, last, label = dashboard.parse_period(p.period)
    progress(0, 2, "正在统计全市案件")
    result = dashboard.dashboard(cases, city, first, last, label=label, campaign_id=p.campaign)
    progress(1, 2, "正在生成表格")
    body = dashboard.table_xlsx(result, p.table, p.sort)
    progress(2, 2, "正在保存")
    name = f"统计-{result['scope']['name']}-{result['levels'][p.table]}-{first}-{last}.xlsx"
    return Result(body, XLSX, name, ".xlsx")


@dataclass(frozen=True)
class Kind:
    name: str
    label: str
    parameters: type[BaseModel]
    check: Callable[[CaseService, Any, Principal], None]
    run: Callable[[CaseService, Any, Progress], Result]

    def parse(self, parameters: object) -> BaseModel:
        try:
            return self.parameters.model_validate(parameters)
        except ValidationError as exc:
            problems = "；".join(_problem(e) for e in exc.errors())
            raise InputError(
                f"{self.label}的参数有误：{problems}",
                code="job.parameters_invalid",
                detail=[
                    {"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]}
                    for e in exc.errors()
                ],
                hint="see the parameters of each kind of job in the API documentation",
            ) from None


FIELD_LABELS = {
    "district": "区县代码",
    "level": "网格层级",
    "paper": "纸张",
    "orientation": "方向",
    "period": "统计期间",
    "table": "统计层级",
    "sort": "排序",
    "campaign": "清零行动",
    **batches.FIELD_LABELS,
    **imports.FIELD_LABELS,
}


def _problem(error: dict) -> str:
    field = ".".join(str(x) for x in error["loc"]) or "参数"
    label = FIELD_LABELS.get(field, field)
    kind = error["type"]
    if kind == "missing":
        return f"缺少{label}"
    if kind == "extra_forbidden":
        return f"不认识的参数 {field}"
    if kind == "literal_error":
        allowed = error.get("ctx", {}).get("expected", "")
        return f"{label}只能是 {allowed}"
    return f"{label}格式不正确"


KINDS: dict[str, Kind] = {
    "atlas": Kind("atlas", "巡查图集", AtlasParameters, _check_atlas, _run_atlas),
    "stats_export": Kind("stats_export", "全市统计表", StatsParameters, _check_stats, _run_stats),
    "progress_current": Kind(
        "progress_current",
        "现行网格清零进度",
        batches.ProgressCurrentParameters,
        batches.check_progress_current,
        lambda cases, p, progress: Result(*batches.run_progress_current(cases, p, progress)),
    ),
    "documents": Kind(
        "documents",
        "批量执法文书",
        batches.DocumentsParameters,
        batches.check_documents,
        lambda cases, p, progress: Result(*batches.run_documents(cases, p, progress)),
    ),
    "layer_import": Kind(
        "layer_import",
        "图层导入",
        imports.LayerImportParameters,
        imports.check_layer,
        lambda cases, p, progress: Result(*imports.run_layer(cases, p, progress)),
    ),
    "hotline_import": Kind(
        "hotline_import",
        "12345 热线工单导入",
        imports.HotlineImportParameters,
        imports.check_hotline,
        lambda cases, p, progress: Result(*imports.run_hotline(cases, p, progress)),
    ),
}


def find(name: object) -> Kind:
    kind = KINDS.get(name) if isinstance(name, str) else None
    if kind is None:
        known = "、".join(f"{k}（{v.label}）" for k, v in KINDS.items())
        raise InputError(
            f"不支持的任务类型“{name}”，可选：{known}",
            code="job.kind_unknown",
            detail=f"unknown kind of job {name!r}; known: {', '.join(KINDS)}",
        )
    return kind
