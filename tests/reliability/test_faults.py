"""Fault injection with real processes: SIGKILL at chosen points (ANNCTL_FAULT), SIGTERM/SIGINT, concurrency.

Whatever instant a training dies, the run directory holds a consistent earlier state: every file complete,
checkpoints matching the hashes in their manifest, metrics.csv one row per finished epoch.
"""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from annctl.fileio import sha256_file

from ..conftest import write_experiment

pytestmark = pytest.mark.reliability


def start(experiment: Path, runs: Path, fault: str | None = None) -> subprocess.Popen:
    env = {**os.environ, "ANNCTL_RUNS_DIR": str(runs)}
    if fault:
        env["ANNCTL_FAULT"] = fault
    return subprocess.Popen(
        [sys.executable, "-m", "annctl", "train", str(experiment), "--quiet"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def only_run(runs: Path) -> Path:
    (run_dir,) = [p for p in runs.iterdir() if p.is_dir()]
    return run_dir


def assert_consistent(run_dir: Path, epochs: int, metric_rows: int | None = None) -> dict:
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["epochs_completed"] == epochs
    rows = list(csv.DictReader(open(run_dir / "metrics.csv")))
    assert [int(r["epoch"]) for r in rows] == list(range(1, (metric_rows or epochs) + 1))
    manifest = json.loads((run_dir / "checkpoints" / "manifest.json").read_text())
    assert manifest["last"]["epoch"] == epochs
    for name in ("last", "best"):
        assert sha256_file(run_dir / "checkpoints" / f"{name}.keras") == manifest[name]["sha256"]
    import keras

    keras.saving.load_model(run_dir / "checkpoints" / "last.keras", safe_mode=True)  # complete and loadable
    return summary


@pytest.fixture
def experiment(tmp_path):
    return write_experiment(tmp_path, "classification", epochs=6, batch_size=4)


def runs_list(runs: Path) -> list[dict]:
    result = subprocess.run(
        [sys.executable, "-m", "annctl", "runs", "list", "--runs-dir", str(runs), "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout)


def test_sigkill_at_an_epoch_end_leaves_that_epoch_complete(experiment, tmp_path):
    runs = tmp_path / "runs"
    process = start(experiment, runs, "epoch_end:2")
    process.wait(timeout=120)
    assert process.returncode == -signal.SIGKILL
    run_dir = only_run(runs)
    summary = assert_consistent(run_dir, 2)
    assert summary["status"] == "running" and not (run_dir / "model.keras").exists()
    assert runs_list(runs)[0]["status"] == "killed"


def test_sigkill_during_a_checkpoint_write_keeps_the_previous_checkpoint(experiment, tmp_path):
    runs = tmp_path / "runs"
    process = start(experiment, runs, "checkpoint_write:2")
    process.wait(timeout=120)
    assert process.returncode == -signal.SIGKILL
    run_dir = only_run(runs)
    # epoch 2's checkpoint never replaced epoch 1's; its metrics row, written just before, is one a resume drops
    assert_consistent(run_dir, 1, metric_rows=2)
    leftovers = list((run_dir / "checkpoints").glob(".last.keras.*"))
    assert len(leftovers) == 1  # the complete-but-unrenamed temp file; last.keras is untouched


@pytest.mark.parametrize("sig,code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_sigterm_and_sigint_stop_cleanly(tmp_path, sig, code):
    runs = tmp_path / "runs"
    experiment = write_experiment(tmp_path, "classification", epochs=200, batch_size=4)
    process = start(experiment, runs)
    deadline = time.time() + 120
    while time.time() < deadline:
        summaries = list(runs.glob("*/summary.json")) if runs.exists() else []
        if summaries and json.loads(summaries[0].read_text() or "{}").get("epochs_completed", 0) >= 1:
            break
        time.sleep(0.2)
    process.send_signal(sig)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == code, stderr
    assert "interrupted after" in stderr
    run_dir = only_run(runs)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "interrupted"
    assert_consistent(run_dir, summary["epochs_completed"])


def test_two_concurrent_trains_into_one_runs_root(experiment, tmp_path):
    runs = tmp_path / "runs"
    first, second = start(experiment, runs), start(experiment, runs)
    out_first, _ = first.communicate(timeout=240)
    out_second, _ = second.communicate(timeout=240)
    assert first.returncode == 0 and second.returncode == 0
    assert out_first.strip() != out_second.strip()
    for line in (out_first, out_second):
        summary = json.loads((Path(line.strip()) / "summary.json").read_text())
        assert summary["status"] == "completed"
