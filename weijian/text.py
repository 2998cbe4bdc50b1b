"""The rules for text a person types, in one place: how long each kind of field may be, what
is taken out of it on the way in (:func:`clean`), and how it is written into the files it
leaves by (:func:`cell` for spreadsheets and CSV, :func:`plain` for printed maps).

On the way in, a control character (other than a line break or tab in long text) and the byte
order mark U+FEFF are dropped; a NUL or a lone surrogate is refused, not cut, and so is text
longer than its field's limit — each with a Chinese message naming the field.

On the way out, a cell that starts with ``=`` ``+`` ``-`` ``@``, a tab or a carriage return
is opened with an apostrophe, so no spreadsheet runs it as a formula (the OWASP advice on CSV
injection), and characters a workbook cannot hold are dropped.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Any

from weijian.errors import InputError

#: the most characters a field of each kind may hold
LIMITS: dict[str, int] = {
    "name": 100,  # a person's or a company's name, a user name, a title
    "phone": 40,
    "code": 100,  # an external system's record id, a department code
    "address": 200,
    "field": 200,  # a text field of a workflow step (a structure's description)
    "reason": 500,
    "note": 2000,  # a step's note, an urge and its answer
    "description": 2000,  # what a report says is being built
}

#: the longest a JSON body may nest (objects and arrays); deeper is refused before parsing
MAX_JSON_DEPTH = 64

#: control characters of C0 and C1, DEL, the bidirectional overrides and isolates (which make
#: text read otherwise than it is stored), U+FEFF and the non-characters U+FFFE, U+FFFF; tab,
#: line feed and carriage return apart
_CONTROL = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ufeff\ufffe\uffff]"
)
_BREAKS = re.compile("\r\n?|[\u2028\u2029\x85]")
_SURROGATE = re.compile("[\ud800-\udfff]")
#: what a spreadsheet may read as the start of a formula
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
#: what a workbook (XML 1.0) cannot hold
_NOT_IN_WORKBOOK = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
#: where :func:`cell` may change a text, in texts joined by line breaks: a character it drops,
#: or a formula's first character at the start of a line (a text's, or after a break in one)
_CELL_CHANGES = re.compile(
    "[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]|\ufeff|^[=+\\-@\t\r]", re.M
)


def clean(
    value: Any,
    label: str,
    limit: int | str,
    *,
    multiline: bool = False,
    field: str | None = None,
) -> str | None:
    """``value`` as stored text: None stays None, blanks become None; control characters and
    U+FEFF dropped (line breaks kept as ``\\n`` and tabs kept in ``multiline`` text, else
    turned into spaces); surrounding blanks stripped. Refuses (:class:`InputError`) what is not
    text, a NUL, a lone surrogate and text over ``limit`` characters (a number, or a kind of
    :data:`LIMITS`). ``label`` is the field's Chinese name, ``field`` its name in the API."""
    if value is None:
        return None
    max_chars = LIMITS[limit] if isinstance(limit, str) else limit
    name = field or label
    if not isinstance(value, str):
        raise InputError(
            f"“{label}”应为文字",
            code="text.invalid",
            detail=f"{name} must be text",
        )
    check_storable(value, label, name)
    value = _BREAKS.sub("\n", value)
    value = _CONTROL.sub("", value)
    if not multiline:
        value = value.replace("\n", " ").replace("\t", " ")
    value = value.strip()
    if len(value) > max_chars:
        raise InputError(
            f"“{label}”最多 {max_chars} 个字，现有 {len(value)} 个字，请精简后重试",
            code="text.too_long",
            detail=f"{name} has {len(value)} characters; at most {max_chars} are accepted",
            hint=f"shorten {name} to {max_chars} characters",
        )
    return value or None


def check_storable(value: str, label: str, field: str | None = None) -> None:
    """Refuse text that holds a NUL or a lone surrogate: neither can be stored, and neither is
    cut away or replaced — the sender is told (``text.nul``, ``text.invalid``)."""
    name = field or label
    if "\x00" in value:
        raise InputError(
            f"“{label}”含有空字符（NUL），请删去后重试",
            code="text.nul",
            detail=f"{name} contains a NUL character",
            hint="remove the NUL character",
        )
    if _SURROGATE.search(value):
        raise InputError(
            f"“{label}”含有无效的字符（不成对的代理码位），请检查文字的编码后重试",
            code="text.invalid",
            detail=f"{name} contains a lone surrogate: not valid Unicode text",
            hint="send the text as valid UTF-8",
        )


def cell(value: Any) -> Any:
    """``value`` as a spreadsheet or CSV cell that is never a formula: text starting with
    ``= + - @``, a tab or a carriage return gets a leading apostrophe; characters a workbook
    cannot hold are dropped. Numbers, dates and None pass as they are."""
    if not isinstance(value, str):
        return value
    value = _NOT_IN_WORKBOOK.sub("", value).replace("\ufeff", "")
    return "'" + value if value.startswith(FORMULA_START) else value


def cell_changes(texts: Collection[str]) -> dict[str, str]:
    """The texts among ``texts`` that :func:`cell` changes, with what it makes of them; for a
    table's thousands of texts, of which hardly any is changed, one search over them all
    joined finds that none is (a call of :func:`cell` a text costs more than the search)."""
    if _CELL_CHANGES.search("\n".join(texts)) is None:
        return {}
    return {value: safe for value in texts if (safe := cell(value)) != value}


def plain(value: Any) -> str:
    """``value`` as text for a printed map (matplotlib): control characters and U+FEFF
    dropped, lone surrogates replaced, line breaks made spaces, and ``$`` escaped so it is
    never read as mathematics."""
    text = "" if value is None else str(value)
    text = _SURROGATE.sub("\ufffd", _BREAKS.sub(" ", text))
    text = _CONTROL.sub("", text).replace("\n", " ").replace("\t", " ")
    return text.replace("$", r"\$")


_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")


def json_depth_exceeded(body: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether a JSON text nests objects and arrays deeper than ``limit`` (brackets inside
    strings do not count), found over the bytes before any parser recurses into them."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    brackets = _JSON_STRING.sub(b"", body).translate(None, _NOT_BRACKET)
    depth = 0
    for byte in brackets:
        depth += 1 if byte in (0x5B, 0x7B) else -1
        if depth > limit:
            return True
    return False
