"""Commands run on a pseudo-terminal, as a person runs them: what the screen shows, and how they end."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.conftest import EXPERIMENTS, write_csv
from tests.terminal import HIDE_CURSOR, SHOW_CURSOR, run_on_terminal

_COLOURS = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
# one frame of the batch bar: `epoch 1/2 ━━━━╸━━━━  32/77 0:00:00`
_BAR_FRAME = re.compile(r"epoch (\d+)/\d+ [━╸╺ ]+ *(\d+)/(\d+) \d+:\d\d:\d\d")


def experiment(directory: Path, rows: int = 600, batch_size: int = 5, epochs: int = 2) -> Path:
    """A CSV experiment whose epoch is not a whole number of Keras' 32-batch chunks (384 training rows in
    batches of 5: 77 batches, reported by Keras as 32, 64, 96)."""
    write_csv(directory / "rows.csv", "classification", rows=rows)
    path = directory / "rows.yaml"
    path.write_text(
        "name: rows\nseed: 1\ndataset: {name: csv, path: rows.csv, target: target}\n"
        f"model: {{architecture: mlp, hidden_units: [8]}}\ntraining: {{epochs: {epochs}, batch_size: {batch_size}}}\n"
    )
    return path


def bar_frames(raw: str) -> list[tuple[int, int, int]]:
    """Every frame of the batch bar the terminal received: (epoch, batches done, batches in the epoch)."""
    return [tuple(map(int, match.groups())) for match in _BAR_FRAME.finditer(_COLOURS.sub("", raw))]


def assert_cursor_shown_at_the_end(raw: str) -> None:
    assert HIDE_CURSOR in raw, "nothing was animated (no spinner, no bar)"
    assert raw.rfind(SHOW_CURSOR) > raw.rfind(HIDE_CURSOR), "the cursor is left hidden"


def test_train_on_a_terminal_draws_a_truthful_bar_and_finishes(tmp_path):
    runs = tmp_path / "runs"
    run = run_on_terminal(["train", str(experiment(tmp_path)), "--runs-dir", str(runs)], cwd=tmp_path)
    assert run.returncode == 0, run.text
    assert "error" not in run.text
    (run_dir,) = runs.iterdir()
    assert run.screen_lines[-1] == str(run_dir)  # the run directory, last, as on stdout
    assert any(line.startswith("epoch 2/2  accuracy") for line in run.screen_lines)
    assert "completed" in run.text and "command time" in run.text
    assert_cursor_shown_at_the_end(run.raw)
    # the spinner ran while TensorFlow loaded, and was erased: no trace of it, nor of a bar, on the screen
    assert "loading TensorFlow…" in run.raw
    assert not any("loading TensorFlow" in line or "━" in line for line in run.screen_lines)
    # issue 16: with steps_per_execution 32 the counter showed the end of Keras' last chunk (96/77)
    frames = bar_frames(run.raw)
    assert frames, "no bar was drawn"
    assert {total for _, _, total in frames} == {77}
    assert all(done <= total for _, done, total in frames), [f for f in frames if f[1] > f[2]]
    for epoch in (1, 2):
        last = [frame for frame in frames if frame[0] == epoch][-1]
        assert last == (epoch, 77, 77)  # the epoch's last frame shows every batch
        after_bar = _COLOURS.sub("", run.raw).rsplit(f"epoch {epoch}/2 ━", 1)[1]
        assert f"epoch {epoch}/2  accuracy" in after_bar  # then the epoch's line


@pytest.mark.slow
def test_train_interrupted_on_a_terminal_stops_the_bar_and_names_the_run(tmp_path):
    """Ctrl-C (the terminal sends SIGINT to the process group) in the middle of epoch 2."""
    runs = tmp_path / "runs"
    path = experiment(tmp_path, rows=3000, batch_size=4, epochs=50)  # 480 batches an epoch: stopped mid-way
    # a relative runs root: the messages that name the run fit the terminal's lines (longer ones wrap between words)
    run = run_on_terminal(["train", path.name, "--runs-dir", "runs"], cwd=tmp_path, interrupt_when="epoch 2/50 ")
    assert run.returncode == 130, run.text
    (run_dir,) = runs.iterdir()
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "interrupted"
    assert_cursor_shown_at_the_end(run.raw)
    message = run.raw.index("interrupted after")
    assert "━" not in run.raw[message:], "a bar was drawn again after the message"
    assert bar_frames(run.raw)[-1][0] == 2  # it was stopped in epoch 2
    # what stays on the screen: the epoch lines, the message, and the run directory last (stdout, for scripts)
    assert not any("━" in line for line in run.screen_lines)
    assert run.screen_lines[-3].startswith("error: interrupted after 1 epoch(s)")
    assert run.screen_lines[-2] == f"error: continue it with: annctl train --resume runs/{run_dir.name}"
    assert run.screen_lines[-1] == f"runs/{run_dir.name}"


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    from annctl.config import load_spec
    from annctl.training import train

    base = tmp_path_factory.mktemp("terminal")
    return Path(train(load_spec(experiment(base)), base / "runs").run_dir)


@pytest.mark.slow
def test_evaluate_on_a_terminal(trained_run):
    run = run_on_terminal(["evaluate", str(trained_run)])
    assert run.returncode == 0, run.text
    screen = run.text
    for expected in ("accuracy", "macro_f1", "per class", "confusion matrix", "yes_class"):
        assert expected in screen, expected
    assert "loading TensorFlow…" in run.raw and "loading TensorFlow" not in screen
    assert_cursor_shown_at_the_end(run.raw)


@pytest.mark.slow
def test_backprop_on_a_terminal():
    run = run_on_terminal(["backprop", str(EXPERIMENTS / "backprop_linear.yaml")])
    assert run.returncode == 0, run.text
    assert "loss C = 121" in run.text
    assert "✓ agrees with TensorFlow" in run.text.split("loss C = 121")[-1]  # the check against TensorFlow, last
    assert run.text.endswith("weights 0.0e+00)")  # (wrapped between words at 100 columns)
    assert "loading TensorFlow…" in run.raw and "loading TensorFlow" not in run.text
    assert_cursor_shown_at_the_end(run.raw)


@pytest.mark.slow
def test_tune_on_a_terminal(tmp_path):
    path = experiment(tmp_path, rows=60, batch_size=8, epochs=1)
    with path.open("a") as handle:
        handle.write("search:\n  space:\n    training.learning_rate: {type: float, low: 0.001, high: 0.1}\n")
    runs = tmp_path / "runs"
    run = run_on_terminal(["tune", str(path), "--trials", "2", "--runs-dir", str(runs)], cwd=tmp_path, timeout=300)
    assert run.returncode == 0, run.text
    (tune_dir,) = runs.iterdir()
    lines = run.screen_lines
    assert lines[-1] == str(tune_dir)
    assert any(line.startswith("trial 000 complete") for line in lines)
    assert any(line.startswith("trial 001 complete") for line in lines)
    assert any(line.startswith("best: trial 00") for line in lines)
    assert "searching…" in run.raw and "searching…" not in run.text  # the spinner, erased at the end
    assert_cursor_shown_at_the_end(run.raw)


def test_runs_list_and_compare_fit_80_columns_without_breaking_names(tmp_path):
    from tests.test_runs import make_run, make_search

    root = tmp_path / "runs"
    first = make_run(root, "fashion_mnist_cnn-20261122T091500-a1b2c3", accuracy=0.9213)
    second = make_run(root, "california_wide_deep_aux-20261122T091500-d4e5f6", mse=0.308)
    tune_dir = make_search(root, "california_tune-tune-20261122T101500-3f2a1c")
    listed = run_on_terminal(["runs", "list", "--runs-dir", str(root)], columns=80)
    assert listed.returncode == 0, listed.text
    for name in (first.name, second.name, tune_dir.name):
        assert any(line.startswith(name) for line in listed.screen_lines), name
    tables = [line for line in listed.screen_lines if not re.match(r"\d+ (run|search)", line)]  # not the titles
    assert all(len(line) <= 80 for line in tables), listed.text
    assert "left out to fit 80 columns" in listed.text

    compared = run_on_terminal(["runs", "compare", str(first), str(second)], columns=80)
    assert compared.returncode == 0, compared.text
    assert f"run 1: {first.name}" in compared.screen_lines and f"run 2: {second.name}" in compared.screen_lines
    assert all(len(line) <= 80 for line in compared.screen_lines), compared.text
    assert any(line.startswith("test_accuracy") and "0.9213 ✓" in line for line in compared.screen_lines)
