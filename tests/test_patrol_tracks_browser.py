"""The 巡查覆盖率 layer of the supervisors' map in headless Chromium: a town's user turns it on,
the grids are coloured by the coverage the API computes — checked against shapely — and the
legend says what the colours mean. The screenshot is saved in .weijian/artifacts/."""

from __future__ import annotations

import pyproj
import shapely

from tests import city
from tests.casekit import COMMUNITY, START
from tests.test_patrol_tracks import COMPOUNDS, add_compounds, record, walk_points
from tests.test_web_map_browser import Page


def test_coverage_layer(browser, case_api, engine, tmp_path):
    api = case_api
    add_compounds(engine, tmp_path)
    points = walk_points(START)
    record(api, "gridder", START, points)
    to_gk = pyproj.Transformer.from_crs(4490, 4551, always_xy=True)
    walked = shapely.LineString([to_gk.transform(*city.lonlat(x, y)) for x, y, _ in points])
    passed = sum(walked.distance(city.box(*b)) <= 50.0 for _name, b in COMPOUNDS.values())

    page = Page(browser, api.url, "town1")
    try:
        assert not page.js("weijianMap.map.hasLayer(weijianMap.layers.coverage)")
        page.page.click(".leaflet-control-layers label:has-text('巡查覆盖率')")
        page.wait("weijianMap.coverage && weijianMap.coverage.length === 1")
        answer = page.js("weijianMap.coverage[0]")
        assert answer["coverage"] == round(passed / len(COMPOUNDS), 4)
        (sub,) = answer["subgrids"]
        assert sub["code"] == COMMUNITY and sub["passed"] == passed
        # a sub-grid, its compounds and the month's track the town may read drawn
        assert page.js("weijianMap.tracksDrawn") == 1
        assert page.js("weijianMap.layers.coverage.getLayers().length") == 2 + len(COMPOUNDS)
        legend = page.page.inner_text(".legend")
        assert "巡查覆盖率" in legend and "从未巡查" in legend
        page.view((0.5, 0.5), 15)
        page.screenshot("patrol-coverage-layer.png")
        assert page.errors == []
    finally:
        page.close()
