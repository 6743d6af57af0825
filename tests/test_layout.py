"""tests/README.md maps every module of annctl/ to its test files: a new module gets a row, a row names only
test files that exist."""

from __future__ import annotations

import re

from .conftest import REPO

TABLE = REPO / "tests" / "README.md"
ENTRY_FOLDERS = ("annctl/datasets/", "annctl/models/", "annctl/training/callbacks/")  # one row per registry folder


def table() -> dict[str, list[str]]:
    rows = {}
    for line in TABLE.read_text(encoding="utf-8").splitlines():
        cells = line.split("|")
        if len(cells) == 4 and cells[1].strip().startswith("`annctl/"):
            module = re.match(r"`([^`]+)`", cells[1].strip()).group(1)
            rows[module] = re.findall(r"`([^`]+)`", cells[2])
    return rows


def modules() -> set[str]:
    found = set()
    for path in (REPO / "annctl").rglob("*.py"):
        name = path.relative_to(REPO).as_posix()
        folder = next((entry for entry in ENTRY_FOLDERS if name.startswith(entry)), None)
        found.add(folder or name)
    return found


def test_every_module_has_a_row_and_every_row_a_module():
    rows = table()
    assert sorted(modules() - set(rows)) == []
    # a module of an entry folder may have a row of its own beside its folder's
    own = {row for row in set(rows) - modules() if row.startswith(ENTRY_FOLDERS) and (REPO / row).is_file()}
    assert sorted(set(rows) - modules() - own) == []


def test_every_listed_test_file_exists():
    rows = table()
    assert all(rows.values()), [module for module, files in rows.items() if not files]
    missing = {name for files in rows.values() for name in files if not (REPO / "tests" / name).is_file()}
    assert sorted(missing) == []


def imported_modules(test_file) -> set[str]:
    """The annctl modules a test file imports (``annctl/x.py`` or ``annctl/x/__init__.py``), from its source."""
    import ast

    found = set()
    for node in ast.walk(ast.parse(test_file.read_text(encoding="utf-8"))):
        names = []
        if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("annctl"):
            submodules = [f"{node.module}.{alias.name}" for alias in node.names]
            named = [name for name in submodules if module_file(name)]
            names = named or [node.module]  # `from annctl import compat` imports compat, not annctl's __init__
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names if alias.name.startswith("annctl")]
        found |= {module_file(name) for name in names if module_file(name)}
    return found


def module_file(dotted: str) -> str | None:
    path = dotted.replace(".", "/")
    for candidate in (f"{path}.py", f"{path}/__init__.py"):
        if (REPO / candidate).is_file():
            return candidate
    return None


def test_a_test_file_that_imports_a_module_is_in_that_modules_row():
    rows = table()
    missing = []
    for test_file in sorted((REPO / "tests").rglob("test_*.py")):
        name = test_file.relative_to(REPO / "tests").as_posix()
        for module in imported_modules(test_file):
            keys = [module] if module in rows else [folder for folder in ENTRY_FOLDERS if module.startswith(folder)]
            missing += [f"{key}: {name}" for key in keys if name not in rows[key]]
    assert missing == []
