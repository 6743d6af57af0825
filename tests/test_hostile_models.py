"""Only model files annctl wrote, matching the hash in their run, are loaded, and with safe_mode: a Lambda
layer, an .h5 file, a SavedModel directory, a tampered file or a planted symlink are refused with a message."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from annctl.cli import app
from annctl.fileio import sha256_file

runner = CliRunner()


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory) -> Path:
    from .conftest import write_experiment

    directory = tmp_path_factory.mktemp("hostile")
    experiment = write_experiment(directory, "regression", epochs=1)
    result = runner.invoke(app, ["train", str(experiment), "--quiet", "--runs-dir", str(directory / "runs")])
    assert result.exit_code == 0, result.output
    return Path(result.stdout.strip())


@pytest.fixture
def run_copy(trained_run, tmp_path) -> Path:
    copy = tmp_path / "runs" / trained_run.name
    shutil.copytree(trained_run, copy)
    return copy


def replace_model(run_dir: Path, make) -> None:
    """Swap model.keras for an attacker's file and forge the recorded hash to match it."""
    path = run_dir / "model.keras"
    path.unlink()
    make(path)
    summary = json.loads((run_dir / "summary.json").read_text())
    summary["model_sha256"] = sha256_file(path) if path.is_file() else "0" * 64
    (run_dir / "summary.json").write_text(json.dumps(summary))


def predict(run_dir: Path, tmp_path: Path):
    rows = tmp_path / "rows.csv"
    rows.write_text("a,b,c\n0.1,0.2,0.3\n")
    return runner.invoke(app, ["predict", str(run_dir), "--input", str(rows)])


@pytest.mark.slow
def test_a_lambda_layer_is_refused_even_with_a_forged_hash(run_copy, tmp_path):
    import keras

    def lambda_model(path):
        inputs = keras.Input((3,))
        outputs = keras.layers.Lambda(lambda x: x * 2)(inputs)
        keras.Model(inputs, outputs).save(path)

    replace_model(run_copy, lambda_model)
    result = predict(run_copy, tmp_path)
    assert result.exit_code == 2
    assert "cannot load the model safely" in result.stderr and "Lambda" in result.stderr
    assert "Traceback" not in result.output


def test_an_h5_file_is_refused(run_copy, tmp_path):
    import keras

    def h5_model(path):
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
        model.save(tmp_path / "legacy.h5")
        shutil.copyfile(tmp_path / "legacy.h5", path)

    replace_model(run_copy, h5_model)
    result = predict(run_copy, tmp_path)
    assert result.exit_code == 2 and "cannot load the model safely" in result.stderr


def test_a_savedmodel_directory_is_refused(run_copy, tmp_path):
    replace_model(run_copy, lambda path: (path.mkdir(), (path / "saved_model.pb").write_bytes(b"\x08\x01")))
    result = predict(run_copy, tmp_path)
    assert result.exit_code == 2 and "no final model in this run" in result.stderr


def test_a_tampered_model_is_refused(run_copy, tmp_path):
    path = run_copy / "model.keras"
    data = bytearray(path.read_bytes())
    data[-10] ^= 0x01
    path.write_bytes(bytes(data))
    result = predict(run_copy, tmp_path)
    assert result.exit_code == 2 and "does not match the hash recorded by the run" in result.stderr


def test_a_symlink_planted_in_a_run_is_not_followed_for_writing(run_copy, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (run_copy / "eval").symlink_to(outside)  # evaluate writes RUN/eval/<split>-<time>.json
    result = runner.invoke(app, ["evaluate", str(run_copy)])
    assert result.exit_code == 1
    assert f"{run_copy / 'eval'}: refusing to write through a symbolic link" in result.stderr
    assert not any(outside.iterdir())


def test_full_disk_mid_run_is_a_clear_error_naming_the_path(tmp_path, monkeypatch):
    from .conftest import write_experiment

    experiment = write_experiment(tmp_path, "classification", epochs=5)
    monkeypatch.setenv("ANNCTL_FAULT", "enospc:9")  # a few files into the run
    import annctl.faults

    monkeypatch.setattr(annctl.faults, "_counts", {})
    result = runner.invoke(app, ["train", str(experiment), "--quiet"])
    assert result.exit_code == 1, result.output
    assert "No space left on device" in result.stderr and "cannot write " in result.stderr
    assert "Traceback" not in result.output


def test_study_names_are_restricted(tmp_path):
    from .test_tune import tune_experiment

    result = runner.invoke(app, ["tune", str(tune_experiment(tmp_path)), "--study", "../../etc", "--trials", "1"])
    assert result.exit_code == 2 and "--study" in result.stderr
