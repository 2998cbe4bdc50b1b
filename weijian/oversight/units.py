"""The grid units the oversight counts: the levels from the city down to the compound, their
names (retired codes keep theirs), and which units a user's scope shows."""

from __future__ import annotations

from sqlalchemy import Connection, text

from weijian.cases.scope import Principal
from weijian.errors import NotFoundError
from weijian.layers.model import GRID_LEVELS
from weijian.oversight import leaves

LEVELS = ("city", *GRID_LEVELS)
LEVEL_LABELS = {
    "city": "全市",
    "district": "区县",
    "town": "镇（街道）",
    "community": "社区",
    "compound": "小区",
}
UNGRIDDED = "（未划入下级网格）"


def grid_names(conn: Connection) -> dict[str, str]:
    """Every grid code ever imported with its latest name (retired codes keep theirs); kept by
    each process while the grids are unchanged (the caller must not change it)."""

    def read() -> dict[str, str]:
        rows = conn.execute(
            text("SELECT DISTINCT ON (code) code, name FROM grid ORDER BY code, version_id DESC")
        )
        return dict(rows.all())

    return leaves.stamped(conn, ("grids",), ("grid names",), read)


def district_filter(principal: Principal | None, district: str | None) -> str | None:
    if principal is None or principal.city_wide:
        return district
    if district and district != principal.district_code:
        raise NotFoundError(
            f"未找到区县 {district}（或不在您的权限范围内），您只能查看本区县的数据",
            code="district.not_found",
            detail=f"no district {district} within your scope",
        )
    return principal.district_code


def visible(principal: Principal | None, unit: dict) -> bool:
    if principal is None or principal.city_wide or principal.grid_level == "district":
        return True
    return principal.grid_code in unit["chain"]


def rows(units: dict, level: str, names: dict, principal: Principal | None) -> list[dict]:
    out = []
    for unit in units.values():
        if unit["level"] != level or not visible(principal, unit):
            continue
        code = unit["code"]
        chain = unit["chain"]
        out.append(
            {
                "level": level,
                "code": code,
                "name": "全市"
                if level == "city"
                else (names.get(code, code) if code else UNGRIDDED),
                "chain": chain,
                "parent": chain[-2] if len(chain) >= 2 else None,
                "counts": unit["counts"],
            }
        )
    return sorted(out, key=lambda r: (r["chain"] is None, [c or "" for c in r["chain"]]))
