"""The one ``weijian`` command. Thin: each module of this package parses one group of
commands, calls the core, prints, and turns the core's errors into a message and an exit code
(:mod:`.output`); :mod:`.context` gives them the database and the case service. No command
module imports another: this root registers them all."""

from __future__ import annotations

import typer

from weijian.cli import (
    assess,
    audit,
    cases,
    db,
    demo,
    jurisdiction,
    layers,
    ledger,
    patrol,
    serve,
    users,
    worker,
)

app = typer.Typer(
    help="weijian — 违法建设长效管控 GIS platform.", no_args_is_help=True, add_completion=False
)

for group, name in (
    (db.db_app, "db"),
    (layers.import_app, "import"),
    (layers.layers_app, "layers"),
    (demo.samples_app, "samples"),
    (jurisdiction.rules_app, "rules"),
    (jurisdiction.departments_app, "departments"),
    (users.user_app, "user"),
    (users.apikey_app, "apikey"),
    (audit.audit_app, "audit"),
    (cases.cases_app, "cases"),
    (cases.workflow_app, "workflow"),
    (assess.assess_app, "assess"),
    (assess.campaign_app, "campaign"),
    (ledger.ledger_app, "ledger"),
    (patrol.patrol_app, "patrol"),
):
    app.add_typer(group, name=name)

for command, name in (
    (jurisdiction.lookup_cmd, "lookup"),
    (jurisdiction.assign_cmd, "assign"),
    (demo.demo, "demo"),
    (serve.serve, "serve"),
    (patrol.patrol_map, "patrol-map"),
    (worker.worker, "worker"),
):
    app.command(name)(command)

if __name__ == "__main__":
    app()
