"""What the workbench's case page stands on, at the API: evidence that proves a step (a site
visit needs a new photo the acting department took after the report), the 409 of a version
conflict naming who changed the case, thumbnails of photos, the detail's files with their
uploaders, and the pages themselves served by the app."""

from __future__ import annotations

import io
from datetime import timedelta

import httpx
from PIL import Image

from tests.casekit import COMPOUND, FARMLAND, START, STREET, load_workflow, site_photo
from tests.test_evidence import PDF
from weijian.cases.workflow import default_document


def upload(api, who: str, number: str, content: bytes, name: str = "现场.jpg", kind="photo"):
    r = api.post(
        f"/api/v1/cases/{number}/evidence",
        who,
        files={"file": (name, content, "application/octet-stream")},
        data={"kind": kind},
    )
    assert r.status_code == 201, r.text
    return r.json()["sha256"]


def visit(api, who: str, number: str, photo: str):
    version = api.case(who, number)["version"]
    return api.post(
        f"/api/v1/cases/{number}/transitions",
        who,
        json={"action": "site_visit", "version": version, "evidence": [photo], "note": "现场核查"},
    )


def refused(r, *words: str) -> str:
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["code"] == "case.site_photo_not_new", body
    for word in (*words, "请到现场拍摄照片并上传后重新提交"):
        assert word in body["message"], (word, body["message"])
    return body["message"]


def revalidate(api, path: str, tag: str, who: str = "ue_hj") -> int:
    """The status of a GET sent with ``If-None-Match: tag``."""
    headers = {**api.headers(who), "If-None-Match": tag}
    return httpx.get(f"{api.url}{path}", headers=headers).status_code


def api_bytes(api, number: str, sha: str) -> bytes:
    r = api.get(f"/api/v1/cases/{number}/evidence/{sha}", "supervisor")
    assert r.status_code == 200
    return r.content


# -- evidence that proves a step ----------------------------------------------------------------


def test_a_site_visit_needs_a_new_photo_the_acting_department_took_after_the_report(case_api):
    api = case_api
    case = api.report("gridder", COMPOUND)
    number, lon, lat = case["number"], case["lon"], case["lat"]
    # the grid worker's report photo is no proof of the officer's visit ...
    theirs = upload(api, "gridder", number, site_photo(lon, lat), "网格员上报.jpg")
    message = refused(
        visit(api, "ue_hj", number, theirs), "网格员上报.jpg", "gridder-姓名", "网格员"
    )
    assert "不是办理部门拍摄的照片" in message
    # ... nor when the officer uploads the same file again himself
    r = api.post(
        f"/api/v1/cases/{number}/evidence",
        "ue_hj",
        files={"file": ("转发.jpg", api_bytes(api, number, theirs), "image/jpeg")},
        data={"kind": "photo"},
    )
    assert r.json()["already_uploaded"] is True
    refused(visit(api, "ue_hj", number, theirs), "网格员上报.jpg")

    # a photo of another case is not new, whoever uploads it
    other = api.report("town1", STREET, channel="patrol")["number"]
    shot = site_photo(lon, lat)
    upload(api, "ue_hj", other, shot, "别的案件.jpg")
    reused = upload(api, "ue_hj", number, shot, "别的案件.jpg")
    refused(visit(api, "ue_hj", number, reused), "别的案件.jpg", "其他案件")

    # a photo the camera took the day before the report
    api.clock.advance(hours=1)
    old = upload(
        api, "ue_hj", number, site_photo(lon, lat, taken="2026:03:01 09:00:00"), "旧照.jpg"
    )
    refused(visit(api, "ue_hj", number, old), "旧照.jpg", "拍摄时间为2026年3月1日 09:00", "早于")

    # natural resources may read the case (its district) but did not visit for the holder
    foreign = upload(api, "nr_hj", number, site_photo(lon, lat), "自然资源.jpg")
    refused(visit(api, "ue_hj", number, foreign), "自然资源.jpg", "nr_hj-姓名")

    # a colleague of the holding department took it this morning, on site: it counts
    mine = upload(api, "ue_hj2", number, site_photo(lon, lat, taken="2026:03:02 09:30:00"))
    r = visit(api, "ue_hj", number, mine)
    assert r.status_code == 200, r.text
    assert r.json()["state_label"] == "已现场核查"

    # the verification needs its own photo: the visit's photo proves nothing of a demolition
    api.act("ue_hj", number, "confirm")
    api.act(
        "ue_hj",
        number,
        "stop_order",
        data={"compliance_days": 7},
        evidence=[api.document("ue_hj", number)],
    )
    demolished = api.photo("ue_hj", number)
    api.act("ue_hj", number, "demolish_continued", data={"method": "self"}, evidence=[demolished])
    r = api.post(
        f"/api/v1/cases/{number}/transitions",
        "ue_hj",
        json={"action": "verify", "version": api.case("ue_hj", number)["version"],
              "evidence": [mine]},
    )  # fmt: skip
    refused(r, "已作为本案“现场核查”的证据使用过")
    assert api.act("ue_hj", number, "verify", evidence=[api.photo("ue_hj", number)])["state"] == (
        "verified"
    )


def test_a_town_visits_with_its_own_photo_and_a_workflow_may_waive_the_rule(case_api, engine):
    api = case_api
    case = api.report("gridder", COMPOUND)
    number = case["number"]
    # the town is not a department: its own photo is the acting user's
    mine = upload(api, "town1", number, site_photo(case["lon"], case["lat"]))
    assert visit(api, "town1", number, mine).status_code == 200

    # a city whose workflow says a site visit needs no new photo: the report photo does
    document = default_document()
    for t in document["transitions"]:
        if t["action"] == "site_visit":
            t["site_photo"] = False
    load_workflow(engine, document, "现场照片不限")
    again = api.report("gridder", COMPOUND, description="另一处")
    theirs = upload(api, "gridder", again["number"], site_photo(again["lon"], again["lat"]))
    assert visit(api, "ue_hj", again["number"], theirs).status_code == 200


# -- a version conflict says who changed the case -----------------------------------------------


def test_a_version_conflict_names_who_changed_the_case_and_when(case_api):
    api = case_api
    number = api.report("town1", STREET, channel="patrol")["number"]
    read = api.case("ue_hj", number)
    api.clock.advance(minutes=30)
    r = api.post(
        f"/api/v1/cases/{number}/assign",
        "ue_hj2",
        json={"username": "ue_hj", "version": read["version"]},
    )
    assert r.status_code == 200, r.text
    api.clock.advance(minutes=5)
    upload(api, "ue_hj2", number, site_photo(read["lon"], read["lat"]))  # keeps the version
    r = api.post(
        f"/api/v1/cases/{number}/transitions",
        "ue_hj",
        json={"action": "confirm", "version": read["version"]},
    )
    assert r.status_code == 409, r.text
    body = r.json()
    assert body["code"] == "case.version_conflict"
    assert "ue_hj2-姓名（城管执法部门）" in body["message"]
    assert "2026年3月2日 09:30" in body["message"] and "“指派承办人”" in body["message"]
    assert body["case"]["number"] == number and body["case"]["version"] == read["version"] + 1
    assert body["case"]["state_label"] == "已上报待核查"
    change = body["case"]["last_change"]
    assert change["label"] == "指派承办人" and change["actor"]["name"] == "ue_hj2-姓名"
    assert change["actor"]["role_label"] == "城管执法部门"
    assert change["at"].startswith("2026-03-02T01:30:00")
    assert "version" in body["detail"]  # the English account stays for other systems


# -- files: thumbnails, uploaders --------------------------------------------------------------


def test_thumbnails_of_photos_are_small_jpegs_cached_by_etag(case_api):
    api = case_api
    case = api.report("gridder", COMPOUND)
    number = case["number"]
    big = io.BytesIO()
    Image.new("RGB", (1600, 1200), (40, 120, 200)).save(big, "JPEG", quality=95)
    sha = upload(api, "gridder", number, big.getvalue(), "大图.jpg")
    r = api.get(f"/api/v1/cases/{number}/evidence/{sha}", "ue_hj", thumb=320)
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    with Image.open(io.BytesIO(r.content)) as image:
        assert image.size == (320, 240)
    assert len(r.content) < len(big.getvalue()) / 5
    tag = r.headers["etag"]
    assert tag == f'"{sha}-w320"' and "max-age" in r.headers["cache-control"]
    assert revalidate(api, f"/api/v1/cases/{number}/evidence/{sha}?thumb=320", tag) == 304
    # a small photo stays its size; a document has no thumbnail; widths are bounded
    small = upload(api, "gridder", number, site_photo(case["lon"], case["lat"]))
    r = api.get(f"/api/v1/cases/{number}/evidence/{small}", "ue_hj", thumb=320)
    with Image.open(io.BytesIO(r.content)) as image:
        assert image.size == (64, 48)
    doc = api.document("ue_hj", number)
    r = api.get(f"/api/v1/cases/{number}/evidence/{doc}", "ue_hj", thumb=320)
    assert r.status_code == 422 and r.json()["message"] == "该文件不是图片，没有缩略图"
    assert api.get(f"/api/v1/cases/{number}/evidence/{sha}", "ue_hj", thumb=5).status_code == 422
    # the whole file, revalidated
    whole = api.get(f"/api/v1/cases/{number}/evidence/{doc}", "ue_hj")
    assert whole.content.startswith(PDF[:5])
    assert revalidate(api, f"/api/v1/cases/{number}/evidence/{doc}", whole.headers["etag"]) == 304
    # outside one's scope nothing is answered, not even a 304
    assert api.get(f"/api/v1/cases/{number}/evidence/{sha}", "town2", thumb=320).status_code == 404


def test_the_detail_names_each_file_its_uploader_the_assignee_and_the_time(case_api):
    api = case_api
    number = api.report("supervisor", FARMLAND, track="backlog", channel="media")["number"]
    api.clock.advance(hours=2)
    doc = api.document("nr_hj", number)
    r = api.post(
        f"/api/v1/cases/{number}/assign", "nr_hj", json={"username": "nr_hj", "version": 1}
    )
    assert r.status_code == 200, r.text
    case = api.case("nr_hj", number)
    (item,) = case["evidence"]
    assert item["sha256"] == doc and item["filename"] == "文书.pdf" and item["kind"] == "document"
    assert item["uploaded_by"]["name"] == "nr_hj-姓名"
    assert item["uploaded_by"]["role"] == "natural_resources"
    assert item["uploaded_at"] == "2026-03-02T03:00:00Z"
    assert case["assignee"] == {"user_id": case["assignee_user_id"], "name": "nr_hj-姓名"}
    assert case["as_of"] == (START + timedelta(hours=2)).isoformat().replace("+00:00", "Z")
    determine = next(a for a in case["actions"] if a["action"] == "determine")
    assert determine["site_photo"] is False
    assert determine["fields"] == ["disposal"] and determine["note_required"] is True
    visit_action = api.case("ue_hj", api.report("gridder", COMPOUND)["number"])["actions"][0]
    assert visit_action["action"] == "site_visit" and visit_action["site_photo"] is True


# -- the pages ---------------------------------------------------------------------------------


def test_the_workbench_pages_and_their_files_are_served_by_the_app(case_api):
    import re
    from urllib.parse import urljoin

    from weijian import pages

    api = case_api
    home = httpx.get(f"{api.url}/work")
    assert home.status_code == 200 and home.headers["content-type"].startswith("text/html")
    assert '<main id="inbox"' in home.text and 'href="/"' in home.text
    page = httpx.get(f"{api.url}/work/cases/HJ-2026-000001")
    assert page.status_code == 200 and "/static/work/case.js" in page.text
    assert "/static/vendor/leaflet/leaflet.js" in page.text
    assert 'href="/work"' in httpx.get(f"{api.url}/").text  # the map links to the workbench

    # every module and style sheet is served as what it is, and every import of a module
    # names a file the app serves: nothing comes from elsewhere
    kinds = {".js": "text/javascript", ".css": "text/css"}
    for folder in pages.FOLDERS:
        for path in sorted((pages.STATIC / folder).iterdir()):
            if path.suffix not in kinds:
                continue
            r = httpx.get(f"{api.url}/static/{folder}/{path.name}")
            assert r.status_code == 200, path
            assert r.headers["content-type"].startswith(kinds[path.suffix]), path
            assert "http://" not in r.text and "https://" not in r.text, path
            for spec in re.findall(r'^import .* from "([^"]+)";', r.text, re.M):
                target = urljoin(f"/static/{folder}/{path.name}", spec)  # ./x.js, ../common/x.js
                assert httpx.get(f"{api.url}{target}").status_code == 200, (path, spec)
    for wrong in ("common/nothing.js", "common/..%2F__init__.py", "work/case.html", "map/x.js"):
        assert httpx.get(f"{api.url}/static/{wrong}").status_code == 404, wrong
