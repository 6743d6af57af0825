"""Issue 29, item 16: what `--help` says — usage lines as Unix tools write them, the inputs each option really
takes, and the environment variable behind --runs-dir."""

from __future__ import annotations

import subprocess

import pytest
from typer.testing import CliRunner

from annctl.cli import app
from tests.terminal import annctl_command

COMMANDS = [
    ["train"],
    ["tune"],
    ["validate"],
    ["backprop"],
    ["evaluate"],
    ["predict"],
    ["export"],
    ["plot"],
    ["report"],
    ["runs", "list"],
    ["runs", "show"],
    ["runs", "compare"],
]


def help_text(command: list[str]) -> str:
    result = CliRunner().invoke(app, [*command, "--help"], terminal_width=200, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())  # rich's box and wrapping left out


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_usage_lines_have_no_braces(command):
    usage = next(line for line in help_text(command).split("│") if "Usage:" in line)
    assert "{" not in usage and "}" not in usage, usage


def test_usage_line_of_a_real_process():
    result = subprocess.run(
        [*annctl_command(), "validate", "--help"], capture_output=True, text=True, env={"COLUMNS": "100"}, timeout=60
    )
    assert "Usage: annctl validate [OPTIONS] EXP.yaml" in result.stdout, result.stdout


@pytest.mark.parametrize("command", [c for c in COMMANDS if c not in (["backprop"],)], ids=" ".join)
def test_runs_dir_names_its_environment_variable(command):
    text = help_text(command)
    assert "--runs-dir" in text and "[env var: ANNCTL_RUNS_DIR]" in text


def test_inputs_name_folders_and_list_files():
    assert "a folder of class folders" in help_text(["evaluate"])
    predict = help_text(["predict"])
    assert "a folder of images" in predict and "a list file" in predict
