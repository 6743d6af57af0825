"""`annctl report`: one self-contained HTML file (images embedded, no network) for a run or a folder of runs."""

from __future__ import annotations

import base64
import html
import json
import tempfile
from pathlib import Path
from typing import Any

from annctl.errors import AnnctlError, UsageError
from annctl.fileio import atomic_write_text
from annctl.rundir import RunPaths, expand_runs, is_run_dir, read_summary
from annctl.runs import LOWER_IS_BETTER
from annctl.wording import plural, shown_path

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.2rem; margin-top: 2rem; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.5rem 0; } td, th { border: 1px solid #ccc; padding: 0.25rem 0.6rem; }
th { background: #f3f3f3; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
pre { background: #f7f7f7; padding: 0.8rem; overflow-x: auto; } img { max-width: 100%; }
.best { font-weight: bold; color: #0a7d2c; }
.thumbs { display: flex; flex-wrap: wrap; gap: 0.6rem; } .thumbs figure { margin: 0; width: 120px; font-size: 0.75rem; }
.thumbs img { width: 96px; height: 96px; object-fit: contain; background: #eee; image-rendering: pixelated; }
"""


def _image(path: Path | None) -> str:
    if path is None or not Path(path).is_file():
        return "<p><em>(no image)</em></p>"
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(Path(path).stem)}" src="data:image/png;base64,{data}">'


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f'<td class="num">{value:.5g}</td>'
    if isinstance(value, int):
        return f'<td class="num">{value}</td>'
    return f"<td>{html.escape('' if value is None else str(value))}</td>"


def _table(header: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(_cell(v) for v in row) + "</tr>" for row in rows)
    return f'<div style="overflow-x: auto"><table><tr>{head}</tr>{body}</table></div>'


def run_section(run_dir: Path) -> str:
    from annctl.plots import learning_curves, read_metrics
    from annctl.runs import run_row

    record = read_summary(run_dir)
    summary = record.model_dump(mode="json") if record else {}
    parts = [f"<h1>{html.escape(run_dir.name)}</h1>"]
    rows = [["status", run_row(run_dir)["status"]]]  # as `runs list` tells it (killed, stale, unknown)
    keys = ("epochs_completed", "best_epoch", "wall_seconds", "train_samples_per_second")
    rows += [[key, summary.get(key)] for key in keys]
    best = summary.get("best") or {}
    if best.get("value") is not None:
        rows.append([f"best {best['monitor']}", best["value"]])
    rows += [[f"test {k}", v] for k, v in (summary.get("test_metrics") or {}).items()]
    parts += ["<h2>Summary</h2>", _table(["field", "value"], rows)]
    with tempfile.TemporaryDirectory() as scratch:
        curves = learning_curves(read_metrics(run_dir), Path(scratch) / "curves.png", run_dir.name)
        parts += ["<h2>Learning curves</h2>", _image(curves)]
    parts += evaluation_section(run_dir)
    spec_text = RunPaths(run_dir).spec.read_text(encoding="utf-8")
    parts += ["<h2>Spec</h2>", f"<pre>{html.escape(spec_text)}</pre>"]
    return "\n".join(parts)


def evaluation_section(run_dir: Path) -> list[str]:
    """A fresh evaluation on the test split (tables and figure); if the data is not at hand, say so."""
    from annctl.evaluation import evaluate_run

    try:
        result = evaluate_run(run_dir, "test")
    except AnnctlError as error:
        return ["<h2>Evaluation</h2>", f"<p><em>Not evaluated: {html.escape(str(error))}</em></p>"]
    metrics = result["metrics"]
    parts = [
        "<h2>Evaluation (test split)</h2>",
        _table(
            ["metric", "value"],
            [[k, v] for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)],
        ),
    ]
    if "beats_naive" in metrics:  # forecasts (the last value, repeated) and adding (always 1.0): the bar
        verdict = "beats" if metrics["beats_naive"] else "does <strong>not</strong> beat"
        style = "" if metrics["beats_naive"] else ' style="color: #b00020"'
        baseline = metrics.get("baseline") or "the last value, repeated"
        what = "naive forecast" if baseline == "the last value, repeated" else "naive baseline"
        parts.append(
            f"<p{style}>The model {verdict} the {what} ({html.escape(baseline)}): mse "
            f"{metrics['mse']:.5g} against {metrics['naive_mse']:.5g}, skill {metrics['skill']:.3g}.</p>"
        )
    if "per_class" in metrics:
        parts.append(
            _table(
                ["class", "precision", "recall", "f1", "support"],
                [
                    [name, s["precision"], s["recall"], s["f1"], s["support"]]
                    for name, s in metrics["per_class"].items()
                ],
            )
        )
        parts.append(_image(Path(result["confusion_matrix_png"])))
    else:
        parts.append(_image(Path(result.get("residuals_png", ""))))
    if result.get("misclassified"):
        parts += ["<h2>Most confidently misclassified</h2>", thumbnail_grid(result["misclassified"])]
    return parts


def thumbnail_grid(mistakes: list[dict], side: int = 96) -> str:
    """The misclassified images as thumbnails, each captioned with its true and predicted class."""
    import io

    from PIL import Image

    from annctl.datasets.images import DEFAULT_MAX_PIXELS, check_header

    cells = []
    for item in mistakes:
        path = Path(item["file"])
        picture = "<em>(unreadable)</em>"
        if path.is_file() and check_header(path, DEFAULT_MAX_PIXELS) is None:
            try:
                with Image.open(path) as opened:
                    image = opened.convert("RGB")
                    image.thumbnail((side, side))
                    buffer = io.BytesIO()
                    image.save(buffer, format="PNG")
                data = base64.b64encode(buffer.getvalue()).decode("ascii")
                picture = f'<img alt="{html.escape(path.name)}" src="data:image/png;base64,{data}">'
            except OSError:
                pass
        caption = (
            f"{html.escape(path.name)}<br>true: <b>{html.escape(item['true'])}</b><br>predicted: "
            f"<b>{html.escape(item['predicted'])}</b> ({item['confidence']:.2f})"
        )
        cells.append(f'<figure title="{html.escape(str(path))}">{picture}<figcaption>{caption}</figcaption></figure>')
    return f'<div class="thumbs">{"".join(cells)}</div>'


def collection_section(root: Path, run_dirs: list[Path], metric: str | None) -> str:
    """A folder of runs: a leaderboard ranked by ``metric`` (for a tune directory by default its search's
    objective, each trial's value from its trial.json), learning curves overlaid, parameters against the metric."""
    from annctl.plots import overlay, parallel_coordinates, read_metrics
    from annctl.runs import compare_runs, headline_test_metric, is_tune_dir, run_row, search_row

    comparison = compare_runs(run_dirs)
    rows = [run_row(run_dir) for run_dir in run_dirs]
    objective = search_row(root) if is_tune_dir(root) else None
    values, lower = _ranking(comparison, run_dirs, objective, metric)
    metric = metric or (objective["metric"] if objective else next(iter(comparison["metrics"]), None))
    order = sorted(
        range(len(run_dirs)),
        key=lambda i: (values[i] is None, (values[i] if lower else -values[i]) if values[i] is not None else 0),
    )
    what = f"{plural(len(run_dirs), 'trial')} of the search" if objective else plural(len(run_dirs), "run")
    parts = [f"<h1>{html.escape(root.name)}: {what}</h1>", "<h2>Leaderboard</h2>"]
    if metric:
        direction = "lowest" if lower else "highest"
        parts.append(f"<p>Ranked by {html.escape(metric)}, {direction} first.</p>")
    header = ["run", "status", *([metric] if metric else []), "test", *comparison["differing_fields"]]
    table_rows = []
    for i in order:
        params = [comparison["differing_fields"][k][i] for k in comparison["differing_fields"]]
        table_rows.append(
            [
                run_dirs[i].name,
                rows[i]["status"],
                *([values[i]] if metric else []),
                headline_test_metric(rows[i]["test_metrics"]),
                *(json.dumps(p) for p in params),
            ]
        )
    parts.append(_table(header, table_rows))
    with tempfile.TemporaryDirectory() as scratch:
        series = [(d.name, read_metrics(d)) for d in run_dirs]
        parts += ["<h2>Validation loss per epoch</h2>", _image(overlay(series, "val_loss", Path(scratch) / "o.png"))]
        differing = {k: v for k, v in comparison["differing_fields"].items() if k != "name"}
        if metric and differing:
            picture = parallel_coordinates(differing, values, metric, Path(scratch) / "p.png")
            parts += [f"<h2>Parameters against {html.escape(metric)}</h2>", _image(picture)]
    return "\n".join(parts)


def _ranking(comparison: dict, run_dirs: list[Path], objective: dict | None, metric: str | None):
    """Each run's value of the ranking metric, and whether lower is better.

    A test metric (`test_mse`) comes from the runs' summaries; a search's objective (its `metric`, by default
    for a tune directory) from each trial's trial.json, in the search's direction.
    """
    if objective and metric in (None, objective["metric"]):
        return [_trial_value(run_dir) for run_dir in run_dirs], objective["direction"] == "minimize"
    metric = metric or next(iter(comparison["metrics"]), None)
    if metric is None:
        return [None] * len(run_dirs), True
    if metric not in comparison["metrics"]:
        available = [*comparison["metrics"], *([objective["metric"]] if objective else [])]
        raise UsageError(f"--metric {metric}: not a test metric of these runs; available: {', '.join(available)}")
    return comparison["metrics"][metric]["values"], metric.split("_")[-1] in LOWER_IS_BETTER


def _trial_value(run_dir: Path) -> float | None:
    """A trial's value of its search's metric (its best epoch's), as the search recorded it."""
    from pydantic import ValidationError

    from annctl.records import TrialOutcome

    try:
        outcome = TrialOutcome.model_validate_json(RunPaths(run_dir).trial.read_bytes())
    except (OSError, ValidationError):
        return None
    return outcome.value if outcome.state in ("complete", "pruned") else None


def write_report(target: Path, output: Path, metric: str | None = None) -> Path:
    if is_run_dir(target):
        body = run_section(target)
        title = target.name
    else:
        run_dirs = expand_runs([str(target)], target)  # a tune directory stands for its trials
        if not run_dirs:
            raise UsageError(
                f"{shown_path(target)}: neither a run directory nor a folder of runs (a run holds {RunPaths.SPEC})"
            )
        body = collection_section(target, run_dirs, metric)
        title = target.name
    page = (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)} — '
        f"annctl report</title><style>{STYLE}</style></head><body>\n{body}\n"
        "<p><small>Generated by annctl report.</small></p></body></html>\n"
    )
    atomic_write_text(output, page)
    return output
