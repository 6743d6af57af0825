"""`annctl runs list/show` over run directories written by hand (no training needed)."""

import json
import os
import time

from typer.testing import CliRunner

from annctl.cli import app

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
        "best": {"monitor": "val_loss", "value": 0.5},
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
    assert [r["run"] for r in rows] == [
        "c-20260103T000000-cccccc",
        "b-20260102T000000-bbbbbb",
        "a-20260101T000000-aaaaaa",
    ]
    assert rows[0]["status"] == "stale"  # still "running" but untouched for an hour: killed
    result = runner.invoke(
        app, ["runs", "list", "--runs-dir", str(root), "--json", "--sort", "accuracy", "--limit", "2"]
    )
    assert [r["run"][0] for r in json.loads(result.stdout)] == ["b", "a"]
    result = runner.invoke(app, ["runs", "list", "--runs-dir", str(root), "--json", "--status", "stale"])
    assert [r["run"][0] for r in json.loads(result.stdout)] == ["c"]
    result = runner.invoke(app, ["runs", "list", "--runs-dir", str(root), "--json", "--name", "a-*"])
    assert [r["run"][0] for r in json.loads(result.stdout)] == ["a"]
    result = runner.invoke(app, ["runs", "list", "--runs-dir", str(root), "--markdown"])
    assert (
        result.stdout.startswith("| run | status |") and "| b-20260102T000000-bbbbbb | completed | 3 |" in result.stdout
    )
    result = runner.invoke(app, ["runs", "list", "--runs-dir", str(root)])
    assert result.exit_code == 0 and "stale" in result.stdout
    result = runner.invoke(app, ["runs", "list", "--runs-dir", str(root), "--sort", "nonsense"])
    assert result.exit_code == 2 and "unknown metric" in result.stderr


def test_list_empty_root_and_show(tmp_path):
    result = runner.invoke(app, ["runs", "list", "--runs-dir", str(tmp_path / "none")])
    assert result.exit_code == 0 and "0 run(s)" in result.stdout
    run_dir = make_run(tmp_path, "x-20260101T000000-abcdef", mse=0.3)
    result = runner.invoke(app, ["runs", "show", str(run_dir)])
    assert result.exit_code == 0 and "summary.json" in result.stdout and "spec.yaml" in result.stdout
    result = runner.invoke(app, ["runs", "show", "x-", "--runs-dir", str(tmp_path)])
    assert result.exit_code == 0 and "0.3" in result.stdout


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
