"""Issue 29, item 3: every state a run can be in — what training writes and what readers tell from it — is read
back the same by every reader (`runs list` and its `--status`, `runs show`, `runs compare`, `report`), through
real `annctl` processes, on run directories written with annctl's own record and writer."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from annctl.fileio import atomic_write_json
from annctl.records import STATES, Summary
from tests.terminal import annctl_command


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def write_run(root: Path, state: str, index: int) -> Path:
    """A run directory whose summary.json makes readers tell ``state``, written as training writes it."""
    run_dir = root / f"{state}-20260101T00000{index}-{index:06x}"
    run_dir.mkdir(parents=True)
    (run_dir / "spec.yaml").write_text(f"name: {state}\ntraining: {{learning_rate: 0.0{index + 1}}}\n")
    if state == "unknown":  # killed before its first summary.json
        return run_dir
    written = {"killed": "running", "stale": "running"}.get(state, state)
    summary = Summary(
        run_dir=str(run_dir),
        name=state,
        status=written,
        pid=os.getpid(),
        host=socket.gethostname(),
        started_at=f"2026-01-01T00:00:0{index}+00:00",
        epochs_completed=1,
        final_metrics={"loss": 0.5, "accuracy": 0.75},
        test_metrics={"accuracy": 0.5 + index / 100} if state == "completed" else None,
    )
    if state == "diverged":  # the loss became NaN: summary.json holds null, as a real diverged run's does
        final = {"loss": float("nan"), "val_loss": float("inf"), "accuracy": 0.5}
        summary.update(final_metrics=final, diverged_epoch=1)
    if state == "failed":
        summary.update(error="OSError: disk full")
    if state == "killed":
        summary.update(pid=_dead_pid())
    if state == "stale":
        summary.update(host="another-machine")
    atomic_write_json(run_dir / "summary.json", summary.model_dump(mode="json"))
    if state == "stale":
        old = time.time() - 3600
        os.utime(run_dir / "summary.json", (old, old))
    return run_dir


def annctl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*annctl_command(), *args], capture_output=True, text=True, timeout=120)


def test_every_state_reads_back_through_every_reader(tmp_path):
    root = tmp_path / "runs"
    runs = {state: write_run(root, state, i) for i, state in enumerate(STATES)}
    assert json.loads((runs["diverged"] / "summary.json").read_text())["final_metrics"]["loss"] is None

    listed = annctl("runs", "list", "--runs-dir", str(root), "--json")
    assert listed.returncode == 0, listed.stderr
    assert {row["run_dir"]: row["status"] for row in json.loads(listed.stdout)} == {
        str(run_dir): state for state, run_dir in runs.items()
    }
    diverged = next(row for row in json.loads(listed.stdout) if row["status"] == "diverged")
    assert diverged["epochs_completed"] == 1  # not an empty row

    for state, run_dir in runs.items():
        only = annctl("runs", "list", "--runs-dir", str(root), "--json", "--status", state)
        assert only.returncode == 0, only.stderr
        assert [row["run_dir"] for row in json.loads(only.stdout)] == [str(run_dir)], state

        shown = annctl("runs", "show", str(run_dir), "--json")
        assert shown.returncode == 0, shown.stderr
        summary = json.loads(shown.stdout)["summary"]
        if state != "unknown":
            assert summary["status"] == {"killed": "running", "stale": "running"}.get(state, state)
            assert summary["epochs_completed"] == 1
    shown = json.loads(annctl("runs", "show", str(runs["diverged"]), "--json").stdout)["summary"]
    assert shown["final_metrics"] == {"loss": None, "val_loss": None, "accuracy": 0.5}

    compared = annctl("runs", "compare", *map(str, runs.values()), "--json")
    assert compared.returncode == 0, compared.stderr
    assert json.loads(compared.stdout)["status"] == list(runs)

    report = annctl("report", str(root), "--output", str(tmp_path / "report.html"))
    assert report.returncode == 0, report.stderr
    page = (tmp_path / "report.html").read_text()
    for state, run_dir in runs.items():
        assert f"<td>{run_dir.name}</td><td>{state}</td>" in page, state
