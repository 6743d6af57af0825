"""Listing and showing runs from their small summary files only (fast with thousands of runs, no TensorFlow)."""

from __future__ import annotations

import fnmatch
import os
import socket
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from annctl.errors import UsageError
from annctl.rundir import list_run_dirs, read_summary

# A run whose summary still says "running" but has not been touched for this long is shown as stale
# (killed with SIGKILL, or its machine went away).
STALE_SECONDS = 15 * 60


def run_rows(root: Path, name: str | None = None, status: str | None = None) -> list[dict[str, Any]]:
    rows = []
    now = time.time()
    for run_dir in list_run_dirs(root):
        if name and not fnmatch.fnmatch(run_dir.name, name if any(c in name for c in "*?[") else f"*{name}*"):
            continue
        summary = read_summary(run_dir) or {}
        state = run_state(run_dir, summary, now)
        if status and state != status:
            continue
        best = summary.get("best") or {}
        started = summary.get("started_at")
        rows.append(
            {
                "run": run_dir.name,
                "run_dir": str(run_dir),
                "status": state,
                "epochs": summary.get("epochs_completed"),
                "best_monitor": best.get("monitor"),
                "best": best.get("value"),
                "test": summary.get("test_metrics") or {},
                "wall_seconds": summary.get("wall_seconds"),
                "started_at": started,
                "age_seconds": now - datetime.fromisoformat(started).timestamp() if started else None,
            }
        )
    return rows


def run_state(run_dir: Path, summary: dict[str, Any], now: float) -> str:
    """The summary's status, except that a "running" run whose process is gone on this host is `killed`,
    and one on another host untouched for STALE_SECONDS is `stale`."""
    state = summary.get("status", "unknown")
    if state != "running":
        return state
    if summary.get("host") == socket.gethostname() and summary.get("pid") and not process_alive(int(summary["pid"])):
        return "killed"
    touched = (run_dir / "summary.json").stat().st_mtime if (run_dir / "summary.json").exists() else 0
    return "stale" if now - touched > STALE_SECONDS else state


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def sort_rows(rows: list[dict[str, Any]], key: str | None) -> list[dict[str, Any]]:
    """Sort by a test metric (`accuracy`, `mse`, ...), `best`, `epochs` or `wall_seconds`; best first."""
    if not key:
        return rows
    higher_is_better = key in ("accuracy", "auc", "r2", "epochs")

    def value(row):
        if key in ("best", "epochs", "wall_seconds"):
            found = row.get(key)
        else:
            found = row["test"].get(key)
        return found

    known = {v for row in rows for v in row["test"]} | {"best", "epochs", "wall_seconds"}
    if rows and key not in known:
        raise UsageError(f"--sort {key}: unknown metric; available: {', '.join(sorted(known))}")
    present = [row for row in rows if value(row) is not None]
    missing = [row for row in rows if value(row) is None]
    return sorted(present, key=value, reverse=higher_is_better) + missing


def headline_test_metric(test: dict[str, float]) -> str:
    for key in ("accuracy", "mse", "loss"):
        if key in test:
            return f"{key} {test[key]:.4g}"
    return ""


def markdown_table(rows: list[dict[str, Any]]) -> str:
    lines = ["| run | status | epochs | best | test | duration |", "|---|---|---|---|---|---|"]
    for row in rows:
        best = f"{row['best_monitor']} {row['best']:.4g}" if row["best"] is not None else ""
        duration = f"{row['wall_seconds']:.0f} s" if row["wall_seconds"] is not None else ""
        lines.append(
            f"| {row['run']} | {row['status']} | {row['epochs'] or ''} | {best} | "
            f"{headline_test_metric(row['test'])} | {duration} |"
        )
    return "\n".join(lines) + "\n"


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
            specs.append(flatten(yaml.safe_load((run_dir / "spec.yaml").read_text(encoding="utf-8"))))
        except (OSError, yaml.YAMLError) as error:
            raise UsageError(f"{run_dir}: cannot read spec.yaml: {error}") from None
    keys = sorted({key for spec in specs for key in spec})
    differing = {
        key: [spec.get(key) for spec in specs] for key in keys if len({json_key(spec.get(key)) for spec in specs}) > 1
    }
    summaries = [read_summary(run_dir) or {} for run_dir in run_dirs]
    metric_names = sorted({name for s in summaries for name in (s.get("test_metrics") or {})})
    metrics: dict[str, dict[str, Any]] = {}
    for name in metric_names:
        values = [(s.get("test_metrics") or {}).get(name) for s in summaries]
        present = [v for v in values if v is not None]
        lower = name.split("_")[-1] in LOWER_IS_BETTER
        best = (min(present) if lower else max(present)) if present else None
        metrics[f"test_{name}"] = {"values": values, "best_index": values.index(best) if best is not None else None}
    epochs = [s.get("epochs_completed") for s in summaries]
    return {
        "runs": [run_dir.name for run_dir in run_dirs],
        "differing_fields": differing,
        "metrics": metrics,
        "epochs": epochs,
        "status": [s.get("status") for s in summaries],
    }


def json_key(value: Any) -> str:
    import json

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
    lines.append("| epochs | " + " | ".join(str(e) for e in comparison["epochs"]) + " |")
    return "\n".join(lines) + "\n"
