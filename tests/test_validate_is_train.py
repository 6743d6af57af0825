"""Issue 29, item 11: `validate` runs train's checks — everything checkable without training — and `train` runs
them before it creates a run directory: a spec error leaves no `failed` run behind."""

from __future__ import annotations

import subprocess

from PIL import Image
from typer.testing import CliRunner

from annctl.cli import app
from tests.terminal import annctl_command

from .conftest import write_experiment

runner = CliRunner()


def annctl(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([*annctl_command(), *args], capture_output=True, text=True, timeout=120, cwd=cwd)


def test_an_architecture_that_does_not_take_the_input_kind(tmp_path):
    experiment = tmp_path / "iris.yaml"
    experiment.write_text("name: iris_mlp\ndataset: {name: iris}\nmodel: {architecture: mlp}\n")
    runs = tmp_path / "runs"
    for command in ("validate", "train"):
        result = annctl(command, str(experiment), "--set", "model={architecture: cnn}", "--runs-dir", str(runs))
        assert result.returncode == 2, result.stderr
        assert result.stderr == (
            f"error: {experiment}: --set model: model.architecture: cnn takes image inputs; dataset iris gives "
            "tabular inputs\n"
        )
    assert not runs.exists()


def test_an_empty_class_folder(tmp_path):
    for name in ("cats", "dogs"):
        (tmp_path / "photos" / name).mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(tmp_path / "photos" / "cats" / "a.png")
    experiment = tmp_path / "pets.yaml"
    experiment.write_text(
        "name: pets\ndataset: {name: image_folder, path: photos, image_size: [8, 8]}\nmodel: {architecture: cnn}\n"
    )
    result = annctl("validate", str(experiment))
    assert result.returncode == 2, result.stdout
    assert "dataset.path: " in result.stderr and "photos/dogs: empty class folder" in result.stderr


def test_a_spec_error_found_as_the_model_is_built_leaves_no_run(tmp_path, isolated_runs):
    experiment = write_experiment(tmp_path, "classification", name="frozen")
    result = runner.invoke(app, ["train", str(experiment), "--set", "model.freeze=[no_such_layer]"])
    assert result.exit_code == 2, result.output
    assert "model.freeze: no layer no_such_layer" in result.stderr
    assert result.stdout == ""  # no run directory to name
    assert list(isolated_runs.iterdir()) == []
