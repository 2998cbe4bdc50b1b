"""The administrator's API over the hand-built city (tests/casekit.py): an import stored
without activation (the jurisdiction answer unchanged until 启用), the diff of two real
imported versions (counts and areas), rollback."""

from __future__ import annotations

import pytest

from tests import adminkit
from tests.casekit import RED_FLAG, lonlat

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
