"""`annctl report`: one self-contained HTML file; rendered in headless Chromium when it is installed."""

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
    return root, Path(first["run_dir"]), Path(second["run_dir"])


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


def test_report_of_nothing_is_a_clear_error(tmp_path):
    result = runner.invoke(app, ["report", str(tmp_path), "-o", str(tmp_path / "x.html")])
    assert result.exit_code == 1 and "neither a run directory nor a folder of runs" in result.stderr


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


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
