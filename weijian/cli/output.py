"""What every command prints through: the consoles, errors turned into a message and an exit
code, tables that wrap long Chinese cells, JSON."""

from __future__ import annotations

import functools
import json
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from weijian.errors import WeijianError

out = Console()
err = Console(stderr=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="print the full report as JSON")]


def handles_errors(fn):
    """Print a WeijianError as a message (and its Chinese text) with its hint, exit with its
    code."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except WeijianError as exc:
            err.print(f"[bold red]error:[/] {exc.message}", highlight=False)
            if exc.zh:
                err.print(f"[bold red]错误：[/]{exc.zh}", highlight=False)
            if exc.hint:
                err.print(f"[yellow]hint:[/] {exc.hint}", highlight=False)
            raise typer.Exit(exc.exit_code) from None

    return wrapper


def log(message: str) -> None:
    err.print(message, highlight=False)


def new_table(*headers: str, **kwargs) -> Table:
    """A table whose long Chinese cells wrap instead of being cut on a narrow terminal."""
    table = Table(*headers, **kwargs)
    for column in table.columns:
        column.overflow = "fold"
    return table


def print_json(data) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")
