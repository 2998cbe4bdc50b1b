"""The gate log (门岗登记) over real HTTP on a real PostGIS: entries and their scope, made_at
checked, the warning raised by the second entry without a permit, and the one-tap report that
makes one case however often (and however many times at once) it is tapped."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import text

from tests.casekit import (
    COMPOUND,
    COMPOUND_CODE,
    START,
    lonlat,
    served_city,
)


@pytest.fixture(scope="module")
def gate(tmp_path_factory):
    with served_city(tmp_path_factory.mktemp("gate")) as served:
        yield served


def entry(**fields) -> dict:
    body = {
        "unit": "3栋2单元502",
        "materials": ["水泥", "砂石"],
        "permit_shown": False,
        "decision": "stopped",
        "made_at": START.isoformat(),
    }
    body.update(fields)
    return body


def test_entries_are_recorded_by_the_property_company_and_read_in_scope(gate):
    api, _ = gate
    r = api.post(
        "/api/v1/gate-log",
        "property",
        json=entry(unit="1栋1单元", permit_shown=True, permit_no="装备字18", decision="let_in"),
    )
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["compound"] == COMPOUND_CODE and made["compound_name"] == "江山花园"
    assert made["decision_label"] == "放行" and made["permit_no"] == "装备字18"
    assert made["recorded_by"] == "property" and made["warning_id"] is None

    for who in ("property", "gridder", "community", "town1", "admin"):
        r = api.get("/api/v1/gate-log", who, compound=COMPOUND_CODE)
        assert r.status_code == 200, (who, r.text)
        assert made["id"] in [e["id"] for e in r.json()["entries"]], who
    # the other street's town sees nothing of this compound; a department reads no gate log
    assert api.get("/api/v1/gate-log", "town2").json()["entries"] == []
    r = api.get("/api/v1/gate-log", "ue_hj")
    assert r.status_code == 403 and r.json()["code"] == "gate_log.denied"
    # only the property company records, and only for a compound of its own
    r = api.post("/api/v1/gate-log", "gridder", json=entry())
    assert r.status_code == 403 and "物业公司" in r.json()["message"]
    r = api.post("/api/v1/gate-log", "property", json=entry(compound="220602001"))
    assert r.status_code == 404 and r.json()["code"] == "gate_log.compound_not_found"


def test_made_at_is_checked_like_a_report_and_a_retry_records_once(gate):
    api, _ = gate
    future = (api.clock.now() + timedelta(minutes=30)).isoformat()
    r = api.post("/api/v1/gate-log", "property", json=entry(made_at=future))
    assert r.status_code == 422 and r.json()["code"] == "made_at.future"
    assert "晚于服务器当前时间" in r.json()["message"]
    stale = (api.clock.now() - timedelta(days=8)).isoformat()
    r = api.post("/api/v1/gate-log", "property", json=entry(made_at=stale))
    assert r.status_code == 422 and r.json()["code"] == "made_at.too_old"
    r = api.post("/api/v1/gate-log", "property", json=entry(unit="", materials=[]))
    assert r.status_code == 422 and r.json()["code"] == "gate_log.unit_missing"

    key = {"Idempotency-Key": "gate-retry-1"}
    headers = {**api.headers("property"), **key}
    body = entry(unit="9栋", permit_shown=True, decision="let_in")
    first = httpx.post(f"{api.url}/api/v1/gate-log", json=body, headers=headers)
    again = httpx.post(f"{api.url}/api/v1/gate-log", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"]
    units = [e["unit"] for e in api.get("/api/v1/gate-log", "property").json()["entries"]]
    assert units.count("9栋") == 1


def test_one_entry_sent_five_times_at_once_is_recorded_once(gate):
    """The key the middleware honours for every case-changing call: the entry is recorded on
    its key in the entry's own transaction, so parallel copies and a retry after a crash (the
    answer never stored) all answer the one entry."""
    api, engine = gate
    headers = {**api.headers("property"), "Idempotency-Key": str(uuid.uuid4())}
    body = entry(unit="11栋", permit_shown=True, decision="let_in")
    with ThreadPoolExecutor(5) as pool:
        answers = list(
            pool.map(
                lambda _: httpx.post(f"{api.url}/api/v1/gate-log", json=body, headers=headers),
                range(5),
            )
        )
    assert {r.status_code for r in answers} == {201}, [r.text for r in answers]
    assert len({r.json()["id"] for r in answers}) == 1
    units = [e["unit"] for e in api.get("/api/v1/gate-log", "property").json()["entries"]]
    assert units.count("11栋") == 1
    # a crash between the entry's commit and the stored answer: the key still names the entry
    made = answers[0].json()["id"]
    key = str(uuid.uuid4())
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO idempotency_key (caller, key, method, path, made_kind, made_id, "
                "created_at) SELECT 'user:' || id, :k, 'POST', '/api/v1/gate-log', "
                "'gate_log_entry', :m, now() FROM app_user WHERE username = 'property'"
            ),
            {"k": key, "m": made},
        )
    r = httpx.post(
        f"{api.url}/api/v1/gate-log",
        json=body,
        headers={**api.headers("property"), "Idempotency-Key": key},
    )
    assert r.status_code == 201 and r.json()["id"] == made


def test_the_second_entry_without_a_permit_warns_and_one_tap_makes_one_case(gate):
    api, engine = gate
    first = api.post("/api/v1/gate-log", "property", json=entry(unit="5栋1单元301"))
    assert first.status_code == 201 and first.json()["warning_id"] is None
    assert api.get("/api/v1/gate-log/warnings", "gridder", open="true").json()["warnings"] == []

    api.clock.advance(days=3)
    made = api.clock.now().isoformat()
    second = api.post(
        "/api/v1/gate-log",
        "property",
        json=entry(unit="5 栋 1 单元 301", materials=["彩钢板"], decision="let_in", made_at=made),
    )
    assert second.status_code == 201, second.text
    warning_id = second.json()["warning_id"]
    assert warning_id is not None

    seen = api.get("/api/v1/gate-log/warnings", "gridder", open="true").json()["warnings"]
    assert [w["id"] for w in seen] == [warning_id]
    warning = seen[0]
    assert warning["entry_count"] == 2 and warning["case_number"] is None
    assert "5栋1单元301" in warning["text"] and "彩钢板" in warning["text"]
    assert api.get("/api/v1/gate-log/warnings", "town2").json()["warnings"] == []
    r = api.post(f"/api/v1/gate-log/warnings/{warning_id}/report", "town1")
    assert r.status_code == 403

    # the grid worker taps 一键上报 five times at once: one case, the same number each time
    def tap(_):
        return api.post(f"/api/v1/gate-log/warnings/{warning_id}/report", "gridder")

    with ThreadPoolExecutor(5) as pool:
        answers = list(pool.map(tap, range(5)))
    assert sorted(a.status_code for a in answers) == [200, 200, 200, 200, 201]
    numbers = {a.json()["case"]["number"] for a in answers}
    assert len(numbers) == 1
    number = numbers.pop()
    case = answers[0].json()["case"]
    assert case["channel"] == "grid_worker"
    assert "门岗登记预警" in case["description"] and "5栋1单元301" in case["description"]
    lon, lat = lonlat(COMPOUND)
    assert abs(case["lon"] - lon) < 0.01 and abs(case["lat"] - lat) < 0.01
    with engine.connect() as conn:
        made_cases = conn.execute(
            text("SELECT count(*) FROM violation_case WHERE description LIKE '门岗登记预警%'")
        ).scalar_one()
    assert made_cases == 1
    later = api.post(f"/api/v1/gate-log/warnings/{warning_id}/report", "property")
    assert later.status_code == 200 and later.json()["case"]["number"] == number
    assert later.json()["warning"]["case_number"] == number

    # the reported entries count no more: the next entry alone raises nothing
    third = api.post("/api/v1/gate-log", "property", json=entry(unit="5栋1单元301", made_at=made))
    assert third.status_code == 201 and third.json()["warning_id"] is None
    # the log is append-only for the application's database role
    with engine.begin() as conn:
        conn.execute(text("SET LOCAL ROLE weijian_app"))
        with pytest.raises(Exception, match=r"permission denied|append-only"):
            conn.execute(text("UPDATE gate_log_entry SET unit = 'x'"))
