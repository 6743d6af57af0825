"""Listing and showing runs from their small summary files only (fast with thousands of runs, no TensorFlow)."""

from __future__ import annotations

import fnmatch
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
        state = summary.get("status", "unknown")
        if state == "running":
            touched = (run_dir / "summary.json").stat().st_mtime if (run_dir / "summary.json").exists() else 0
            if now - touched > STALE_SECONDS:
                state = "stale"
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
