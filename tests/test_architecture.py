"""The layering of ARCHITECTURE.md, checked: the import contracts of pyproject.toml hold, and
breaking one fails the run; migrations import nothing of the application; no room grows a file
or a function past what one person can read at once."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "weijian"
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
MAX_FILE_LINES = 1000
MAX_FUNCTION_LINES = 120


def _lint_imports(tree: Path) -> subprocess.CompletedProcess:
    """``lint-imports`` with the project's contracts over the package found in ``tree``."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", str(ROOT / "pyproject.toml")],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _copy_package(tmp_path: Path) -> Path:
    shutil.copytree(
        PACKAGE,
        tmp_path / "weijian",
        ignore=shutil.ignore_patterns("node_modules", "__pycache__", "static"),
    )
    return tmp_path


def test_the_import_contracts_hold() -> None:
    done = _lint_imports(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


@pytest.mark.parametrize(
    ("module", "source", "contract"),
    [
        # gis at the base may not reach up into the domain
        ("gis/leak.py", "from weijian.cases import workflow\n", "layering of the rooms"),
        # the handling of a case never needs the oversight over all cases
        ("cases/leak.py", "from weijian.oversight import ledger\n", "layering of the rooms"),
        # one command module of the CLI may not take another's commands
        ("cli/leak.py", "", "command modules"),
        # the domain knows nothing of HTTP
        ("jurisdiction/leak.py", "import fastapi\n", "knows nothing of HTTP"),
    ],
)
def test_breaking_a_contract_fails_the_run(
    tmp_path: Path, module: str, source: str, contract: str
) -> None:
    tree = _copy_package(tmp_path)
    if module == "cli/leak.py":  # a command module importing another one
        target = tree / "weijian" / "cli" / "ledger.py"
        target.write_text(target.read_text() + "\nfrom weijian.cli import cases  # noqa\n")
    else:
        (tree / "weijian" / module).write_text(source)
    done = _lint_imports(tree)
    assert done.returncode == 1, done.stdout
    broken = [line for line in done.stdout.splitlines() if line.endswith("BROKEN")]
    assert any(contract in line for line in broken), done.stdout


def test_an_import_cycle_fails_the_run(tmp_path: Path) -> None:
    tree = _copy_package(tmp_path)
    # gis.crs ↔ gis.points: two modules of one package importing each other
    crs = tree / "weijian" / "gis" / "crs.py"
    crs.write_text(crs.read_text() + "\nfrom weijian.gis import points  # noqa\n")
    done = _lint_imports(tree)
    assert done.returncode == 1, done.stdout
    assert "no import cycles between the modules of any package of weijian BROKEN" in done.stdout


def test_migrations_import_nothing_of_the_application() -> None:
    """A migration seeds what it was written with: today's code never changes an old one."""
    offenders = []
    for path in sorted((PACKAGE / "db" / "migrations").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] == "weijian"]
    assert offenders == []


def _python_files() -> list[Path]:
    return [p for p in sorted(PACKAGE.rglob("*.py")) if "node_modules" not in p.parts]


def test_no_file_is_longer_than_one_person_reads() -> None:
    long = {
        str(p.relative_to(ROOT)): n
        for p in _python_files()
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_FILE_LINES
    }
    assert long == {}


def test_no_function_is_longer_than_one_screenful_or_two() -> None:
    long = {}
    for path in _python_files():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long[f"{path.relative_to(ROOT)}:{node.name}"] = lines
    assert long == {}


def _loaded_with(module: str, libraries: list[str]) -> list[str]:
    """Which of ``libraries`` a fresh interpreter has loaded once it imported ``module``."""
    done = subprocess.run(
        [sys.executable, "-c",
         f"import sys, {module}; print(' '.join(m for m in {libraries!r} if m in sys.modules))"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_the_served_app_loads_the_file_and_drawing_libraries_only_when_used() -> None:
    """A server's worker imports the app; matplotlib (maps and documents), geopandas and
    pyogrio (file imports) and pypdf (atlases) come in with the first request that uses them,
    not into every worker's memory at start."""
    heavy = ["matplotlib", "geopandas", "pyogrio", "pypdf", "fontTools"]
    assert _loaded_with("weijian.api.app", heavy) == [], "imported with the app"


def test_the_command_line_starts_without_the_libraries_its_commands_load() -> None:
    """``weijian`` parses its commands before any of them runs: each command imports what it
    works with, so that ``weijian --help`` or ``weijian db status`` answer in about a second,
    not after the 3 s that numba, pandas, shapely and the rest take to load."""
    heavy = ["numpy", "numba", "pandas", "shapely", "pyproj", "geopandas", "pyogrio",
             "matplotlib", "weasyprint", "fastapi", "openpyxl", "pypinyin", "PIL"]  # fmt: skip
    assert _loaded_with("weijian.cli", heavy) == [], "imported with the command line"
