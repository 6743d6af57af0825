"""Issue 29, items 12 and 17: on a 100-column terminal nothing is wider than the terminal (which would cut a word
at the last column: `learnin` / `g_rate`), lines of words wrap between words, and the tables keep what matters."""

from __future__ import annotations

import json
import re

import pytest

from tests.conftest import EXPERIMENTS
from tests.terminal import TerminalRun, run_on_terminal
from tests.test_runs import make_run, make_search
from tests.test_terminal import experiment

COLUMNS = 100


def assert_fits(run: TerminalRun, *words: str) -> None:
    """No line wider than the terminal but a single word (a path for scripts, wider than the terminal itself),
    and each of ``words`` whole on one line."""
    assert all(len(line) <= COLUMNS or " " not in line for line in run.screen_lines), run.text
    tokens = set(run.text.split())
    for word in words:
        assert word in tokens, (word, run.text)


def test_runs_list_trials_keeps_best_and_leaves_out_the_empty_test_column(tmp_path):
    root = tmp_path / "runs"
    tune_dir = make_search(root, "california_mlp_search-tune-20261204T153316-075a71")
    for trial in (tune_dir / "trials").iterdir():  # a search's trials are selected on validation: no test
        summary = json.loads((trial / "summary.json").read_text())
        (trial / "summary.json").write_text(json.dumps({**summary, "test_metrics": None}))
    listed = run_on_terminal(["runs", "list", "--trials", "--runs-dir", str(root)], columns=COLUMNS)
    assert listed.returncode == 0, listed.text
    header = next(line for line in listed.screen_lines if line.startswith("run "))
    assert header.split() == ["run", "status", "epochs", "best"], listed.text
    assert sum(line.endswith("val_loss 0.5") for line in listed.screen_lines) == 3
    assert_fits(listed, f"{tune_dir.name}/trials/000")


def test_runs_compare_fits_100_columns(tmp_path):
    root = tmp_path / "runs"
    first = make_run(root, "seattle_forecast_gru-20261204T153316-075a71", mse=0.3)
    second = make_run(root, "seattle_forecast_gru-20261204T153317-075a72", mse=0.2)
    for run_dir, features, lr in (
        (first, "[precipitation, temp_max, temp_min, wind]", 0.001),
        (second, "[wind]", 0.01),
    ):
        (run_dir / "spec.yaml").write_text(
            f"name: seattle_forecast_gru\ndataset: {{path: {tmp_path}/data/seattle/seattle-weather-{lr}.csv, "
            f"features: {features}}}\ntraining: {{learning_rate: {lr}}}\n"
        )
    compared = run_on_terminal(["runs", "compare", str(first), str(second)], columns=COLUMNS)
    assert compared.returncode == 0, compared.text
    assert_fits(compared, "training.learning_rate", "dataset.features")
    assert any(re.match(r"test_mse +0\.3 +0\.2 ✓$", line) for line in compared.screen_lines), compared.text
    assert "values cut to fit 100 columns (--json has all)" in compared.text


@pytest.mark.slow
def test_train_header_wraps_between_words(tmp_path):
    path = experiment(tmp_path, rows=60, batch_size=8, epochs=1)
    path.write_text(path.read_text().replace("name: rows", "name: a_rather_long_experiment_name_for_the_header"))
    run = run_on_terminal(["train", path.name, "--runs-dir", "runs"], cwd=tmp_path)
    assert run.returncode == 0, run.text
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert_fits(
        run, "a_rather_long_experiment_name_for_the_header:", "samples,", f"runs/{run_dir.name}", "(dataset.delimiter:"
    )
    assert f"runs/{run_dir.name}" in run.screen_lines  # the summary's run directory, whole (it was cut with …)
    assert "up to 1 epoch →" in run.text  # not "1 epochs"


@pytest.mark.slow
def test_tune_trial_lines_wrap_between_words(tmp_path):
    path = experiment(tmp_path, rows=60, batch_size=8, epochs=1)
    with path.open("a") as handle:
        handle.write(
            "search:\n  space:\n"
            "    training.learning_rate: {type: float, low: 0.001, high: 0.1}\n"
            "    training.batch_size: {type: choice, values: [4, 8]}\n"
            "    model.hidden_units: {type: choice, values: [[16, 16, 16, 16, 16, 16], [8, 8, 8, 8, 8, 8]]}\n"
            "    model.dropout: {type: float, low: 0.0001, high: 0.0002}\n"
        )
    runs = tmp_path / "runs"
    run = run_on_terminal(["tune", str(path), "--trials", "1", "--runs-dir", str(runs)], cwd=tmp_path, timeout=300)
    assert run.returncode == 0, run.text
    trial = next(line for line in run.screen_lines if line.startswith("trial 000"))
    assert "(1 epoch," in trial  # not "1 epochs"
    learning_rate = next(word for word in run.text.split() if word.startswith("learning_rate="))
    assert_fits(run, learning_rate, "1 trial,".split()[1])


@pytest.mark.slow
def test_backprop_header_wraps_between_words(tmp_path):
    path = tmp_path / "backprop.yaml"
    path.write_text(
        (EXPERIMENTS / "backprop_linear.yaml")
        .read_text()
        .replace("name: backprop_linear", "name: backprop_linear_with_a_name_long_enough_to_wrap_the_header")
    )
    run = run_on_terminal(["backprop", str(path)])
    assert run.returncode == 0, run.text
    assert_fits(run, "backprop_linear_with_a_name_long_enough_to_wrap_the_header:", "activations", "rate")
