"""Tamper evidence of the case history: verify the chains, anchor their heads outside."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Annotated

import typer

from weijian.cli.context import case_service
from weijian.cli.output import handles_errors, log, new_table, out, print_json
from weijian.errors import InputError

audit_app = typer.Typer(help="Tamper evidence of the case history.", no_args_is_help=True)


@audit_app.command("verify")
@handles_errors
def audit_verify(
    case: Annotated[str | None, typer.Option("--case", help="one case number")] = None,
    anchor: Annotated[
        Path | None, typer.Option("--anchor", help="also check against an anchor file")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Recompute every event's hash chain, the case-number sequences and the evidence bytes;
    name each event edited or deleted. Exit code 1 when anything is wrong."""
    from weijian.cases import history

    service = case_service()
    result = history.verify(service.engine, service.store, case)
    if case is None:  # the photos of the construction projects' inspections, too
        from weijian.projects.register import verify_photos

        result["project_photos"], extra = verify_photos(service.engine, service.store)
        result["problems"] += extra
        result["ok"] = result["ok"] and not extra
        from weijian.enforcement.documents import verify_documents

        result["documents"], extra = verify_documents(service.engine)
        result["problems"] += extra
        result["ok"] = result["ok"] and not extra
    if anchor is not None:
        try:
            saved = json.loads(gzip.decompress(anchor.read_bytes()))
        except (OSError, ValueError) as exc:
            raise InputError(
                f"{anchor} 无法读取，不是有效的办理记录锚定文件（{exc}），"
                "请选择 weijian audit anchor 生成的文件",
                code="audit.anchor_unreadable",
                detail=f"{anchor} is not a readable anchor file: {exc}",
            ) from None
        extra = [p.as_dict() for p in history.check_anchor(service.engine, saved)]
        result["problems"] += extra
        result["ok"] = result["ok"] and not extra
        result["anchor"] = {"created_at": saved.get("created_at"), "cases": saved.get("cases")}
    if as_json:
        print_json(result)
    else:
        log(
            f"checked {result['cases']} cases, {result['events']} events, "
            f"{result['evidence']} pieces of evidence"
            + (
                f" ({result['footage']['files']} recorder videos, "
                f"{result['footage']['bytes'] / 1024**3:.2f} GiB)"
                if result["footage"]["files"]
                else ""
            )
            + (
                f", {result['documents']['documents']} enforcement documents"
                if "documents" in result
                else ""
            )
        )
        if result["ok"]:
            log("[green]history intact[/]: every chain verifies")
        else:
            table = new_table("case", "event #", "event id", "problem", title="history problems")
            for p in result["problems"]:
                table.add_row(
                    p["case"], str(p["seq"] or ""), str(p["event_id"] or ""), p["problem"]
                )
            out.print(table)
    if not result["ok"]:
        raise typer.Exit(1)


@audit_app.command("anchor")
@handles_errors
def audit_anchor(
    out_path: Annotated[Path, typer.Option("--out", help="the anchor file to write (.json.gz)")],
) -> None:
    """Write the head of every case's history to a file kept outside the database; `audit
    verify --anchor FILE` later proves nothing before it was rewritten. Prints its digest."""
    from weijian.cases import history

    service = case_service()
    saved = history.anchor(service.engine, service.clock.now())
    out_path.write_bytes(gzip.compress(json.dumps(saved).encode()))
    log(f"anchored {saved['cases']} cases at {saved['created_at']} in {out_path}")
    typer.echo(saved["digest"])
