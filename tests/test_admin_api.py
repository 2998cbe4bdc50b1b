"""The administrator's API over the hand-built city (tests/casekit.py): an import stored
without activation (the jurisdiction answer unchanged until 启用), the diff of two real
imported versions (counts and areas), rollback."""

from __future__ import annotations

import httpx
import pytest

from tests import adminkit
from tests.casekit import COMPOUND, FARMLAND, JIANGYUAN, PASSWORD, RED_FLAG, STREET, lonlat
from tests.conftest import bearer, login

KM2 = 1_000_000.0


def department_at(api, spot) -> str | None:
    lon, lat = lonlat(spot)
    r = api.get("/api/v1/jurisdiction", lon=lon, lat=lat, crs="cgcs2000")
    assert r.status_code == 200, r.text
    department = r.json()["department"]
    return department and department["type"]


def upload(api, path, **form) -> dict:
    with open(path, "rb") as handle:
        r = api.post(
            "/api/v1/imports/zones",
            "admin",
            files={"file": (path.name, handle, "application/zip")},
            data=form,
        )
    assert r.status_code == 201, r.text
    return r.json()


def wait_department(api, spot, expected) -> None:
    import time

    deadline = time.monotonic() + 10
    while department_at(api, spot) != expected:
        assert time.monotonic() < deadline, f"the answer at {spot} never became {expected}"
        time.sleep(0.1)


def test_a_previewed_version_waits_then_is_diffed_activated_and_rolled_back(case_api, tmp_path):
    api = case_api
    assert department_at(api, RED_FLAG) is None
    report = upload(
        api,
        adminkit.urban_wider(tmp_path),
        layer="urban_managed",
        kind="urban_managed",
        name_field="MC",
        activate="false",
    )
    assert report["version"] == 2 and report["activated"] is False
    assert report["encoding"]["encoding"] == "gbk" and report["encoding"]["source"] == "cpg"
    assert report["source_crs"]["origin"] == "prj"
    assert report["source_crs"]["crs"].startswith("EPSG:4551")
    versions = api.get("/api/v1/layers/urban_managed/versions", "admin").json()
    assert [(v["number"], v["active"]) for v in versions] == [(1, True), (2, False)]
    assert versions[1]["created_by"] == "admin"
    # the waiting version is there to look at, and answers nothing yet
    features = api.get("/api/v1/layers/urban_managed/versions/2/features", "admin").json()
    assert len(features["features"]) == 1
    assert department_at(api, RED_FLAG) is None

    diff = api.get("/api/v1/layers/urban_managed/diff", "admin", **{"from": 1, "to": 2}).json()
    assert diff["counts"] == {
        "added": 0,
        "removed": 0,
        "changed": 1,
        "unchanged": 0,
        "from_features": 1,
        "to_features": 1,
    }
    (kind,) = diff["kinds"]
    assert kind["kind"] == "urban_managed"
    assert kind["gained_m2"] == pytest.approx(4 * KM2, rel=0.005)
    # the old east edge, straight in Gauss-Krüger, is a little curved in lon/lat: a sliver
    assert kind["lost_m2"] < 0.001 * KM2
    assert diff["features"][0]["status"] == "changed"

    r = api.post("/api/v1/layers/urban_managed/activate", "admin", json={"version": 2})
    assert r.status_code == 200 and r.json()["active"] is True
    wait_department(api, RED_FLAG, "urban_enforcement")
    r = api.post("/api/v1/layers/urban_managed/activate", "admin", json={"version": 1})
    assert r.status_code == 200
    wait_department(api, RED_FLAG, None)


def test_the_diff_of_two_land_use_surveys(case_api, tmp_path):
    api = case_api
    report = upload(
        api,
        adminkit.landuse_resurveyed(tmp_path),
        layer="landuse",
        code_field="DLBM",
        name_field="DLMC",
    )
    assert report["activated"] is True and report["version"] == 2
    diff = api.get("/api/v1/layers/landuse/diff", "admin", **{"from": 1, "to": 2}).json()
    counts = diff["counts"]
    assert (counts["added"], counts["removed"], counts["changed"], counts["unchanged"]) == (
        1,
        1,
        1,
        4,
    )
    kinds = {k["kind"]: k for k in diff["kinds"]}
    assert kinds["farmland"]["gained_m2"] == pytest.approx(KM2, rel=0.005)
    assert kinds["farmland"]["lost_m2"] == pytest.approx(KM2, rel=0.005)
    assert kinds["forest"]["lost_m2"] == pytest.approx(KM2, rel=0.005)
    assert kinds["forest"]["gained_m2"] == pytest.approx(0, abs=1)
    assert kinds["homestead"]["net_m2"] == pytest.approx(KM2, rel=0.005)
    assert kinds["construction"]["net_m2"] == pytest.approx(0, abs=1)
    changed = [f for f in diff["features"] if f["status"] == "changed"]
    assert [(f["from"]["name"], f["name"]) for f in changed] == [("乔木林地", "农村宅基地")]
    # the other way round: what was added is removed
    back = api.get("/api/v1/layers/landuse/diff", "admin", **{"from": 2, "to": 1}).json()
    assert (back["counts"]["added"], back["counts"]["removed"]) == (1, 1)
    # only for administrators, and two different versions
    r = api.get("/api/v1/layers/landuse/diff", "ue_hj", **{"from": 1, "to": 2})
    assert r.status_code == 403 and "管理员" in r.json()["message"]
    r = api.get("/api/v1/layers/landuse/diff", "admin", **{"from": 2, "to": 2})
    assert r.status_code == 422 and r.json()["code"] == "layer.diff_same_version"
    r = api.get("/api/v1/layers/landuse/diff", "admin", **{"from": 1, "to": 9})
    assert r.status_code == 404


def test_a_rule_change_previewed_against_the_open_cases(case_api):
    api = case_api
    street = api.report("gridder", COMPOUND)["number"]
    api.report("town1", STREET, channel="patrol")
    api.report("admin", FARMLAND, channel="patrol")
    api.report("admin", JIANGYUAN, channel="patrol")
    rules = api.get("/api/v1/jurisdiction/rules", "admin").json()
    proposed = [
        {k: v for k, v in r.items() if k != "id"}
        | ({"department_type": "county_government"} if "urban_managed" in r["zone_kinds"] else {})
        for r in rules["rules"]
    ]
    r = api.post("/api/v1/jurisdiction/rules/preview", "admin", json={"rules": proposed})
    assert r.status_code == 200, r.text
    effect = r.json()
    assert (effect["open_cases"], effect["changed"]) == (4, 2)
    (move,) = effect["moves"]
    assert move["cases"] == 2
    assert move["from"]["name"] == "浑江区城市管理行政执法局"
    assert move["to"]["name"] == "浑江区人民政府"
    assert street in [c["number"] for c in effect["sample"]]
    # nothing was saved: the rules in force and the answers are those of before
    assert api.get("/api/v1/jurisdiction/rules", "admin").json()["version"] == rules["version"]
    assert department_at(api, COMPOUND) == "urban_enforcement"
    # the same rules change nothing; a rule set that could not be saved is refused the same way
    r = api.post(
        "/api/v1/jurisdiction/rules/preview",
        "admin",
        json={"rules": [{k: v for k, v in x.items() if k != "id"} for x in rules["rules"]]},
    )
    assert r.json()["changed"] == 0
    bad = [{**proposed[0], "department_type": "no_such_department"}]
    r = api.post("/api/v1/jurisdiction/rules/preview", "admin", json={"rules": bad})
    assert r.status_code == 422 and r.json()["code"] == "rules.department_type_unknown"
    r = api.post("/api/v1/jurisdiction/rules/preview", "ue_hj", json={"rules": proposed})
    assert r.status_code == 403


def test_users_disabled_reset_and_api_keys(case_api):
    api = case_api
    officer = api.headers("ue_hj")
    assert httpx.get(f"{api.url}/api/v1/auth/me", headers=officer).status_code == 200
    r = api.send("PATCH", "/api/v1/users/ue_hj", "admin", json={"active": False})
    assert r.status_code == 200 and r.json() == {"username": "ue_hj", "active": False}
    r = httpx.get(f"{api.url}/api/v1/auth/me", headers=officer)
    assert r.status_code == 401, r.text
    assert login(api.url, "ue_hj", PASSWORD).status_code == 401
    listed = {u["username"]: u for u in api.get("/api/v1/users", "admin").json()}
    assert listed["ue_hj"]["active"] is False and listed["ue_hj"]["created_at"]
    api.send("PATCH", "/api/v1/users/ue_hj", "admin", json={"active": True})
    assert httpx.get(f"{api.url}/api/v1/auth/me", headers=officer).status_code == 401
    # enabled again, the user logs in; a new password, once: the old one and the user's tokens stop
    fresh = bearer(login(api.url, "ue_hj", PASSWORD))
    r = api.post("/api/v1/users/ue_hj/password-reset", "admin")
    assert r.status_code == 200, r.text
    password = r.json()["password"]
    assert len(password) >= 8
    assert httpx.get(f"{api.url}/api/v1/auth/me", headers=fresh).status_code == 401
    assert login(api.url, "ue_hj", PASSWORD).status_code == 401
    assert login(api.url, "ue_hj", password).status_code == 200
    # no administrator locks himself out; unknown users are named
    r = api.send("PATCH", "/api/v1/users/admin", "admin", json={"active": False})
    assert r.status_code == 409 and "自己" in r.json()["message"]
    r = api.post("/api/v1/users/nobody/password-reset", "admin")
    assert r.status_code == 404 and r.json()["code"] == "user.not_found"
    r = api.post("/api/v1/users", "admin", json={"username": "坏 名", "password": "x" * 12,
                                                  "role": "supervisor"})  # fmt: skip
    assert r.status_code == 422
    # another system's key: shown once, listed without it, disabled at once
    r = api.post("/api/v1/api-clients", "admin", json={"name": "12345热线", "channel": "hotline"})
    key = r.json()["api_key"]
    (client,) = api.get("/api/v1/api-clients", "admin").json()
    assert client["name"] == "12345热线" and client["active"] and "api_key" not in client
    requests = f"{api.url}/open311/v2/requests.json"
    assert httpx.get(requests, params={"api_key": key}).status_code == 200
    r = api.send("PATCH", f"/api/v1/api-clients/{client['id']}", "admin", json={"active": False})
    assert r.status_code == 200 and r.json()["active"] is False
    r = httpx.get(requests, params={"api_key": key})  # Open311 says 403 for a bad key
    assert r.status_code == 403 and "已停用" in r.text
    r = api.send("PATCH", "/api/v1/api-clients/999", "admin", json={"active": False})
    assert r.status_code == 404
    assert api.get("/api/v1/api-clients", "ue_hj2").status_code == 403


def test_a_new_layer_waiting_for_its_first_activation_lists_its_version(case_api, tmp_path):
    api = case_api
    report = upload(
        api,
        adminkit.urban_wider(tmp_path),
        layer="urban_managed_draft",
        kind="urban_managed",
        name_field="MC",
        activate="false",
    )
    assert report["version"] == 1 and report["activated"] is False
    r = api.get("/api/v1/layers/urban_managed_draft/versions", "admin")
    assert r.status_code == 200, r.text
    assert [(v["number"], v["active"]) for v in r.json()] == [(1, False)]
    r = api.get("/api/v1/layers/urban_managed_draft/versions/1", "admin")
    assert r.status_code == 200 and r.json()["active"] is False
