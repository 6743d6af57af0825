"""`annctl runs list/show` over run directories written by hand (no training needed)."""

import json
import os
import socket
import subprocess
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from annctl.cli import app

from .conftest import REPO

runner = CliRunner()


def make_run(root, name, status="completed", accuracy=None, mse=None, stale=False):
    run_dir = root / name
    run_dir.mkdir(parents=True)
    (run_dir / "spec.yaml").write_text(f"name: {name.split('-')[0]}\n")
    test = {k: v for k, v in (("accuracy", accuracy), ("mse", mse)) if v is not None}
    summary = {
        "run_dir": str(run_dir),
        "name": name,
        "status": status,
        "epochs_completed": 3,
        "best": {"monitor": "val_loss", "mode": "min", "value": 0.5},
        "test_metrics": test,
        "wall_seconds": 12.0,
        "started_at": "2026-01-01T00:00:00+00:00",
    }
    (run_dir / "summary.json").write_text(json.dumps(summary))
    if stale:
        old = time.time() - 3600
        os.utime(run_dir / "summary.json", (old, old))
    return run_dir


def test_list_sort_filter_json_markdown(tmp_path):
    root = tmp_path / "runs"
    make_run(root, "a-20260101T000000-aaaaaa", accuracy=0.8)
    make_run(root, "b-20260102T000000-bbbbbb", accuracy=0.9)
    make_run(root, "c-20260103T000000-cccccc", status="running", stale=True)
    (root / "not-a-run").mkdir()
    result = runner.invoke(app, ["runs", "list", "--runs-dir", str(root), "--json"])
    rows = json.loads(result.stdout)
    assert [Path(r["run_dir"]).name for r in rows] == [
        "c-20260103T000000-cccccc",
        "b-20260102T000000-bbbbbb",
        "a-20260101T000000-aaaaaa",
    ]
    assert rows[0]["status"] == "stale"  # still "running" but untouched for an hour: killed
    result = runner.invoke(
        app, ["runs", "list", "--runs-dir", str(root), "--json", "--sort", "accuracy", "--limit", "2"]
    )
    assert [r["name"][0] for r in json.loads(result.stdout)] == ["b", "a"]
    result = runner.invoke(app, ["runs", "list", "--runs-dir", str(root), "--json", "--status", "stale"])
    assert [r["name"][0] for r in json.loads(result.stdout)] == ["c"]
    result = runner.invoke(app, ["runs", "list", "--runs-dir", str(root), "--json", "--name", "a-*"])
    assert [r["name"][0] for r in json.loads(result.stdout)] == ["a"]
    result = runner.invoke(app, ["runs", "list", "--runs-dir", str(root), "--markdown"])
    assert (
        result.stdout.startswith("| run | status |") and "| b-20260102T000000-bbbbbb | completed | 3 |" in result.stdout
    )
    result = runner.invoke(app, ["runs", "list", "--runs-dir", str(root)])
    assert result.exit_code == 0 and "stale" in result.stdout
    result = runner.invoke(app, ["runs", "list", "--runs-dir", str(root), "--sort", "nonsense"])
    assert result.exit_code == 2 and "unknown metric" in result.stderr


def test_list_json_speaks_summary_json_vocabulary(tmp_path):
    """Issue 18 item 11: `runs list --json` rows use summary.json's keys for the same things."""
    root = tmp_path / "runs"
    run_dir = make_run(root, "a-20260101T000000-aaaaaa", accuracy=0.8)
    (row,) = json.loads(runner.invoke(app, ["runs", "list", "--runs-dir", str(root), "--json"]).stdout)
    summary = json.loads((run_dir / "summary.json").read_text())
    for key in ("run_dir", "name", "status", "epochs_completed", "best", "test_metrics", "wall_seconds", "started_at"):
        assert row[key] == summary[key], key
    assert "run" not in row and "epochs" not in row and "test" not in row
    # the old spelling of the sort key still works, the documented one is summary.json's
    for key in ("epochs", "epochs_completed"):
        assert runner.invoke(app, ["runs", "list", "--runs-dir", str(root), "--sort", key]).exit_code == 0


def test_show_json_is_summary_spec_and_files(tmp_path):
    run_dir = make_run(tmp_path, "x-20260101T000000-abcdef", mse=0.3)
    (run_dir / "checkpoints").mkdir()
    (run_dir / "checkpoints" / "last.keras").write_bytes(b"12345")
    result = runner.invoke(app, ["runs", "show", str(run_dir), "--json"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert shown["run_dir"] == str(run_dir)
    written = json.loads((run_dir / "summary.json").read_text())
    assert {key: shown["summary"][key] for key in written} == written  # every key present (typed: all of them)
    assert shown["spec"] == {"name": "x"}
    assert {"path": "checkpoints/last.keras", "bytes": 5} in shown["files"]


@pytest.mark.parametrize(
    ("make_root", "expected"),
    [
        (lambda tmp: tmp / "none", "does not exist"),
        (lambda tmp: (tmp / "file").write_text("x") and tmp / "file", "is a file, not a directory"),
    ],
)
def test_list_an_unusable_root_is_exit_2(tmp_path, make_root, expected):
    root = make_root(tmp_path)
    result = runner.invoke(app, ["runs", "list", "--runs-dir", str(root)])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"error: runs directory {root}: {expected}")
    assert "0 run(s)" not in result.stdout


def test_list_unknown_status_is_exit_2_listing_the_statuses(tmp_path):
    make_run(tmp_path / "runs", "a-20260101T000000-aaaaaa")
    result = runner.invoke(app, ["runs", "list", "--runs-dir", str(tmp_path / "runs"), "--status", "bogus"])
    assert result.exit_code == 2
    assert "--status bogus: unknown status; use one of running, completed, interrupted" in result.stderr


def test_list_empty_root_and_show(tmp_path):
    (tmp_path / "empty").mkdir()
    result = runner.invoke(app, ["runs", "list", "--runs-dir", str(tmp_path / "empty")])
    assert result.exit_code == 0 and "0 run(s)" in result.stdout
    run_dir = make_run(tmp_path, "x-20260101T000000-abcdef", mse=0.3)
    result = runner.invoke(app, ["runs", "show", str(run_dir)])
    assert result.exit_code == 0 and "summary.json" in result.stdout and "spec.yaml" in result.stdout
    result = runner.invoke(app, ["runs", "show", "x-", "--runs-dir", str(tmp_path)])
    assert result.exit_code == 0 and "0.3" in result.stdout


def make_search(root, name="cal-tune-20260105T000000-dddddd", status="completed", trials=3, lock_pid=None):
    """A tune directory as `annctl tune` leaves it: tune.json, summary.json, trials/NNN run directories."""
    tune_dir = root / name
    tune_dir.mkdir(parents=True)
    config = {"name": "cal", "metric": "val_loss", "direction": "minimize", "trials": 4}
    (tune_dir / "tune.json").write_text(json.dumps({**config, "created_at": "2026-01-05T00:00:00+00:00"}))
    summary = {
        "tune_dir": str(tune_dir),
        "status": status,
        "metric": "val_loss",
        "direction": "minimize",
        "trials_requested": 4,
        "trials_complete": trials - 1,
        "trials_failed": 1,
        "trials_pruned": 0,
        "trials_running": 0,
        "best_trial": 1,
        "best_value": 0.25,
        "wall_seconds": 30.0,
    }
    (tune_dir / "summary.json").write_text(json.dumps(summary))
    if lock_pid is not None:
        (tune_dir / ".lock").write_text(f"annctl pid {lock_pid} on {socket.gethostname()}")
    for number in range(trials):
        make_run(tune_dir / "trials", f"{number:03d}", mse=0.5 - 0.1 * number)
    return tune_dir


def test_list_shows_searches_and_on_request_their_trials(tmp_path):
    """Issue 18 item 8: a runs root holding a search listed 0 runs."""
    root = tmp_path / "runs"
    make_run(root, "a-20260101T000000-aaaaaa", accuracy=0.8)
    tune_dir = make_search(root)
    rows = json.loads(runner.invoke(app, ["runs", "list", "--runs-dir", str(root), "--json"]).stdout)
    assert [row["kind"] for row in rows] == ["run", "search"]
    search = rows[1]
    assert search["tune_dir"] == str(tune_dir) and search["name"] == "cal" and search["status"] == "completed"
    assert (search["trials_complete"], search["trials_failed"], search["trials_pruned"]) == (2, 1, 0)
    assert (search["metric"], search["best_value"], search["best_trial"]) == ("val_loss", 0.25, 1)

    result = runner.invoke(app, ["runs", "list", "--runs-dir", str(root)])
    assert result.exit_code == 0, result.output
    assert "1 search(es)" in result.stdout and tune_dir.name in result.stdout
    assert "2/4 complete, 1 failed" in result.stdout and "val_loss 0.25 (trial 001)" in result.stdout
    assert "000" not in result.stdout.replace("T000000", "")  # the trials only on request

    rows = json.loads(runner.invoke(app, ["runs", "list", "--runs-dir", str(root), "--json", "--trials"]).stdout)
    trials = [row for row in rows if row["kind"] == "run" and row["search"] == str(tune_dir)]
    assert sorted(Path(row["run_dir"]).name for row in trials) == ["000", "001", "002"]
    result = runner.invoke(app, ["runs", "list", "--runs-dir", str(root), "--trials", "--sort", "mse"])
    assert f"{tune_dir.name}/trials/002" in result.stdout
    # --name matches a trial by its search's name
    rows = json.loads(
        runner.invoke(app, ["runs", "list", "--runs-dir", str(root), "--json", "--trials", "--name", "cal"]).stdout
    )
    assert len(rows) == 4 and {row["kind"] for row in rows} == {"run", "search"}


def test_list_tells_a_search_whose_process_is_gone(tmp_path):
    dead = subprocess.Popen(["true"])
    dead.wait()
    make_search(tmp_path / "runs", status="running", lock_pid=dead.pid)
    (row,) = json.loads(runner.invoke(app, ["runs", "list", "--runs-dir", str(tmp_path / "runs"), "--json"]).stdout)
    assert row["status"] == "killed"


def test_list_tells_a_search_that_ended_without_its_last_status(tmp_path):
    """Its process removed the lock as it ended (a Python error after "running" was written): killed, not running
    for ever (found by review: a missing lock file used to count as a live process)."""
    make_search(tmp_path / "runs", status="running")  # no .lock
    (row,) = json.loads(runner.invoke(app, ["runs", "list", "--runs-dir", str(tmp_path / "runs"), "--json"]).stdout)
    assert row["status"] == "killed"


def write_metrics(run_dir, rows):
    lines = ["epoch,loss,val_loss,learning_rate,epoch_seconds"]
    lines += [f"{i + 1},{loss},{val},0.01,0.1" for i, (loss, val) in enumerate(rows)]
    (run_dir / "metrics.csv").write_text("\n".join(lines) + "\n")


def test_compare_marks_the_best_and_lists_differing_fields(tmp_path):
    a = make_run(tmp_path, "a-20260101T000000-aaaaaa", mse=0.5)
    b = make_run(tmp_path, "b-20260102T000000-bbbbbb", mse=0.3)
    (a / "spec.yaml").write_text("name: a\ntraining: {epochs: 3, learning_rate: 0.01}\n")
    (b / "spec.yaml").write_text("name: b\ntraining: {epochs: 3, learning_rate: 0.001}\n")
    result = runner.invoke(app, ["runs", "compare", str(a), str(b), "--markdown"])
    assert result.exit_code == 0, result.output
    assert "| `training.learning_rate` | 0.01 | 0.001 |" in result.stdout
    assert "| test_mse | 0.5 | **0.3** ✓ |" in result.stdout
    assert "training.epochs" not in result.stdout  # equal fields are left out
    data = json.loads(runner.invoke(app, ["runs", "compare", str(a), str(b), "--json"]).stdout)
    assert data["metrics"]["test_mse"]["best_index"] == 1
    assert data["epochs_completed"] == [3, 3] and data["run_dirs"] == [str(a), str(b)]
    assert runner.invoke(app, ["runs", "compare", str(a)]).exit_code == 2


def test_plot_overlays_runs_and_rejects_unknown_metric(tmp_path):
    a = make_run(tmp_path / "runs", "a-20260101T000000-aaaaaa")
    b = make_run(tmp_path / "runs", "b-20260102T000000-bbbbbb")
    write_metrics(a, [(1.0, 1.1), (0.5, 0.7)])
    write_metrics(b, [(0.9, 1.0), (0.4, 0.6), (0.3, 0.5)])
    out = tmp_path / "overlay.png"
    result = runner.invoke(app, ["plot", str(a), str(b), "--metric", "val_loss", "-o", str(out)])
    assert result.exit_code == 0 and out.stat().st_size > 5000
    result = runner.invoke(app, ["plot", str(tmp_path / "runs"), "-o", str(tmp_path / "all.png")])  # a folder
    assert result.exit_code == 0 and (tmp_path / "all.png").exists()
    result = runner.invoke(app, ["plot", str(a), "--metric", "val_accuracy", "-o", str(out)])
    assert result.exit_code == 2 and "available: epoch_seconds, learning_rate, loss, val_loss" in result.stderr


def test_latest_is_the_run_started_last_within_the_same_second(tmp_path):
    # bug: runs started within one second (a fast training in a script) were ordered by their random suffix,
    # so `latest` could name the older one
    from annctl.rundir import list_run_dirs, resolve_run

    older, newer = tmp_path / "a-20261130T120000-ffffff", tmp_path / "a-20261130T120000-000000"
    for when, run in enumerate((older, newer), start=1):
        run.mkdir()
        (run / "spec.yaml").write_text("name: a\n")
        os.utime(run / "spec.yaml", ns=(when * 10**9, when * 10**9))
    assert list_run_dirs(tmp_path) == [older, newer]
    assert resolve_run("latest", tmp_path) == newer


def test_a_runs_time_and_its_name_are_read_from_the_same_suffix(tmp_path):
    # a name may itself end like a run's suffix: only the last -<UTC second>-<6 hex> is the run's
    from annctl.rundir import list_run_dirs, resolve_run, run_name

    december = tmp_path / "x-20260101T000000-aaaaaa-20261201T000000-111111"
    november = tmp_path / "y-20261130T000000-222222"
    for when, run in enumerate((december, november), start=1):  # spec.yaml times the other way round
        run.mkdir()
        (run / "spec.yaml").write_text("name: n\n")
        os.utime(run / "spec.yaml", ns=(when * 10**9, when * 10**9))
    assert list_run_dirs(tmp_path) == [november, december]
    assert [run_name(run) for run in list_run_dirs(tmp_path)] == ["y", "x-20260101T000000-aaaaaa"]
    assert resolve_run("x-20260101T000000-aaaaaa", tmp_path) == december


def test_run_and_tune_file_names_have_one_owner():
    # RunPaths/TunePaths name every file; a module-level copy (SPEC_FILE = RunPaths.SPEC, or = "spec.yaml")
    # is a second spelling to keep in step: read the sources, without importing TensorFlow
    import ast

    from annctl.rundir import RunPaths, TunePaths

    names = {value for owner in (RunPaths, TunePaths) for key, value in vars(owner).items() if key.isupper()}
    copies = []
    for source in sorted((REPO / "annctl").rglob("*.py")):
        for node in ast.parse(source.read_text(encoding="utf-8")).body:
            if not isinstance(node, ast.Assign) or not all(isinstance(t, ast.Name) for t in node.targets):
                continue  # a copy is `NAME = ...`; `table[key] = RunPaths.method` (mutmut's copies) is not one
            for value in ast.walk(node.value):
                named = isinstance(value, ast.Attribute) and getattr(value.value, "id", "") in ("RunPaths", "TunePaths")
                if named or (isinstance(value, ast.Constant) and value.value in names):
                    copies.append(f"{source.relative_to(REPO)}:{node.lineno}")
    assert copies == []
