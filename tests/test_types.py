"""The type checker holds the interfaces: the spec's registry-built unions are typed (an attribute no dataset or
architecture has is an error, the ones every entry has are not), and annctl/ itself checks clean."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow  # mypy over annctl/ takes ~10 s without its cache


def _mypy(*args: str, cache: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--cache-dir", str(cache), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_registry_unions_are_typed(tmp_path):
    module = tmp_path / "uses_spec.py"
    module.write_text(
        "from annctl.spec import ExperimentSpec\n"
        "\n"
        "def good(spec: ExperimentSpec) -> str:\n"
        "    return spec.dataset.name + spec.model.architecture + spec.model.output_names()[0]\n"
        "\n"
        "def bad(spec: ExperimentSpec) -> str:\n"
        "    return spec.model.no_such_field\n"
        "\n"
        "def also_bad(spec: ExperimentSpec) -> int:\n"
        "    return spec.dataset.load(spec.seed).num_classes + spec.training.resolved_loss()\n"
    )
    result = _mypy("--config-file", str(ROOT / "pyproject.toml"), str(module), cache=tmp_path / "cache")
    errors = [line for line in result.stdout.splitlines() if ": error:" in line]
    assert [line.split(":")[1] for line in errors] == ["7", "10"], result.stdout
    assert '"ArchitectureSpec" has no attribute "no_such_field"' in errors[0]
    assert "Unsupported operand types" in errors[1]


def test_annctl_type_checks_clean(tmp_path):
    result = _mypy(cache=tmp_path / "cache")  # files and flags from pyproject.toml, as .ci/run runs it
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success: no issues found" in result.stdout
