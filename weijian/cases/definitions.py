"""Definitions kept as versioned JSON documents in the database — the workflow
(``workflow_definition``) and the assessment indicators (``assessment_definition``): one
version active, every change a new version with who and why."""

from __future__ import annotations

import orjson
from sqlalchemy import Connection, text

TABLES = ("workflow_definition", "assessment_definition")


def _table(table: str) -> str:
    if table not in TABLES:
        raise ValueError(f"not a document table: {table}")
    return table


def active_version(conn: Connection, table: str) -> int:
    return conn.execute(text(f"SELECT version FROM {_table(table)} WHERE active")).scalar_one()


def document(conn: Connection, table: str, version: int) -> dict:
    return conn.execute(
        text(f"SELECT document FROM {_table(table)} WHERE version = :v"), {"v": version}
    ).scalar_one()


def store(conn: Connection, table: str, content: dict, by: str, note: str) -> int:
    """Make ``content`` (already validated by the caller) the active document: a new version."""
    table = _table(table)
    conn.execute(text(f"LOCK TABLE {table} IN EXCLUSIVE MODE"))
    version = conn.execute(text(f"SELECT coalesce(max(version), 0) + 1 FROM {table}")).scalar_one()
    conn.execute(text(f"UPDATE {table} SET active = false WHERE active"))
    conn.execute(
        text(
            f"INSERT INTO {table} (version, document, active, created_by, note) "
            "VALUES (:v, CAST(:d AS jsonb), true, :b, :n)"
        ),
        {"v": version, "d": orjson.dumps(content).decode(), "b": by, "n": note},
    )
    return version
