"""annctl.runs at unit level: every column of a `runs list` row, the filters and the order, the texts and tables
compared whole, and `runs show` / `runs compare` over run directories written by hand (written for the mutants
the mutation sample found surviving, docs/mutation.md)."""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

import pytest

from annctl.errors import UsageError
from annctl.runs import (
    _age,
    _lock_holder_alive,
    best_text,
    check_root,
    compare_runs,
    describe_age,
    display_name,
    duration_text,
    flatten,
    headline_test_metric,
    list_tune_dirs,
    markdown_table,
    mlflow_state,
    run_row,
    run_rows,
    run_state,
    search_best_text,
    search_row,
    show_run,
    sort_rows,
    summary_json,
    trials_text,
)

STARTED = "2026-01-01T00:00:00+00:00"
T0 = 1767225600.0  # STARTED as a timestamp
DEAD = 2**22 + 12345  # above any process id: no such process


def make_run(root: Path, name: str, spec: str = "", **summary) -> Path:
    run_dir = root / name
    run_dir.mkdir(parents=True)
    (run_dir / "spec.yaml").write_text(spec or f"name: {name}\n")
    record = {"run_dir": str(run_dir), "name": name, "status": "completed", "started_at": STARTED, **summary}
    (run_dir / "summary.json").write_text(json.dumps(record))
    return run_dir


def make_search(root: Path, name: str, summary: dict | None = None, **config) -> Path:
    tune_dir = root / name
    (tune_dir / "trials").mkdir(parents=True)
    config = {"name": name, "metric": "val_loss", "direction": "minimize", "trials": 5, "created_at": STARTED, **config}
    (tune_dir / "tune.json").write_text(json.dumps(config))
    if summary is not None:
        (tune_dir / "summary.json").write_text(json.dumps(summary))
    return tune_dir


def usage(call, *args) -> str:
    with pytest.raises(UsageError) as error:
        call(*args)
    return str(error.value)


def test_a_run_row_has_every_column(tmp_path):
    run_dir = make_run(
        tmp_path,
        "a-20260101T000000-aaaaaa",
        epochs_completed=4,
        best_epoch=3,
        best={"monitor": "val_loss", "mode": "min", "value": 0.25},
        test_metrics={"accuracy": 0.5},
        wall_seconds=9.5,
    )
    (run_dir / "mlflow.json").write_text(json.dumps({"synced": True}))
    assert run_row(run_dir, now=T0 + 90, search=tmp_path) == {
        "kind": "run",
        "run_dir": str(run_dir),
        "name": "a-20260101T000000-aaaaaa",
        "status": "completed",
        "epochs_completed": 4,
        "best_epoch": 3,
        "best": {"monitor": "val_loss", "mode": "min", "value": 0.25},
        "test_metrics": {"accuracy": 0.5},
        "wall_seconds": 9.5,
        "started_at": STARTED,
        "age_seconds": 90.0,
        "search": str(tmp_path),
        "mlflow": "synced",
    }
    row = run_row(make_run(tmp_path, "b"))
    assert (row["test_metrics"], row["search"], row["mlflow"]) == ({}, None, None)
    assert abs(row["age_seconds"] - (time.time() - T0)) < 60  # now: the time of the call


def test_an_unreadable_summary_is_an_empty_row(tmp_path):
    run_dir = make_run(tmp_path, "a")
    (run_dir / "summary.json").write_text("{not json")
    assert summary_json(run_dir) == {}
    row = run_row(run_dir, now=0)
    assert (row["name"], row["status"], row["test_metrics"], row["age_seconds"]) == (None, "unknown", {}, None)


def test_a_search_row_prefers_its_summary_to_tune_json(tmp_path):
    summary = {
        "status": "completed",
        "metric": "val_accuracy",
        "direction": "maximize",
        "trials_requested": 8,
        "trials_complete": 6,
        "trials_pruned": 1,
        "trials_failed": 1,
        "trials_running": 0,
        "best_trial": 4,
        "best_value": 0.75,
        "best_run_dir": "x/trials/004",
        "wall_seconds": 30.0,
    }
    tune_dir = make_search(tmp_path, "s", summary)
    assert search_row(tune_dir, now=T0 + 7200) == {
        "kind": "search",
        "tune_dir": str(tune_dir),
        "name": "s",
        **summary,
        "started_at": STARTED,
        "age_seconds": 7200.0,
        "mlflow": None,
    }
    before = search_row(make_search(tmp_path, "t"), now=T0)  # no summary, no lock: only starting
    assert before["status"] == "running" and before["trials_requested"] == 5
    assert [before[f"trials_{key}"] for key in ("complete", "pruned", "failed", "running")] == [0, 0, 0, 0]
    assert [before[key] for key in ("best_trial", "best_value", "best_run_dir", "wall_seconds")] == [None] * 4


def test_a_search_that_wrote_a_summary_and_lost_its_lock_was_killed(tmp_path):
    tune_dir = make_search(tmp_path, "s", {"status": "running"})
    assert search_row(tune_dir, now=T0)["status"] == "killed"
    (tune_dir / ".lock").write_text("garbled")  # unreadable lock words: taken to be alive
    assert search_row(tune_dir, now=T0)["status"] == "running"
    (tune_dir / ".lock").write_text(f"annctl pid x1 on {socket.gethostname()}")
    assert _lock_holder_alive(tune_dir)
    (tune_dir / ".lock").write_text(f"annctl pid {DEAD} on {socket.gethostname()} too")  # not 5 words
    assert _lock_holder_alive(tune_dir)
    (tune_dir / ".lock").write_text(f"annctl pid {DEAD} on {socket.gethostname()}")
    assert not _lock_holder_alive(tune_dir)
    (tune_dir / ".lock").write_text(f"annctl pid {os.getpid()} on {socket.gethostname()}")
    assert _lock_holder_alive(tune_dir)
    (tune_dir / ".lock").unlink()
    (tune_dir / ".lock").mkdir()  # cannot be read
    assert _lock_holder_alive(tune_dir)
    assert search_row(make_search(tmp_path, "d", {"status": "completed"}), now=T0)["status"] == "completed"


def test_mlflow_state_of_a_folder(tmp_path):
    assert mlflow_state(tmp_path) is None
    (tmp_path / "mlflow.json").write_text(json.dumps({"synced": True}))
    assert mlflow_state(tmp_path) == "synced"
    (tmp_path / "mlflow.json").write_text(json.dumps({"synced": False}))
    assert mlflow_state(tmp_path) == "not synced"


def test_ages(tmp_path):
    assert _age(STARTED, T0 + 5) == 5.0
    assert _age(None, T0) is None and _age("", T0) is None and _age("yesterday", T0) is None
    assert [describe_age(s) for s in (59, 60, 3599, 3600, 86399, 86400)] == [
        "59s ago",
        "1m ago",
        "60m ago",
        "1h ago",
        "24h ago",
        "1d ago",
    ]


def test_a_running_runs_state(tmp_path):
    run_dir = make_run(tmp_path, "a")
    now = time.time()
    assert run_state(run_dir, {"status": "failed"}, now) == "failed"
    assert run_state(run_dir, {}, now) == "unknown"
    here = {"status": "running", "host": socket.gethostname()}
    assert run_state(run_dir, {**here, "pid": os.getpid()}, now) == "running"
    assert run_state(run_dir, {**here, "pid": DEAD}, now) == "killed"
    elsewhere = {"status": "running", "host": "another-host", "pid": DEAD}
    touched = (run_dir / "summary.json").stat().st_mtime
    assert run_state(run_dir, elsewhere, touched + 15 * 60) == "running"
    assert run_state(run_dir, elsewhere, touched + 15 * 60 + 1) == "stale"
    (run_dir / "summary.json").unlink()
    assert run_state(run_dir, elsewhere, now) == "stale"


def test_runs_and_searches_oldest_first_with_their_trials(tmp_path):
    make_run(tmp_path, "late-20260103T000000-cccccc", started_at="2026-01-03T00:00:00+00:00")
    make_run(tmp_path, "none-20260102T000000-bbbbbb", started_at=None)
    make_run(tmp_path, "early-20260101T000000-aaaaaa", started_at="2026-01-01T00:00:00+00:00")
    search = make_search(tmp_path, "search", {"status": "completed"}, created_at="2026-01-02T00:00:00+00:00")
    make_run(search / "trials", "000", started_at="2026-01-02T01:00:00+00:00")
    (tmp_path / "not-a-run").mkdir()
    names = lambda rows: [display_name(row, tmp_path) for row in rows]  # noqa: E731
    assert names(run_rows(tmp_path)) == [
        "none-20260102T000000-bbbbbb",
        "early-20260101T000000-aaaaaa",
        "search",
        "late-20260103T000000-cccccc",
    ]
    rows = run_rows(tmp_path, trials=True)
    assert names(rows) == [
        "none-20260102T000000-bbbbbb",
        "early-20260101T000000-aaaaaa",
        "search",
        "search/trials/000",
        "late-20260103T000000-cccccc",
    ]
    assert rows[3]["search"] == str(search) and rows[3]["kind"] == "run"
    assert names(run_rows(tmp_path, name="search", trials=True)) == ["search", "search/trials/000"]
    assert names(run_rows(tmp_path, status="completed", name="e")) == [
        "none-20260102T000000-bbbbbb",
        "early-20260101T000000-aaaaaa",
        "search",
        "late-20260103T000000-cccccc",
    ]
    assert run_rows(tmp_path, status="failed") == []


def test_run_rows_usage_messages_whole(tmp_path):
    from annctl.records import STATES

    assert usage(run_rows, tmp_path, None, "bogus") == f"--status bogus: unknown status; use one of {', '.join(STATES)}"
    assert usage(check_root, tmp_path / "none") == (
        f"runs directory {tmp_path / 'none'}: does not exist; train a run first, or give another with --runs-dir "
        "(or $ANNCTL_RUNS_DIR)"
    )
    (tmp_path / "file").write_text("")
    assert usage(check_root, tmp_path / "file") == (
        f"runs directory {tmp_path / 'file'}: is a file, not a directory; give a folder with --runs-dir"
    )


def test_tune_directories_are_folders_with_tune_json(tmp_path):
    b, a = make_search(tmp_path, "b"), make_search(tmp_path, "a")
    (tmp_path / "plain").mkdir()
    (tmp_path / "link").symlink_to(a)
    (tmp_path / "file").write_text("")
    assert list_tune_dirs(tmp_path) == [a, b]


def test_a_row_outside_the_root_is_shown_by_its_folder_name(tmp_path):
    row = {"kind": "run", "run_dir": "/elsewhere/runs/r1"}
    assert display_name(row, tmp_path) == "r1"
    assert display_name({"kind": "search", "tune_dir": str(tmp_path / "s"), "run_dir": "x"}, tmp_path) == "s"


def rows_to_sort():
    def row(name, accuracy=None, mse=None, epochs=None, wall=None):
        test = {k: v for k, v in (("accuracy", accuracy), ("mse", mse)) if v is not None}
        return {"name": name, "test_metrics": test, "epochs_completed": epochs, "wall_seconds": wall, "best": None}

    return [row("a", 0.5, 0.3, 2, 30.0), row("b", 0.9, 0.1, 9, 10.0), row("c"), row("d", 0.7, 0.2, 5, 20.0)]


@pytest.mark.parametrize(
    ("key", "order"),
    [
        ("accuracy", "bdac"),
        ("mse", "bdac"),
        ("epochs_completed", "bdac"),
        ("epochs", "bdac"),
        ("wall_seconds", "bdac"),
        (None, "abcd"),
        ("", "abcd"),
    ],
)
def test_sorting_puts_the_best_first_and_rows_without_the_value_last(key, order):
    assert "".join(row["name"] for row in sort_rows(rows_to_sort(), key)) == order


def test_sorting_by_an_unknown_metric_names_the_known_ones():
    assert usage(sort_rows, rows_to_sort(), "f1") == (
        "--sort f1: unknown metric; available: accuracy, best, epochs_completed, mse, wall_seconds"
    )
    assert sort_rows([], "f1") == []


@pytest.mark.parametrize("metric", ["accuracy", "auc", "r2", "macro_f1", "macro_precision", "macro_recall"])
def test_higher_is_better_for_these_metrics(metric):
    rows = [{"name": n, "test_metrics": {metric: v}} for n, v in (("low", 0.1), ("high", 0.9))]
    assert [row["name"] for row in sort_rows(rows, metric)] == ["high", "low"]


def test_texts_of_a_row():
    assert headline_test_metric({"loss": 0.123456, "mse": 2.345678, "accuracy": 0.87654}) == "accuracy 0.8765"
    assert headline_test_metric({"loss": 0.123456, "mse": 2.345678}) == "mse 2.346"
    assert headline_test_metric({"loss": 0.123456}) == "loss 0.1235"
    assert headline_test_metric({"r2": 0.5}) == ""
    assert best_text({"monitor": "val_loss", "value": 0.123456}) == "val_loss 0.1235"
    assert best_text({"monitor": "val_loss", "value": None}) == "" and best_text(None) == ""
    search = {"metric": "val_loss", "best_value": 0.123456, "best_trial": 7}
    assert search_best_text(search) == "val_loss 0.1235 (trial 007)"
    assert search_best_text({**search, "best_value": None}) == ""
    counts = {"trials_complete": 3, "trials_requested": 20, "trials_failed": 1, "trials_pruned": 2, "trials_running": 0}
    assert trials_text(counts) == "3/20 complete, 1 failed, 2 pruned"
    assert trials_text({**counts, "trials_failed": 0, "trials_running": 4}) == "3/20 complete, 2 pruned, 4 running"
    assert (duration_text(None), duration_text(12.5), duration_text(0.4)) == ("", "12 s", "0 s")


def test_the_markdown_table_of_runs_and_searches(tmp_path):
    run = make_run(
        tmp_path,
        "a",
        epochs_completed=3,
        best={"monitor": "val_loss", "mode": "min", "value": 0.5},
        test_metrics={"accuracy": 0.75},
        wall_seconds=12.0,
    )
    empty = make_run(tmp_path, "b", epochs_completed=0)
    search = make_search(
        tmp_path,
        "s",
        {"status": "completed", "trials_complete": 2, "best_value": 0.25, "best_trial": 1, "wall_seconds": 60.0},
    )
    rows = [run_row(run), run_row(empty), search_row(search)]
    assert markdown_table(rows, tmp_path) == (
        "| run | status | epochs | best | test | duration |\n"
        "|---|---|---|---|---|---|\n"
        "| a | completed | 3 | val_loss 0.5 | accuracy 0.75 | 12 s |\n"
        "| b | completed |  |  |  |  |\n"
        "| s (search) | completed | 2/5 complete | val_loss 0.25 (trial 001) | | 60 s |\n"
    )


def test_show_run_gives_summary_spec_and_files(tmp_path):
    run_dir = make_run(tmp_path, "a", spec="name: a\ntraining: {epochs: 3}\n")
    (run_dir / "eval").mkdir()
    (run_dir / "eval" / "x.json").write_text("{}")
    (run_dir / "link").symlink_to(run_dir / "spec.yaml")
    shown = show_run(run_dir)
    assert shown["run_dir"] == str(run_dir) and shown["summary"]["name"] == "a"
    assert shown["spec"] == {"name": "a", "training": {"epochs": 3}}
    summary_bytes = (run_dir / "summary.json").stat().st_size
    assert shown["files"] == [
        {"path": "eval/x.json", "bytes": 2},
        {"path": "spec.yaml", "bytes": 30},
        {"path": "summary.json", "bytes": summary_bytes},
    ]
    (run_dir / "spec.yaml").write_text("a: [")
    message = usage(show_run, run_dir)
    assert message.startswith(f"{run_dir}: cannot read spec.yaml: while parsing a flow node")


def test_flatten_nested_specs_to_dotted_paths():
    assert flatten({"a": {"b": 1, "c": {"d": [1, 2]}}, "e": None}) == {"a.b": 1, "a.c.d": [1, 2], "e": None}
    assert flatten(3, "x.") == {"x": 3}


def test_compare_runs_marks_the_best_of_each_metric(tmp_path):
    a = make_run(
        tmp_path,
        "a",
        spec="name: a\ntraining: {epochs: 5, batch_size: 8}\n",
        epochs_completed=5,
        test_metrics={"accuracy": 0.8, "loss": 0.4, "val_loss": 0.5, "auc": None},
    )
    b = make_run(
        tmp_path,
        "b",
        spec="name: b\ntraining: {epochs: 9, batch_size: 8}\nextra: {x: 1}\n",
        epochs_completed=9,
        status="running",
        host=socket.gethostname(),
        pid=DEAD,
        test_metrics={"accuracy": 0.9, "loss": 0.2, "val_loss": 0.6},
    )
    assert compare_runs([a, b]) == {
        "runs": ["a", "b"],
        "run_dirs": [str(a), str(b)],
        "differing_fields": {"extra.x": [None, 1], "name": ["a", "b"], "training.epochs": [5, 9]},
        "metrics": {
            "test_accuracy": {"values": [0.8, 0.9], "best_index": 1},
            "test_auc": {"values": [None, None], "best_index": None},
            "test_loss": {"values": [0.4, 0.2], "best_index": 1},
            "test_val_loss": {"values": [0.5, 0.6], "best_index": 0},
        },
        "epochs_completed": [5, 9],
        "status": ["completed", "killed"],
    }
    (b / "spec.yaml").unlink()
    assert usage(compare_runs, [a, b]).startswith(f"{b}: cannot read spec.yaml: [Errno 2] No such file or directory")


def test_flatten_keeps_a_key_that_ends_in_a_capital_x():
    from annctl.runs import flatten

    assert flatten({"model": {"maX": 1, "units": [2]}, "seed": 3}) == {"model.maX": 1, "model.units": [2], "seed": 3}
