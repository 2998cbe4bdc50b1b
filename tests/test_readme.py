"""The README's quick start works as written: every command and ``curl`` of its first tour,
English and Chinese alike, run by bash against the demo's data — the sample city, the demo's
users and its 400 cases — served over real HTTP, with the numbers the calls return."""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import SHARED_DATA, Demo, database_copy, serving
from weijian.db.engine import engine_for
from weijian.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
WEIJIAN = Path(sys.executable).with_name("weijian")
TOURS = ("### A first tour (against the demo)", "### 上手体验（演示数据）")


def tour_blocks(heading: str) -> list[str]:
    """The ``sh`` block that follows ``heading``: the tour."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index(heading) + len(heading) :]
    return re.findall(r"```sh\n(.*?)```", section, re.S)[:1]


@pytest.fixture
def demo(demo_database: Demo, tmp_path_factory):
    """A copy of the session's demo — layers, users, worked cases — with a copy of the evidence
    folder its files went to, for the tour to change."""
    evidence = tmp_path_factory.mktemp("demo-evidence") / "files"
    shutil.copytree(demo_database.settings.evidence_dir, evidence)
    settings = Settings(evidence_dir=evidence, shared_data_dir=SHARED_DATA)
    assert demo_database.result["created"] == 400
    with database_copy(demo_database.url) as url:
        yield url, settings


def _photo(colour: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), colour).save(buffer, "JPEG")
    return buffer.getvalue()


def test_both_tours_hold_the_same_commands() -> None:
    english, chinese = (tour_blocks(h) for h in TOURS)
    assert english and english == chinese


def test_the_quick_start_tour_runs_against_the_demo(demo, tmp_path) -> None:
    from weijian.api.app import create_app

    url, settings = demo
    script = "\n".join(tour_blocks(TOURS[0]))
    (tmp_path / "现场.jpg").write_bytes(_photo("gray"))
    (tmp_path / "核查.jpg").write_bytes(_photo("olive"))
    with serving(create_app(engine_for(url), settings=settings)) as base:
        runnable = (
            script.replace("127.0.0.1:8000", base.removeprefix("http://"))
            .replace(".venv/bin/weijian", str(WEIJIAN))
            # an HTTP error stops the tour instead of feeding jq an error body
            .replace("curl -s ", "curl -s --fail-with-body ")
        )
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", runnable],
            cwd=tmp_path,
            env={
                **os.environ,
                "DATABASE_URL": url,
                "WEIJIAN_EVIDENCE_DIR": str(settings.evidence_root),
                "COLUMNS": "200",
            },
            capture_output=True,
            text=True,
            timeout=600,
        )
    output = done.stdout
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "浑江区城市管理行政执法局" in output  # the look-up, on the CLI and over HTTP
    numbers = re.findall(r"^(HJ-\d{4}-\d{6})$", output, re.M)
    assert len(numbers) == 1  # the number the report answered, echoed
    assert "已现场核查" in output  # the officer's site visit moved the case on
    assert re.search(r"[0-9a-f]{64}", output)  # the photos' hashes
    assert "history intact" in done.stderr  # audit verify
    assert (tmp_path / "台账.xlsx").read_bytes()[:2] == b"PK"
    assert (tmp_path / "巡查图.pdf").read_bytes()[:5] == b"%PDF-"
