"""CLI parsing and printing; training itself is replaced where the point is the output format."""

import json

import pytest
from typer.testing import CliRunner

from annctl import __version__
from annctl.cli import app
from annctl.errors import Interrupted

from .conftest import EXPERIMENTS

runner = CliRunner()


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout.strip() == f"annctl {__version__}"


def test_datasets_and_models_list_names_with_descriptions():
    result = runner.invoke(app, ["datasets"])
    assert result.exit_code == 0
    for name in ("iris", "california_housing", "fashion_mnist", "csv"):
        assert name in result.stdout
    result = runner.invoke(app, ["models"])
    assert result.exit_code == 0 and "mlp" in result.stdout and "Sequential" in result.stdout


def test_validate_ok_and_show():
    result = runner.invoke(app, ["validate", str(EXPERIMENTS / "iris_mlp.yaml")])
    assert result.exit_code == 0 and "valid" in result.stdout
    result = runner.invoke(
        app, ["validate", str(EXPERIMENTS / "iris_mlp.yaml"), "--show", "--set", "training.epochs=3"]
    )
    assert result.exit_code == 0
    assert "epochs: 3" in result.stdout and result.stdout.startswith("name: iris_mlp")


def test_validate_bad_file_exits_2_with_one_line_per_problem(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(
        "name: t\ndataset: {name: iris}\nmodel: {architecture: mlp}\ntraining:\n  epochs: 0\n  learning_rat: 1\n"
    )
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert lines == [
        f"error: {path}:5:3: training.epochs: Input should be greater than or equal to 1 (got 0)",
        f"error: {path}:6:3: training.learning_rat: unknown field `learning_rat` (did you mean `learning_rate`?)",
    ]
    assert "Traceback" not in result.output


def test_bad_arguments_exit_2():
    assert runner.invoke(app, ["train"]).exit_code == 2
    assert runner.invoke(app, ["train", "x.yaml", "--seed", "abc"]).exit_code == 2


FAKE_SUMMARY = {"run_dir": "/runs/x-1", "name": "x", "status": "completed", "epochs_completed": 1, "test_metrics": {}}


@pytest.fixture
def fake_training(monkeypatch):
    calls = []

    def fake(spec, root, **kwargs):
        calls.append((spec, root, kwargs))
        return dict(FAKE_SUMMARY)

    monkeypatch.setattr("annctl.training.train", fake)
    return calls


def test_train_prints_run_dir_json_or_quiet(fake_training, tmp_path):
    exp = str(EXPERIMENTS / "iris_mlp.yaml")
    result = runner.invoke(app, ["train", exp, "--quiet"])
    assert result.exit_code == 0 and result.stdout == "/runs/x-1\n" and result.stderr == ""
    result = runner.invoke(app, ["train", exp, "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout) == FAKE_SUMMARY
    result = runner.invoke(app, ["train", exp])
    assert result.exit_code == 0 and result.stdout == "/runs/x-1\n" and "completed" in result.stderr


def test_train_options_reach_the_spec(fake_training, tmp_path):
    exp = str(EXPERIMENTS / "iris_mlp.yaml")
    result = runner.invoke(
        app,
        [
            "train",
            exp,
            "-q",
            "--set",
            "training.epochs=3",
            "--name",
            "other",
            "--seed",
            "5",
            "--runs-dir",
            str(tmp_path / "r"),
        ],
    )
    assert result.exit_code == 0, result.output
    spec, root, _ = fake_training[-1]
    assert (spec.training.epochs, spec.name, spec.seed, root) == (3, "other", 5, tmp_path / "r")


def test_runs_dir_defaults_to_environment(fake_training, isolated_runs):
    runner.invoke(app, ["train", str(EXPERIMENTS / "iris_mlp.yaml"), "-q"])
    assert fake_training[-1][1] == isolated_runs


def test_bad_name_is_exit_2(fake_training):
    result = runner.invoke(app, ["train", str(EXPERIMENTS / "iris_mlp.yaml"), "--name", "../escape"])
    assert result.exit_code == 2 and "name: String should match pattern" in result.stderr
    assert not fake_training


def test_interrupt_exit_code(monkeypatch):
    def interrupted(*args, **kwargs):
        raise Interrupted("interrupted after 1 epoch(s)")

    monkeypatch.setattr("annctl.training.train", interrupted)
    result = runner.invoke(app, ["train", str(EXPERIMENTS / "iris_mlp.yaml")])
    assert result.exit_code == 130 and "interrupted after 1 epoch" in result.stderr
