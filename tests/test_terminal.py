"""Commands run on a pseudo-terminal, as a person runs them: what the screen shows, and how they end."""

from __future__ import annotations

from tests.conftest import EXPERIMENTS
from tests.terminal import SHOW_CURSOR, run_on_terminal


def test_train_on_a_terminal_draws_progress_and_finishes(tmp_path):
    runs = tmp_path / "runs"
    run = run_on_terminal(
        ["train", str(EXPERIMENTS / "iris_mlp.yaml"), "--set", "training.epochs=2", "--runs-dir", str(runs)]
    )
    assert run.returncode == 0, run.text
    assert "error" not in run.text
    run_dirs = list(runs.iterdir())
    assert len(run_dirs) == 1
    assert run.screen_lines[-1] == str(run_dirs[0])  # the run directory, last, as on stdout
    assert any(line.startswith("epoch 2/2") for line in run.screen_lines)
    assert "completed" in run.text
    assert run.raw.rfind(SHOW_CURSOR) > run.raw.rfind("\x1b[?25l")  # the cursor is shown again after the bar
