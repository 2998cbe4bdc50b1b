"""No personal data in public answers: anyone learns which department and which grid answer
for a spot; the names and phones of the people responsible, and the reporters', only a
logged-in user whose scope holds them."""

from __future__ import annotations

import json

from tests.casekit import COMPOUND, RED_FLAG, lonlat

# the grid staff of the hand-built city (tests/city.py, tests/casekit.py)
STAFF = {
    "赵军": "13904390001",  # 浑江区
    "钱鹏": "13904390002",  # 江源区
    "孙丽": "13904390003",  # 新建街道
    "李强": "13904390004",  # 东山社区
    "周敏": "13904390005",  # 江山花园
    "吴刚": "13904390006",  # 红旗街道
}


def _people_in(body) -> set[str]:
    text = json.dumps(body, ensure_ascii=False)
    return {name for name, phone in STAFF.items() if name in text or phone in text}


def _lookup(api, spot, who=None) -> dict:
    lon, lat = lonlat(spot)
    r = api.get("/api/v1/jurisdiction", who, lon=lon, lat=lat, crs="cgcs2000")
    assert r.status_code == 200, r.text
    return r.json()


def test_a_public_lookup_names_the_grids_but_no_person(case_api):
    answer = _lookup(case_api, COMPOUND)
    assert answer["department"]["name"] == "浑江区城市管理行政执法局"
    assert answer["grid"]["compound"] == {"code": "220602001001001", "name": "江山花园"}
    assert _people_in(answer) == set()


def test_staff_see_the_people_of_spots_in_their_scope_only(case_api):
    # the town's clerk at a spot of its town: the whole chain's people
    assert _people_in(_lookup(case_api, COMPOUND, "town1")) == {"赵军", "孙丽", "李强", "周敏"}
    # … at a spot of the other street: nobody
    assert _people_in(_lookup(case_api, RED_FLAG, "town1")) == set()
    # the other street's clerk there: its own chain
    assert _people_in(_lookup(case_api, RED_FLAG, "town2")) == {"赵军", "吴刚"}
    # the city's supervisor everywhere
    assert _people_in(_lookup(case_api, COMPOUND, "supervisor")) == {
        "赵军",
        "孙丽",
        "李强",
        "周敏",
    }


def test_layer_features_carry_people_and_attributes_only_within_scope(case_api):
    api = case_api
    path = "/api/v1/layers/grid_town/versions/{n}/features"
    versions = api.get("/api/v1/layers/grid_town/versions", "admin").json()
    town = path.format(n=max(v["number"] for v in versions))

    public = api.get(town).json()
    assert {f["properties"]["name"] for f in public["features"]} == {"新建街道", "红旗街道"}
    assert _people_in(public) == set()
    assert all("attributes" not in f["properties"] for f in public["features"])

    own = api.get(town, "town1").json()
    by_name = {f["properties"]["name"]: f["properties"] for f in own["features"]}
    assert by_name["新建街道"]["responsible"] == [{"name": "孙丽", "phone": "13904390003"}]
    assert "responsible" not in by_name["红旗街道"]
    assert _people_in(own) == {"孙丽"}

    assert _people_in(api.get(town, "supervisor").json()) == {"孙丽", "吴刚"}
    # zones carry no people; their attributes are for staff
    zones = api.get("/api/v1/layers/landuse/versions/1/features").json()
    assert zones["features"] and all("attributes" not in f["properties"] for f in zones["features"])
    staff = api.get("/api/v1/layers/landuse/versions/1/features", "community").json()
    assert all("attributes" in f["properties"] for f in staff["features"])


def test_an_anonymous_report_reads_back_no_person(case_api):
    lon, lat = lonlat(COMPOUND)
    r = case_api.post(
        "/api/v1/cases",
        json={
            "lon": lon,
            "lat": lat,
            "crs": "cgcs2000",
            "description": "小区内私搭乱建",
            "reporter_name": "匿名群众张三",
            "reporter_phone": "13712345678",
        },
    )
    assert r.status_code == 201, r.text
    case = r.json()
    assert case["number"].startswith("HJ-") and case["receipt"]
    assert case["department"]["name"] == "浑江区城市管理行政执法局"
    assert case["grid"]["community"]["name"] == "东山社区"
    text = json.dumps(case, ensure_ascii=False)
    assert _people_in(case) == set()
    assert "13712345678" not in text and "张三" not in text
    assert "events" not in case and "jurisdiction" not in case
    # the officer who holds it reads the reporter and the grid's people
    full = case_api.case("ue_hj", case["number"])
    assert full["reporter"]["phone"] == "13712345678"
    assert _people_in(full) == {"赵军", "孙丽", "李强", "周敏"}


def test_the_public_lookup_page_shows_no_person(case_api):
    page = case_api.get("/lookup")
    assert page.status_code == 200
    assert _people_in(page.text) == set()
