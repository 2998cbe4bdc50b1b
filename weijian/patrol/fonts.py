"""The font subsets a printed map embeds, cut without the OpenType layout tables.

matplotlib's PDF writer cuts each face it used out of the font file with fontTools, keeping
every table the glyphs touch. For Noto Sans CJK the layout tables (GSUB, GPOS, …) are large
and their closure and pruning over tens of thousands of glyphs is most of the cut — yet a PDF
never reads them: its text shows glyphs by number at positions the writer already laid out
(shaping happened before, with the installed font). Cutting without them takes about half the
time a face, and the PDF looks and reads back (ToUnicode) the same."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from types import SimpleNamespace

from fontTools import subset
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
        yield SimpleNamespace(font=font, glyph_index_map=cutter.glyph_index_map)


def install() -> None:
    """Have matplotlib's PDF (and PostScript) writer cut fonts through :func:`lean_subset`;
    nothing when this matplotlib cuts them some other way."""
    if getattr(_backend_pdf_ps, "get_glyphs_subset", None) not in (None, lean_subset):
        _backend_pdf_ps.get_glyphs_subset = lean_subset
