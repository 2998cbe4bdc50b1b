"""Construction projects (项目追踪) over the API on the hand-built city: a project registered
from a GBK shapefile red line in Gauss-Krüger (zipped, without a .cpg), a case inside it linked
(one reported before the import, one after), a finding of an inspection outside the red line
opening a case from the project_tracking channel, the area built outside the red line checked
against the hand-computed value, and overdue inspections during construction and at completion
acceptance."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from pypdf import PdfReader

from tests import catalogue
from tests.casekit import COMMUNITY, TOWN1, lonlat, site_photo
from tests.city import box, frame
from tests.test_patrol import text_of
from weijian.cases.evidence import EvidenceStore
from weijian.projects.register import verify_photos

RED_LINE = (0.5, 0.5, 0.7, 0.7)  # km: a 200 m square in 新建街道
INSIDE, OUTSIDE = (0.6, 0.6), (0.9, 0.9)


def red_line_zip(folder) -> bytes:
    shp = catalogue.write_shapefile(
        frame(
            [
                {
                    "XMMC": "江山花园二期",
                    "JSDW": "白山市城建开发有限公司",
                    "GHXKZ": "建字第220602202600012号",
                    "SGXKZ": "220602202603150101",
                    "geometry": box(*RED_LINE),
                }
            ]
        ),
        folder,
        "红线",
        cpg=False,
        language_byte=0x4D,  # GBK, as the DBF says
    )
    path = folder / "红线.zip"
    with zipfile.ZipFile(path, "w") as z:
        for part in shp.parent.glob("红线.*"):
            if part.suffix != ".zip":
                z.write(part, part.name)
    return path.read_bytes()


def km_polygon(x0, y0, x1, y1) -> dict:
    ring = [lonlat((x, y)) for x, y in ((x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0))]
    return {"type": "Polygon", "coordinates": [[list(p) for p in ring]]}


def test_a_project_from_its_red_line_to_completion(case_api, engine, tmp_path):
    api = case_api
    before = api.report("ue_hj", INSIDE, channel="patrol")["number"]
    upload = {"file": ("红线.zip", red_line_zip(tmp_path), "application/zip")}
    fields = {
        "name_field": "XMMC",
        "developer_field": "JSDW",
        "planning_permit_field": "GHXKZ",
        "construction_permit_field": "SGXKZ",
    }
    r = api.post("/api/v1/projects/import", "gridder", files=upload, data=fields)
    assert r.status_code == 403 and r.json()["code"] == "project.role_not_allowed"
    r = api.post("/api/v1/projects/import", "nr_hj", files=upload, data=fields)
    assert r.status_code == 201, r.text
    answer = r.json()
    assert answer["report"]["encoding"]["encoding"].lower() in ("gbk", "cp936")
    (project,) = answer["projects"]
    assert project["name"] == "江山花园二期" and project["developer"] == "白山市城建开发有限公司"
    assert project["planning_permit"] == project["code"] == "建字第220602202600012号"
    assert project["stage"] == "approved" and project["town_code"] == TOWN1
    assert project["town_name"] == "新建街道"
    assert project["area_m2"] == pytest.approx(40_000, abs=1)
    ref = project["id"]
    # the same file again: refused whole, the register as it was
    r = api.post("/api/v1/projects/import", "nr_hj", files=upload, data=fields)
    assert r.status_code == 409 and r.json()["code"] == "project.code_taken"
    r = api.post("/api/v1/projects/import", "nr_hj", files=upload, data={"name_field": "NAME"})
    assert r.status_code == 422 and "NAME" in r.json()["message"]

    # the printed patrol map of the community shows the red line, named, in its legend
    r = api.get(f"/api/v1/patrol-maps/grids/{COMMUNITY}.pdf", "town1")
    assert r.status_code == 200
    printed = text_of(PdfReader(io.BytesIO(r.content)))
    assert "江山花园二期" in printed and "建设项目规划红线" in printed

    # cases inside the red line belong to the project: the one before the import, and a new one
    inside = api.report("ue_hj", (0.62, 0.65), channel="patrol")["number"]
    outside = api.report("ue_hj", OUTSIDE, channel="patrol")["number"]
    assert api.case("ue_hj", before)["project"]["code"] == project["code"]
    assert api.case("ue_hj", inside)["project"]["name"] == "江山花园二期"
    assert api.case("ue_hj", outside)["project"] is None

    # construction begins; an inspection finds a structure reaching 20 m beyond the red line:
    # a 40 m × 20 m footprint, half of it outside — 20 m × 20 m = 400 m² by hand
    r = api.send("PUT", f"/api/v1/projects/{ref}/stage", "nr_hj", json={"stage": "done"})
    assert r.status_code == 409 and r.json()["code"] == "project.stage_move"
    r = api.send(
        "PUT", f"/api/v1/projects/{ref}/stage", "nr_hj", json={"stage": "under_construction"}
    )
    assert r.status_code == 200 and r.json()["stage_label"] == "在建"
    lon, lat = lonlat((0.71, 0.61))
    finding = {
        "lon": lon,
        "lat": lat,
        "crs": "cgcs2000",
        "description": "东侧超出规划红线搭建临时板房",
        "footprint": km_polygon(0.68, 0.60, 0.72, 0.62),
    }
    r = api.post(
        f"/api/v1/projects/{ref}/inspections",
        "ue_hj",
        data={
            "kind": "construction",
            "findings": "东侧围挡外新建板房，超出红线",
            "passed": "false",
            "finding": json.dumps(finding),
        },
        files=[("photos", ("检查.jpg", site_photo(lon, lat), "image/jpeg"))],
    )
    assert r.status_code == 201, r.text
    seen = r.json()
    opened = seen["case"]
    case = api.case("ue_hj", opened)
    assert case["channel"] == "project_tracking" and case["project"]["id"] == ref
    assert seen["inspection"]["case_number"] == opened and not seen["inspection"]["passed"]
    assert seen["area_outside_m2"] == pytest.approx(400.0, abs=1.0)
    assert seen["open_cases"] == 3 and seen["cases"] == 3
    assert {c["number"]: c["inside"] for c in seen["case_list"]}[opened] is False
    sha = seen["inspection"]["photos"][0]["sha256"]
    r = api.get(f"/api/v1/projects/{ref}/photos/{sha}", "supervisor")
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    assert not seen["inspection_overdue"]
    # `weijian audit verify` reads the inspection photos too, and names a changed one
    store = EvidenceStore(api.settings.evidence_root)
    assert verify_photos(engine, store) == (1, [])
    stored = store.root / store.relative_path(sha)
    stored.chmod(0o600)
    stored.write_bytes(stored.read_bytes() + b"x")
    count, problems = verify_photos(engine, store)
    assert count == 1 and problems[0]["case"] == f"项目 {project['code']}"
    assert "changed" in problems[0]["problem"]

    # 31 days without an inspection: overdue (every 30 days by default)
    api.clock.advance(days=31)
    overdue = api.get("/api/v1/projects", "supervisor", overdue="true").json()["projects"]
    assert [p["code"] for p in overdue] == [project["code"]]

    # completion acceptance: its inspection due within 15 days
    r = api.send(
        "PUT", f"/api/v1/projects/{ref}/stage", "nr_hj", json={"stage": "completion_acceptance"}
    )
    assert r.status_code == 200 and r.json()["inspection_overdue"] is False
    api.clock.advance(days=16)
    shown = api.get(f"/api/v1/projects/{ref}", "town1").json()
    assert shown["inspection_overdue"] is True and shown["stage_label"] == "竣工验收"
    r = api.send("PUT", f"/api/v1/projects/{ref}/stage", "nr_hj", json={"stage": "done"})
    assert r.status_code == 409 and r.json()["code"] == "project.completion_missing"
    r = api.post(
        f"/api/v1/projects/{ref}/inspections",
        "nr_hj",
        data={"kind": "completion", "findings": "按规划许可建成，板房已拆除", "passed": "true"},
    )
    assert r.status_code == 201 and r.json()["inspection_overdue"] is False
    r = api.send("PUT", f"/api/v1/projects/{ref}/stage", "nr_hj", json={"stage": "done"})
    assert r.status_code == 200 and r.json()["stage_label"] == "已完成"
    # a done project no longer takes the cases reported inside it
    later = api.report("ue_hj", INSIDE, channel="patrol")["number"]
    assert api.case("ue_hj", later)["project"] is None
    geo = api.get("/api/v1/projects", "supervisor", format="geojson").json()
    assert geo["features"][0]["properties"]["stage_label"] == "已完成"
    assert geo["features"][0]["geometry"]["type"] == "MultiPolygon"
    assert api.get("/api/v1/projects", "ue_jy").json()["projects"] == []  # another district


def test_a_project_drawn_and_bad_input(case_api):
    api = case_api
    drawn = km_polygon(1.0, 1.0, 1.1, 1.1)
    r = api.post(
        "/api/v1/projects",
        "town1",
        json={"name": "新建街道菜市场改造", "red_line": drawn, "crs": "cgcs2000"},
    )
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["code"].startswith("XM-") and made["area_m2"] == pytest.approx(10_000, rel=1e-3)
    bad = {"name": "x", "red_line": {"type": "Point", "coordinates": [126, 42]}}
    r = api.post("/api/v1/projects", "town1", json=bad)
    assert r.status_code == 422 and r.json()["code"] == "project.red_line_invalid"
    r = api.send("PUT", f"/api/v1/projects/{made['id']}/stage", "town1", json={"stage": "nonsense"})
    assert r.status_code == 422
    r = api.post(
        f"/api/v1/projects/{made['id']}/inspections",
        "town1",
        data={"kind": "completion", "findings": "验收"},
    )
    assert r.status_code == 409 and r.json()["code"] == "project.not_in_acceptance"
    r = api.post(
        f"/api/v1/projects/{made['id']}/inspections",
        "town1",
        data={"kind": "construction", "findings": "x", "finding": "{not json"},
    )
    assert r.status_code == 422 and r.json()["code"] == "project.finding_invalid"
    assert api.get("/api/v1/projects/99999", "town1").status_code == 404
