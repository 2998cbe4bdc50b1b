"""Jobs made from an uploaded file (:mod:`weijian.jobs.imports`) as the API asks for them: the
kind and its parameters read, the file kept, the job checked and queued — or the file let go
when it is not."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from weijian.cases.scope import Principal
from weijian.cases.service import CaseService
from weijian.errors import InputError
from weijian.jobs import imports, service
from weijian.jobs.store import Job

#: the kinds of job made from an uploaded file: the suffixes refused before reading
#: (None: the import's reader judges the file)
SUFFIXES: dict[str, tuple[str, ...] | None] = {
    "layer_import": (".zip", ".gpkg", ".geojson", ".json"),
    "hotline_import": None,
}


def kind_of(kind: object) -> str:
    """The kind of an upload, or a refusal naming the kinds that take a file."""
    if not isinstance(kind, str) or kind not in SUFFIXES:
        raise InputError(
            f"任务类型“{kind}”不接受上传文件；上传导入可选：layer_import（图层导入）、"
            "hotline_import（12345 热线工单导入）",
            code="job.upload_kind_unknown",
            detail=f"{kind!r} is not a kind of job made from an uploaded file",
            hint="kind layer_import or hotline_import",
        )
    return kind


def refuse_without_file(kind: object) -> None:
    """A kind made from a file is asked for with the file, never by JSON alone."""
    if isinstance(kind, str) and kind in SUFFIXES:
        raise InputError(
            f"任务类型“{kind}”须随文件一起提交，请上传文件（POST /api/v1/jobs/uploads）",
            code="job.upload_required",
            detail=f"a {kind} job is asked for with its file",
            hint="POST /api/v1/jobs/uploads as multipart: kind, parameters (JSON), file",
        )


def parameters_of(text: str | None) -> dict[str, Any]:
    """The form's ``parameters``: a JSON object without the fields the server sets."""
    try:
        parameters = json.loads(text or "{}")
    except ValueError:
        parameters = None
    if not isinstance(parameters, dict):
        raise InputError(
            '任务参数须为 JSON 对象，如 {"layer": "landuse", "code_field": "DLBM"}',
            code="job.parameters_invalid",
            detail="parameters must be a JSON object",
        )
    for own in ("input", "file_name", "asker"):
        if own in parameters:
            raise InputError(
                f"任务参数 {own} 由系统填写，请不要提交",
                code="job.parameters_invalid",
                detail=f"the parameter {own} is set by the server",
            )
    return parameters


def submit(
    cases: CaseService, principal: Principal, kind: str, parameters: dict, path: Path, name: str
) -> Job:
    """The upload at ``path`` (called ``name`` by its sender) kept for the worker, the job
    checked as the synchronous import checks it and queued."""
    given = imports.keep_upload(cases, principal, kind, parameters, path, name)
    try:
        return service.submit(cases, principal, kind, given)
    except BaseException:
        imports.forget_upload(cases, given)
        raise
