"""The font subsets a printed map embeds, cut without the OpenType layout tables.

matplotlib's PDF writer cuts each face it used out of the font file with fontTools, keeping
every table the glyphs touch. For Noto Sans CJK the layout tables (GSUB, GPOS, …) are large
and their closure and pruning over tens of thousands of glyphs is most of the cut — yet a PDF
never reads them: its text shows glyphs by number at positions the writer already laid out
(shaping happened before, with the installed font). Cutting without them takes about half the
time a face, and the PDF looks and reads back (ToUnicode) the same.

Noto Sans CJK draws its glyphs as cubic curves (CFF), but the writer embeds every font as a
TrueType CID font (``CIDFontType2``, ``FontFile2``), which a PDF reader takes to hold quadratic
``glyf`` outlines: poppler warns of the mismatch and a strict reader may refuse the font. So the
cut subset's outlines are converted to quadratic curves (``cu2qu``, within one font unit, a
thousandth of the em) before it is embedded: about 0.13 ms a glyph."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from types import SimpleNamespace

from fontTools import subset
from fontTools.pens.cu2quPen import Cu2QuPen
from fontTools.pens.ttGlyphPen import TTGlyphPen
from fontTools.ttLib import TTFont, newTable
from matplotlib.backends import _backend_pdf_ps

#: tables a PDF's Type 42 (CID) font never uses: OpenType layout and vertical writing
UNUSED_IN_PDF = ("GSUB", "GPOS", "GDEF", "BASE", "JSTF", "MATH", "VORG", "vhea", "vmtx")


@contextmanager
def lean_subset(fontfile, glyphs: Iterable[int]) -> Iterator[SimpleNamespace]:
    """What ``matplotlib.backends._backend_pdf_ps.get_glyphs_subset`` gives (the cut font and
    the old glyph index → new one), the unused tables dropped before the cut."""
    options = subset.Options(glyph_names=True, recommended_glyphs=True)
    options.layout_closure = False
    options.drop_tables += list(UNUSED_IN_PDF)
    options.font_number = getattr(fontfile, "face_index", 0)
    font = subset.load_font(fontfile, options)
    with font:
        for tag in UNUSED_IN_PDF:  # gone before the cut, which would read them to drop them
            if tag in font:
                del font[tag]
        cutter = subset.Subsetter(options=options)
        cutter.populate(gids=glyphs)
        cutter.subset(font)
        as_truetype(font)
        yield SimpleNamespace(font=font, glyph_index_map=cutter.glyph_index_map)


def as_truetype(font: TTFont) -> None:
    """``font``'s CFF outlines replaced by TrueType ones (nothing if it has none): the same
    glyphs in the same order, each cubic curve approximated by quadratic ones within
    ``MAX_ERROR`` font units, and contours turned clockwise, as TrueType draws them."""
    if "CFF " not in font:
        return
    order = font.getGlyphOrder()
    drawn = font.getGlyphSet()
    glyf = newTable("glyf")
    glyf.glyphOrder = order
    glyf.glyphs = {}
    for name in order:
        pen = TTGlyphPen(None)
        drawn[name].draw(Cu2QuPen(pen, MAX_ERROR, reverse_direction=True))
        glyf.glyphs[name] = pen.glyph()
    del font["CFF "]
    font["glyf"] = glyf
    font["loca"] = newTable("loca")
    font["head"].glyphDataFormat = 0
    post = font["post"]
    post.formatType = 3.0  # no glyph names: a PDF shows glyphs by number
    for unused in ("extraNames", "mapping"):
        if hasattr(post, unused):
            delattr(post, unused)
    maxp = font["maxp"]  # version 1.0, with no hinting
    maxp.tableVersion = 0x00010000
    for field, value in _MAXP_TRUETYPE.items():
        setattr(maxp, field, value)
    font.sfntVersion = "\x00\x01\x00\x00"
    font.recalcBBoxes = True  # each glyph's box, the head's and maxp's counts, when saved


#: in font units (Noto Sans CJK has 1,000 to the em)
MAX_ERROR = 1.0
_MAXP_TRUETYPE = {
    "maxZones": 1,
    "maxTwilightPoints": 0,
    "maxStorage": 0,
    "maxFunctionDefs": 0,
    "maxInstructionDefs": 0,
    "maxStackElements": 0,
    "maxSizeOfInstructions": 0,
    "maxComponentElements": 0,
    "maxComponentDepth": 0,
    "maxPoints": 0,
    "maxContours": 0,
    "maxCompositePoints": 0,
    "maxCompositeContours": 0,
}


def install() -> None:
    """Have matplotlib's PDF (and PostScript) writer cut fonts through :func:`lean_subset`;
    nothing when this matplotlib cuts them some other way."""
    if getattr(_backend_pdf_ps, "get_glyphs_subset", None) not in (None, lean_subset):
        _backend_pdf_ps.get_glyphs_subset = lean_subset
