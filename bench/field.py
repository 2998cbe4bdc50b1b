"""The field app's budget (``/m``), on the sample city (small scale) with the demo's users,
served by uvicorn on loopback and opened in Debian's Chromium emulating a phone (390×844, touch):

- **shell size**: every URL the service worker keeps for working offline (the list the server
  writes into ``/m/sw.js``: the page, its modules, style, icons and Leaflet), fetched with
  ``Accept-Encoding: gzip``; the bytes as the server sends them (its GZip middleware compresses
  answers of 1 KB and more) against the budget of 300 KB, and each file gzipped at level 9 for
  comparison.
- **first load on a slow phone**: Lighthouse's mobile throttling through the DevTools protocol
  — 150 ms round trip, 1.6 Mb/s down, 750 kb/s up (``Network.emulateNetworkConditions``) and
  the CPU 4× slower (``Emulation.setCPUThrottlingRate``) — a new browser context (cold cache)
  with the grid worker's login token in place (the login form is not part of the load). Timed
  from the navigation's start: DOMContentLoaded, load, and *usable* — the tab bar and the
  上报 form with its 发送 button shown; against the budget of 5 s. The baseline in the same
  run: the same cold load without throttling. Then the warm load (the service worker installed
  and controlling the page), throttled alike. The service worker's own precache fetches on the
  first load go unthrottled (the protocol throttles the page's requests), and do not delay it.
- **requests per report**: the 上报 flow driven in the page with two photos from disk; the
  requests that send it (``POST /api/v1/cases`` and ``…/evidence``) counted from the page's
  network events — expected 1 + the number of photos — and, apart, the check before sending
  (``POST /api/v1/cases/check``).
"""

from __future__ import annotations

import gzip
import io
import json
import re
import tempfile
import time
from pathlib import Path

import httpx
from PIL import Image
from sqlalchemy import text

from bench.harness import ScratchDatabase, table
from bench.load import _prepare, _sample, _server
from weijian.db.engine import engine_for
from weijian.demo.users import DEMO_PASSWORD

SHELL_BUDGET_KB = 300
LOAD_BUDGET_S = 5.0
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
    "locale": "zh-CN",
    "permissions": ["geolocation"],
    "bypass_csp": True,  # for the probes it evaluates; the page loads the same
}
#: Lighthouse's mobile throttling (its "simulated" 4G-slow profile), as the DevTools protocol
#: takes it: bytes per second and milliseconds
NETWORK = {
    "offline": False,
    "latency": 150,
    "downloadThroughput": 1.6 * 1024 * 1024 / 8,
    "uploadThroughput": 750 * 1024 / 8,
}
CPU_SLOWDOWN = 4
GPS = {"longitude": 126.42, "latitude": 41.94, "accuracy": 10}  # a fix, in Baishan
TOKEN_KEY = "weijian.field.token"  # where the app keeps its login (pages/static/m/app.js)
USABLE = (
    "document.querySelectorAll('#tabbar button').length > 0 && "
    "!!document.querySelector('#report-send')"
)
CHROMIUM = "/usr/bin/chromium"
#: set in the page before its scripts run: notes when it became usable
MARKER = (
    "new MutationObserver((_, o) => { if (" + USABLE + ") { window.__usable = "
    "performance.now(); o.disconnect(); } }).observe(document, {childList: true, "
    "subtree: true, attributes: true});"
)


def _shell(base: str) -> list[dict]:
    """The service worker's list, each URL fetched as a phone would."""
    source = httpx.get(f"{base}/m/sw.js", timeout=30).text
    shell = json.loads(re.search(r"const SHELL = (\{.*?\});", source, re.S).group(1))
    rows = []
    with httpx.Client(base_url=base, timeout=30) as client:
        for url in shell["urls"]:
            r = client.get(url, headers={"Accept-Encoding": "gzip"})
            r.raise_for_status()
            rows.append(
                {
                    "url": url,
                    "raw": len(r.content),
                    "sent": r.num_bytes_downloaded,
                    "encoding": r.headers.get("content-encoding") or "identity",
                    "gzip9": len(gzip.compress(r.content, 9)),
                }
            )
    return rows


def _timings(page) -> dict:
    return page.evaluate(
        """() => {
          const n = performance.getEntriesByType('navigation')[0];
          const bytes = performance.getEntriesByType('resource')
            .reduce((s, r) => s + (r.transferSize || 0), n.transferSize || 0);
          return {dcl: n.domContentLoadedEventEnd, load: n.loadEventEnd,
                  requests: performance.getEntriesByType('resource').length + 1, bytes};
        }"""
    )


def _load(browser, base: str, token: str, throttled: bool, warm: bool = False) -> dict:
    """One load of /m in a new context (cold cache); with ``warm``, that load is followed by a
    reload once the service worker controls the page, and the reload is what is timed. The
    moment the page became usable is noted by the page itself (:data:`MARKER`)."""
    context = browser.new_context(**PHONE)
    context.set_geolocation(GPS)
    context.add_init_script(
        f"localStorage.setItem({json.dumps(TOKEN_KEY)}, {json.dumps(token)});"
        f"document.addEventListener('DOMContentLoaded', () => {{ {MARKER} }});"
    )
    page = context.new_page()
    try:
        session = context.new_cdp_session(page)
        session.send("Network.enable")
        if throttled:
            session.send("Network.emulateNetworkConditions", NETWORK)
            session.send("Emulation.setCPUThrottlingRate", {"rate": CPU_SLOWDOWN})
        page.goto(f"{base}/m", wait_until="commit")
        page.wait_for_function(USABLE, timeout=120_000)
        if warm:
            page.wait_for_function("navigator.serviceWorker.controller !== null", timeout=120_000)
            page.wait_for_load_state("load")
            page.reload(wait_until="commit")
            page.wait_for_function(USABLE, timeout=120_000)
        page.wait_for_load_state("load")
        page.wait_for_function("window.__usable !== undefined", timeout=120_000)
        figures = _timings(page)
        figures["usable"] = page.evaluate("window.__usable")
        return figures
    finally:
        context.close()


SENDING = re.compile(r"/api/v1/cases(/[^/]+/evidence)?$")


def _photo(path: Path, colour) -> str:
    out = io.BytesIO()
    Image.new("RGB", (2400, 1800), colour).save(out, "JPEG", quality=95)
    path.write_bytes(out.getvalue())
    return str(path)


def _report(browser, base: str, token: str, spot: tuple[float, float], folder: Path) -> dict:
    """The 上报 flow with two photos; the requests it made, by kind."""
    context = browser.new_context(**PHONE)
    context.set_geolocation({"longitude": spot[0], "latitude": spot[1], "accuracy": 10})
    context.add_init_script(f"localStorage.setItem({json.dumps(TOKEN_KEY)}, {json.dumps(token)})")
    page = context.new_page()
    seen: list[tuple[str, str]] = []
    page.on("request", lambda r: seen.append((r.method, r.url)))
    photos = [_photo(folder / "a.jpg", (160, 90, 40)), _photo(folder / "b.jpg", (40, 90, 160))]
    try:
        page.goto(f"{base}/m#report")
        page.wait_for_function(USABLE, timeout=60_000)
        page.wait_for_function("window.weijianReport.fix !== null", timeout=30_000)
        page.set_input_files("#report-photos", photos)
        page.wait_for_function("window.weijianReport.photos === 2")
        page.click("#report-kinds button[data-track=new]")
        page.fill("#report-note", "楼顶新建彩钢房（性能测试）")
        page.wait_for_function("(c => c && typeof c === 'object')(window.weijianReport.check)")
        before = len(seen)
        page.click("#report-send")
        page.wait_for_selector("#case-number", timeout=60_000)
        page.wait_for_function("window.weijianField.queue.pending === 0", timeout=60_000)
        number = page.inner_text("#case-number")
        sent = [(m, u) for m, u in seen[before:] if m != "GET"]
    finally:
        context.close()
    posts = [(m, u) for m, u in seen if m != "GET"]
    return {
        "number": number,
        "photos": len(photos),
        "report": sum(1 for m, u in sent if re.search(r"/api/v1/cases$", u)),
        "evidence": sum(1 for m, u in sent if u.endswith("/evidence")),
        "other_on_send": [u for m, u in sent if not SENDING.search(u)],
        "checks": sum(1 for m, u in posts if u.endswith("/api/v1/cases/check")),
    }


def _grid_worker_spot(url: str) -> tuple[float, float]:
    """A point inside the demo grid worker's grid."""
    engine = engine_for(url)
    with engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT ST_X(p) AS lon, ST_Y(p) AS lat FROM (SELECT ST_PointOnSurface(g.geom) AS p "
                "FROM app_user u JOIN active_grid g ON g.code = u.grid_code "
                "WHERE u.username = 'wanggeyuan') s"
            )
        ).one()
    engine.dispose()
    return row.lon, row.lat


def run(city: Path | None = None, repeat: int = 2) -> dict:
    from playwright.sync_api import sync_playwright

    sample = _sample()
    evidence = tempfile.mkdtemp(prefix="weijian-field-")
    with ScratchDatabase() as db:
        started = time.perf_counter()
        _prepare(db, sample, evidence)
        print(f"  sample city and demo cases loaded in {time.perf_counter() - started:.0f} s")
        spot = _grid_worker_spot(db.url)
        with _server(db.url, {"WEIJIAN_EVIDENCE_DIR": evidence}) as (port, _pid):
            base = f"http://127.0.0.1:{port}"
            token = httpx.post(
                f"{base}/api/v1/auth/login",
                json={"username": "wanggeyuan", "password": DEMO_PASSWORD},
                timeout=30,
            ).json()["access_token"]
            shell = _shell(base)
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
                try:
                    loads = {}
                    for name, throttled, warm in (
                        ("unthrottled", False, False),
                        ("throttled", True, False),
                        ("throttled_warm", True, True),
                    ):
                        runs = [
                            _load(browser, base, token, throttled, warm)
                            for _ in range(max(1, repeat))
                        ]
                        loads[name] = min(runs, key=lambda r: r["usable"])
                    with tempfile.TemporaryDirectory() as folder:
                        report = _report(browser, base, token, spot, Path(folder))
                finally:
                    browser.close()
    return _print(shell, loads, report)


def _print(shell: list[dict], loads: dict, report: dict) -> dict:
    sent = sum(r["sent"] for r in shell)
    raw = sum(r["raw"] for r in shell)
    best = sum(r["gzip9"] for r in shell)
    print(f"  the shell: {len(shell)} files the service worker keeps")
    for r in sorted(shell, key=lambda r: -r["sent"]):
        print(
            f"    {r['url']:<42} {r['raw'] / 1024:7.1f} KB raw  {r['sent'] / 1024:6.1f} KB sent "
            f"({r['encoding']})  {r['gzip9'] / 1024:6.1f} KB gzip -9"
        )
    throttled, cold, warm = loads["throttled"], loads["unthrottled"], loads["throttled_warm"]
    slow = throttled["usable"] / 1000
    rows = [
        (
            "shell, as sent (gzip)",
            f"{sent / 1024:.1f} KB",
            f"budget {SHELL_BUDGET_KB} KB: {sent / 1024 / SHELL_BUDGET_KB:.2f} of it; "
            f"raw {raw / 1024:.0f} KB, all gzip -9 {best / 1024:.1f} KB",
        ),
        (
            "first load, usable (throttled)",
            f"{slow:.2f} s",
            f"budget {LOAD_BUDGET_S:.0f} s: {slow / LOAD_BUDGET_S:.2f} of it; DOMContentLoaded "
            f"{throttled['dcl'] / 1000:.2f} s, load {throttled['load'] / 1000:.2f} s, "
            f"{throttled['requests']} requests, {throttled['bytes'] / 1024:.0f} KB",
        ),
        (
            "first load, usable (unthrottled)",
            f"{cold['usable'] / 1000:.2f} s",
            f"the baseline: throttled ÷ unthrottled = {throttled['usable'] / cold['usable']:.1f}",
        ),
        (
            "warm load, usable (throttled)",
            f"{warm['usable'] / 1000:.2f} s",
            f"the service worker's cache: {warm['usable'] / throttled['usable']:.2f} of the "
            f"first load, {warm['bytes'] / 1024:.0f} KB from the network",
        ),
        (
            "requests to send a report",
            f"{report['report'] + report['evidence']}",
            f"{report['report']} report + {report['evidence']} photos "
            f"(expected 1 + {report['photos']}); other requests on 发送: "
            f"{len(report['other_on_send'])}; checks before: {report['checks']}",
        ),
    ]
    table(rows)
    return {
        "shell": {"files": shell, "sent_bytes": sent, "raw_bytes": raw, "gzip9_bytes": best},
        "loads_ms": loads,
        "report": report,
    }
