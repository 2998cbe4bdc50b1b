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
from collections.abc import Iterable, Sequence
from xml.sax.saxutils import escape

from openpyxl.utils import get_column_letter

#: characters XML 1.0 does not allow (openpyxl refuses them too)
ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
#: zlib's level for the rewritten workbook: its XML is repetitive, so level 1 already
#: shrinks it about tenfold, in a third of the default level's time
COMPRESS_LEVEL = 1


def rows_xml(rows: Iterable[Sequence], first_row: int, styles: dict[int, int]) -> str:
    """``<row>`` elements for ``rows`` from ``first_row`` on; ``styles``: the cell style (its
    index in the workbook's ``cellXfs``) of a column by its 0-based index, empty cells
    included, as openpyxl writes a formatted empty cell."""
    parts: list[str] = []
    opened: list[str] = []  # '<c r="B' of each column
    closed: list[str] = []  # '"' and the column's style
    empty: list[str] = []
    texts: dict[str, str] = {}  # a text's cell after its head, as texts repeat in a column
    for r, cells in enumerate(rows, start=first_row):
        while len(opened) < len(cells):
            i = len(opened)
            style = styles.get(i)
            opened.append(f'<c r="{get_column_letter(i + 1)}')
            closed.append(f'" s="{style}"' if style else '"')
            empty.append(f' s="{style}"/>' if style else "")
        row = str(r)
        parts.append(f'<row r="{row}">')
        for i, value in enumerate(cells):
            if value is None:
                if empty[i]:
                    parts.append(opened[i] + row + '"' + empty[i])
                continue
            if value.__class__ is str:
                tail = texts.get(value)
                if tail is None:
                    tail = texts[value] = _text_tail(value)
                parts.append(opened[i] + row + closed[i] + tail)
            elif isinstance(value, bool):
                parts.append(f'{opened[i]}{row}{closed[i]} t="b"><v>{int(value)}</v></c>')
            elif isinstance(value, int | float):
                parts.append(f'{opened[i]}{row}{closed[i]} t="n"><v>{value!r}</v></c>')
            else:
                text = escape(ILLEGAL.sub("", str(value)))
                head = opened[i] + row + closed[i]
                parts.append(f'{head} t="inlineStr"><is><t>{text}</t></is></c>')
        parts.append("</row>")
    return "".join(parts)


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
