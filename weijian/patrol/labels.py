"""Where a printed map's labels go: the boxes already taken (markers, the north arrow, the
scale bar, labels placed) in an R-tree, so that a label is tried against the few boxes near it
rather than against every one; each label is measured once and tried at every offset around
its point by arithmetic, and drawn only where it fits."""

from __future__ import annotations

from collections.abc import Iterator

from matplotlib.transforms import Bbox
from rtree import index

#: offsets in points from the anchor, with the alignment that puts the label on that side
OFFSETS = (
    (5, 4, "left", "bottom"),
    (5, -4, "left", "top"),
    (-5, 4, "right", "bottom"),
    (-5, -4, "right", "top"),
    (0, 7, "center", "bottom"),
    (0, -7, "center", "top"),
    (9, 0, "left", "center"),
    (-9, 0, "right", "center"),
)
CENTRED = ((0, 0, "center", "center"), *OFFSETS)
_SHIFT_X = {"left": 0.0, "center": 0.5, "right": 1.0}
_SHIFT_Y = {"bottom": 0.0, "center": 0.5, "top": 1.0}


class Obstacles:
    """Boxes in display pixels that a label must not overlap, indexed by an R-tree. The
    boxes are kept as matplotlib's ``Bbox`` for the caller and as plain extents for the
    tests, which run hundreds of times a page."""

    def __init__(self, boxes: list[Bbox] | None = None):
        self.boxes: list[Bbox] = []
        self._extents: list[tuple[float, float, float, float]] = []
        self._index = index.Index()
        #: per label style, the smallest width and height measured so far (see :func:`place`)
        self.least: dict[str, tuple[float, float]] = {}
        for box in boxes or ():
            self.append(box)

    def append(self, box: Bbox) -> None:
        extents = (box.x0, box.y0, box.x1, box.y1)
        self._index.insert(len(self.boxes), extents)
        self.boxes.append(box)
        self._extents.append(extents)

    def __iter__(self) -> Iterator[Bbox]:
        return iter(self.boxes)

    def __len__(self) -> int:
        return len(self.boxes)

    def clashes(self, box: Bbox) -> bool:
        """Whether ``box`` overlaps a box taken (touching counts, as for
        :meth:`Bbox.overlaps`)."""
        return self._clashes((box.x0, box.y0, box.x1, box.y1))

    def _clashes(self, extents: tuple[float, float, float, float]) -> bool:
        x0, y0, x1, y1 = extents
        for i in self._index.intersection(extents):
            a0, b0, a1, b1 = self._extents[i]
            if x0 <= a1 and a0 <= x1 and y0 <= b1 and b0 <= y1:
                return True
        return False

    def fits(self, box: Bbox, frame: Bbox) -> bool:
        return self._fits((box.x0, box.y0, box.x1, box.y1), frame)

    def _fits(self, extents: tuple[float, float, float, float], frame: Bbox) -> bool:
        x0, y0, x1, y1 = extents
        inside = x0 >= frame.x0 and x1 <= frame.x1 and y0 >= frame.y0 and y1 <= frame.y1
        return inside and not self._clashes(extents)


def _boxes(x0: float, y0: float, width: float, height: float, per_point: float, offsets):
    """The extents (x0, y0, x1, y1) a label of this size whose unshifted corner is (x0, y0)
    takes at each offset: its box grown by 4 % in width and 8 % in height about its centre."""
    grow_x, grow_y = (1.04 * width - width) / 2, (1.08 * height - height) / 2
    for dx, dy, ha, va in offsets:
        left = x0 + dx * per_point - _SHIFT_X[ha] * width
        bottom = y0 + dy * per_point - _SHIFT_Y[va] * height
        yield (
            (dx, dy, ha, va),
            (left - grow_x, bottom - grow_y, left + width + grow_x, bottom + height + grow_y),
        )


def place(ax, renderer, taken: Obstacles, frame: Bbox, x, y, label, offsets=OFFSETS, **style):
    """A label near (x, y) at the first offset where it overlaps nothing taken; None when
    nowhere fits. The text is measured once; each offset's box follows from its size.

    A label is neither made nor measured when even a label of the smallest size measured in
    its style finds no place: at every offset that box lies inside the one the label would
    take (same corner or centre, no larger), so the label would find none either — on a
    crowded page most labels are dropped, and this is where the time of measuring went."""
    per_point = renderer.points_to_pixels(1.0)
    key = repr(sorted(style.items()))
    least = taken.least.get(key)
    if least is not None:
        ax0, ay0 = ax.transData.transform((x, y))
        boxes = (
            # half a pixel in from every side: rounding never makes "no place" a wrong answer
            (b[0] + 0.5, b[1] + 0.5, b[2] - 0.5, b[3] - 0.5)
            for _, b in _boxes(ax0, ay0, *least, per_point, offsets)
        )
        if not any(taken._fits(box, frame) for box in boxes):
            return None
    text = ax.annotate(
        label, (x, y), xytext=(0, 0), textcoords="offset points", ha="left", va="bottom", **style
    )
    measured = text.get_window_extent(renderer)
    width, height = measured.width, measured.height
    taken.least[key] = (
        (min(least[0], width), min(least[1], height)) if least is not None else (width, height)
    )
    for (dx, dy, ha, va), box in _boxes(
        measured.x0, measured.y0, width, height, per_point, offsets
    ):
        if taken._fits(box, frame):
            text.set_horizontalalignment(ha)
            text.set_verticalalignment(va)
            text.xyann = (dx, dy)
            taken.append(Bbox.from_extents(*box))
            return text
    text.remove()
    return None
