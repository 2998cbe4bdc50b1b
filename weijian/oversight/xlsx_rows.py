"""Many plain rows into a workbook that openpyxl made: openpyxl builds an object per cell and
serialises it through its XML tree writer, some tens of microseconds a cell, so a town's
ledger of fifteen thousand rows took seconds. Here the rows of a sheet are written as the
sheet's XML directly (numbers, and text as inline strings, with a cell style where a column
has one) and put into the saved workbook under the rows openpyxl wrote; the workbook's
styles, merges, filters and print settings stay openpyxl's."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Sequence
from itertools import chain
from xml.sax.saxutils import escape

from openpyxl.utils import get_column_letter

#: characters XML 1.0 does not allow (openpyxl refuses them too)
ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
#: zlib's level for the rewritten workbook: its XML is repetitive, so level 1 already
#: shrinks it about tenfold, in a third of the default level's time
COMPRESS_LEVEL = 1


def columns_xml(columns: Sequence[Sequence], first_row: int, styles: dict[int, int]) -> str:
    """``<row>`` elements from ``first_row`` on for a table given by its columns (of equal
    length); ``styles``: the cell style (its index in the workbook's ``cellXfs``) of a column
    by its 0-based index, empty cells included, as openpyxl writes a formatted empty cell.
    None and the empty text leave a cell empty.

    Column by column, not cell by cell: a column of texts or of numbers is one comprehension
    (a column's texts are looked at together: one search finds whether any has something to
    drop, escape or keep), and the rows are then interleaved by ``zip`` in C — a third of the
    time of a loop over the cells."""
    count = len(columns[0]) if columns else 0
    numbers = list(map(str, range(first_row, first_row + count)))
    parts = [[f'<row r="{r}">' for r in numbers]]
    for i, values in enumerate(columns):
        if len(values) != count:
            raise ValueError(f"column {i} has {len(values)} values, not {count}")
        parts.append(_column(i, values, numbers, styles.get(i)))
    parts.append(["</row>"] * count)
    return "".join(chain.from_iterable(zip(*parts, strict=True)))


def _column(index: int, values: Sequence, numbers: list[str], style: int | None) -> list[str]:
    """The cells of one column, row by row ("" where a row has none)."""
    head = f'<c r="{get_column_letter(index + 1)}'
    closed = f'" s="{style}"' if style else '"'
    empty = f'" s="{style}"/>' if style else ""  # an empty cell, written only when styled
    pairs = zip(numbers, values, strict=True)
    kinds = set(map(type, values))
    if kinds <= _TEXT_KINDS:
        distinct = set(values)
        distinct.discard(None)
        distinct.discard("")
        if _TEXT_CARE.search("\n".join(distinct)) is None:  # each text as it is
            inline = closed + ' t="inlineStr"><is><t>'
            if empty:
                return [
                    f"{head}{r}{inline}{v}</t></is></c>" if v else head + r + empty
                    for r, v in pairs
                ]
            return [f"{head}{r}{inline}{v}</t></is></c>" if v else "" for r, v in pairs]
        tails = {value: _text_tail(value) for value in distinct}
        if empty:
            return [head + r + (closed + tails[v] if v else empty) for r, v in pairs]
        return [head + r + closed + tails[v] if v else "" for r, v in pairs]
    if kinds <= _NUMBER_KINDS:
        return [f'{head}{r}{closed} t="n"><v>{v!r}</v></c>' for r, v in pairs]
    out = []
    for r, value in pairs:
        if value is None or value == "":
            out.append(head + r + empty if empty else "")
        elif value.__class__ is str:
            out.append(head + r + closed + _text_tail(value))
        elif isinstance(value, bool):
            out.append(f'{head}{r}{closed} t="b"><v>{int(value)}</v></c>')
        elif isinstance(value, int | float):
            out.append(f'{head}{r}{closed} t="n"><v>{value!r}</v></c>')
        else:
            out.append(head + r + closed + _text_tail(str(value)))
    return out


_TEXT_KINDS = {str, type(None)}
_NUMBER_KINDS = {int, float}


#: where a text, in texts joined by line breaks, needs more than to be written as it is: a
#: character XML forbids or must escape, or a space at a text's start or end (kept)
_TEXT_CARE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f&<>]|^\s|\s$", re.M)


def _text_tail(value: str) -> str:
    """A text cell after its reference and style: an inline string, escaped, its leading or
    trailing spaces kept."""
    if ILLEGAL.search(value):  # once a distinct text, not over the whole sheet
        value = ILLEGAL.sub("", value)
    padded = value[:1].isspace() or value[-1:].isspace()
    space = ' xml:space="preserve"' if padded else ""
    if "&" in value or "<" in value or ">" in value:
        value = escape(value)
    return f' t="inlineStr"><is><t{space}>{value}</t></is></c>'


def insert_rows(book: bytes, sheets: dict[str, tuple[int, str]]) -> bytes:
    """The saved workbook ``book`` with, in each sheet part named in ``sheets`` (such as
    ``xl/worksheets/sheet1.xml``), the rows' XML put right after the row numbered there."""
    source = zipfile.ZipFile(io.BytesIO(book))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            data = source.read(info.filename)
            if info.filename in sheets:
                after, xml = sheets[info.filename]
                text = data.decode("utf-8")
                start = text.index(f'<row r="{after}"')
                end = text.index("</row>", start) + len("</row>")
                data = (text[:end] + xml + text[end:]).encode("utf-8")
            target.writestr(info, data, compresslevel=COMPRESS_LEVEL)
    return out.getvalue()
