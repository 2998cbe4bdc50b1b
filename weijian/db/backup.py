"""Backups a city can restore: the database by PostgreSQL's own ``pg_dump`` / ``pg_restore``,
and the evidence files beside it, in one tar file with a manifest of every part's SHA-256.

``backup`` writes ``manifest.json``, ``database.dump`` (pg_dump's custom format) and
``evidence/<the store's relative path>`` for every file of the evidence store, into a
temporary file made durable (fsync) and renamed into place: a backup either exists whole or not
at all. ``restore`` checks every part against the manifest before it touches anything, refuses
a database that holds tables already (a restore never mixes two histories), restores the dump
in one transaction and puts the evidence files in place, each checked again by its hash.

Point-in-time recovery is PostgreSQL's too: the embedded cluster archives its WAL
(``weijian db start --archive DIR``), a base backup is ``pg_basebackup``, and recovery replays
the archive up to a moment (see the README's *Backups*)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url

from weijian.db.cluster import find_bin_dir
from weijian.db.engine import APP_ROLE, current_revision, engine_for, normalise_url
from weijian.errors import EnvironmentProblem, InputError

FORMAT = "weijian-backup/1"
DUMP = "database.dump"
MANIFEST = "manifest.json"
EVIDENCE = "evidence/"
CHUNK = 1 << 20


def _tool(name: str) -> str:
    """pg_dump / pg_restore of the newest PostgreSQL installed (as new as the server, or newer)."""
    bin_dir = find_bin_dir()
    if bin_dir is not None and (bin_dir / name).exists():
        return str(bin_dir / name)
    found = shutil.which(name)
    if found:
        return found
    raise EnvironmentProblem(
        f"找不到 PostgreSQL 的 {name}，无法备份或恢复：请安装 postgresql-client"
        "（apt-get install postgresql-client）",
        code="backup.tool_missing",
        detail=f"{name} is not installed",
        hint="apt-get install postgresql-client (the version of the server or newer)",
    )


def _connection(url: str) -> tuple[list[str], dict]:
    """libpq arguments and environment for ``url`` (the password in the environment, never in
    the process list)."""
    parsed = make_url(normalise_url(url))
    args = ["-h", parsed.host or "127.0.0.1", "-p", str(parsed.port or 5432)]
    args += ["-U", parsed.username or "postgres", "-d", parsed.database or "postgres"]
    env = dict(os.environ)
    if parsed.password:
        env["PGPASSWORD"] = parsed.password
    return args, env


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _counts(url: str) -> dict:
    with engine_for(url).connect() as conn:
        return {
            name: conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
            for name, table in (
                ("cases", "violation_case"),
                ("events", "case_event"),
                ("evidence", "case_evidence"),
                ("layer_versions", "layer_version"),
            )
        }


def _kept(path: Path, root: Path) -> bool:
    """A stored file, not one still arriving: the store writes those under dot-names (a
    temporary file, a video being uploaded) and renames them when they are whole."""
    relative = path.relative_to(root).parts
    return path.is_file() and not any(part.startswith(".") for part in relative)


def backup(url: str, evidence_root: Path, target: Path, log: Callable[[str], None] = print):
    """Write the backup of the database at ``url`` and of ``evidence_root`` to ``target``."""
    target = Path(target)
    if target.exists():
        raise InputError(
            f"备份文件 {target} 已存在；为免覆盖旧备份，请换一个文件名",
            code="backup.exists",
            detail=f"{target} exists already",
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    args, env = _connection(url)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".backup-") as scratch:
        dump = Path(scratch) / DUMP
        log("pg_dump …")
        done = subprocess.run(
            [_tool("pg_dump"), *args, "-Fc", "-Z", "6", "-f", str(dump)],
            env=env,
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise EnvironmentProblem(
                f"数据库导出失败：{done.stderr.strip()[-300:]}",
                code="backup.dump_failed",
                detail=f"pg_dump failed: {done.stderr.strip()[-500:]}",
            )
        root = Path(evidence_root)
        files = sorted(p for p in root.rglob("*") if _kept(p, root)) if root.is_dir() else []
        manifest = {
            "format": FORMAT,
            "created_at": datetime.now(UTC).isoformat(),
            "schema_revision": current_revision(url),
            "counts": _counts(url),
            "database": {"file": DUMP, "sha256": _sha256(dump), "size": dump.stat().st_size},
            "evidence": [
                {
                    "path": p.relative_to(evidence_root).as_posix(),
                    "sha256": _sha256(p),
                    "size": p.stat().st_size,
                }
                for p in files
            ],
        }
        log(f"{len(files)} evidence files …")
        partial = Path(scratch) / "backup.tar"
        with tarfile.open(partial, "w") as tar:
            body = json.dumps(manifest, ensure_ascii=False, indent=1).encode()
            info = tarfile.TarInfo(MANIFEST)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
            tar.add(dump, DUMP)
            for p, entry in zip(files, manifest["evidence"], strict=True):
                tar.add(p, EVIDENCE + entry["path"])
        with partial.open("rb") as f:
            os.fsync(f.fileno())
        os.replace(partial, target)
    fd = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return {
        "file": str(target),
        "size": target.stat().st_size,
        "sha256": _sha256(target),
        **{k: manifest[k] for k in ("schema_revision", "counts")},
        "evidence_files": len(files),
    }


def _bad(message: str, detail: str) -> InputError:
    return InputError(
        f"{message}；该文件不能用于恢复，数据库和证据目录均未改动",
        code="backup.invalid",
        detail=detail,
        hint="use a backup written by `weijian db backup`, copied whole",
    )


def _read(source: Path, scratch: Path) -> tuple[dict, Path, list[tuple[dict, Path]]]:
    """The manifest, the dump and the evidence files of a backup, extracted into ``scratch``
    and each checked against the manifest."""
    try:
        tar = tarfile.open(source, "r")  # noqa: SIM115 — closed by the `with` below
    except (OSError, tarfile.TarError) as e:
        raise _bad(
            f"{source} 不是 weijian 备份文件（{e}）", f"{source} is not a tar: {e}"
        ) from None
    with tar:
        try:
            manifest = json.loads(tar.extractfile(MANIFEST).read())
        except (KeyError, AttributeError, ValueError, tarfile.TarError) as e:
            raise _bad(f"{source} 缺少有效的清单", f"no readable {MANIFEST}: {e}") from None
        if manifest.get("format") != FORMAT:
            raise _bad(f"{source} 的格式不是 {FORMAT}", f"format {manifest.get('format')!r}")
        wanted = {DUMP: manifest["database"]["sha256"]}
        wanted |= {EVIDENCE + e["path"]: e["sha256"] for e in manifest["evidence"]}
        found: dict[str, Path] = {}
        for member in tar:
            if member.name == MANIFEST:
                continue
            if member.name not in wanted or not member.isfile():
                raise _bad(f"{source} 含有清单外的内容：{member.name}", f"extra {member.name}")
            out = scratch / f"{len(found)}.part"
            digest = hashlib.sha256()
            with tar.extractfile(member) as f, out.open("wb") as w:
                while chunk := f.read(CHUNK):
                    digest.update(chunk)
                    w.write(chunk)
            if digest.hexdigest() != wanted[member.name]:
                raise _bad(
                    f"{source} 中的 {member.name} 与清单记录的 SHA-256 不符（文件已损坏或被改动）",
                    f"{member.name} does not match its SHA-256",
                )
            found[member.name] = out
    missing = sorted(set(wanted) - set(found))
    if missing:
        raise _bad(f"{source} 缺少 {len(missing)} 个文件（如 {missing[0]}）", f"missing {missing}")
    evidence = [(e, found[EVIDENCE + e["path"]]) for e in manifest["evidence"]]
    return manifest, found[DUMP], evidence


def _check_empty(url: str) -> None:
    with engine_for(url).connect() as conn:
        tables = conn.execute(
            text(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema NOT IN "
                "('pg_catalog', 'information_schema', 'topology', 'tiger') "
                "AND table_name <> 'spatial_ref_sys'"
            )
        ).scalar_one()
    if tables:
        raise InputError(
            f"目标数据库已有 {tables} 张表，恢复只能写入空数据库（以免混入两份办理记录）；"
            "请新建一个空数据库并用 DATABASE_URL 指向它，或在新的内置数据库中恢复",
            code="backup.target_not_empty",
            detail=f"the target database holds {tables} tables: restore into an empty one",
            hint="createdb a new database and point DATABASE_URL at it",
        )


def restore(url: str, evidence_root: Path, source: Path, log: Callable[[str], None] = print):
    """Restore the backup ``source`` into the empty database at ``url`` and its evidence
    files into ``evidence_root``."""
    source = Path(source)
    if not source.is_file():
        raise InputError(
            f"备份文件 {source} 不存在", code="backup.missing", detail=f"{source} does not exist"
        )
    _check_empty(url)
    evidence_root = Path(evidence_root)
    evidence_root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=evidence_root.parent, prefix=".restore-") as scratch:
        log("checking the backup against its manifest …")
        manifest, dump, evidence = _read(source, Path(scratch))
        with engine_for(url).begin() as conn:  # the role the schema's grants name
            conn.execute(
                text(
                    "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = "
                    f"'{APP_ROLE}') THEN CREATE ROLE {APP_ROLE} NOLOGIN; END IF; "
                    "EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
                )
            )
        engine_for(url).dispose()
        args, env = _connection(url)
        log("pg_restore …")
        done = subprocess.run(
            [_tool("pg_restore"), *args, "--no-owner", "--exit-on-error", "--single-transaction",
             str(dump)],
            env=env,
            capture_output=True,
            text=True,
        )  # fmt: skip
        if done.returncode != 0:
            raise EnvironmentProblem(
                f"数据库恢复失败（已整体回退）：{done.stderr.strip()[-300:]}",
                code="backup.restore_failed",
                detail=f"pg_restore failed: {done.stderr.strip()[-500:]}",
            )
        for entry, part in evidence:
            place = evidence_root / entry["path"]
            place.parent.mkdir(parents=True, exist_ok=True)
            if place.is_file() and _sha256(place) == entry["sha256"]:
                continue
            shutil.move(part, place)
    return {
        "schema_revision": manifest["schema_revision"],
        "counts": manifest["counts"],
        "evidence_files": len(evidence),
        "created_at": manifest["created_at"],
    }
