"""The server side of reporting from the field, at the API over real HTTP: the Idempotency-Key
(five parallel copies of one report make one case; a case made before a crash answers its
retry), made_at (the report's time on the phone judges the one-day report deadline), evidence
with the phone's time and place, POST /cases/check, the property company's 劝阻记录, and
HTTPS with `weijian serve --tls-cert/--tls-key`."""

from __future__ import annotations

import io
import ssl
import subprocess
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import httpx
import pytest
import uvicorn
from PIL import Image
from sqlalchemy import text

from tests.casekit import START, Api, lonlat, served_city
from tests.conftest import _free_port
from weijian.cases import history
from weijian.cases.clock import LOCAL

# spots in km from the city's corner: inside the compound 江山花园 (0.2–0.4 km), apart
# farther than the rebound radius
PARALLEL, MADE, DUPLICATE, CRASH = (0.22, 0.22), (0.22, 0.38), (0.38, 0.22), (0.38, 0.38)
SIGNED_OFF = (1.0, 1.0)
IN_A_ROW = 5


@pytest.fixture(scope="module")
def field(tmp_path_factory):
    """The hand-built city with a user per role, served on a clock the tests move: one for the
    module (each test reports at its own spot)."""
    with served_city(tmp_path_factory.mktemp("field")) as (api, engine):
        api.engine = engine
        yield api


def body_at(spot, **more) -> dict:
    lon, lat = lonlat(spot)
    return {"lon": lon, "lat": lat, "crs": "cgcs2000", "description": "楼顶私建彩钢房", **more}


def moment(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


def keyed(api: Api, who: str, key: str) -> dict:
    return {**api.headers(who), "Idempotency-Key": key}


def count_cases(api: Api, description: str) -> int:
    with api.engine.connect() as conn:
        return conn.execute(
            text("SELECT count(*) FROM violation_case WHERE description = :d"), {"d": description}
        ).scalar_one()


# -- Idempotency-Key ---------------------------------------------------------------------------


def test_one_report_sent_five_times_at_once_makes_one_case(field):
    key = str(uuid.uuid4())
    body = body_at(PARALLEL, description="五次并发上报的同一案件")
    headers = keyed(field, "gridder", key)
    start = threading.Barrier(IN_A_ROW)

    def send(_):
        start.wait()
        return httpx.post(f"{field.url}/api/v1/cases", json=body, headers=headers, timeout=120)

    with ThreadPoolExecutor(IN_A_ROW) as pool:
        answers = list(pool.map(send, range(IN_A_ROW)))
    assert [r.status_code for r in answers] == [201] * IN_A_ROW, [r.text for r in answers]
    numbers = {r.json()["number"] for r in answers}
    assert len(numbers) == 1
    assert count_cases(field, body["description"]) == 1
    # one of them made it; the others waited for it and heard its answer again
    replayed = [r.headers.get("idempotent-replayed") == "true" for r in answers]
    assert replayed.count(False) == 1
    # the same key later: the same answer, byte for byte, and still one case
    again = httpx.post(f"{field.url}/api/v1/cases", json=body, headers=headers)
    assert again.status_code == 201 and again.content == answers[replayed.index(True)].content
    assert count_cases(field, body["description"]) == 1


def test_a_key_names_one_request(field):
    key = str(uuid.uuid4())
    headers = keyed(field, "gridder", key)
    first = body_at(MADE, description="键只对应一个请求")
    future = (START + timedelta(hours=2)).isoformat()
    # a refused try changes nothing, so its key is free for the request mended
    r = httpx.post(f"{field.url}/api/v1/cases", json={**first, "made_at": future}, headers=headers)
    assert r.status_code == 422 and r.json()["code"] == "made_at.future"
    r = httpx.post(f"{field.url}/api/v1/cases", json=first, headers=headers)
    assert r.status_code == 201
    number = r.json()["number"]
    # then another body, or another path, with that key: refused in Chinese
    other = {**first, "description": "另一个案件"}
    r = httpx.post(f"{field.url}/api/v1/cases", json=other, headers=headers)
    assert r.status_code == 422 and r.json()["code"] == "idempotency.key_reused"
    assert "同一个键只能用于重发同一个请求" in r.json()["message"]
    r = httpx.post(f"{field.url}/api/v1/cases/{number}/links", json={}, headers=headers)
    assert r.status_code == 422 and r.json()["code"] == "idempotency.key_reused"
    # another user's same key is another key
    r = httpx.post(f"{field.url}/api/v1/cases", json=first, headers=keyed(field, "property", key))
    assert r.status_code == 201 and r.json()["number"] != number
    for bad in ("with space", "键".encode(), "x" * 101, ""):
        r = httpx.post(
            f"{field.url}/api/v1/cases",
            json=first,
            headers={**field.headers("gridder"), "Idempotency-Key": bad},
        )
        assert r.status_code == 422 and r.json()["code"] == "idempotency.key_invalid", bad
        assert "建议使用 UUID" in r.json()["message"]


def test_a_case_made_before_a_crash_answers_the_retry(field):
    """The server died after the case's transaction and before the answer was stored: the key
    names the case (written in the case's own transaction), so the retry answers it."""
    description = "提交后服务器崩溃的案件"
    made = field.report("gridder", CRASH, description=description)
    key = str(uuid.uuid4())
    with field.engine.begin() as conn:
        user = conn.execute(text("SELECT id FROM app_user WHERE username = 'gridder'")).scalar()
        conn.execute(
            text(
                "INSERT INTO idempotency_key (caller, key, method, path, made_kind, made_id, "
                "created_at) SELECT :c, :k, 'POST', '/api/v1/cases', 'case', id, now() "
                "FROM violation_case "
                "WHERE number = :n"
            ),
            {"c": f"user:{user}", "k": key, "n": made["number"]},
        )
    r = httpx.post(
        f"{field.url}/api/v1/cases",
        json=body_at(CRASH, description=description),
        headers=keyed(field, "gridder", key),
    )
    assert r.status_code == 201, r.text
    assert r.json()["number"] == made["number"]
    assert count_cases(field, description) == 1


def test_steps_and_photos_sent_twice_happen_once(field):
    number = field.report("property", DUPLICATE, description="劝阻记录与照片重发")["number"]
    version = field.case("property", number)["version"]
    step = {"action": "dissuade", "version": version, "note": "已上门劝阻，业主同意停工"}
    headers = keyed(field, "property", str(uuid.uuid4()))
    url = f"{field.url}/api/v1/cases/{number}/transitions"
    first, second = (httpx.post(url, json=step, headers=headers) for _ in range(2))
    assert first.status_code == second.status_code == 200, (first.text, second.text)
    assert second.headers["idempotent-replayed"] == "true"
    case = field.case("property", number)
    assert [e["action"] for e in case["events"]].count("dissuade") == 1
    assert case["version"] == version + 1
    photo = plain_jpeg()
    headers = keyed(field, "property", str(uuid.uuid4()))
    sent = [
        httpx.post(
            f"{field.url}/api/v1/cases/{number}/evidence",
            files={"file": ("劝阻.jpg", photo, "image/jpeg")},
            data={"kind": "photo"},
            headers=headers,
        )
        for _ in range(2)
    ]
    assert [r.status_code for r in sent] == [201, 201]
    assert sent[1].headers["idempotent-replayed"] == "true" and sent[1].content == sent[0].content
    events = field.case("property", number)["events"]
    assert [e["action"] for e in events].count("add_evidence") == 1


# -- made_at -----------------------------------------------------------------------------------


def test_the_time_it_was_made_judges_the_report_deadline(field):
    # found 30 hours ago, reported on the phone two hours later, sent now: on time
    discovered = START - timedelta(hours=30)
    made_at = START - timedelta(hours=28)
    case = field.report(
        "gridder",
        MADE,
        description="离线上报",
        discovered_at=discovered.isoformat(),
        made_at=made_at.isoformat(),
    )
    detail = field.case("gridder", case["number"])
    assert moment(detail["reported_at"]) == made_at
    assert moment(detail["received_at"]) == START
    report = next(d for d in detail["deadlines"] if d["code"] == "report")
    assert report["status"] == "met", report
    assert "late_report" not in (detail.get("flags") or {})
    # the same report sent without made_at reaches the server late
    late = field.report(
        "gridder", (0.25, 0.33), description="现在上报", discovered_at=discovered.isoformat()
    )
    report = next(
        d for d in field.case("gridder", late["number"])["deadlines"] if d["code"] == "report"
    )
    assert report["status"] == "late"
    # a phone's clock ahead beyond the skew, or a record older than the setting: refused
    for when, code, words in (
        (START + timedelta(minutes=30), "made_at.future", "请校准手机时间"),
        (START - timedelta(days=8), "made_at.too_old", "已超过 7 天"),
    ):
        r = field.post("/api/v1/cases", "gridder", json=body_at(MADE, made_at=when.isoformat()))
        assert r.status_code == 422 and r.json()["code"] == code, r.text
        assert words in r.json()["message"]


def test_a_step_keeps_the_time_it_was_made_and_the_chain_holds(field):
    number = field.report("gridder", (0.25, 0.25), description="离线劝阻")["number"]
    made_at = START - timedelta(hours=3)
    done = field.act(
        "gridder", number, "dissuade", note="离线时已劝阻", made_at=made_at.isoformat()
    )
    event = next(e for e in done["events"] if e["action"] == "dissuade")
    assert moment(event["made_at"]) == made_at
    assert event["data"]["made_at"] == event["made_at"]
    assert done["state"] == "reported"  # 劝阻记录 leaves the state as it is
    assert history.verify(field.engine, number=number)["ok"]


# -- evidence metadata -------------------------------------------------------------------------


def plain_jpeg(shade: int | None = None) -> bytes:
    """A photo as the field app sends it: compressed on the phone, without EXIF."""
    out = io.BytesIO()
    colour = (shade if shade is not None else uuid.uuid4().int % 256, 90, 40)
    Image.new("RGB", (64, 48), colour).save(out, "JPEG", quality=80)
    return out.getvalue()


def test_a_photo_keeps_the_phones_time_and_place(field):
    number = field.report("gridder", (0.28, 0.36), description="照片元数据")["number"]
    case = field.case("gridder", number)
    taken = START - timedelta(minutes=20)
    far_lat = case["lat"] + 300 / 111_000  # 300 m north of the case
    r = field.post(
        f"/api/v1/cases/{number}/evidence",
        "gridder",
        files={"file": ("现场.jpg", plain_jpeg(7), "image/jpeg")},
        data={
            "kind": "photo",
            "taken_at": taken.isoformat(),
            "lon": str(case["lon"]),
            "lat": str(far_lat),
            "crs": "cgcs2000",
        },
    )
    assert r.status_code == 201, r.text
    assert r.json()["flagged"] and 290 < r.json()["distance_m"] < 310
    item = field.case("gridder", number)["evidence"][0]
    assert moment(item["device_taken_at"]) == taken
    assert abs(item["device_lat"] - far_lat) < 1e-7 and item["taken_at"] is None
    r = field.post(
        f"/api/v1/cases/{number}/evidence",
        "gridder",
        files={"file": ("现场.jpg", plain_jpeg(8), "image/jpeg")},
        data={"kind": "photo", "lon": str(case["lon"])},
    )
    assert r.status_code == 422 and r.json()["code"] == "evidence.device_point_incomplete"


# -- POST /cases/check -------------------------------------------------------------------------


def test_the_check_before_sending(field):
    open_case = field.report("gridder", DUPLICATE, description="已在办的案件")["number"]
    backlog = field.report("town1", SIGNED_OFF, track="backlog", channel="patrol")["number"]
    field.sign_off_backlog(backlog)
    lon, lat = lonlat(DUPLICATE)
    near = {"lon": lon, "lat": lat + 10 / 111_000, "crs": "cgcs2000"}
    r = field.post("/api/v1/cases/check", "gridder", json=near)
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["responsible"].startswith("由浑江区") and "负责" in answer["responsible"]
    assert "江山花园" in answer["responsible"]
    on = START.astimezone(LOCAL).date().isoformat()  # the served clock's day
    same = field.get("/api/v1/jurisdiction", "gridder", on=on, **near).json()
    assert answer["jurisdiction"] == same  # the same answer as the look-up
    found = {d["number"]: d for d in answer["duplicates"]}
    assert open_case in found and 5 < found[open_case]["distance_m"] < 15
    assert found[open_case]["state_label"] == "已上报待核查"
    assert answer["rebounds"] == []
    # anonymous: the same warning, no case numbers
    anonymous = httpx.post(f"{field.url}/api/v1/cases/check", json=near).json()
    assert anonymous["duplicates"] and all(d["number"] is None for d in anonymous["duplicates"])
    assert all("responsible" not in (g or {}) for g in anonymous["jurisdiction"]["grid"].values())
    # staff see the number of a duplicate only when the case is theirs to read: across the
    # border of two towns, 20 m apart
    other = field.report("town1", (1.99, 1.5), channel="patrol", description="邻街道的案件")
    other = other["number"]
    lon, lat = lonlat((2.01, 1.5))
    seen = field.post(
        "/api/v1/cases/check", "town2", json={"lon": lon, "lat": lat, "crs": "cgcs2000"}
    ).json()["duplicates"]
    assert [d["number"] for d in seen] == [None] and 15 < seen[0]["distance_m"] < 25
    seen = field.post(
        "/api/v1/cases/check", "supervisor", json={"lon": lon, "lat": lat, "crs": "cgcs2000"}
    ).json()["duplicates"]
    assert [d["number"] for d in seen] == [other]
    # a signed-off case 20 m away: a rebound
    lon, lat = lonlat(SIGNED_OFF)
    r = field.post(
        "/api/v1/cases/check",
        "supervisor",
        json={"lon": lon + 20 / 80_000, "lat": lat, "crs": "cgcs2000"},
    )
    rebound = r.json()["rebounds"]
    assert [x["number"] for x in rebound] == [backlog] and rebound[0]["closed_at"]
    # what a report there would be refused for, the check refuses alike
    lon, lat = lonlat((1.5, 1.5))
    r = field.post(
        "/api/v1/cases/check", "gridder", json={"lon": lon, "lat": lat, "crs": "cgcs2000"}
    )
    assert r.status_code == 403 and r.json()["code"] == "report.outside_your_grid"
    r = field.post("/api/v1/cases/check", "gridder", json={"crs": "wgs84"})
    assert r.status_code == 422 and r.json()["code"] == "report.location_missing"


# -- 劝阻记录 ------------------------------------------------------------------------------------


def test_dissuasion_by_the_property_company(field):
    number = field.report("property", (0.33, 0.27), description="物业发现的加建")["number"]
    case = field.case("property", number)
    offered = {a["action"]: a for a in case["actions"]}
    assert offered["dissuade"]["label"] == "劝阻记录" and offered["dissuade"]["note_required"]
    r = field.post(
        f"/api/v1/cases/{number}/transitions",
        "property",
        json={"action": "dissuade", "version": case["version"]},
    )
    assert r.status_code == 422, r.text
    photo = field.post(
        f"/api/v1/cases/{number}/evidence",
        "property",
        files={"file": ("劝阻.jpg", plain_jpeg(), "image/jpeg")},
        data={"kind": "photo"},
    ).json()["sha256"]
    done = field.act(
        "property", number, "dissuade", note="已劝阻，业主承诺自行拆除", evidence=[photo]
    )
    assert done["state"] == "reported" and done["events"][-1]["label"] == "劝阻记录"
    # not the officers' step, and not a case outside the compound
    r = field.post(
        f"/api/v1/cases/{number}/transitions",
        "ue_hj",
        json={"action": "dissuade", "version": done["version"], "note": "x"},
    )
    assert r.status_code == 403 and r.json()["code"] == "workflow.role_not_allowed"
    elsewhere = field.report("town1", (1.5, 1.5), description="街道上的案件", channel="patrol")
    assert field.get(f"/api/v1/cases/{elsewhere['number']}", "property").status_code == 404


# -- HTTPS -------------------------------------------------------------------------------------


def test_serve_over_https(field, tmp_path):
    from typer.testing import CliRunner

    from weijian.api.app import create_app
    from weijian.cli import app as cli_app

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    port = _free_port()
    config = uvicorn.Config(
        create_app(field.engine, clock=field.clock, settings=field.settings),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        ssl_certfile=str(cert),
        ssl_keyfile=str(key),
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        for _ in range(200):
            if server.started:
                break
            threading.Event().wait(0.05)
        trusting = ssl.create_default_context(cafile=cert)  # the self-signed certificate
        r = httpx.get(f"https://127.0.0.1:{port}/api/v1/health", verify=trusting)
        assert r.status_code == 200 and r.json()["status"] == "ok"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    # the command says in Chinese what is wrong before it starts anything
    runner = CliRunner()
    missing = tmp_path / "none.pem"
    for args, words in (
        (["--tls-cert", str(missing), "--tls-key", str(key)], "找不到证书文件"),
        (["--tls-cert", str(cert)], "缺少 --tls-key"),
        (["--tls-cert", str(key), "--tls-key", str(cert)], "无法使用"),
    ):
        result = runner.invoke(cli_app, ["serve", *args])
        assert result.exit_code == 2, result.output
        assert words in result.output, result.output
