"""系统管理 (/work/admin) end to end in headless Chromium over the hand-built city
(tests/casekit.py): an administrator uploads a zipped GBK shapefile with a Gauss-Krüger .prj
through the page (imported by a background worker), reads the import's report and sees the new
version on the map before 启用, activates it, compares the two versions and rolls back — the API
then answers the old version as the active one. Another role gets a refusal. Screenshots in
.weijian/artifacts/."""

from __future__ import annotations

import os

import pytest

from tests import adminkit
from tests.casekit import COMPOUND
from tests.conftest import login
from tests.test_jobs_imports import ready_worker
from tests.test_workbench_browser import DESK, PHONE, Bench

LAYERS = "window.weijianWork && weijianWork.ready && weijianWork.admin.layers"


@pytest.fixture
def import_worker(case_api, database_url, tmp_path):
    """The worker that takes the page's imports (background jobs), on the test's database and
    evidence folder."""
    evidence = str(case_api.settings.evidence_root)
    env = {**os.environ, "DATABASE_URL": database_url, "WEIJIAN_EVIDENCE_DIR": evidence}
    with ready_worker(env, tmp_path / "worker.log", "--heartbeat", "1"):
        yield


def versions(api) -> list[tuple[int, bool]]:
    r = api.get("/api/v1/layers/urban_managed/versions", "admin")
    return [(v["number"], v["active"]) for v in r.json()]


def test_an_administrator_imports_previews_activates_compares_and_rolls_back(
    browser, case_api, import_worker, tmp_path
):
    api = case_api
    api.report("gridder", COMPOUND)  # an open case in the urban area
    archive = adminkit.urban_wider(tmp_path)
    bench = Bench(browser, api.url, "admin", DESK)
    bench.page.on("dialog", lambda dialog: dialog.accept())
    try:
        bench.page.goto(f"{api.url}/work/admin")
        bench.wait(LAYERS)
        assert bench.page.locator("#bar a[href='/work/admin']").inner_text() == "管理"
        assert "urban_managed" in bench.text("#layer-list")
        form = "#import-form"
        bench.page.fill(f"{form} input[name=layer]", "urban_managed")
        bench.page.select_option(f"{form} select[name=kind]", "urban_managed")
        bench.page.fill(f"{form} input[name=name_field]", "MC")
        bench.page.set_input_files(f"{form} input[name=file]", str(archive))
        bench.page.click(f"{form} button[type=submit]")
        # an import on a loaded machine may take a while (a worker takes it in the background)
        bench.wait(
            "weijianWork.admin.layers.report && weijianWork.admin.layers.preview > 0",
            timeout=90000,
        )
        bench.wait("weijianWork.pending === 0")
        report = bench.text("#import-report")
        assert "第 2 版已导入，尚未启用" in report
        assert "GBK" in bench.text("#import-report .encoding")
        assert ".cpg" in bench.text("#import-report .encoding")
        assert "EPSG:4551" in bench.text("#import-report .crs")
        assert ".prj" in bench.text("#import-report .crs")
        assert "导入 1 个" in bench.text("#import-report .features")
        assert "城市化管理区域 1" in bench.text("#import-report .kinds")
        assert bench.page.locator("#preview-map path.leaflet-interactive").count() == 1
        assert versions(api) == [(1, True), (2, False)]  # waiting, not in force
        bench.screenshot("admin-import-preview.png")

        bench.page.click("#import-report button.activate-new")
        bench.wait("weijianWork.admin.layers.versions.some((v) => v.number === 2 && v.active)")
        assert versions(api) == [(1, False), (2, True)]
        assert "生效中" in bench.text("#versions tr[data-version='2']")

        bench.page.select_option("#diff select[name=from]", "1")
        bench.page.select_option("#diff select[name=to]", "2")
        bench.page.click("#diff button[type=submit]")
        bench.wait("weijianWork.admin.layers.diff !== null", timeout=40000)
        bench.wait("weijianWork.pending === 0")
        counts = bench.text("#diff .counts")
        assert "变化1" in counts.replace(" ", "").replace("\n", "")
        kind_row = bench.text("#diff tr[data-kind=urban_managed]")
        assert "城市化管理区域" in kind_row and "+399.9" in kind_row and "公顷" in kind_row
        assert bench.page.locator("#diff-map path.leaflet-interactive").count() == 2
        bench.screenshot("admin-diff.png")

        bench.page.click("#versions tr[data-version='1'] button.activate")
        bench.wait("weijianWork.admin.layers.versions.some((v) => v.number === 1 && v.active)")
        assert versions(api) == [(1, True), (2, False)]
        assert "已停用" in bench.text("#versions tr[data-version='2']")

        # 规则: the urban area's rule given to the district government, its effect previewed
        bench.page.click("#tabs [data-tab=rules]")
        bench.wait("weijianWork.admin.rules && weijianWork.admin.rules.loads > 0")
        urban = bench.page.locator("#rules-editor tr.rule-row").filter(
            has=bench.page.locator("select[name=zone_kinds] option[value=urban_managed]:checked")
        )
        urban.locator("select[name=department_type]").select_option("county_government")
        bench.page.click("#rules-editor button.preview-rules")
        bench.wait("weijianWork.admin.rules.effect !== null && weijianWork.pending === 0")
        assert "在办案件 1 件，其中 1 件的责任部门将改变" in bench.text("#rules-effect")
        assert "浑江区人民政府" in bench.text("#rules-effect .effect-moves")
        bench.screenshot("admin-rules-preview.png")
        bench.page.fill("#rules-editor input[name=reason]", "城市化管理区域改由区县政府负责")
        bench.page.click("#rules-editor .rules-save button[type=submit]")
        bench.wait("weijianWork.admin.rules.version === 2 && weijianWork.pending === 0")
        saved = bench.text("#rules-versions tr[data-version='2']")
        assert "生效中" in saved and "admin" in saved and "改由区县政府负责" in saved
        rules = api.get("/api/v1/jurisdiction/rules", "admin").json()
        urban_rule = next(r for r in rules["rules"] if "urban_managed" in r["zone_kinds"])
        assert (rules["version"], urban_rule["department_type"]) == (2, "county_government")

        # 用户与接口密钥: a community worker's scope clicked on the map, a password reset
        bench.page.click("#tabs [data-tab=users]")
        bench.wait("weijianWork.admin.users && weijianWork.admin.users.loads > 0")
        bench.page.select_option("#user-form select[name=level]", "community")
        bench.wait("weijianWork.admin.users.gridFeatures === 1 && weijianWork.pending === 0")
        bench.page.locator("#grid-map path.leaflet-interactive").first.click()
        assert bench.page.input_value("#user-form input[name=grid_code]") == "220602001001"
        bench.page.fill("#user-form input[name=username]", "wang_wu")
        bench.page.fill("#user-form input[name=display_name]", "王五")
        bench.page.select_option("#user-form select[name=role]", "community")
        bench.page.fill("#user-form input[name=password]", "first-password")
        bench.page.click("#user-form button[type=submit]")
        bench.wait("weijianWork.admin.users.users.some((u) => u.username === 'wang_wu')")
        assert "社区网格" in bench.text("#users tr[data-username=wang_wu]")
        assert "220602001001" in bench.text("#users tr[data-username=wang_wu]")
        bench.page.click("#users tr[data-username=wang_wu] button.reset-password")
        bench.wait("weijianWork.admin.users.secret !== null")
        password = bench.js("weijianWork.admin.users.secret")
        assert password in bench.text("#shown-once")
        assert login(api.url, "wang_wu", password).status_code == 200
        bench.screenshot("admin-users.png")
        bench.check_clean()
    finally:
        bench.close()

    phone = Bench(browser, api.url, "admin", PHONE)
    try:
        phone.page.goto(f"{api.url}/work/admin")
        phone.wait(LAYERS)
        phone.page.click("#layer-list tr[data-layer=urban_managed] a")
        phone.wait("weijianWork.admin.layers.loads > 0 && weijianWork.pending === 0")
        for tab, loaded in (("layers", "layers.loads > 0"), ("rules", "rules.loads > 0"),
                            ("users", "users.loads > 0")):  # fmt: skip
            phone.page.click(f"#tabs [data-tab={tab}]")
            phone.wait(f"weijianWork.admin.{loaded} && weijianWork.pending === 0")
            width = phone.js("document.documentElement.scrollWidth")
            assert width <= 390, (tab, width)
            phone.screenshot(f"admin-{tab}-phone.png")
        phone.check_clean()
    finally:
        phone.close()

    officer = Bench(browser, api.url, "ue_hj", DESK)
    try:
        officer.page.goto(f"{api.url}/work/admin")
        officer.wait("window.weijianWork && weijianWork.ready")
        assert "仅限系统管理员" in officer.text("#refused")
        assert officer.page.locator("#bar a[href='/work/admin']").count() == 0
        assert officer.page.locator("#tabs").is_hidden()
    finally:
        officer.close()
