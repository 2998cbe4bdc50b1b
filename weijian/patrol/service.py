"""Patrol maps for the CLI and the API: one grid's pages, or a district's atlas with a cover.

An atlas gathers every grid's page data from the database first, then renders the pages in
parallel processes (matplotlib is single-threaded) and joins them behind the cover, whose
table gives each grid's first page.
"""

from __future__ import annotations

import io
import multiprocessing
import os
from collections.abc import Callable
from dataclasses import asdict

from sqlalchemy import text

from weijian.cases.clock import LOCAL
from weijian.cases.scope import Principal
from weijian.cases.service import CaseService
from weijian.errors import NotFoundError
from weijian.patrol.pages import LEVEL_LABELS, PageData, grids_of_district, load_page


def _render():
    """The renderer, which matplotlib draws with: loaded by the first map a process draws, not
    by every process that serves the pages."""
    from weijian.patrol import render

    return render


def _check_scope(principal: Principal | None, data: PageData) -> None:
    """A user prints the grids inside its own; a city-wide user any."""
    if principal is None or principal.city_wide:
        return
    codes = {g.code for g in data.chain} | {data.grid.code}
    if principal.grid_code not in codes:
        raise NotFoundError(
            f"未找到网格 {data.grid.code}（或不在您的权限范围内）；"
            "您只能打印本网格及下级网格的巡查图",
            code="grid.not_found",
            detail=f"no grid {data.grid.code} within your scope",
            hint="you can print the maps of your own grid and the grids inside it",
        )


def page_data(
    cases: CaseService,
    code: str,
    principal: Principal | None = None,
    paper: str = "A4",
    orientation: str = "auto",
) -> PageData:
    now = cases.clock.now()
    with cases.engine.connect() as conn:
        data = load_page(
            conn,
            cases.jurisdiction.snapshot,
            cases.workflow,
            cases.calendar,
            code,
            now,
            paper,
            orientation,
        )
    _check_scope(principal, data)
    return data


def grid_map(
    cases: CaseService,
    code: str,
    paper: str = "A4",
    orientation: str = "auto",
    principal: Principal | None = None,
) -> tuple[bytes, dict]:
    data = page_data(cases, code, principal, paper, orientation)
    content, info = _render().page_pdf(data)
    summary = {k: v for k, v in asdict(info).items() if k != "label_boxes"}
    summary.update(grid=code, name=data.grid.name, cases=len(data.cases))
    return content, summary


_WORKER: dict = {}

#: told of an atlas's progress: grids drawn, grids in all, and what is being done (in Chinese)
Progress = Callable[[int, int, str], None]


def _render_chunk(
    job: tuple[list[str], str, str], progress: Progress | None = None
) -> tuple[bytes, list[dict]]:
    """Read and draw a run of grids into one PDF (so the font is subset once per run): the
    PDF and, per grid, its pages and figures for the cover."""
    codes, paper, orientation = job
    cases = _WORKER["cases"]
    figures, rows = [], []
    for n, code in enumerate(codes):
        if progress is not None:
            progress(n, len(codes), f"正在绘制网格 {code}")
        data = page_data(cases, code, None, paper, orientation)
        pages, _ = _render().render_page(data)
        figures += pages
        rows.append(
            {
                "code": data.grid.code,
                "name": data.grid.name,
                "open": len(data.cases),
                "overdue": sum(c.overdue for c in data.cases),
                "pages": len(pages),
            }
        )
    content = _render().to_pdf(figures, "巡查图")
    _render().close(figures)
    return content, rows


def _forked(cases: CaseService) -> None:
    cases.engine.dispose(close=False)  # the parent's connections stay the parent's
    _WORKER["cases"] = cases


def atlas_grids(
    cases: CaseService,
    district: str,
    level: str = "community",
    paper: str = "A4",
    orientation: str = "auto",
    principal: Principal | None = None,
) -> tuple[list[tuple[str, str]], str | None]:
    """The grids an atlas prints and the district's name, once the principal's scope, the
    level and the paper are checked (what an atlas asked for in the background checks first)."""
    with cases.engine.connect() as conn:
        grids = grids_of_district(conn, district, level)
        district_name = conn.execute(
            text("SELECT name FROM active_grid WHERE code = :d AND level = 'district' LIMIT 1"),
            {"d": district},
        ).scalar()
    if principal is not None and not principal.city_wide and principal.grid_code != district:
        raise NotFoundError(
            f"未找到区县 {district}（或不在您的权限范围内）；图册由本区县或全市用户打印",
            code="district.not_found",
            detail=f"no district {district} within your scope",
            hint="an atlas is printed by its district's users or city-wide ones",
        )
    if not grids:
        raise NotFoundError(
            f"区县 {district} 没有{LEVEL_LABELS.get(level, level)}层级（{level}）的网格，"
            "请换一个层级或先导入该层级的网格图层",
            code="patrol.no_grids",
            detail=f"the district {district} has no {level} grids",
        )
    _render().check_paper(paper, orientation)
    return grids, district_name


def atlas(
    cases: CaseService,
    district: str,
    level: str = "community",
    paper: str = "A4",
    orientation: str = "auto",
    principal: Principal | None = None,
    processes: int | None = None,
    progress: Progress | None = None,
) -> tuple[bytes, dict]:
    """A cover listing the grids, then every grid's pages. The grids are split into one run
    per process; each process reads its grids and draws them into one PDF. ``progress`` is
    told of each grid drawn (of each run, with several processes) and of the binding."""
    grids, district_name = atlas_grids(cases, district, level, paper, orientation, principal)
    codes = [code for code, _ in grids]
    processes = max(1, min(processes or (os.cpu_count() or 1), len(codes)))
    size = -(-len(codes) // processes)
    jobs = [(codes[i : i + size], paper, orientation) for i in range(0, len(codes), size)]
    _ = cases.jurisdiction.snapshot  # loaded once, before forking
    if len(jobs) > 1:
        context = multiprocessing.get_context("fork")
        with context.Pool(len(jobs), initializer=_forked, initargs=(cases,)) as pool:
            rendered = []
            for chunk in pool.imap(_render_chunk, jobs, chunksize=1):
                rendered.append(chunk)
                if progress is not None:
                    drawn = sum(len(r) for _, r in rendered)
                    progress(drawn, len(codes), f"已绘制 {drawn} 个网格")
    else:
        _WORKER["cases"] = cases
        rendered = [_render_chunk(jobs[0], progress)]
    if progress is not None:
        progress(len(codes), len(codes), "正在装订封面和目录")
    rows = [row for _, chunk_rows in rendered for row in chunk_rows]
    cover_pages = max(1, -(-len(rows) // _render().COVER_ROWS))
    page = cover_pages + 1
    for row in rows:
        row["page"] = page
        page += row["pages"]
    title = f"{district_name or district}违法建设巡查图集"
    cover = _render().cover_pdf(
        title,
        f"{LEVEL_LABELS.get(level, level)}网格 · 共 {len(rows)} 个网格",
        rows,
        cases.clock.now().astimezone(LOCAL).date(),
        paper,
    )
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    for content in [cover, *(c for c, _ in rendered)]:
        writer.append(PdfReader(io.BytesIO(content)))
    writer.add_metadata({"/Title": title, "/Creator": "weijian 违建管控平台"})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue(), {
        "district": district,
        "level": level,
        "grids": len(rows),
        "cover_pages": cover_pages,
        "pages": page - 1,
        "cases": sum(r["open"] for r in rows),
        # what a person saves it as: the district's and the level's names, not their codes
        "filename": f"{district_name or district}{LEVEL_LABELS.get(level, level)}巡查图集.pdf",
    }
