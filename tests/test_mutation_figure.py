"""tests/mutation_figure.py counts what docs/mutation.md reports: its rules, checked on a tiny mutants/ folder."""

from __future__ import annotations

import json
import sys

import pytest

from .conftest import REPO

sys.path.insert(0, str(REPO / "tests"))
import mutation_figure  # noqa: E402

MODULE = """
def x_half__mutmut_orig(n: int) -> int:
    value: int = n // 2
    return value


def x_half__mutmut_1(n: int) -> int:
    value: int = None
    return value


def x_half__mutmut_2(n: int) -> int:
    value: int = n // 3
    return value
"""


def test_modules_are_files_and_the_callbacks_package_is_one():
    assert mutation_figure.module_of("annctl.config.x_load__mutmut_3") == "config.py"
    assert mutation_figure.module_of("annctl.datasets.csv_file.xǁCsvǁread__mutmut_1") == "datasets/csv_file.py"
    assert mutation_figure.module_of("annctl.training.callbacks.stop.x_f__mutmut_1") == "training/callbacks/"


def test_the_interval_holds_the_share_and_is_wide_for_few_mutants():
    low, high = mutation_figure.wilson(4, 40)
    assert low < 0.1 < high and high - low > 0.15
    assert mutation_figure.wilson(0, 40)[0] == 0.0 and 0.05 < mutation_figure.wilson(0, 40)[1] < 0.1
    narrow = mutation_figure.wilson(40, 400)
    assert narrow[1] - narrow[0] < high - low


@pytest.mark.slow
def test_only_a_type_error_the_original_lacks_kills_a_mutant(tmp_path, monkeypatch):
    (tmp_path / "annctl").mkdir()
    (tmp_path / "annctl" / "__init__.py").write_text("")
    # an error in every copy (the original's too) is the copying's, not the mutation's
    shared = "\n    unknown_name\n"
    source = MODULE.replace("    return value\n", "    return value" + shared)
    (tmp_path / "annctl" / "half.py").write_text(source)
    monkeypatch.setattr(mutation_figure, "MUTANTS", tmp_path)
    caught = mutation_figure.caught_by_type_checker()
    assert list(caught) == ["annctl.half.x_half__mutmut_1"]
    assert "None" in caught["annctl.half.x_half__mutmut_1"]


def test_report_counts_type_kills_and_equivalents_and_takes_no_test_as_surviving(tmp_path, monkeypatch, capsys):
    folder = tmp_path / "annctl"
    folder.mkdir()
    codes = {f"annctl.half.x_half__mutmut_{n}": code for n, code in enumerate([1, 0, 0, 33, None, 36, 0], 1)}
    (folder / "half.py.meta").write_text(json.dumps({"exit_code_by_key": codes}))
    equivalents = tmp_path / "equivalents.txt"
    equivalents.write_text("# comment\nannctl.half.x_half__mutmut_3: the same value either way\n")
    sample = {"mutants": {"half.py": sorted(codes)}, "caught_by_type_checker": {"annctl.half.x_half__mutmut_7": "x"}}
    (tmp_path / "sample.json").write_text(json.dumps(sample))
    monkeypatch.setattr(mutation_figure, "MUTANTS", tmp_path)
    monkeypatch.setattr(mutation_figure, "SAMPLE", tmp_path / "sample.json")
    monkeypatch.setattr(mutation_figure, "EQUIVALENTS", equivalents)
    mutation_figure.report()
    out = capsys.readouterr().out
    # killed: 1 (test), 6 (timeout), 7 (type checker); survived: 2, 4 (no test); equivalent: 3; not run: 5
    assert "| `half.py` | 7 | 7 | 3 | 2 | 1 | 1 | 40.0% (" in out
    assert out.rstrip().endswith("annctl.half.x_half__mutmut_2\nannctl.half.x_half__mutmut_4")


def test_a_mutant_mutmut_did_not_reach_counts_by_its_run_against_the_module_tests(tmp_path, monkeypatch, capsys):
    folder = tmp_path / "annctl"
    folder.mkdir()
    codes = {f"annctl.half.x_half__mutmut_{n}": code for n, code in enumerate([1, 0, None, None, None], 1)}
    (folder / "half.py.meta").write_text(json.dumps({"exit_code_by_key": codes}))
    module_runs = {"annctl.half.x_half__mutmut_3": 1, "annctl.half.x_half__mutmut_4": 0}
    sample = {
        "mutants": {"half.py": sorted(codes)},
        "caught_by_type_checker": {},
        "run_against_module_tests": module_runs,
    }
    (tmp_path / "sample.json").write_text(json.dumps(sample))
    (tmp_path / "equivalents.txt").write_text("")
    monkeypatch.setattr(mutation_figure, "MUTANTS", tmp_path)
    monkeypatch.setattr(mutation_figure, "SAMPLE", tmp_path / "sample.json")
    monkeypatch.setattr(mutation_figure, "EQUIVALENTS", tmp_path / "equivalents.txt")
    mutation_figure.report()
    out = capsys.readouterr().out
    # killed: 1, 3 (module tests); survived: 2, 4 (module tests pass); not run: 5
    assert "| `half.py` | 5 | 5 | 2 | 2 | 0 | 1 | 50.0% (" in out
    assert mutation_figure.merged_codes(sample)["annctl.half.x_half__mutmut_4"] == 0


def test_module_test_files_come_from_the_tests_readme_table():
    files = mutation_figure.module_test_files()
    assert files["backprop/formulas.py"] == ["tests/test_formulas_units.py", "tests/test_backprop.py"]  # own first
    assert files["datasets/csv_file.py"] == [
        "tests/test_csv_files.py",  # named after the module
        "tests/test_csv_units.py",  # unit tests
        "tests/test_csv_dialects.py",
        "tests/test_defects.py",
    ]
    assert set(mutation_figure.configured_modules()) <= set(files)
    assert "tests/test_gradients.py" in files["training/callbacks/"]
    assert all((REPO / name).is_file() for names in files.values() for name in names)


@pytest.mark.slow
def test_the_forked_runner_gives_each_mutant_its_exit_code_and_stops_a_hanging_one(tmp_path, monkeypatch):
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_env.py").write_text(
        "import os, time\n\n\ndef test_it():\n"
        "    name = os.environ['MUTANT_UNDER_TEST']\n"
        "    if name == 'hang':\n        time.sleep(60)\n"
        "    assert name != 'bad'\n"
    )
    monkeypatch.setattr(mutation_figure, "MUTANTS", tmp_path)
    jobs = [(name, ["tests/test_env.py"]) for name in ("good", "bad", "hang")]
    assert mutation_figure.run_forked(jobs, parallel=2, timeout=5) == {"good": 0, "bad": 1, "hang": -9}
