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
#: the boundary of the grid a patrol map is for: a strong dark blue, not red (red = overdue)
GRID_EDGE_COLOUR = "#08306b"

#: each state group has its own shape too, so a state is never told by colour alone (a
#: colour-blind supervisor, a grey print): the names are matplotlib's markers
STATE_SHAPES = {
    "待核查": "o",  # circle
    "移交待接收": "D",  # diamond
    "存量待认定": "s",  # square
    "查处中": "^",  # triangle
    "已办结": "h",  # hexagon
}


def state_style(state: str, is_open: bool = True) -> tuple[str, str]:
    """(colour, caption) of a case state's group."""
    if not is_open:
        return CLOSED
    return STATE_GROUPS.get(state, IN_HAND)


def state_shape(state: str, is_open: bool = True) -> str:
    """The marker (matplotlib's letter) of a case state's group."""
    return STATE_SHAPES[state_style(state, is_open)[1]]


def state_legend() -> list[tuple[str, str, str]]:
    """(colour, caption, shape) of every state group once, in the order a case goes."""
    groups = dict.fromkeys([*STATE_GROUPS.values(), IN_HAND, CLOSED])
    return [(colour, label, STATE_SHAPES[label]) for colour, label in groups]


# the shapes drawn in a 20 × 20 box, for the browser (the map page, the exported map)
_SVG_SHAPES = {
    "o": "<circle cx='10' cy='10' r='6.8'/>",
    "D": "<polygon points='10,2.2 17.8,10 10,17.8 2.2,10'/>",
    "s": "<rect x='3.8' y='3.8' width='12.4' height='12.4'/>",
    "^": "<polygon points='10,2.4 18,16.6 2,16.6'/>",
    "h": "<polygon points='10,2.6 16.4,6.3 16.4,13.7 10,17.4 3.6,13.7 3.6,6.3'/>",
}


def shape_svg(shape: str, colour: str, *, overdue: bool = False, size: str = "20") -> str:
    """A state's marker as a standalone SVG: its shape in its colour, a white edge, or a thick
    red one when overdue (the same look as the printed maps' markers); ``size`` its width and
    height (``100%``: the box it is put in)."""
    edge, width = (OVERDUE_COLOUR, 3.2) if overdue else ("#ffffff", 1.6)
    return (
        "<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 20 20' "
        f"width='{size}' height='{size}'>"
        f"<g fill='{colour}' stroke='{edge}' stroke-width='{width}' stroke-linejoin='round'>"
        f"{_SVG_SHAPES[shape]}</g></svg>"
    )
