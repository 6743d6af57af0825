"""annctl.runs at unit level: the rows `runs list` shows, their filters and order, and `runs compare --markdown`."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

from annctl.runs import (
    _lock_holder_alive,
    _matches,
    compare_markdown,
    describe_age,
    json_key,
    search_row,
    sort_rows,
)


def test_a_name_filter_is_a_substring_unless_it_is_a_pattern(tmp_path):
    row = {"kind": "run", "run_dir": str(tmp_path / "iris_mlp-20260101T000000-abcdef")}
    assert _matches(row, tmp_path, "mlp")  # a plain word: anywhere in the name
    assert not _matches(row, tmp_path, "mlp*")  # a pattern: the whole name
    assert _matches(row, tmp_path, "iris*")
    assert _matches(row, tmp_path, None)


def test_a_search_lock_on_another_host_counts_as_alive_and_a_dead_pid_here_does_not(tmp_path):
    (tmp_path / "summary.json").write_text("{}")
    lock = tmp_path / ".lock"
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = int(done.stdout)  # a process that has ended
    lock.write_text(f"annctl pid {dead} on {socket.gethostname()}")
    assert not _lock_holder_alive(tmp_path)
    lock.write_text(f"annctl pid {dead} on another-host-{socket.gethostname()}")
    assert _lock_holder_alive(tmp_path)  # its pid means nothing here
    lock.write_text(f"annctl pid {os.getpid()} on {socket.gethostname()}")
    assert _lock_holder_alive(tmp_path)


def test_a_search_row_before_its_first_trial_reads_tune_json_and_says_whether_mlflow_has_it(tmp_path):
    config = {
        "name": "s",
        "metric": "val_loss",
        "direction": "minimize",
        "trials": 6,
        "created_at": "2026-01-01T00:00:00+00:00",
    }
    (tmp_path / "tune.json").write_text(json.dumps(config))
    (tmp_path / ".lock").write_text(f"annctl pid {os.getpid()} on {socket.gethostname()}")
    row = search_row(tmp_path, now=0)
    assert (row["metric"], row["direction"], row["trials_requested"], row["status"]) == (
        "val_loss",
        "minimize",
        6,
        "running",
    )
    assert row["mlflow"] is None
    (tmp_path / "mlflow.json").write_text(json.dumps({"synced": False}))
    assert search_row(tmp_path, now=0)["mlflow"] == "not synced"


def test_ages_are_told_in_the_largest_whole_unit():
    assert [describe_age(s) for s in (None, 5, 120, 7200, 3 * 86400)] == ["", "5s ago", "2m ago", "2h ago", "3d ago"]


def test_equal_values_have_one_key_whatever_their_order():
    assert json_key({"a": 1, "b": [2]}) == json_key({"b": [2], "a": 1})


def test_sorting_by_best_follows_each_runs_direction():
    rows = [
        {"name": "low", "best": {"value": 0.80, "mode": "max"}, "test_metrics": {}},
        {"name": "none", "best": None, "test_metrics": {}},
        {"name": "high", "best": {"value": 0.90, "mode": "max"}, "test_metrics": {}},
    ]
    assert [row["name"] for row in sort_rows(rows, "best")] == ["high", "low", "none"]
    losses = [{"name": n, "best": {"value": v, "mode": "min"}, "test_metrics": {}} for n, v in (("a", 0.5), ("b", 0.2))]
    assert [row["name"] for row in sort_rows(losses, "best")] == ["b", "a"]


def test_compare_markdown_is_a_table_markdown_renders():
    comparison = {
        "runs": ["a", "b"],
        "differing_fields": {"training.epochs": [5, 10]},
        "metrics": {"accuracy": {"values": [0.9, None], "best_index": 0}},
        "epochs_completed": [5, 10],
    }
    assert compare_markdown(comparison) == (
        "| | a | b |\n"
        "|---|---|---|\n"
        "| `training.epochs` | 5 | 10 |\n"
        "| accuracy | **0.9** ✓ |  |\n"
        "| epochs_completed | 5 | 10 |\n"
    )
