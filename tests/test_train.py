"""Real training on tiny generated data: the run directory contract, determinism, divergence, interrupts."""

import csv
import json

import pytest
import yaml
from typer.testing import CliRunner

from annctl.cli import app
from annctl.config import load_spec
from annctl.errors import Interrupted
from annctl.spec import resolve
from annctl.training import train
from annctl.training.lifecycle import SilentReporter

from .conftest import write_experiment

runner = CliRunner()


def read_metrics(run_dir):
    with open(run_dir / "metrics.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def test_two_epoch_run_directory_contract(classification_experiment, isolated_runs):
    result = runner.invoke(app, ["train", str(classification_experiment), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    run_dir = isolated_runs / summary["run_dir"].rsplit("/", 1)[-1]
    assert run_dir.is_dir() and run_dir.parent == isolated_runs
    assert run_dir.name.startswith("tiny-") and len(run_dir.name.split("-")[-1]) == 6
    files = {p.relative_to(run_dir).as_posix() for p in run_dir.rglob("*") if p.is_file()}
    for expected in (
        "spec.yaml",
        "env.json",
        "metrics.csv",
        "summary.json",
        "model.keras",
        "checkpoints/best.keras",
        "checkpoints/last.keras",
        "checkpoints/manifest.json",
        "dataset.json",
        "plots/learning_curves.png",
    ):
        assert expected in files
    assert any(f.startswith("tensorboard/train/events.out.tfevents") for f in files)
    assert any(f.startswith("tensorboard/validation/events.out.tfevents") for f in files)
    assert not any(".tmp" in f for f in files), "temp files must not survive"
    assert ".lock" not in files, "a finished run keeps no lock file (issue 29 item 19)"

    assert summary == json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["epochs_completed"] == 2 and summary["name"] == "tiny"
    assert summary["best"]["monitor"] == "val_loss" and summary["best_epoch"] in (1, 2)
    assert set(summary["test_metrics"]) >= {"loss", "accuracy"}
    assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(summary["final_metrics"])
    assert summary["wall_seconds"] > 0 and summary["train_samples_per_second"] > 0
    assert len(summary["model_sha256"]) == 64

    rows = read_metrics(run_dir)
    assert [row["epoch"] for row in rows] == ["1", "2"]
    assert list(rows[0]) == ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "learning_rate", "epoch_seconds"]

    resolved = yaml.safe_load((run_dir / "spec.yaml").read_text())
    assert resolved["training"]["loss"] == "binary_crossentropy"  # two text classes → one sigmoid unit
    assert resolved["dataset"]["path"].endswith("classification.csv")
    # the stored spec is itself a valid experiment, and rebuilds exactly the spec this run trained
    rebuilt = load_spec(run_dir / "spec.yaml")
    trained = resolve(load_spec(classification_experiment), "classification", 2)
    assert rebuilt.model_dump() == trained.model_dump()

    env = json.loads((run_dir / "env.json").read_text())
    assert {"annctl", "python", "tensorflow", "keras", "numpy", "platform", "command", "seed", "git_commit"} <= set(env)
    assert env["seed"] == 7

    import keras

    model = keras.saving.load_model(run_dir / "model.keras", safe_mode=True)
    assert model.output_shape == (None, 1)


def test_regression_run_reports_mse_rmse_mae(regression_experiment, isolated_runs):
    spec = load_spec(regression_experiment)
    summary = train(spec, isolated_runs, source=str(regression_experiment))
    assert summary.status == "completed"
    assert set(summary.test_metrics) >= {"loss", "mse", "rmse", "mae"}
    assert summary.test_metrics["rmse"] == pytest.approx(summary.test_metrics["mse"] ** 0.5)
    assert summary.test_metrics["loss"] == pytest.approx(summary.test_metrics["mse"], rel=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("jit", [False, True], ids=["graph", "xla"])
def test_same_spec_and_seed_give_identical_metrics(tmp_path, isolated_runs, jit):
    """Both Keras' `fit` and annctl's compiled steps (XLA, with TensorFlow's op determinism on)."""
    experiment = write_experiment(tmp_path, "classification", epochs=3, jit_compile=str(jit).lower())
    spec = load_spec(experiment)
    first = train(spec, isolated_runs)
    second = train(spec, isolated_runs)
    assert first.run_dir != second.run_dir
    assert first.jit_compile is jit
    strip = lambda rows: [{k: v for k, v in row.items() if k != "epoch_seconds"} for row in rows]  # noqa: E731
    from pathlib import Path

    assert strip(read_metrics(Path(first.run_dir))) == strip(read_metrics(Path(second.run_dir)))
    assert first.test_metrics == second.test_metrics


def test_nan_loss_is_diverged_with_exit_1(tmp_path, isolated_runs):
    experiment = write_experiment(tmp_path, "regression", name="blowup", optimizer="sgd", learning_rate=10, epochs=5)
    result = runner.invoke(app, ["train", str(experiment), "--set", "dataset.normalize=false"])
    assert result.exit_code == 1, result.output
    assert "lower training.learning_rate" in result.stderr
    (run_dir,) = isolated_runs.iterdir()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "diverged"
    assert not (run_dir / "model.keras").exists()


def test_interrupt_marks_run_and_keeps_files_consistent(tmp_path, isolated_runs):
    class StopAfterFirstEpoch(SilentReporter):
        def run_start(self, *args):
            pass

        def epoch_start(self, *args):
            pass

        def batch_end(self, *args):
            pass

        def epoch_end(self, epoch, epochs, logs):
            raise KeyboardInterrupt

    spec = load_spec(write_experiment(tmp_path, "classification", epochs=5))
    with pytest.raises(Interrupted) as info:
        train(spec, isolated_runs, reporter=StopAfterFirstEpoch())
    assert info.value.exit_code == 130
    (run_dir,) = isolated_runs.iterdir()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "interrupted" and summary["epochs_completed"] == 1
    assert summary["test_metrics"] is None and summary["wall_seconds"] > 0  # every key present, even unfinished
    assert [row["epoch"] for row in read_metrics(run_dir)] == ["1"]
    assert (run_dir / "checkpoints" / "last.keras").exists()


def test_data_error_leaves_no_run_directory(tmp_path, isolated_runs):
    (tmp_path / "bad.csv").write_text("a,target\n1,2\n,3\n")
    experiment = tmp_path / "e.yaml"
    experiment.write_text("name: e\ndataset: {name: csv, path: bad.csv, target: target}\nmodel: {architecture: mlp}\n")
    result = runner.invoke(app, ["train", str(experiment)])
    assert result.exit_code == 2
    assert "bad.csv: missing values in a (1)" in result.stderr
    assert not any(isolated_runs.iterdir())


def test_unwritable_runs_root_is_reported_before_training(classification_experiment, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = runner.invoke(app, ["train", str(classification_experiment), "--runs-dir", str(blocker / "runs")])
    assert result.exit_code == 2 and "cannot create it" in result.stderr


def test_each_epoch_has_its_own_reproducible_order():
    # bug: Keras' array shuffling restarts its seeded random op every epoch, so every epoch had the same order
    import numpy as np

    from annctl.datasets.base import ArraySplit
    from annctl.training.pipeline import training_dataset

    x = np.arange(20, dtype="float32").reshape(20, 1)
    split = ArraySplit(x, x)
    same = lambda x, y: (x, y)  # noqa: E731

    def order(seed, epoch):
        dataset, epoch_variable, steps = training_dataset(split, 8, True, seed, same)
        epoch_variable.assign(epoch)
        batches = [bx.numpy().ravel().astype(int).tolist() for bx, _ in dataset]
        assert len(batches) == steps == 3 and [len(b) for b in batches] == [8, 8, 4]
        return sum(batches, [])

    first, second = order(1, 0), order(1, 1)
    assert sorted(first) == sorted(second) == list(range(20))
    assert first != second  # reshuffled every epoch
    assert order(1, 1) == second  # epoch 1's order does not depend on having run epoch 0 (resume)
    assert order(2, 0) != first
    dataset, _, _ = training_dataset(split, 8, False, 1, same)
    assert [int(v) for bx, _ in dataset for v in bx.numpy().ravel()] == list(range(20))  # shuffle: false
