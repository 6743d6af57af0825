"""What the user sees: a spinner while TensorFlow loads, a bar over each epoch's batches, a line per epoch, the
summary table, and the tables of `runs list`, `runs compare`, `evaluate` and `tune`.

Progress goes to stderr, so stdout carries only results (the run directory, ``--json``'s summary, tables).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich import box
from rich.console import Console
from rich.measure import Measurement
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from annctl.wording import plural

if TYPE_CHECKING:
    from rich.progress import TaskID

    from annctl.records import Summary, TuneSummary


def format_logs(logs: dict[str, float]) -> str:
    shown = [
        (k, v) for k, v in logs.items() if k not in ("learning_rate", "epoch_seconds") and not k.startswith("grad_norm")
    ]
    text = "  ".join(f"{k} {v:.4g}" for k, v in shown)
    if "epoch_seconds" in logs:
        text += f"  [dim]{logs['epoch_seconds']:.1f}s[/dim]"
    return text


def print_prose(console: Console, text: Any, **options) -> None:
    """A line of words (or a table of them): on a terminal wrapped between words at its width (left to the
    terminal, a word would be cut in two at the last column, and a table's cell cut short with …); in a pipe or
    a file one line, however long."""
    console.print(text, soft_wrap=not console.is_terminal, **options)


@contextlib.contextmanager
def spinner(text: str) -> Iterator[None]:
    """A spinner with ``text`` on stderr while the block runs, only when stderr is a terminal (nothing reaches a
    pipe or a file); erased when the block ends, however it ends.

    It draws on a duplicate of file descriptor 2: TensorFlow's import points descriptor 2 at /dev/null to
    silence its C++ start-up logs (annctl.training.tf_setup), and the spinner must show through that.
    """
    if not sys.stderr.isatty():
        yield
        return
    with os.fdopen(os.dup(sys.stderr.fileno()), "w", encoding="utf-8") as terminal:
        with Console(file=terminal, stderr=True).status(text):
            yield


class RichReporter:
    """Implements annctl.training.Reporter with rich; use it as a context manager, so a bar left running by an
    interrupted epoch is stopped (and the cursor shown again) before any message is printed."""

    def __init__(self, console: Console):
        self.console = console
        self.progress: Progress | None = None
        self.task: TaskID | None = None
        self.steps = 0

    def __enter__(self) -> RichReporter:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None

    def note(self, text: str) -> None:
        from rich.markup import escape

        print_prose(self.console, f"note: {escape(text)}", highlight=False)

    def run_start(self, run_dir, spec, train_samples: int) -> None:
        print_prose(
            self.console,
            f"[bold]{spec.name}[/bold]: {spec.model.architecture} on {spec.dataset.name}, "
            f"{train_samples} training samples, up to {plural(spec.training.epochs, 'epoch')} → {run_dir}",
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
        self.steps = steps
        self.task = self.progress.add_task("batches", total=steps)
        self.progress.start()

    def batch_end(self, epoch: int, step: int) -> None:
        if self.progress is not None and self.task is not None:
            self.progress.update(self.task, completed=step)

    def epoch_end(self, epoch: int, epochs: int, logs: dict[str, float]) -> None:
        if self.progress is not None:
            if self.task is not None:
                self.progress.update(self.task, completed=self.steps)  # the last frame shows the whole epoch
            self.close()
        print_prose(self.console, f"epoch {epoch}/{epochs}  {format_logs(logs)}")


def summary_table(summary: Summary, command_seconds: float | None = None) -> Table:
    """The end-of-training table; ``command_seconds``: the whole command's time, start-up included."""
    table = Table(title=f"{summary.name} — {summary.status}", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")  # a long run directory wraps, never cut
    worker = summary.worker
    if summary.run_dir is None and worker:
        table.add_row("run directory", f"written by the chief (this is {worker.task_type} {worker.index})")
    else:
        table.add_row("run directory", str(summary.run_dir))
    table.add_row("epochs", str(summary.epochs_completed))
    best = summary.best
    if best is not None and best.value is not None:
        table.add_row("best", f"{best.monitor} {best.value:.4g} (epoch {summary.best_epoch})")
    for key, value in (summary.test_metrics or {}).items():
        table.add_row(f"test {key}", "n/a" if value is None else f"{value:.4g}")
    if summary.beats_naive is not None:  # forecasts (and adding): the naive baseline is the bar to clear
        skill = (summary.test_metrics or {}).get("skill")
        table.add_row(*naive_verdict(summary.beats_naive, skill, summary.baseline))
    # summary.json's wall_seconds: model building to final save, summed over the run's sessions (a resumed run's
    # first training, then each `train --resume`); the command time is this command's alone
    sessions = 1 + len(summary.resumed_at)
    if summary.wall_seconds is not None:
        spans = (
            "model building to final save" if sessions == 1 else f"all {sessions} sessions of the run, resumes included"
        )
        table.add_row("training time", f"{summary.wall_seconds:.1f} s ({spans})")
    if command_seconds is not None:
        this = "start-up and data loading included" if sessions == 1 else "this resume alone, start-up included"
        table.add_row("command time", f"{command_seconds:.1f} s ({this})")
    if summary.train_samples_per_second:
        table.add_row("training speed", f"{summary.train_samples_per_second:,.0f} samples/s")
    if summary.skipped_images:
        table.add_row("skipped images", f"{summary.skipped_images} (unreadable; listed in dataset.json)")
    return table


def naive_verdict(beaten: bool, skill: float | None, baseline: str | None = None) -> tuple[str, str]:
    """(row label, verdict): whether the model beats the naive baseline — a forecast's (tomorrow = today), or
    the one ``baseline`` names (`always 1.0`) — flagged in red when it does not."""
    shown = f" (skill {skill:.3g} = 1 − mse / naive_mse)" if skill is not None else ""
    if baseline in (None, "the last value, repeated"):
        label, worse = "naive forecast", "the model forecasts worse than repeating the last value"
    else:
        label, worse = f"baseline ({baseline})", f"the model does worse than answering {baseline}"
    if beaten:
        return label, f"beaten{shown}"
    return label, f"[bold red]NOT beaten: {worse}[/bold red]{shown}"


def evaluation_tables(result: dict[str, Any]) -> list[Table]:
    """The evaluate command's tables: headline metrics, then per-class scores and the confusion matrix."""
    metrics = result["metrics"]
    headline = Table(title=f"{result['run_dir']} — {result['split']} ({result['checkpoint']} model)")
    headline.add_column("metric", style="bold")
    headline.add_column("value", justify="right")
    for key, value in metrics.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            headline.add_row(key, f"{value:.6g}" if isinstance(value, float) else str(value))
    if "beats_naive" in metrics:
        headline.add_row(*naive_verdict(metrics["beats_naive"], metrics.get("skill"), metrics.get("baseline")))
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
    if result.get("misclassified"):
        worst = Table(title="most confidently misclassified")
        worst.add_column("file", overflow="fold")  # the whole name, wrapped, never cut
        for column in ("true", "predicted", "confidence"):
            worst.add_column(column, justify="right" if column == "confidence" else "left")
        for item in result["misclassified"][:10]:
            worst.add_row(_near(item["file"]), item["true"], item["predicted"], f"{item['confidence']:.4f}")
        tables.append(worst)
    return tables


def _near(path: str) -> str:
    """A path relative to the working directory when it lies inside it (shorter in a table), else as it is."""
    import os

    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)


def trial_line(event) -> str:
    """One line per finished trial of `annctl tune`."""
    params = "  ".join(f"{path.rsplit('.', 1)[-1]}={_short(value)}" for path, value in event.params.items())
    if event.state == "failed":
        return f"trial {event.number:03d} [red]failed[/red]: {event.reason}  [dim]{params}[/dim]"
    epochs = f"{plural(event.epochs, 'epoch')}, " if event.epochs is not None else ""
    return (
        f"trial {event.number:03d} {event.state} {_short(event.value)}  [dim]({epochs}{event.seconds:.1f} s)"
        f"[/dim]  {params}"
    )


def leaderboard_table(summary: TuneSummary, rows: list[dict[str, Any]], limit: int = 10) -> Table:
    """The best trials of a search, best first."""
    table = Table(
        title=f"{summary.study} — {summary.status}: {summary.trials_complete} complete, "
        f"{summary.trials_pruned} pruned, {summary.trials_failed} failed ({summary.direction} {summary.metric})"
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
        f"budget: {plural(budget['trials'], 'trial')} × up to {plural(budget['max_epochs_per_trial'], 'epoch')} "
        f"= up to {plural(budget['max_epochs'], 'epoch')}"
    )
    if "estimated_max_seconds" in budget:
        return line + (
            f"; at {budget['seconds_per_epoch_of_last_run']:.2f} s/epoch (newest run of this experiment) "
            f"up to {budget['estimated_max_seconds'] / 60:.1f} min"
        )
    return line + " (train the experiment once for a time estimate)"


# Tables of names (runs list, runs compare): a run name or a metric name is never wrapped or cut. On a terminal
# a table that does not fit leaves out its optional columns, or names its runs by number; in a pipe it is as
# wide as it needs to be.


def table_width(console: Console, table: Table) -> int:
    """The width ``table`` takes with nothing wrapped."""
    return Measurement.get(console, console.options.update_width(100_000), table).maximum


def print_unwrapped(console: Console, table: Table) -> None:
    """Print ``table`` at its full width, wider than the console if need be (a pipe has no width); its title,
    a line of words that may be longer than the table (it names the runs root), wrapped as prose."""
    if table.title:
        print_prose(console, str(table.title), highlight=False)
        table.title = None
    width = table_width(console, table)
    if width > console.width:
        console = type(console)(  # the same class: the CLI's handles a closed pipe
            file=console.file,
            width=width,
            force_terminal=console.is_terminal,
            color_system=console.color_system,  # type: ignore[arg-type]
            soft_wrap=True,
        )
    console.print(table)


def print_fitted(
    console: Console, build: Callable[[list[str]], Table], columns: Sequence[str], optional: Sequence[str]
):
    """Print ``build(columns)``; on a terminal too narrow for it, leave out ``optional`` columns (in that order)
    until it fits, and say which in the caption."""
    shown = list(columns)
    table = build(shown)
    if console.is_terminal:
        for column in optional:
            if table_width(console, table) <= console.width:
                break
            shown.remove(column)
            table = build(shown)
        left_out = [column for column in columns if column not in shown]
        if left_out:
            table.caption = f"left out to fit {console.width} columns: {', '.join(left_out)} (--json has all)"
    print_unwrapped(console, table)


def _name_table(title: str) -> Table:
    return Table(
        title=title, title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style="bold"
    )


RUN_COLUMNS = ("run", "status", "epochs", "best", "test", "duration", "age")


def print_runs(console: Console, rows: list[dict[str, Any]], root: Path) -> None:
    """`runs list`'s table of runs (trials included)."""
    from annctl.runs import best_text, describe_age, display_name, duration_text, headline_test_metric

    cells = {
        "run": lambda row: display_name(row, root),
        "status": lambda row: row["status"],
        "epochs": lambda row: str(row["epochs_completed"] or ""),
        "best": lambda row: best_text(row["best"]),
        "test": lambda row: headline_test_metric(row["test_metrics"]),
        "duration": lambda row: duration_text(row["wall_seconds"]),
        "age": lambda row: describe_age(row["age_seconds"]),
        "mlflow": lambda row: row.get("mlflow") or "",
    }

    def build(columns: list[str]) -> Table:
        table = _name_table(f"{len(rows)} run(s) in {root}")
        for column in columns:
            table.add_column(column, no_wrap=True, justify="right" if column in ("epochs", "duration") else "left")
        for row in rows:
            table.add_row(*(cells[column](row) for column in columns))
        return table

    # a column empty in every row says nothing (`test` of a search's trials, which are not tested; `mlflow` where no
    # run reports to MLflow): left out
    columns = [
        column
        for column in (*RUN_COLUMNS, "mlflow")
        if column in ("run", "status") or any(cells[column](r) for r in rows)
    ]
    optional = [column for column in ("age", "duration", "mlflow", "epochs", "best", "test") if column in columns]
    print_fitted(console, build, columns, optional)


SEARCH_COLUMNS = ("search", "status", "trials", "best", "duration", "age")


def print_searches(console: Console, rows: list[dict[str, Any]], root: Path) -> None:
    """`runs list`'s table of searches (tune directories)."""
    from annctl.runs import describe_age, display_name, duration_text, search_best_text, trials_text

    cells = {
        "search": lambda row: display_name(row, root),
        "status": lambda row: row["status"],
        "trials": trials_text,
        "best": search_best_text,
        "duration": lambda row: duration_text(row["wall_seconds"]),
        "age": lambda row: describe_age(row["age_seconds"]),
        "mlflow": lambda row: row.get("mlflow") or "",
    }
    tracked = any(row.get("mlflow") for row in rows)

    def build(columns: list[str]) -> Table:
        table = _name_table(f"{len(rows)} search(es) in {root} (their trials: --trials)")
        for column in columns:
            table.add_column(column, no_wrap=True, justify="right" if column == "duration" else "left")
        for row in rows:
            table.add_row(*(cells[column](row) for column in columns))
        return table

    columns = (*SEARCH_COLUMNS, "mlflow") if tracked else SEARCH_COLUMNS
    print_fitted(console, build, columns, [c for c in ("age", "mlflow", "duration", "best") if c in columns])


def print_comparison(console: Console, comparison: dict[str, Any]) -> None:
    """`runs compare`: the differing spec fields and the test metrics, one column per run, the best marked ✓
    (and green where there is colour). A terminal too narrow for the run names gets `run 1`, `run 2`, ... as
    column headings, under a legend."""
    from annctl.runs import json_key

    keys = [*comparison["differing_fields"], *comparison["metrics"], "epochs_completed"]

    def build(headings: list[str], width: int | None = None) -> Table:
        """The table; with ``width``, at most that wide: the values cut with … where they do not fit."""
        table = _name_table("differing spec fields and test metrics (best marked ✓)")
        key_width = max(map(len, keys))
        table.add_column("", no_wrap=True, min_width=key_width)
        cut = None if width is None else max(8, (width - key_width) // len(headings) - 3)  # 3: column gap
        for heading in headings:
            table.add_column(heading, no_wrap=True, overflow="ellipsis", max_width=cut)
        if cut is not None:
            table.caption = f"values cut to fit {width} columns (--json has all)"
        for key, values in comparison["differing_fields"].items():
            table.add_row(key, *(json_key(v) for v in values))
        for name, entry in comparison["metrics"].items():
            table.add_row(
                name,
                *(
                    ""
                    if v is None
                    else f"[bold green]{v:.4g} ✓[/bold green]"
                    if i == entry["best_index"]
                    else f"{v:.4g}"
                    for i, v in enumerate(entry["values"])
                ),
            )
        table.add_row("epochs_completed", *(str(e) for e in comparison["epochs_completed"]))
        return table

    table = build(list(comparison["runs"]))
    if console.is_terminal and table_width(console, table) > console.width:
        numbered = [f"run {i}" for i in range(1, len(comparison["runs"]) + 1)]
        for heading, name in zip(numbered, comparison["runs"]):
            console.print(f"[bold]{heading}[/bold]: {name}", highlight=False, soft_wrap=True)
        table = build(numbered)
        if table_width(console, table) > console.width:
            table = build(numbered, console.width)
    print_unwrapped(console, table)
