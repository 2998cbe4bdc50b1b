"""The first administrator from the command line, users bound to grids, the workflow loaded as
a new version, evidence kept in the database — each then used over real HTTP."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import httpx

from tests import casekit, city
from tests.conftest import login, serving
from tests.test_evidence import jpeg_at
from weijian.cases import history
from weijian.cases.clock import FixedClock
from weijian.cases.service import WORKFLOW_CHECK_S
from weijian.settings import Settings


def test_first_admin_then_users_bound_to_grids(cli, engine, server, tmp_path):
    casekit.build_city(engine, tmp_path / "city")
    result = cli("user", "add", "chief", "--role", "admin", "--name", "王主任",
                 input="s3cret-pass\ns3cret-pass\n")  # fmt: skip
    assert result.exit_code == 0, result.output
    r = login(server, "chief", "s3cret-pass")
    assert r.status_code == 200 and r.json()["user"]["role"] == "admin"
    token = r.json()["access_token"]

    ok = cli("user", "add", "officer", "--role", "urban_enforcement", "--grid", "220602",
             "--password", "officer-pass", "--phone", "13904390001")  # fmt: skip
    assert ok.exit_code == 0, ok.output
    officer = login(server, "officer", "officer-pass").json()["access_token"]
    me = httpx.get(
        f"{server}/api/v1/auth/me", headers={"Authorization": f"Bearer {officer}"}
    ).json()
    assert me["department_code"] == "220602-urban_enforcement" and me["grid_level"] == "district"

    refused = {
        "城管执法部门（urban_enforcement）用户须绑定区县网格，而“220602001”是镇（街道）网格": (
            "x1", "--role", "urban_enforcement", "--grid", "220602001", "--password", "abcdefgh"
        ),
        "街道办/镇政府（town）用户必须绑定网格": ("x2", "--role", "town", "--password", "abcdefgh"),
        "角色“mayor”不存在": (
            "x3", "--role", "mayor", "--grid", "220602", "--password", "abcdefgh"
        ),
        "没有代码为“999”的在用网格": (
            "x4", "--role", "town", "--grid", "999", "--password", "abcdefgh"
        ),
        "密码太短（5 个字符），至少需要 8 个字符": (
            "x5", "--role", "town", "--grid", "220602001", "--password", "short"
        ),
        "用户名“officer”已存在": (
            "officer", "--role", "town", "--grid", "220602001", "--password", "abcdefgh"
        ),
    }  # fmt: skip
    for chinese, args in refused.items():
        result = cli("user", "add", *args)
        assert result.exit_code in (2, 3, 4), (args, result.output)
        assert "error:" in result.output
        assert chinese in result.output, (args, result.output)
    listed = json.loads(cli("user", "list", "--json").stdout)
    assert [u["username"] for u in listed] == ["chief", "officer"]

    # the administrator creates users over HTTP too
    created = httpx.post(
        f"{server}/api/v1/users",
        headers={"Authorization": f"Bearer {token}"},
        json={
            "username": "jd",
            "password": "jd-password",
            "role": "town",
            "grid_code": "220602001",
        },
    )
    assert created.status_code == 201, created.text
    assert created.json()["district_code"] == "220602"
    assert httpx.get(f"{server}/api/v1/users").status_code == 401

    assert cli("user", "passwd", "jd", "--password", "new-password").exit_code == 0
    assert login(server, "jd", "jd-password").status_code == 401
    assert login(server, "jd", "new-password").status_code == 200
    wrong = login(server, "jd", "jd-password").json()
    assert wrong["code"] == "auth.login_failed"
    assert wrong["message"] == "用户名或密码错误，请核对后重试"
    assert wrong["detail"] == "wrong user name or password"
    assert cli("user", "disable", "jd").exit_code == 0
    disabled = login(server, "jd", "new-password")
    assert disabled.status_code == 401
    assert disabled.json()["code"] == "auth.user_disabled"
    assert disabled.json()["message"] == "用户“jd”已停用，请联系系统管理员"


def test_workflow_loaded_as_a_new_version(cli, case_api, tmp_path):
    shown = json.loads(cli("workflow", "show", "--json").stdout)
    seeded = shown["version"]  # the newest the migrations seeded (4: documents and meeting)
    assert seeded == 4
    document = {k: v for k, v in shown.items() if k != "version"}
    document["states"]["verified"]["label"] = "已复核验收"
    path = tmp_path / "workflow.json"
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    result = cli("workflow", "load", str(path), "--by", "市城管局", "--note", "改称复核验收")
    assert result.exit_code == 0, result.output
    time.sleep(WORKFLOW_CHECK_S + 0.1)  # a loaded workflow reaches the server within this
    over_http = case_api.get("/api/v1/cases/workflow").json()
    assert over_http["version"] == seeded + 1
    assert over_http["states"]["verified"]["label"] == "已复核验收"

    document["transitions"][0]["from"] = ["nowhere"]
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    result = cli("workflow", "load", str(path), "--by", "x", "--note", "y")
    assert result.exit_code == 2 and "nowhere" in result.output
    assert "流程定义无效：操作“site_visit”：起始状态（from）中的“nowhere”不存在" in result.output
    assert case_api.get("/api/v1/cases/workflow").json()["version"] == seeded + 1


def test_evidence_kept_in_the_database(engine, tmp_path):
    from weijian.api.app import create_app

    casekit.build_city(engine, tmp_path / "city")
    casekit.add_users(engine)
    settings = Settings(evidence_storage="database", evidence_dir=tmp_path / "unused")
    with serving(create_app(engine, clock=FixedClock(casekit.START), settings=settings)) as url:
        api = casekit.Api(url, FixedClock(casekit.START), settings)
        number = api.report("town1", casekit.STREET, channel="patrol")["number"]
        photo = jpeg_at(*city.lonlat(*casekit.STREET))
        r = api.post(
            f"/api/v1/cases/{number}/evidence",
            "ue_hj",
            files={"file": ("p.jpg", photo, "image/jpeg")},
            data={"kind": "photo"},
        )
        assert r.status_code == 201, r.text
        sha = r.json()["sha256"]
        assert api.get(f"/api/v1/cases/{number}/evidence/{sha}", "ue_hj").content == photo
    assert not (tmp_path / "unused").exists()
    assert history.verify(engine)["ok"]


def test_passwords_are_hashed_with_rfc_9106_and_cheap_hashes_made_again_at_login(
    engine, monkeypatch
):
    """The product's Argon2id parameters (RFC 9106's low-memory profile) unless told otherwise;
    a hash made under other parameters (the test suite's cheap ones) is made again under the
    server's at the next login."""
    from weijian.cases import users
    from weijian.cases.workflow import default_workflow
    from weijian.settings import get_settings

    def hash_of(name: str) -> str:
        with engine.connect() as conn:
            return users.login_row(conn, name).password_hash

    try:
        with engine.begin() as conn:  # the suite's own setting
            users.add_user(conn, None, default_workflow(), username="cheap",
                           password="cheap-password", role="admin")  # fmt: skip
        assert hash_of("cheap").startswith("$argon2id$v=19$m=8,t=1,p=1$")
        monkeypatch.delenv("WEIJIAN_PASSWORD_HASHING")  # a server's default
        get_settings.cache_clear()
        users._hasher.cache_clear()
        assert Settings().password_hashing == "rfc9106-low-memory"
        with engine.begin() as conn:
            users.add_user(conn, None, default_workflow(), username="real",
                           password="real-password", role="admin")  # fmt: skip
        assert hash_of("real").startswith("$argon2id$v=19$m=65536,t=3,p=4$")
        now = datetime.now(UTC)
        with engine.begin() as conn:
            token, _, who = users.login(conn, "cheap", "cheap-password", now, 1)
        assert token and who.username == "cheap"
        assert hash_of("cheap").startswith("$argon2id$v=19$m=65536,t=3,p=4$")
        with engine.begin() as conn:  # and the password still opens it
            assert users.login(conn, "cheap", "cheap-password", now, 1)[0]
            assert not users.password_matches(users.login_row(conn, "cheap"), "wrong-password")
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
        users._hasher.cache_clear()
