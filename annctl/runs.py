"""Listing and showing runs from their small summary files only (fast with thousands of runs, no TensorFlow)."""

from __future__ import annotations

import fnmatch
import json
import os
import socket
import time
from datetime import datetime
from pathlib import Path
from typing import Any, cast

from annctl.errors import UsageError
from annctl.fileio import read_json_object
from annctl.rundir import RunPaths, TunePaths, list_run_dirs, read_summary
from annctl.wording import shown_path

# A run whose summary still says "running" but has not been touched for this long is shown as stale
# (killed with SIGKILL, or its machine went away).
STALE_SECONDS = 15 * 60


def run_rows(
    root: Path, name: str | None = None, status: str | None = None, trials: bool = False
) -> list[dict[str, Any]]:
    """One row per run under ``root``, oldest first, in summary.json's vocabulary; searches (tune directories)
    as rows of `kind` "search", and with ``trials`` each search's trials as runs after it.

    Raises UsageError (exit 2) for a root that is missing or not a folder, or an unknown ``status``.
    """
    check_root(root)
    if status is not None:
        from annctl.records import STATES  # the one vocabulary, runs' and searches' (pydantic: only when asked)

        if status not in STATES:
            raise UsageError(f"--status {status}: unknown status; use one of {', '.join(STATES)}")
    rows = []
    now = time.time()
    for run_dir in list_run_dirs(root):
        rows.append(run_row(run_dir, now))
    for tune_dir in list_tune_dirs(root):
        rows.append(search_row(tune_dir, now))
        if trials:
            rows += [run_row(trial, now, search=tune_dir) for trial in list_run_dirs(tune_dir / "trials")]
    rows.sort(key=lambda row: row["started_at"] or "")  # ISO times in UTC: oldest first; stable for ties
    return [row for row in rows if _matches(row, root, name) and (status is None or row["status"] == status)]


def _matches(row: dict[str, Any], root: Path, name: str | None) -> bool:
    if not name:
        return True
    label = display_name(row, root)
    return fnmatch.fnmatch(label, name if any(c in name for c in "*?[") else f"*{name}*")


def display_name(row: dict[str, Any], root: Path) -> str:
    """How a row is shown: the folder's name, or `TUNE_DIR/trials/NNN` for a trial (relative to the root)."""
    path = Path(row["tune_dir"] if row["kind"] == "search" else row["run_dir"])
    try:
        return str(path.relative_to(root))
    except ValueError:
        return path.name


def check_root(root: Path) -> None:
    if not root.exists():
        raise UsageError(
            f"runs directory {shown_path(root)}: does not exist; train a run first, or give another with --runs-dir "
            "(or $ANNCTL_RUNS_DIR)"
        )
    if not root.is_dir():
        raise UsageError(
            f"runs directory {shown_path(root)}: is a file, not a directory; give a folder with --runs-dir"
        )


def list_tune_dirs(root: Path) -> list[Path]:
    """The tune directories (searches) directly under ``root``."""
    return sorted(path for path in root.iterdir() if path.is_dir() and not path.is_symlink() and is_tune_dir(path))


def is_tune_dir(path: Path) -> bool:
    return TunePaths(path).config.is_file()


def summary_json(run_dir: Path) -> dict[str, Any]:
    """A run's summary.json as JSON data (every key, typed by annctl.records.Summary), or {} when unreadable."""
    record = read_summary(run_dir)
    return record.model_dump(mode="json") if record else {}


def run_row(run_dir: Path, now: float | None = None, search: Path | None = None) -> dict[str, Any]:
    """A run as `runs list` shows it: summary.json's own keys, the live status, and its age."""
    now = time.time() if now is None else now
    summary = summary_json(run_dir)
    started = summary.get("started_at")
    return {
        "kind": "run",
        "run_dir": str(run_dir),
        "name": summary.get("name"),
        "status": run_state(run_dir, summary, now),
        "epochs_completed": summary.get("epochs_completed"),
        "best_epoch": summary.get("best_epoch"),
        "best": summary.get("best"),
        "test_metrics": summary.get("test_metrics") or {},
        "wall_seconds": summary.get("wall_seconds"),
        "started_at": started,
        "age_seconds": _age(started, now),
        "search": str(search) if search is not None else None,  # the tune directory of a trial
        "mlflow": mlflow_state(run_dir),
    }


def search_row(tune_dir: Path, now: float | None = None) -> dict[str, Any]:
    """A search as `runs list` shows it, in its summary.json's vocabulary (tune.json's before a trial ends)."""
    now = time.time() if now is None else now
    config = read_json_object(TunePaths(tune_dir).config)
    summary = read_json_object(TunePaths(tune_dir).summary)
    state = summary.get("status", "running")
    if state == "running" and not _lock_holder_alive(tune_dir):
        state = "killed"
    started = config.get("created_at")
    row: dict[str, Any] = {"kind": "search", "tune_dir": str(tune_dir), "name": config.get("name"), "status": state}
    for key in ("metric", "direction"):
        row[key] = summary.get(key, config.get(key))
    row["trials_requested"] = summary.get("trials_requested", config.get("trials"))
    for key in ("trials_complete", "trials_pruned", "trials_failed", "trials_running"):
        row[key] = summary.get(key, 0)
    for key in ("best_trial", "best_value", "best_run_dir", "wall_seconds"):
        row[key] = summary.get(key)
    row.update(started_at=started, age_seconds=_age(started, now), mlflow=mlflow_state(tune_dir))
    return row


def mlflow_state(folder: Path) -> str | None:
    """`synced` when MLflow holds the whole run or search, `not synced` when it is tracked and MLflow does not
    (yet: `annctl runs sync`), None when it was never tracked (mlflow.json, read without pydantic)."""
    record = read_json_object(RunPaths(folder).tracking)
    if not record:
        return None
    return "synced" if record.get("synced") else "not synced"


def _lock_holder_alive(tune_dir: Path) -> bool:
    """Whether the process named in the tune directory's lock file (`annctl pid N on HOST`) still runs; one on
    another host is taken to be alive. A search removes its lock as its process ends, so a search that wrote a
    summary and has no lock file any more ended without writing its last status (a Python error, a kill)."""
    try:
        words = TunePaths(tune_dir).lock.read_text(encoding="utf-8").split()
    except FileNotFoundError:
        return not TunePaths(tune_dir).summary.exists()  # no summary yet: the search is only starting
    except OSError:
        return True
    if len(words) != 5 or not words[2].isdigit():
        return True
    return words[4] != socket.gethostname() or process_alive(int(words[2]))


def _age(started: str | None, now: float) -> float | None:
    try:
        return now - datetime.fromisoformat(started).timestamp() if started else None
    except ValueError:
        return None


def run_state(run_dir: Path, summary: dict[str, Any], now: float) -> str:
    """The summary's status, except that a "running" run whose process is gone on this host is `killed`,
    and one on another host untouched for STALE_SECONDS is `stale`."""
    state = summary.get("status", "unknown")
    if state != "running":
        return state
    if summary.get("host") == socket.gethostname() and summary.get("pid") and not process_alive(int(summary["pid"])):
        return "killed"
    summary_file = RunPaths(run_dir).summary
    touched = summary_file.stat().st_mtime if summary_file.exists() else 0
    return "stale" if now - touched > STALE_SECONDS else state


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


SORT_FIELDS = ("best", "epochs_completed", "wall_seconds")


def sort_rows(rows: list[dict[str, Any]], key: str | None) -> list[dict[str, Any]]:
    """Sort runs by a test metric (`accuracy`, `mse`, ...), `best` (the monitored value, in its own direction),
    `epochs_completed` or `wall_seconds`; best first, runs without the value last."""
    if not key:
        return rows
    key = "epochs_completed" if key == "epochs" else key  # the old spelling
    known = {metric for row in rows for metric in row["test_metrics"]} | set(SORT_FIELDS)
    if rows and key not in known:
        raise UsageError(f"--sort {key}: unknown metric; available: {', '.join(sorted(known))}")

    def value(row) -> float | None:
        if key == "best":
            best = row["best"] or {}
            if best.get("value") is None:
                return None
            return -best["value"] if best.get("mode") == "max" else best["value"]  # smaller is better
        found = row.get(key) if key in SORT_FIELDS else row["test_metrics"].get(key)
        if found is None:
            return None
        return -found if key in HIGHER_IS_BETTER else found

    present = [row for row in rows if value(row) is not None]
    missing = [row for row in rows if value(row) is None]
    return sorted(present, key=lambda row: cast(float, value(row))) + missing


HIGHER_IS_BETTER = ("accuracy", "auc", "r2", "epochs_completed", "macro_f1", "macro_precision", "macro_recall")


def headline_test_metric(test: dict[str, float]) -> str:
    for key in ("accuracy", "mse", "loss"):
        if key in test:
            return f"{key} {test[key]:.4g}"
    return ""


def best_text(best: dict[str, Any] | None) -> str:
    """summary.json's `best` as `val_loss 0.1234`."""
    if not best or best.get("value") is None:
        return ""
    return f"{best['monitor']} {best['value']:.4g}"


def search_best_text(row: dict[str, Any]) -> str:
    if row["best_value"] is None:
        return ""
    return f"{row['metric']} {row['best_value']:.4g} (trial {row['best_trial']:03d})"


def trials_text(row: dict[str, Any]) -> str:
    """A search's trial counts: `3/20 complete, 1 failed, 2 pruned`."""
    text = f"{row['trials_complete']}/{row['trials_requested']} complete"
    for key in ("failed", "pruned", "running"):
        if row[f"trials_{key}"]:
            text += f", {row[f'trials_{key}']} {key}"
    return text


def duration_text(seconds: float | None) -> str:
    return "" if seconds is None else f"{seconds:.0f} s"


def markdown_table(rows: list[dict[str, Any]], root: Path) -> str:
    lines = ["| run | status | epochs | best | test | duration |", "|---|---|---|---|---|---|"]
    for row in rows:
        if row["kind"] == "search":
            lines.append(
                f"| {display_name(row, root)} (search) | {row['status']} | {trials_text(row)} | "
                f"{search_best_text(row)} | | {duration_text(row['wall_seconds'])} |"
            )
            continue
        lines.append(
            f"| {display_name(row, root)} | {row['status']} | {row['epochs_completed'] or ''} | "
            f"{best_text(row['best'])} | {headline_test_metric(row['test_metrics'])} | "
            f"{duration_text(row['wall_seconds'])} |"
        )
    return "\n".join(lines) + "\n"


def show_run(run_dir: Path) -> dict[str, Any]:
    """`runs show --json`: the run's summary, its resolved spec and its files, as one object."""
    import yaml

    try:
        spec = yaml.safe_load(RunPaths(run_dir).spec.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise UsageError(f"{shown_path(run_dir)}: cannot read {RunPaths.SPEC}: {error}") from None
    files = [
        {"path": str(path.relative_to(run_dir)), "bytes": path.stat().st_size}
        for path in sorted(run_dir.rglob("*"))
        if path.is_file() and not path.is_symlink()
    ]
    return {"run_dir": str(run_dir), "summary": summary_json(run_dir), "spec": spec, "files": files}


def describe_age(seconds: float | None) -> str:
    if seconds is None:
        return ""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit} ago"
    return f"{seconds:.0f}s ago"


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """Nested spec dicts as dotted paths: {"training.epochs": 30, ...}."""
    if isinstance(data, dict):
        items: dict[str, Any] = {}
        for key, value in data.items():
            items.update(flatten(value, f"{prefix}{key}."))
        return items
    return {prefix.rstrip("."): data}


LOWER_IS_BETTER = ("loss", "mse", "rmse", "mae")


def compare_runs(run_dirs: list[Path]) -> dict[str, Any]:
    """The spec fields that differ between runs, and their metrics with the best value of each marked."""
    import yaml

    specs = []
    for run_dir in run_dirs:
        try:
            specs.append(flatten(yaml.safe_load(RunPaths(run_dir).spec.read_text(encoding="utf-8"))))
        except (OSError, yaml.YAMLError) as error:
            raise UsageError(f"{shown_path(run_dir)}: cannot read spec.yaml: {error}") from None
    keys = sorted({key for spec in specs for key in spec})
    differing = {
        key: [spec.get(key) for spec in specs] for key in keys if len({json_key(spec.get(key)) for spec in specs}) > 1
    }
    summaries = [summary_json(run_dir) for run_dir in run_dirs]
    metric_names = sorted({name for s in summaries for name in (s.get("test_metrics") or {})})
    metrics: dict[str, dict[str, Any]] = {}
    for name in metric_names:
        values = [(s.get("test_metrics") or {}).get(name) for s in summaries]
        present = [v for v in values if v is not None]
        lower = name.split("_")[-1] in LOWER_IS_BETTER
        best = (min(present) if lower else max(present)) if present else None
        metrics[f"test_{name}"] = {"values": values, "best_index": values.index(best) if best is not None else None}
    return {
        "runs": [run_dir.name for run_dir in run_dirs],
        "run_dirs": [str(run_dir) for run_dir in run_dirs],
        "differing_fields": differing,
        "metrics": metrics,
        "epochs_completed": [s.get("epochs_completed") for s in summaries],
        "status": [run_state(run_dir, s, time.time()) for run_dir, s in zip(run_dirs, summaries)],
    }


def json_key(value: Any) -> str:

    return json.dumps(value, sort_keys=True)


def compare_markdown(comparison: dict[str, Any]) -> str:
    runs = comparison["runs"]
    lines = ["| | " + " | ".join(runs) + " |", "|---|" + "---|" * len(runs)]
    for key, values in comparison["differing_fields"].items():
        lines.append(f"| `{key}` | " + " | ".join(json_key(v) for v in values) + " |")
    for name, entry in comparison["metrics"].items():
        cells = [
            ("**" + f"{v:.4g}" + "** ✓" if i == entry["best_index"] else f"{v:.4g}") if v is not None else ""
            for i, v in enumerate(entry["values"])
        ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines.append("| epochs_completed | " + " | ".join(str(e) for e in comparison["epochs_completed"]) + " |")
    return "\n".join(lines) + "\n"
