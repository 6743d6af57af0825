"""What the user sees while training and after: a bar over each epoch's batches, a line per epoch, a summary table.

Everything goes to stderr, so stdout carries only the run directory (or ``--json``'s summary).
"""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table


def format_logs(logs: dict[str, float]) -> str:
    shown = [(k, v) for k, v in logs.items() if k not in ("learning_rate", "epoch_seconds")]
    text = "  ".join(f"{k} {v:.4g}" for k, v in shown)
    if "epoch_seconds" in logs:
        text += f"  [dim]{logs['epoch_seconds']:.1f}s[/dim]"
    return text


class RichReporter:
    """Implements annctl.training.Reporter with rich."""

    def __init__(self, console: Console):
        self.console = console
        self.progress: Progress | None = None
        self.task = None

    def run_start(self, run_dir, spec, train_samples: int) -> None:
        self.console.print(
            f"[bold]{spec.name}[/bold]: {spec.model.architecture} on {spec.dataset.name}, "
            f"{train_samples} training samples, up to {spec.training.epochs} epochs → {run_dir}"
        )

    def epoch_start(self, epoch: int, epochs: int, steps: int) -> None:
        if not self.console.is_terminal:  # a live bar only makes sense on a terminal
            return
        self.progress = Progress(
            TextColumn(f"epoch {epoch}/{epochs}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=self.console,
            transient=True,
        )
        self.task = self.progress.add_task("batches", total=steps)
        self.progress.start()

    def batch_end(self, epoch: int, step: int) -> None:
        if self.progress is not None:
            self.progress.update(self.task, completed=step)

    def epoch_end(self, epoch: int, epochs: int, logs: dict[str, float]) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None
        self.console.print(f"epoch {epoch}/{epochs}  {format_logs(logs)}")


def summary_table(summary: dict[str, Any]) -> Table:
    table = Table(title=f"{summary.get('name')} — {summary.get('status')}", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    worker = summary.get("worker") or {}
    if summary.get("run_dir") is None and worker:
        table.add_row("run directory", f"written by the chief (this is {worker['task_type']} {worker['index']})")
    else:
        table.add_row("run directory", str(summary.get("run_dir")))
    table.add_row("epochs", str(summary.get("epochs_completed")))
    best = summary.get("best") or {}
    if best.get("value") is not None:
        table.add_row("best", f"{best['monitor']} {best['value']:.4g} (epoch {summary.get('best_epoch')})")
    for key, value in (summary.get("test_metrics") or {}).items():
        table.add_row(f"test {key}", f"{value:.4g}")
    if summary.get("wall_seconds") is not None:
        table.add_row("wall time", f"{summary['wall_seconds']:.1f} s")
    if summary.get("train_samples_per_second"):
        table.add_row("training speed", f"{summary['train_samples_per_second']:,.0f} samples/s")
    return table


def evaluation_tables(result: dict[str, Any]) -> list[Table]:
    """The evaluate command's tables: headline metrics, then per-class scores and the confusion matrix."""
    metrics = result["metrics"]
    headline = Table(title=f"{result['run_dir']} — {result['split']} ({result['checkpoint']} model)")
    headline.add_column("metric", style="bold")
    headline.add_column("value", justify="right")
    for key, value in metrics.items():
        if isinstance(value, (int, float)):
            headline.add_row(key, f"{value:.6g}" if isinstance(value, float) else str(value))
    tables = [headline]
    if "per_class" in metrics:
        per_class = Table(title="per class")
        for column in ("class", "precision", "recall", "f1", "support"):
            per_class.add_column(column, justify="left" if column == "class" else "right")
        for name, scores in metrics["per_class"].items():
            per_class.add_row(
                name, *(f"{scores[k]:.4f}" for k in ("precision", "recall", "f1")), str(scores["support"])
            )
        matrix = Table(title="confusion matrix (rows: true, columns: predicted)")
        labels = metrics["confusion_matrix"]["labels"]
        matrix.add_column("")
        for label in labels:
            matrix.add_column(label[:10], justify="right")
        for label, row in zip(labels, metrics["confusion_matrix"]["rows_true_columns_predicted"]):
            matrix.add_row(label, *map(str, row))
        tables += [per_class, matrix]
    return tables


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)


def trial_line(event) -> str:
    """One line per finished trial of `annctl tune`."""
    params = "  ".join(f"{path.rsplit('.', 1)[-1]}={_short(value)}" for path, value in event.params.items())
    if event.state == "failed":
        return f"trial {event.number:03d} [red]failed[/red]: {event.reason}  [dim]{params}[/dim]"
    epochs = f"{event.epochs} epochs, " if event.epochs is not None else ""
    return (
        f"trial {event.number:03d} {event.state} {_short(event.value)}  [dim]({epochs}{event.seconds:.1f} s)"
        f"[/dim]  {params}"
    )


def leaderboard_table(summary: dict[str, Any], rows: list[dict[str, Any]], limit: int = 10) -> Table:
    """The best trials of a search, best first."""
    metric = summary["metric"]
    table = Table(
        title=f"{summary['study']} — {summary['status']}: {summary['trials_complete']} complete, "
        f"{summary['trials_pruned']} pruned, {summary['trials_failed']} failed ({summary['direction']} {metric})"
    )
    columns = [key for key in rows[0] if key not in ("retry_of", "reason")] if rows else ["trial"]
    for column in columns:  # a searched path is shown by its last part: model.hidden_units → hidden_units
        table.add_column(column.rsplit(".", 1)[-1], justify="left" if column == "state" else "right")
    for row in rows[:limit]:
        table.add_row(*[str(row[c]).zfill(3) if c == "trial" else _short(_number(row[c])) for c in columns])
    return table


def _number(text: Any) -> Any:
    """A CSV cell as a number where it is one (for 4 significant digits in tables)."""
    try:
        return int(text)
    except (TypeError, ValueError):
        pass
    try:
        return float(text)
    except (TypeError, ValueError):
        return text


def plan_table(configs: list[dict[str, Any]]) -> Table:
    """`annctl tune --dry-run`: the configurations the first trials would get."""
    table = Table(title=f"first {len(configs)} configurations")
    for column in configs[0] if configs else ["trial"]:
        table.add_column(column)
    for row in configs:
        table.add_row(*[value if isinstance(value, str) else json.dumps(value) for value in row.values()])
    return table


def budget_line(budget: dict[str, Any]) -> str:
    line = (
        f"budget: {budget['trials']} trials × up to {budget['max_epochs_per_trial']} epochs "
        f"= up to {budget['max_epochs']} epochs"
    )
    if "estimated_max_seconds" in budget:
        return line + (
            f"; at {budget['seconds_per_epoch_of_last_run']:.2f} s/epoch (newest run of this experiment) "
            f"up to {budget['estimated_max_seconds'] / 60:.1f} min"
        )
    return line + " (train the experiment once for a time estimate)"
