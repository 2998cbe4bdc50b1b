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
    """Boxes in display pixels that a label must not overlap, indexed by an R-tree."""

    def __init__(self, boxes: list[Bbox] | None = None):
        self.boxes: list[Bbox] = []
        self._index = index.Index()
        for box in boxes or ():
            self.append(box)

    def append(self, box: Bbox) -> None:
        self._index.insert(len(self.boxes), (box.x0, box.y0, box.x1, box.y1))
        self.boxes.append(box)

    def __iter__(self) -> Iterator[Bbox]:
        return iter(self.boxes)

    def __len__(self) -> int:
        return len(self.boxes)

    def clashes(self, box: Bbox) -> bool:
        """Whether ``box`` overlaps a box taken (touching is not overlapping, as for
        :meth:`Bbox.overlaps`)."""
        near = self._index.intersection((box.x0, box.y0, box.x1, box.y1))
        return any(box.overlaps(self.boxes[i]) for i in near)

    def fits(self, box: Bbox, frame: Bbox) -> bool:
        inside = (
            box.x0 >= frame.x0 and box.x1 <= frame.x1 and box.y0 >= frame.y0 and box.y1 <= frame.y1
        )
        return inside and not self.clashes(box)


def place(ax, renderer, taken: Obstacles, frame: Bbox, x, y, label, offsets=OFFSETS, **style):
    """A label near (x, y) at the first offset where it overlaps nothing taken; None when
    nowhere fits. The text is measured once; each offset's box follows from its size."""
    text = ax.annotate(
        label, (x, y), xytext=(0, 0), textcoords="offset points", ha="left", va="bottom", **style
    )
    measured = text.get_window_extent(renderer)
    width, height = measured.width, measured.height
    per_point = renderer.points_to_pixels(1.0)
    for dx, dy, ha, va in offsets:
        x0 = measured.x0 + dx * per_point - _SHIFT_X[ha] * width
        y0 = measured.y0 + dy * per_point - _SHIFT_Y[va] * height
        box = Bbox.from_bounds(x0, y0, width, height).expanded(1.04, 1.08)
        if taken.fits(box, frame):
            text.set_horizontalalignment(ha)
            text.set_verticalalignment(va)
            text.xyann = (dx, dy)
            taken.append(box)
            return text
    text.remove()
    return None
