"""`annctl train --resume`: a run killed or stopped at any point ends exactly where an uninterrupted run with the
same seed ends (CPU), with dropout, momentum, a plateau schedule and early stopping all in play."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from annctl.cli import app
from annctl.fileio import exclusive_lock

from ..conftest import write_csv

pytestmark = pytest.mark.reliability

cli = CliRunner()

EXPERIMENT = """name: resumable
seed: 7
dataset: {name: csv, path: classification.csv, target: target}
model: {architecture: mlp, hidden_units: [16], dropout: 0.3}
training:
  optimizer: sgd
  learning_rate: 0.5
  momentum: 0.9
  epochs: 14
  batch_size: 4
  steps_per_execution: 2  # 5 batch-end calls per epoch: mid_epoch:17 is inside epoch 4
  early_stopping: {patience: 4}
  lr_schedule: {type: reduce_on_plateau, patience: 1, factor: 0.5}
"""


@pytest.fixture(scope="module")
def experiment(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("resume")
    write_csv(directory / "classification.csv", "classification")
    path = directory / "resumable.yaml"
    path.write_text(EXPERIMENT)
    return path


def annctl(args: list[str], runs: Path, fault: str | None = None) -> subprocess.Popen:
    env = {**os.environ, "ANNCTL_RUNS_DIR": str(runs)}
    env.pop("ANNCTL_FAULT", None)
    if fault:
        env["ANNCTL_FAULT"] = fault
    return subprocess.Popen(
        [sys.executable, "-m", "annctl", *args, "--quiet"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=300)
    return process.returncode, out, err


def only_run(runs: Path) -> Path:
    (run_dir,) = [p for p in runs.iterdir() if p.is_dir()]
    return run_dir


def metrics(run_dir: Path) -> list[dict]:
    rows = list(csv.DictReader(open(run_dir / "metrics.csv")))
    for row in rows:
        row.pop("epoch_seconds")
    return rows


@pytest.fixture(scope="module")
def reference(experiment, tmp_path_factory) -> dict:
    """The uninterrupted run every resumed one must match."""
    runs = tmp_path_factory.mktemp("reference")
    code, out, err = finish(annctl(["train", str(experiment)], runs))
    assert code == 0, err
    run_dir = Path(out.strip())
    rows = metrics(run_dir)
    assert len({row["learning_rate"] for row in rows}) > 1  # the plateau schedule acted
    assert len(rows) < 14  # early stopping acted
    return {"rows": rows, "summary": json.loads((run_dir / "summary.json").read_text())}


def assert_same_as_reference(run_dir: Path, reference: dict) -> None:
    assert metrics(run_dir) == reference["rows"]  # every epoch once, identical numbers
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "completed"
    assert summary["test_metrics"] == reference["summary"]["test_metrics"]
    assert summary["best_epoch"] == reference["summary"]["best_epoch"]


def resume(run_dir: Path, runs: Path) -> tuple[int, str, str]:
    return finish(annctl(["train", "--resume", str(run_dir)], runs))


@pytest.mark.parametrize("fault", ["epoch_end:3", "mid_epoch:17", "checkpoint_write:2"])
def test_sigkill_then_resume_ends_like_an_uninterrupted_run(experiment, reference, tmp_path, fault):
    runs = tmp_path / "runs"
    code, _, _ = finish(annctl(["train", str(experiment)], runs, fault))
    assert code == -signal.SIGKILL
    run_dir = only_run(runs)
    listed = subprocess.run(
        [sys.executable, "-m", "annctl", "runs", "list", "--runs-dir", str(runs)], capture_output=True, text=True
    )
    assert "killed" in listed.stdout + listed.stderr and "--resume" in listed.stdout + listed.stderr
    code, out, err = resume(run_dir, runs)
    assert code == 0, err
    assert out.strip() == str(run_dir)
    assert_same_as_reference(run_dir, reference)


def test_sigterm_stops_at_a_batch_boundary_and_resume_finishes(experiment, reference, tmp_path):
    # SIGINT takes the same path (and exit 130); tests/reliability/test_faults.py stops runs with both
    sig, code = signal.SIGTERM, 143
    runs = tmp_path / "runs"
    process = annctl(["train", str(experiment)], runs)
    deadline = time.time() + 120
    while time.time() < deadline:
        found = list(runs.glob("*/metrics.csv")) if runs.exists() else []
        if found and len(found[0].read_text().splitlines()) >= 3:  # two epochs done
            break
        time.sleep(0.05)
    process.send_signal(sig)
    returncode, _, err = finish(process)
    run_dir = only_run(runs)
    summary = json.loads((run_dir / "summary.json").read_text())
    if summary["status"] == "completed":
        pytest.skip("the run finished before the signal arrived")  # pragma: no cover - a very slow machine
    assert returncode == code, err
    assert summary["status"] == "interrupted" and "annctl train --resume" in err
    assert resume(run_dir, runs)[0] == 0
    assert_same_as_reference(run_dir, reference)


def test_corrupted_last_checkpoint_falls_back_to_the_previous_one(experiment, reference, tmp_path):
    runs = tmp_path / "runs"
    assert finish(annctl(["train", str(experiment)], runs, "epoch_end:4"))[0] == -signal.SIGKILL
    run_dir = only_run(runs)
    last = run_dir / "checkpoints" / "last.keras"
    data = bytearray(last.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped bit... byte
    last.write_bytes(bytes(data))
    code, _, err = resume(run_dir, runs)
    assert code == 0, err
    assert "corrupted" in err and "epoch 3" in err
    assert_same_as_reference(run_dir, reference)


def test_no_intact_checkpoint_stops_with_a_clear_error(experiment, tmp_path):
    runs = tmp_path / "runs"
    assert finish(annctl(["train", str(experiment)], runs, "epoch_end:3"))[0] == -signal.SIGKILL
    run_dir = only_run(runs)
    for name in ("last.keras", "previous.keras"):
        path = run_dir / "checkpoints" / name
        path.write_bytes(path.read_bytes()[:100])  # truncated
    metrics_before = (run_dir / "metrics.csv").read_text()
    result = cli.invoke(app, ["train", "--resume", str(run_dir)])
    assert result.exit_code == 1
    assert "no intact checkpoint" in result.stderr and "train the experiment again" in result.stderr
    assert (run_dir / "metrics.csv").read_text() == metrics_before  # nothing restarted from scratch


def test_resume_refuses_an_edited_spec_a_busy_run_and_a_finished_one(experiment, reference, tmp_path):
    runs = tmp_path / "runs"
    assert finish(annctl(["train", str(experiment)], runs, "epoch_end:2"))[0] == -signal.SIGKILL
    run_dir = only_run(runs)
    spec_file = run_dir / "spec.yaml"
    original = spec_file.read_text()
    spec_file.write_text(original.replace("learning_rate: 0.5", "learning_rate: 0.1"))
    result = cli.invoke(app, ["train", "--resume", str(run_dir)])
    assert result.exit_code == 2
    assert "edited since the run started (changed: training.learning_rate)" in result.stderr
    spec_file.write_text(original)
    # an experiment file given with --resume must match the run
    edited = tmp_path / "edited.yaml"
    edited.write_text(
        EXPERIMENT.replace("epochs: 14", "epochs: 20").replace(
            "classification.csv", str(experiment.parent / "classification.csv")
        )
    )
    result = cli.invoke(app, ["train", str(edited), "--resume", str(run_dir)])
    assert result.exit_code == 2 and "changed: training.epochs" in result.stderr
    # two resumes of one run cannot run at once
    with exclusive_lock(run_dir / ".lock", "test"):
        result = cli.invoke(app, ["train", "--resume", str(run_dir)])
    assert result.exit_code == 2 and "in use by" in result.stderr
    # the real one, then a resume of the finished run is refused
    assert resume(run_dir, runs)[0] == 0
    assert_same_as_reference(run_dir, reference)
    result = cli.invoke(app, ["train", "--resume", str(run_dir)])
    assert result.exit_code == 2 and "completed; nothing to resume" in result.stderr


def test_killed_after_the_last_epoch_resume_only_finishes(experiment, reference, tmp_path):
    # early stopping ended the run; it was killed before the final model was saved: resume trains no more,
    # restores the best weights as EarlyStopping would have, saves and evaluates
    runs = tmp_path / "runs"
    last = len(reference["rows"])
    assert finish(annctl(["train", str(experiment)], runs, f"epoch_end:{last}"))[0] == -signal.SIGKILL
    run_dir = only_run(runs)
    code, _, err = resume(run_dir, runs)
    assert code == 0, err
    assert_same_as_reference(run_dir, reference)
