"""The manual's generated reference pages (docs/reference/) are current — the one regeneration command,
`python -m annctl.reference`, would write exactly what is committed — and the hand-kept lines they use cover
what the code has."""

from __future__ import annotations

import pytest

from annctl.reference import generated_files, regenerate
from annctl.reference_pages import (
    ENVIRONMENT,
    PAGES,
    RUN_FILES,
    TUNE_FILES,
    environment_variables_read,
    path_attributes,
)

from .conftest import REPO

REGENERATE = "regenerate every generated file with: python -m annctl.reference (from the repository root)"


@pytest.mark.parametrize("name", list(PAGES))
def test_committed_reference_page_is_current(name):
    committed = REPO / "docs" / "reference" / f"{name}.md"
    assert committed.exists(), f"{committed} is missing; {REGENERATE}"
    assert committed.read_text(encoding="utf-8") == PAGES[name](), f"{committed} is stale; {REGENERATE}"


def test_the_one_regeneration_command_writes_the_reference_pages(tmp_path):
    assert {f"docs/reference/{name}.md" for name in PAGES} <= set(generated_files())
    regenerate(tmp_path)
    page = tmp_path / "docs" / "reference" / "command-line.md"
    page.write_text(page.read_text().replace("--fail-under", "--fail-below"))
    assert regenerate(tmp_path) == ["docs/reference/command-line.md"]


def test_every_environment_variable_annctl_reads_is_documented():
    assert environment_variables_read(REPO / "annctl") == set(ENVIRONMENT)


def test_every_path_of_a_run_and_a_search_is_documented():
    from annctl.rundir import RunPaths, TunePaths

    assert set(path_attributes(RunPaths)) == set(RUN_FILES)
    assert set(path_attributes(TunePaths)) == set(TUNE_FILES)


def test_the_command_line_page_has_every_command_and_option():
    import typer.main

    from annctl.cli import app

    page = (REPO / "docs" / "reference" / "command-line.md").read_text()
    root = typer.main.get_command(app)
    for name in root.list_commands(None):
        assert f"## `annctl {name}`" in page
        for param in root.get_command(None, name).params:
            for option in getattr(param, "opts", []):
                if option.startswith("-"):
                    assert f"`{option}`" in page, (name, option)


def test_the_manual_names_one_regeneration_command():
    for document in ("CONTRIBUTING.md",):
        assert "python -m annctl.reference" in (REPO / document).read_text()
