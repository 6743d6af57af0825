"""`annctl report`: one self-contained HTML file; rendered in headless Chromium when it is installed."""

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from annctl.cli import app
from annctl.config import load_spec
from annctl.training import train

from .conftest import write_experiment

runner = CliRunner()


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("report")
    root = base / "runs"
    first = train(load_spec(write_experiment(base, "regression", name="rep", epochs=2)), root)
    second = train(load_spec(write_experiment(base, "regression", name="rep", epochs=3, learning_rate=0.01)), root)
    return root, Path(first.run_dir), Path(second.run_dir)


def assert_self_contained(page: str) -> None:
    assert page.startswith("<!DOCTYPE html>")
    assert "data:image/png;base64," in page
    assert "http://" not in page and "https://" not in page and "<script" not in page


def test_run_report_is_self_contained_with_every_section(two_runs, tmp_path):
    _, run_dir, _ = two_runs
    out = tmp_path / "run.html"
    result = runner.invoke(app, ["report", str(run_dir), "-o", str(out)])
    assert result.exit_code == 0, result.output
    page = out.read_text()
    assert_self_contained(page)
    for section in ("Summary", "Learning curves", "Evaluation (test split)", "Spec", "test mse", "r2"):
        assert section in page, section
    assert page.count("data:image/png;base64,") == 2  # learning curves + residual plot


def test_folder_report_has_leaderboard_and_parallel_coordinates(two_runs, tmp_path):
    root, _, _ = two_runs
    out = tmp_path / "all.html"
    result = runner.invoke(app, ["report", str(root), "-o", str(out), "--metric", "test_mse"])
    assert result.exit_code == 0, result.output
    page = out.read_text()
    assert_self_contained(page)
    assert "Leaderboard" in page and "Parameters against test_mse" in page and "training.epochs" in page


def test_report_of_nothing_is_bad_input(tmp_path):
    """Issue 16: a folder without runs is bad input (exit 2), not a runtime failure (it was 1)."""
    (tmp_path / "empty").mkdir()
    result = runner.invoke(app, ["report", str(tmp_path / "empty"), "-o", str(tmp_path / "x.html")])
    assert result.exit_code == 2 and "neither a run directory nor a folder of runs" in result.stderr
    assert not (tmp_path / "x.html").exists()


def test_report_to_an_unwritable_place_names_the_path_given(two_runs, tmp_path):
    """Issue 16: the error named the hidden temp file (`.x.html.abc123.tmp`)."""
    from .test_cli import read_only

    root, _, _ = two_runs
    locked = tmp_path / "locked"
    locked.mkdir()
    with read_only(locked):
        result = runner.invoke(app, ["report", str(root), "-o", str(locked / "x.html")])
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: {locked / 'x.html'}: cannot write in {locked}: ")
    assert len(result.stderr.splitlines()) == 1 and ".tmp" not in result.stderr
    blocker = tmp_path / "file"  # a folder in the path that is a file
    blocker.write_text("")
    result = runner.invoke(app, ["report", str(root), "-o", str(blocker / "x.html")])
    assert result.exit_code == 1
    assert result.stderr == f"error: {blocker / 'x.html'}: cannot create its folder: File exists\n"


def make_trial(trials, number, lr, value, mse, state="complete"):
    """A trial directory of a search as `annctl tune` leaves it (only the files a folder report reads)."""
    run_dir = trials / f"{number:03d}"
    run_dir.mkdir(parents=True)
    (run_dir / "spec.yaml").write_text(f"name: t\ntraining: {{learning_rate: {lr}}}\n")
    summary = {"name": "t", "status": "completed", "epochs_completed": 2, "test_metrics": {"mse": mse}}
    (run_dir / "summary.json").write_text(json.dumps(summary))
    (run_dir / "metrics.csv").write_text(f"epoch,loss,val_loss\n1,1.0,{value + 0.1}\n2,0.8,{value}\n")
    (run_dir / "trial.json").write_text(json.dumps({"state": state, "value": value}))


def test_tune_report_reads_the_trials_and_ranks_by_the_search_metric(tmp_path):
    """Issue 18 item 8: the report of a tune directory read TUNE/ (status and test cells empty) and ranked
    by test_accuracy."""
    tune_dir = tmp_path / "t-tune-20260101T000000-abcdef"
    tune_dir.mkdir()
    (tune_dir / "tune.json").write_text(json.dumps({"name": "t", "metric": "val_loss", "direction": "minimize"}))
    (tune_dir / "summary.json").write_text(
        json.dumps({"status": "completed", "metric": "val_loss", "direction": "minimize"})
    )
    # the search's metric and the test metric disagree on the order: the report must follow the search's
    make_trial(tune_dir / "trials", 0, 0.1, value=0.30, mse=0.20)
    make_trial(tune_dir / "trials", 1, 0.01, value=0.10, mse=0.40)
    make_trial(tune_dir / "trials", 2, 0.001, value=0.20, mse=0.30)
    out = tmp_path / "tune.html"
    result = runner.invoke(app, ["report", str(tune_dir), "-o", str(out)])
    assert result.exit_code == 0, result.output
    page = out.read_text()
    assert "3 trials of the search" in page and "Ranked by val_loss, lowest first" in page
    board = page.split("Leaderboard", 1)[1].split("</table>", 1)[0]
    assert [board.index(f"<td>{n}</td>") for n in ("001", "002", "000")] == sorted(
        board.index(f"<td>{n}</td>") for n in ("001", "002", "000")
    )
    assert board.count("<td>completed</td>") == 3 and "mse 0.2" in board  # status and test cells filled
    assert "Parameters against val_loss" in page
    # --metric still ranks by a test metric, and an unknown one is exit 2 naming the choices
    result = runner.invoke(app, ["report", str(tune_dir), "-o", str(out), "--metric", "test_mse"])
    board = out.read_text().split("Leaderboard", 1)[1]
    assert result.exit_code == 0 and board.index("<td>000</td>") < board.index("<td>002</td>") < board.index(
        "<td>001</td>"
    )
    result = runner.invoke(app, ["report", str(tune_dir), "-o", str(out), "--metric", "test_bogus"])
    assert result.exit_code == 2 and "available: test_mse, val_loss" in result.stderr


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="Chromium not installed (Debian: apt install chromium)")
def test_report_renders_in_headless_chromium(two_runs, tmp_path):
    from PIL import Image

    _, run_dir, _ = two_runs
    page = tmp_path / "run.html"
    runner.invoke(app, ["report", str(run_dir), "-o", str(page)])
    shot = tmp_path / "shot.png"
    subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--window-size=1200,1600",
            f"--screenshot={shot}",
            page.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    pixels = np.asarray(Image.open(shot).convert("L"), dtype="float32")
    assert pixels.std() > 10, "the rendered report is blank"
    assert (pixels < 128).mean() > 0.01  # text and plot lines, not an empty page
