"""The public's part over the API: a citizen's photos sent with his receipt, a report near an
open case linked to it, the public statistics per district and their map, the rating as an
assessment indicator — and no public answer holding any stored name or phone number."""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import text

from tests.casekit import COMPOUND, RED_FLAG, STREET, lonlat
from tests.test_evidence import PDF, jpeg_at
from weijian.cases.clock import LOCAL


def _photo(api, receipt: str, content: bytes, name: str = "p.jpg", kind: str = "image/jpeg"):
    return api.post(f"/api/v1/receipts/{receipt}/photos", files={"file": (name, content, kind)})


def test_the_reporter_adds_up_to_three_photos_by_his_receipt(case_api):
    api = case_api
    lon, lat = lonlat(STREET)
    made = api.report(None, STREET, description="小区内搭建彩钢房")
    receipt, number = made["receipt"], made["number"]
    shots = [jpeg_at(lon + i * 1e-5, lat) for i in range(4)]
    for i, shot in enumerate(shots[:3], 1):
        r = _photo(api, receipt, shot)
        assert r.status_code == 201, r.text
        assert r.json()["photos"] == i and r.json()["media_type"] == "image/jpeg"
    assert _photo(api, receipt, shots[0]).json()["already_uploaded"] is True
    r = _photo(api, receipt, shots[3])
    assert r.status_code == 409 and r.json()["code"] == "public.photos_too_many"
    assert "最多附 3 张照片" in r.json()["message"]
    other = api.report(None, COMPOUND)["receipt"]
    r = _photo(api, other, PDF, "scan.jpg")
    assert r.status_code == 422 and "PDF" in r.json()["message"], r.text
    r = _photo(api, other, b"\xff\xd8\xff" + b"0" * (2 * 1024 * 1024))
    assert r.status_code == 413 and r.json()["code"] == "upload.too_large", r.text
    assert _photo(api, receipt + "x", shots[3]).status_code == 404
    # staff see the photos on the case, sent by the reporter (群众), never the other way round
    case = api.case("supervisor", number)
    assert len([e for e in case["evidence"] if e["kind"] == "photo"]) == 3
    assert {e["actor"]["name"] for e in case["events"] if e["action"] == "add_evidence"} == {"群众"}
    api.clock.advance(hours=25)
    r = _photo(api, other, shots[3])
    assert r.status_code == 409 and r.json()["code"] == "public.photo_too_late"


def test_a_citizen_report_near_an_open_case_is_linked_to_it(case_api):
    api = case_api
    first = api.report("town1", STREET, channel="patrol")
    x, y = STREET
    near = api.report(None, (x + 0.02, y), description="同一处违建")  # 20 m east
    linked = near["linked_to"]
    assert linked["state_label"] and abs(linked["distance_m"] - 20.0) < 0.5
    assert "number" not in linked and first["number"] not in json.dumps(near)
    far = api.report(None, (x - 0.04, y))  # 40 m west: not linked
    assert far["linked_to"] is None
    timeline = api.get(f"/api/v1/receipts/{near['receipt']}").json()["timeline"]
    assert timeline[-1]["text"] == "已与附近同一问题的其他举报关联，一并处理"
    old = api.case("supervisor", first["number"])
    assert [e["data"]["other"] for e in old["events"] if e["action"] == "link"] == [near["number"]]
    assert [link["number"] for link in old["links"]] == [near["number"]]


def _private_words(engine) -> set[str]:
    """Every name and phone number the database holds: users', reporters', grids' people."""
    with engine.connect() as conn:
        words = {
            w
            for row in conn.execute(text("SELECT display_name, phone FROM app_user"))
            for w in row
            if w
        }
        words |= {
            w
            for row in conn.execute(
                text("SELECT reporter ->> 'name', reporter ->> 'phone' FROM violation_case")
            )
            for w in row
            if w
        }
        for (people,) in conn.execute(text("SELECT responsible FROM grid")):
            for person in people or []:
                words |= {str(v) for k, v in person.items() if k in ("name", "phone") and v}
    return {w for w in words if len(w) >= 2 and w not in ("群众",)}


def test_public_statistics_and_the_rating_in_the_assessment(case_api, engine):
    api = case_api
    backlog = [
        api.report("town1", STREET, track="backlog", channel="patrol")["number"],
        api.report("town2", RED_FLAG, track="backlog", channel="patrol")["number"],
    ]
    api.clock.advance(days=1)
    r = api.post(
        "/api/v1/campaigns", "supervisor", json={"name": "清零行动", "start_date": "2026-03-03"}
    )
    assert r.status_code == 201, r.text
    api.clock.set(datetime(2026, 3, 10, 10, tzinfo=LOCAL))
    api.sign_off_backlog(backlog[1])
    made = api.report(None, COMPOUND, reporter_name="举报人李四", reporter_phone="13912345678")
    number, receipt = made["number"], made["receipt"]
    api.act("ue_hj", number, "site_visit", evidence=[api.photo("ue_hj", number)])
    api.send("PUT", f"/api/v1/cases/{number}/public-outcome", "ue_hj", json={"text": "已劝停"})
    api.act("ue_hj", number, "dismiss", note="内部：不构成")
    api.clock.advance(days=2)
    assert api.post(f"/api/v1/receipts/{receipt}/rating", json={"score": 4}).status_code == 200

    stats = api.get("/api/v1/public/stats", month="2026-03").json()
    assert stats["month"] == "2026-03" and stats["campaign"]["name"] == "清零行动"
    city = stats["city"]
    assert (city["new_cases"], city["signed_off"], city["ratings"]) == (3, 1, 1)
    assert city["avg_rating"] == 4.0 and city["clear_percent"] == 50.0
    assert city["backlog"] == 1 and city["closed"] == 2 and city["avg_handling_days"] > 0
    assert sum(d["new_cases"] for d in stats["districts"]) == 3
    assert {d["name"] for d in stats["districts"]} <= {"浑江区", "江源区"}
    grids = api.get("/api/v1/public/stats/grids", level="town", month="2026-03").json()
    percents = {f["properties"]["name"]: f["properties"]["percent"] for f in grids["features"]}
    assert 100.0 in percents.values() and 0.0 in percents.values(), percents
    for f in grids["features"]:
        assert set(f["properties"]) == {
            "code", "name", "parent", "baseline", "signed_off", "remaining", "percent",
        }  # fmt: skip
    r = api.get("/api/v1/public/stats", month="2099-01")
    assert r.status_code == 422 and r.json()["code"] == "public_stats.month_future"
    r = api.get("/api/v1/public/stats/grids", level="compound")
    assert r.status_code == 422

    # the rating is an indicator of the assessment: 4 of 5
    levels = api.get("/api/v1/assessment/levels", "supervisor", month="2026-03").json()
    city_unit = levels["city"][0]
    rating = next(i for i in city_unit["indicators"] if i["code"] == "public_rating")
    assert rating["value"] == 0.8 and rating["numerator"] == 4 and rating["denominator"] == 5

    # nothing personal in any public answer
    lon, lat = lonlat(COMPOUND)
    answers = [
        api.get("/api/v1/public/stats").text,
        json.dumps(stats, ensure_ascii=False),
        json.dumps(grids, ensure_ascii=False),
        api.get("/api/v1/public/stats/grids", level="community").text,
        api.get(f"/api/v1/receipts/{receipt}").text,
        api.get("/api/v1/jurisdiction", lon=lon, lat=lat, crs="cgcs2000").text,
        api.post("/api/v1/cases/check", json={"lon": lon, "lat": lat, "crs": "cgcs2000"}).text,
        json.dumps(api.report(None, COMPOUND, reporter_phone="13800001111"), ensure_ascii=False),
    ]
    words = _private_words(engine)
    assert {"举报人李四", "13912345678", "13800001111"} <= words and len(words) > 10
    for answer in answers:
        seen = json.loads(answer)
        shown = json.dumps(seen, ensure_ascii=False)
        assert not [w for w in words if w in shown], shown[:300]
