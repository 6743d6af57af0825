"""`--help`, validate, datasets and models must not pay for TensorFlow: checked in a fresh interpreter."""

import subprocess
import sys

HEAVY = ("tensorflow", "keras", "sklearn", "optuna", "matplotlib", "mlflow")


def test_importing_the_cli_leaves_heavy_modules_out():
    code = f"import sys, annctl.cli; print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""


def test_validate_datasets_models_run_without_heavy_modules(tmp_path, isolated_runs):
    isolated_runs.mkdir()  # `runs list` on a missing runs root is exit 2
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from annctl.cli import app\n"
        "runner = CliRunner()\n"
        "commands = [['--help'], ['datasets'], ['models'], ['runs', 'list'],\n"
        "            ['validate', 'experiments/iris_mlp.yaml'], ['validate', 'experiments/california_tune.yaml']]\n"
        "for args in commands:\n"
        "    result = runner.invoke(app, args)\n"
        "    assert result.exit_code == 0, (args, result.output)\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""


def test_light_commands_skip_what_they_do_not_print_with():
    """`validate` prints one plain line (no rich); `runs list` validates nothing (no pydantic: typer ≥ 0.29
    would import it to coerce parameters, hence the pin in pyproject.toml)."""
    for args, absent in ((["validate", "experiments/iris_mlp.yaml"], "rich"), (["runs", "list"], "pydantic")):
        code = (
            "import sys\n"
            f"sys.argv = ['annctl', *{args!r}]\n"
            "from annctl.cli import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            f"print('LOADED' if {absent!r} in sys.modules else 'ABSENT', file=sys.stderr)"
        )
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert result.stderr.strip().splitlines()[-1] == "ABSENT", (args, result.stderr)
