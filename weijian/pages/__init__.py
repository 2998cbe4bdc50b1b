"""The pages of the entry points — the workbench (工作台) and what its pages share — as the
files a browser loads: HTML, plain ES modules and style sheets, no build step and no framework.
This package only says where they lie; ``weijian.api.routes.pages`` serves them.

``static/common/`` holds what every page uses (the API client with the token, the login, the
header, messages, Beijing time, uploads, the file viewer, one style sheet), ``static/work/`` the
workbench's pages."""

from __future__ import annotations

import re
from pathlib import Path

STATIC = Path(__file__).resolve().with_name("static")
FOLDERS = ("common", "work")
MEDIA_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
#: a file a page may load: lower-case letters, digits, - and _, one of the suffixes above
ASSET_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*\.(?:js|css|svg)")


def asset(folder: str, name: str) -> tuple[Path, str] | None:
    """The file ``name`` of ``folder`` (common, work) and its media type; None for anything
    else — another folder, a path, a name outside :data:`ASSET_NAME`, a missing file."""
    if folder not in FOLDERS or not ASSET_NAME.fullmatch(name):
        return None
    path = STATIC / folder / name
    if not path.is_file():
        return None
    return path, MEDIA_TYPES[path.suffix]


def page(name: str) -> Path:
    """The HTML of a workbench page (``home``, ``case``, ``stats``, ``ledger``, ``admin``)."""
    return STATIC / "work" / f"{name}.html"
