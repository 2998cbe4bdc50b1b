"""The pages of the entry points — the workbench (工作台) and what its pages share — as the
files a browser loads: HTML, plain ES modules and style sheets, no build step and no framework.
This package only says where they lie; ``weijian.api.routes.pages`` serves them.

``static/common/`` holds what every page uses (the API client with the token, the login, the
header, messages, Beijing time, uploads, the file viewer, one style sheet), ``static/work/`` the
workbench's pages, ``static/m/`` the field app (移动端: its shell, service worker, manifest,
icons and one ES module per tab), ``static/report/`` the public site (随手拍, 查询进度 and
公开统计: its own pages and modules, which load nothing of the staff pages' but the shared
helpers of ``static/common/`` — elements, Beijing time, photos — and the style)."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

STATIC = Path(__file__).resolve().with_name("static")
FOLDERS = ("common", "work", "m", "report")
MEDIA_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}
#: a file a page may load: lower-case letters, digits, - and _, one of the suffixes above
ASSET_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*\.(?:js|css|svg|png)")
#: the field app's files served elsewhere than /static/m/ (the page, the worker, the manifest)
FIELD_OWN = ("index.html", "sw.js", "manifest.webmanifest")


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


def public_page(name: str) -> Path:
    """The HTML of a public page (``index``, ``follow``, ``stats``)."""
    return STATIC / "report" / f"{name}.html"


def field_file(name: str) -> Path:
    """One of the field app's files of :data:`FIELD_OWN`."""
    assert name in FIELD_OWN
    return STATIC / "m" / name


def field_shell() -> tuple[str, list[str]]:
    """What the field app's service worker keeps for working offline: a version (a hash of
    every file's bytes: a changed file makes a new cache) and the URLs of the shell — the page,
    its manifest, the app's modules, icons and style, and what they import from
    ``static/common/``."""
    urls = ["/m", "/m/manifest.webmanifest"]
    digest = hashlib.sha256()
    for folder in ("m", "common"):
        for path in sorted((STATIC / folder).iterdir()):
            if not path.is_file():
                continue
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
            if folder == "m" and path.name in FIELD_OWN:
                continue
            if ASSET_NAME.fullmatch(path.name):
                urls.append(f"/static/{folder}/{path.name}")
    return digest.hexdigest()[:16], urls
