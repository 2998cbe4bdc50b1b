"""Abuse: failed logins make the next try wait and then lock the account until an
administrator unlocks it (API and command line); bodies refused before they are read (a huge
Content-Length, an upload without a login, a chunked body past its limit); the security
headers on pages and API, and the pages loading in Chromium without a single CSP violation;
the demo refusing the documented password on a database it did not create."""

from __future__ import annotations

import re
import shutil
import socket
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import text

from tests.casekit import PASSWORD, STREET
from tests.conftest import login
from weijian.api.headers import tile_sources
from weijian.cases import logins, users
from weijian.errors import NotAuthenticated
from weijian.settings import Settings, get_settings

ARTIFACTS = get_settings().home / "artifacts"


def _wrong(api, who: str = "town1") -> httpx.Response:
    return login(api.url, who, "not-the-password")


def _fail(engine, api, who: str, times: int, address: str = "192.0.2.1") -> None:
    """``times`` failed logins of ``who`` counted as the server counts them, without the
    slow password checks."""
    with engine.begin() as conn:
        for _ in range(times):
            logins.record_failure(conn, who, address, api.clock.now(), logins.Policy())


def test_failures_make_logins_wait_then_lock_until_an_admin_unlocks(case_api, engine) -> None:
    api = case_api
    # a success forgets the failures before it
    _fail(engine, api, "town1", 4)
    assert login(api.url, "town1", PASSWORD).status_code == 200
    _fail(engine, api, "town1", 4)
    r = _wrong(api)
    assert r.status_code == 401 and r.json()["code"] == "auth.login_failed"
    # after the fifth failure the next try waits 2 s, the right password too, and is told when
    r = login(api.url, "town1", PASSWORD)
    assert r.status_code == 429, r.text
    assert r.headers["Retry-After"] == "2"
    assert r.json()["code"] == "auth.login_throttled"
    assert "2 秒后" in r.json()["message"] and "北京时间 09:00:02" in r.json()["message"]
    # each further failure doubles the wait
    api.clock.advance(seconds=2)
    assert _wrong(api).status_code == 401
    r = _wrong(api)
    assert r.status_code == 429 and r.headers["Retry-After"] == "4"
    _fail(engine, api, "town1", 2)
    api.clock.advance(seconds=16)
    assert _wrong(api).status_code == 401
    r = _wrong(api)
    assert r.status_code == 429 and r.headers["Retry-After"] == "32"
    # the tenth failure locks the account: the right password is refused, even much later
    api.clock.advance(seconds=32)
    r = _wrong(api)
    assert r.status_code == 401 and r.json()["code"] == "auth.account_locked"
    api.clock.advance(hours=5)
    r = login(api.url, "town1", PASSWORD)
    assert r.status_code == 401 and r.json()["code"] == "auth.account_locked"
    assert "已被锁定" in r.json()["message"] and "管理员" in r.json()["message"]
    # another account of the same address is not held up
    assert login(api.url, "town2", PASSWORD).status_code == 200
    # the administrator's list of users says which account is locked
    listed = {u["username"]: u for u in api.get("/api/v1/users", "admin").json()}
    assert listed["town1"]["locked_at"] is not None and listed["town2"]["locked_at"] is None
    # only an administrator unlocks
    r = api.post("/api/v1/users/town1/unlock", "supervisor")
    assert r.status_code == 403
    r = api.post("/api/v1/users/town1/unlock", "admin")
    assert r.status_code == 200 and r.json()["was_locked"] is True
    assert login(api.url, "town1", PASSWORD).status_code == 200
    listed = {u["username"]: u for u in api.get("/api/v1/users", "admin").json()}
    assert listed["town1"]["locked_at"] is None
    assert api.post("/api/v1/users/nobody/unlock", "admin").status_code == 404


def test_an_address_failing_for_many_accounts_waits_and_the_cli_unlocks(
    case_api, engine, cli
) -> None:
    api = case_api
    for i in range(19):  # nineteen names from this address, none failing five times
        _fail(engine, api, f"guess{i}", 1, address="127.0.0.1")
    assert login(api.url, "guess19", "not-the-password").status_code == 401
    r = login(api.url, "town2", PASSWORD)
    assert r.status_code == 429 and r.headers["Retry-After"] == "2"
    api.clock.advance(seconds=2)
    assert login(api.url, "town2", PASSWORD).status_code == 200
    # an account locked, unlocked on the command line
    policy = logins.Policy()
    with engine.begin() as conn:
        for _ in range(policy.lockout_after):
            locked = logins.record_failure(
                conn, "gridder", "192.0.2.7", case_api.clock.now(), policy
            )
    assert locked
    r = login(case_api.url, "gridder", PASSWORD)
    assert r.status_code == 401 and r.json()["code"] == "auth.account_locked"
    result = cli("user", "unlock", "gridder")
    assert result.exit_code == 0, result.output
    assert "gridder unlocked" in result.output
    assert login(case_api.url, "gridder", PASSWORD).status_code == 200
    assert cli("user", "unlock", "nobody").exit_code == 3
    # every name is locked alike; a name no user has, a day at most
    later = case_api.clock.now() + timedelta(days=2)
    with engine.begin() as conn:
        for _ in range(policy.lockout_after):
            logins.record_failure(conn, "ghost", "192.0.2.8", case_api.clock.now(), policy)
            logins.record_failure(conn, "gridder", "192.0.2.8", case_api.clock.now(), policy)
        assert {"ghost", "gridder"} <= set(logins.locked_accounts(conn))
        logins.record_failure(conn, "someone", "192.0.2.9", later, policy)
        assert set(logins.locked_accounts(conn)) == {"gridder"}


def _raw(url: str, head: str, body: bytes = b"", timeout: float = 10) -> tuple[str, float]:
    """Send ``head`` and the first bytes of a body on a socket of its own, keep the rest
    back: the answer, and how long it took."""
    parts = urlsplit(url)
    started = time.monotonic()
    with socket.create_connection((parts.hostname, parts.port), timeout=timeout) as sock:
        sock.sendall(head.replace("\n", "\r\n").encode() + b"\r\n" + body)
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            piece = sock.recv(65536)
            if not piece:
                break
            answer += piece
    return answer.decode("utf-8", "replace"), time.monotonic() - started


def _upload_head(url: str, length: int, authorization: str = "") -> str:
    extra = f"Authorization: {authorization}\n" if authorization else ""
    return (
        "POST /api/v1/imports/zones HTTP/1.1\n"
        f"Host: {urlsplit(url).netloc}\n"
        "Content-Type: multipart/form-data; boundary=xyz\n"
        f"Content-Length: {length}\n{extra}"
    )


def test_bodies_refused_unread_and_security_headers(case_api) -> None:
    api = case_api
    token = api.headers("admin")["Authorization"]
    # 600 MB announced, a few bytes sent: 413 at once, even with a login
    answer, took = _raw(api.url, _upload_head(api.url, 600 * 1024 * 1024, token), b"--xyz\r\n")
    assert answer.startswith("HTTP/1.1 413"), answer
    assert "upload.too_large" in answer and "最多接受 512 MB" in answer
    assert took < 5
    # an upload without a login, or with a token that is not valid: 401, body unread
    answer, _ = _raw(api.url, _upload_head(api.url, 50 * 1024 * 1024), b"--xyz\r\n")
    assert answer.startswith("HTTP/1.1 401"), answer
    assert "auth.required" in answer and "请先登录" in answer
    answer, _ = _raw(api.url, _upload_head(api.url, 1024, "Bearer forged"), b"--xyz\r\n")
    assert answer.startswith("HTTP/1.1 401") and "auth.token_invalid" in answer
    # a JSON body past 1 MB sent without a length is cut off at the limit
    data = b'{"username": "' + b"x" * (1024 * 1024)
    head = (
        f"POST /api/v1/auth/login HTTP/1.1\nHost: {urlsplit(api.url).netloc}\n"
        "Content-Type: application/json\nTransfer-Encoding: chunked\n"
    )
    answer, _ = _raw(api.url, head, b"%x\r\n%s\r\n0\r\n\r\n" % (len(data), data))
    assert answer.startswith("HTTP/1.1 413") and "upload.too_large" in answer, answer
    # the anonymous citizen's report keeps working, within its own limit
    assert api.report(None, STREET)["number"]
    # and every answer carries the security headers
    _security_headers(api)


SECURITY = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
}


def _security_headers(case_api) -> None:
    nonces = []
    for path in ("/", "/work", "/lookup", "/docs", "/redoc", "/api/v1/health", "/nowhere"):
        r = httpx.get(case_api.url + path)
        for name, value in SECURITY.items():
            assert r.headers[name] == value, (path, name)
        csp = r.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "object-src 'none'" in csp and "'unsafe-inline'" not in csp.split(";")[1]
        nonce = re.search(r"'nonce-([^']+)'", csp).group(1)
        nonces.append(nonce)
        if path in ("/lookup", "/docs"):
            scripts = re.findall(r"<script[^>]*>", r.text)
            inline = [s for s in scripts if "src=" not in s]
            assert inline and all(f'nonce="{nonce}"' in s for s in inline), path
    assert len(set(nonces)) == len(nonces)  # one per response


def test_the_basemap_tile_servers_are_allowed_images() -> None:
    tianditu = Settings(basemap="tianditu", tianditu_key="k")
    assert tile_sources(tianditu) == ["https://*.tianditu.gov.cn"]
    own = Settings(basemap_url="http://tiles.city.gov.cn:8080/{z}/{x}/{y}.png")
    assert tile_sources(own) == ["http://tiles.city.gov.cn:8080"]
    assert tile_sources(Settings(basemap="tianditu")) == []  # no key: no tiles to allow


WATCH = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) =>
  window.cspViolations.push(e.violatedDirective + " " + e.blockedURI));
"""


def test_the_pages_load_without_a_csp_violation(browser, case_api) -> None:
    api = case_api
    case = api.report("town1", STREET, track="backlog", channel="patrol")
    number = case["number"]
    context = browser.new_context(
        locale="zh-CN", viewport={"width": 1400, "height": 900}, bypass_csp=False
    )
    context.add_init_script(WATCH)
    page = context.new_page()
    console: list[str] = []
    page.on("console", lambda m: console.append(m.text))
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    seen = []

    def until(expression: str, timeout: float = 30) -> None:
        # polled from outside: wait_for_function would evaluate a string in the page
        deadline = time.monotonic() + timeout
        while not page.evaluate(f"!!({expression})"):
            assert time.monotonic() < deadline, f"not true in {timeout} s: {expression}"
            time.sleep(0.1)

    def look(path: str, ready: str) -> None:
        page.goto(api.url + path)
        until(ready)
        name = path.strip("/").replace("/", "-") or "map"
        page.screenshot(path=str(ARTIFACTS / f"csp-{name}.png"))
        seen.append((path, page.evaluate("window.cspViolations")))

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.goto(api.url + "/work")
    page.fill("#login input[name=username]", "supervisor")
    page.fill("#login input[name=password]", PASSWORD)
    page.click("#login button[type=submit]")
    until("window.weijianWork && weijianWork.ready")
    seen.append(("/work", page.evaluate("window.cspViolations")))
    look(f"/work/cases/{number}", f"window.weijianWork && weijianWork.case?.number === '{number}'")
    # the map draws its vector tiles
    page.goto(api.url + "/")
    until("window.weijianMap && weijianMap.ready")
    page.evaluate(
        "([lat, lon]) => weijianMap.map.setView([lat, lon], 16, {animate: false})",
        [case["lat"], case["lon"]],
    )
    until("Object.values(weijianMap.layers).every((l) => !l || !l._loading)")
    until("document.querySelectorAll('#map .leaflet-tile-container canvas').length")
    page.screenshot(path=str(ARTIFACTS / "csp-map.png"))
    seen.append(("/", page.evaluate("window.cspViolations")))
    # the look-up's inline script answers
    page.goto(api.url + "/lookup")
    page.click("#lookup button[type=submit]")
    until("document.getElementById('summary').textContent !== ''")
    seen.append(("/lookup", page.evaluate("window.cspViolations")))
    page.screenshot(path=str(ARTIFACTS / "csp-lookup.png"))
    # the field app's shell, its login drawn (its own token is not the workbench's)
    look("/m", "document.querySelector('#login .login-form')")
    look("/docs", "document.querySelectorAll('.swagger-ui .opblock').length > 10")
    look("/redoc", "document.querySelectorAll('[data-section-id]').length > 10")
    context.close()
    from weijian.api.routes.docs import REDOC_JS

    assert b"cdn.redoc.ly" not in httpx.get(api.url + REDOC_JS).content  # its logo is ours
    assert all(not violations for _, violations in seen), seen
    assert not [m for m in console if "Content Security Policy" in m], console
    assert not errors, errors


def test_the_demo_keeps_its_password_off_a_database_it_did_not_create(
    cli, engine, sample_dir, tmp_path, monkeypatch
) -> None:
    # the sample city without its cases: the demo's users alone
    samples = tmp_path / "samples"
    shutil.copytree(sample_dir, samples, ignore=shutil.ignore_patterns("cases.csv"))
    monkeypatch.setenv("WEIJIAN_SAMPLES_DIR", str(samples))
    result = cli("demo", "--no-serve")
    assert result.exit_code == 0, result.output
    assert "random passwords" in result.output
    given = dict(re.findall(r"^\s+(\S+)\s+(\S+)$", result.output, re.MULTILINE))
    assert {"admin", "supervisor", "api_key:12345"} <= set(given)
    with engine.begin() as conn:
        with pytest.raises(NotAuthenticated):
            users.login(conn, "admin", "weijian-demo", _now(), 1)
        assert users.login(conn, "admin", given["admin"], _now(), 1)[2].role == "admin"
        key = conn.execute(text("SELECT key_sha256 FROM api_client WHERE name = '12345'"))
        assert key.scalar_one() != users.sha256("demo-12345")
    # asked for, the documented password is used there too (for users created from then on)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM auth_token"))
        conn.execute(text("DELETE FROM app_user WHERE username = 'shequ'"))
    result = cli("demo", "--no-serve", "--demo-passwords")
    assert result.exit_code == 0, result.output
    assert "password weijian-demo" in result.output
    with engine.begin() as conn:
        assert users.login(conn, "shequ", "weijian-demo", _now(), 1)[2].username == "shequ"


def _now() -> datetime:
    return datetime.now(UTC)
