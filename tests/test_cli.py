"""CLI parsing and printing; training itself is replaced where the point is the output format."""

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from annctl import __version__
from annctl.cli import app
from annctl.errors import Interrupted
from annctl.records import Summary

from .conftest import EXPERIMENTS, write_csv, write_experiment
from .terminal import annctl_command

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
        return Summary(**FAKE_SUMMARY)

    monkeypatch.setattr("annctl.training.train", fake)
    return calls


def test_train_prints_run_dir_json_or_quiet(fake_training, tmp_path):
    exp = str(EXPERIMENTS / "iris_mlp.yaml")
    result = runner.invoke(app, ["train", exp, "--quiet"])
    assert result.exit_code == 0 and result.stdout == "/runs/x-1\n" and result.stderr == ""
    result = runner.invoke(app, ["train", exp, "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout) == Summary(**FAKE_SUMMARY).model_dump(mode="json")
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


def test_interrupt_prints_the_run_directory_on_stdout(monkeypatch, tmp_path):
    """Issue 16: after Ctrl-C stdout was empty, so `RUN=$(annctl train ... --quiet)` got nothing to resume."""
    run_dir = tmp_path / "runs" / "x-1"
    run_dir.mkdir(parents=True)
    (run_dir / "summary.json").write_text(json.dumps({"run_dir": str(run_dir), "name": "x", "status": "interrupted"}))

    def interrupted(*args, **kwargs):
        error = Interrupted("interrupted after 1 epoch(s)")
        error.run_dir = run_dir
        raise error

    monkeypatch.setattr("annctl.training.train", interrupted)
    result = runner.invoke(app, ["train", str(EXPERIMENTS / "iris_mlp.yaml"), "--quiet"])
    assert result.exit_code == 130 and result.stdout == f"{run_dir}\n"
    result = runner.invoke(app, ["train", str(EXPERIMENTS / "iris_mlp.yaml"), "--json"])
    assert result.exit_code == 130 and json.loads(result.stdout)["status"] == "interrupted"


def test_diverged_training_prints_its_run_directory(tmp_path, isolated_runs):
    experiment = write_experiment(tmp_path, "regression", name="blowup", optimizer="sgd", learning_rate=10, epochs=5)
    result = runner.invoke(app, ["train", str(experiment), "--set", "dataset.normalize=false", "--quiet"])
    assert result.exit_code == 1, result.output
    (run_dir,) = isolated_runs.iterdir()
    assert result.stdout == f"{run_dir}\n" and "NaN" in result.stderr


def annctl_process(args, **kwargs):
    return subprocess.Popen([*annctl_command(), *args], **kwargs)


@pytest.mark.slow
def test_sigterm_in_a_script_still_gives_the_run_directory(tmp_path):
    """`RUN=$(annctl train EXP --quiet)` stopped by SIGTERM (a CI timeout, `kill`): the script can resume RUN."""
    write_csv(tmp_path / "rows.csv", "classification", rows=3000)
    experiment = tmp_path / "rows.yaml"
    experiment.write_text(
        "name: rows\ndataset: {name: csv, path: rows.csv, target: target}\n"
        "model: {architecture: mlp}\ntraining: {epochs: 50, batch_size: 4}\n"
    )
    runs = tmp_path / "runs"
    process = annctl_process(
        ["train", str(experiment), "--quiet", "--runs-dir", str(runs)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not list(runs.glob("*/metrics.csv")):  # the first epoch is recorded
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.1)
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=60)
    (run_dir,) = runs.iterdir()
    assert process.returncode == 143, stderr
    assert stdout == f"{run_dir}\n"
    assert f"annctl train --resume {run_dir}" in stderr and "Traceback" not in stderr


def closed_pipe_run(args, **kwargs) -> subprocess.CompletedProcess:
    """Run annctl with stdout on a pipe whose reader is gone (like `| head -3` once head has exited)."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run(
            [*annctl_command(), *args], stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=120, **kwargs
        )
    finally:
        os.close(write_end)


@pytest.mark.parametrize("args", [["schema"], ["datasets"], ["runs", "list"]])
def test_a_closed_pipe_ends_quietly_with_141(args, isolated_runs):
    """Issue 16: `annctl evaluate RUN | head -3` exited 1; now like `cat`: 141 (128 + SIGPIPE), nothing said."""
    isolated_runs.mkdir()
    result = closed_pipe_run(args)
    assert (result.returncode, result.stderr) == (141, "")


def test_tune_dry_run_rejects_what_the_real_run_rejects(tmp_path):
    experiment = tmp_path / "iris.yaml"
    experiment.write_text(
        "name: t\ndataset: {name: iris}\nmodel: {architecture: mlp}\n"
        "search:\n  space:\n    training.batch_size: {type: int, low: 4, high: 16}\n"
    )
    for option in ("--trials", "--workers"):
        for dry_run in ([], ["--dry-run"]):
            result = runner.invoke(app, ["tune", str(experiment), option, "0", *dry_run])
            assert result.exit_code == 2, (option, dry_run, result.output)
            assert option in result.output and "0 is not in the range x>=1" in result.output
    result = runner.invoke(app, ["tune", str(experiment), "--trials", "3", "--dry-run", "--json"])
    assert result.exit_code == 0 and result.stderr == ""
    plan = json.loads(result.stdout)
    assert [config["trial"] for config in plan["configurations"]] == [0, 1, 2] and plan["budget"]["trials"] == 3


def test_a_runs_root_that_is_a_file_says_so(classification_experiment, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = runner.invoke(app, ["train", str(classification_experiment), "--runs-dir", str(blocker)])
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: runs directory {blocker}: is a file, not a directory; choose another with --runs-dir\n"
    )


@contextlib.contextmanager
def read_only(directory: Path):
    """``directory`` unwritable for this process: chmod, and for root (whom chmod does not stop) the immutable
    attribute."""
    directory.chmod(0o500)
    immutable = (
        os.geteuid() == 0 and subprocess.run(["chattr", "+i", str(directory)], capture_output=True).returncode == 0
    )
    try:
        probe = directory / ".probe"
        try:
            probe.write_text("")
        except OSError:
            pass
        else:
            probe.unlink()
            pytest.skip("cannot make a folder read-only here (root without the immutable attribute)")
        yield directory
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(directory)], check=True)
        directory.chmod(0o700)


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    from annctl.config import load_spec
    from annctl.training import train

    base = tmp_path_factory.mktemp("cli")
    return Path(train(load_spec(write_experiment(base, "classification")), base / "runs").run_dir)


def test_evaluate_on_a_read_only_run_still_prints_its_metrics(trained_run, tmp_path):
    """Issue 16: evaluate failed (exit 1, naming a hidden temp file) on a run it could not write into."""
    run_dir = tmp_path / "run"
    shutil.copytree(trained_run, run_dir)
    with read_only(run_dir):
        result = runner.invoke(app, ["evaluate", str(run_dir), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["metrics"]["accuracy"] >= 0
    assert result.stderr.startswith(f"warning: the evaluation is not saved: {run_dir / 'eval'}")
    assert ".tmp" not in result.stderr
    assert not (run_dir / "eval").exists()


def test_unwritable_outputs_name_the_path_given(trained_run, tmp_path):
    """predict -o and plot -o into a folder that cannot be written: the message names the file asked for."""
    rows = tmp_path / "rows.csv"
    rows.write_text("a,b,c\n0.1,0.2,0.3\n")
    locked = tmp_path / "locked"
    locked.mkdir()
    with read_only(locked):
        for args in (
            ["predict", str(trained_run), "--input", str(rows), "-o", str(locked / "out.csv")],
            ["plot", str(trained_run), "--metric", "loss", "-o", str(locked / "out.png")],
        ):
            result = runner.invoke(app, args)
            assert result.exit_code == 1, result.output
            # "Permission denied" (chmod) or "Operation not permitted" (the immutable attribute, as root)
            assert result.stderr.startswith(f"error: {args[-1]}: cannot write in {locked}: "), result.stderr
            assert len(result.stderr.splitlines()) == 1 and ".tmp" not in result.stderr


def test_plot_a_folder_without_runs_says_there_are_none(tmp_path):
    (tmp_path / "empty").mkdir()
    result = runner.invoke(app, ["plot", str(tmp_path / "empty"), "-o", str(tmp_path / "x.png")])
    assert result.exit_code == 2
    assert result.stderr == f"error: {tmp_path / 'empty'}: no runs in there to plot (a run directory holds spec.yaml)\n"


@pytest.mark.slow
def test_evaluate_into_a_closed_pipe_ends_quietly(trained_run):
    """The issue's own example: `annctl evaluate RUN | head -3`, the reader gone before the tables are out."""
    result = closed_pipe_run(["evaluate", str(trained_run)])
    assert (result.returncode, result.stderr) == (141, "")


def test_a_wide_table_into_a_closed_pipe_ends_quietly_too(tmp_path):
    from .test_runs import make_run

    for number in range(3):
        make_run(tmp_path / "runs", f"a_rather_long_experiment_name_{number}-20260101T000000-abcdef", accuracy=0.5)
    result = closed_pipe_run(
        ["runs", "list", "--runs-dir", str(tmp_path / "runs")], env={**os.environ, "COLUMNS": "40"}
    )
    assert (result.returncode, result.stderr) == (141, "")
