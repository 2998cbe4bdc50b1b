"""Backups: the whole demo (its layers, 400 worked cases, their photos and documents) backed up
with `weijian db backup`'s code, restored into an empty database and a new evidence folder,
and `audit verify` passes on the copy with the same counts; a damaged backup, or a target that
is not empty, is refused before anything is changed."""

from __future__ import annotations

import io
import tarfile

import pytest
from sqlalchemy import text

from tests.conftest import empty_database
from weijian.cases import history
from weijian.cases.evidence import EvidenceStore
from weijian.db.backup import backup, restore
from weijian.db.engine import engine_for
from weijian.errors import InputError


def _counts(engine) -> tuple:
    with engine.connect() as conn:
        return conn.execute(
            text(
                "SELECT (SELECT count(*) FROM violation_case), (SELECT count(*) FROM case_event),"
                " (SELECT count(*) FROM case_evidence), (SELECT max(number) FROM violation_case),"
                " (SELECT count(*) FROM zone), (SELECT count(*) FROM construction_project)"
            )
        ).one()


def test_a_backup_round_trips_and_verifies(demo_database, tmp_path):
    demo = demo_database
    target = tmp_path / "backup.tar"
    made = backup(demo.url, demo.settings.evidence_root, target, log=lambda *_: None)
    assert made["counts"]["cases"] > 300 and made["evidence_files"] > 100
    with tarfile.open(target) as tar:
        names = tar.getnames()
    assert (
        names[:2] == ["manifest.json", "database.dump"] and len(names) == 2 + made["evidence_files"]
    )
    with pytest.raises(InputError) as refused:
        backup(demo.url, demo.settings.evidence_root, target, log=lambda *_: None)
    assert refused.value.code == "backup.exists"

    evidence = tmp_path / "restored-evidence"
    with empty_database() as url:
        done = restore(url, evidence, target, log=lambda *_: None)
        assert done["counts"] == made["counts"]
        copy = engine_for(url)
        assert _counts(copy) == _counts(demo.engine)
        checked = history.verify(copy, EvidenceStore(evidence))
        assert checked["ok"], checked["problems"][:3]
        assert checked["evidence"] == made["counts"]["evidence"]
        # a second restore into the same database is refused: it is not empty any more
        with pytest.raises(InputError) as refused:
            restore(url, evidence, target, log=lambda *_: None)
        assert refused.value.code == "backup.target_not_empty"
        assert "空数据库" in refused.value.message

    # a damaged backup: the last evidence file's last byte changed; nothing is restored
    damaged = tmp_path / "damaged.tar"
    with tarfile.open(target) as src, tarfile.open(damaged, "w") as out:
        members = src.getmembers()
        for member in members:
            data = src.extractfile(member).read()
            if member is members[-1]:
                data = data[:-1] + bytes([data[-1] ^ 1])
            out.addfile(member, io.BytesIO(data))
    elsewhere = tmp_path / "other-evidence"
    with empty_database() as url:
        with pytest.raises(InputError) as refused:
            restore(url, elsewhere, damaged, log=lambda *_: None)
        assert refused.value.code == "backup.invalid"
        assert members[-1].name in refused.value.message and "SHA-256" in refused.value.message
        with engine_for(url).connect() as conn:
            assert conn.execute(text("SELECT to_regclass('violation_case')")).scalar() is None
    assert not [p for p in elsewhere.rglob("*") if p.is_file()]
