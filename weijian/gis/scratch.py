"""Scratch folders for uploads, extracted zips and batches: one root (``<home>/tmp``), one
prefix, the owning process in the name — so what a crashed process left behind is found and
removed at the next start (``clean_scratch``), while a sibling process's folders are kept."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path

from weijian.settings import get_settings

PREFIX = "weijian-"
log = logging.getLogger(__name__)


def scratch_root() -> Path:
    """``<home>/tmp``; the system's temporary folder when the home cannot be written."""
    root = get_settings().home / "tmp"
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError:
        root = Path(tempfile.gettempdir()) / "weijian-scratch"
        root.mkdir(exist_ok=True)
    return root


def scratch_dir(purpose: str) -> Path:
    """A new empty folder ``weijian-<purpose>-<pid>-<random>`` under the scratch root."""
    return Path(tempfile.mkdtemp(prefix=f"{PREFIX}{purpose}-{os.getpid()}-", dir=scratch_root()))


def _owner(name: str) -> int | None:
    parts = name.split("-")
    if len(parts) < 4 or not parts[2].isdigit():
        return None
    return int(parts[2])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def clean_scratch() -> int:
    """Remove the scratch folders of processes that are gone; returns how many."""
    removed = 0
    root = scratch_root()
    for entry in root.iterdir():
        if not entry.name.startswith(PREFIX):
            continue
        pid = _owner(entry.name)
        if pid is not None and (pid == os.getpid() or _alive(pid)):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed += 1
    if removed:
        log.info("%d scratch folders left by earlier processes removed from %s", removed, root)
    return removed
