"""Colours and captions shared by every map the product draws — the printed patrol maps and
the supervisors' map browser — so a department or a state looks the same on paper and on
screen."""

from __future__ import annotations

DEPARTMENT_COLOURS = {
    "urban_enforcement": ("#4e79a7", "城管执法部门负责"),
    "county_government": ("#f28e2b", "区县政府负责"),
    "natural_resources": ("#59a14f", "自然资源部门负责"),
    "agriculture_rural": ("#b6992d", "农业农村部门负责"),
}
UNASSIGNED_COLOUR = ("#bab0ac", "无适用管辖规则")
STATE_GROUPS = {
    "reported": ("#1f9bb4", "待核查"),  # not red: red means overdue, on paper and on screen
    "transferred": ("#7f7f7f", "移交待接收"),
    "ledgered": ("#9467bd", "存量待认定"),
    "determined": ("#9467bd", "存量待认定"),
}
IN_HAND = ("#ff7f0e", "查处中")  # any other open state
CLOSED = ("#2ca02c", "已办结")  # signed off, dismissed, merged
OVERDUE_COLOUR = "#e31a1c"
TOUR_COLOUR = "#1f5fbf"


def state_style(state: str, is_open: bool = True) -> tuple[str, str]:
    """(colour, caption) of a case state's group."""
    if not is_open:
        return CLOSED
    return STATE_GROUPS.get(state, IN_HAND)
