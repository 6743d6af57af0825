"""Pictures of runs: learning curves like the course's `pd.DataFrame(history.history).plot()`, overlays of
several runs, and the evaluation figures. matplotlib is imported inside each function (Agg backend)."""

from __future__ import annotations

import csv
import math
from pathlib import Path

from annctl.fileio import atomic_path
from annctl.rundir import RunPaths


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def read_metrics(run_dir: Path) -> list[dict[str, float]]:
    try:
        with open(RunPaths(run_dir).metrics, newline="", encoding="utf-8") as handle:
            return [{k: float(v) for k, v in row.items() if v not in ("", None)} for row in csv.DictReader(handle)]
    except OSError:
        return []


def learning_curves(rows: list[dict[str, float]], path: Path, title: str = "") -> Path | None:
    """One panel per metric (loss first): train and validation against the epoch."""
    if not rows:
        return None
    plt = _pyplot()
    names = [
        k
        for k in rows[0]
        if k not in ("epoch", "learning_rate", "epoch_seconds") and not k.startswith(("val_", "grad_norm"))
    ]
    names.sort(key=lambda k: (k != "loss", k))
    figure, axes = plt.subplots(1, len(names), figsize=(4.5 * len(names), 3.6), squeeze=False)
    epochs = [row["epoch"] for row in rows]
    for axis, name in zip(axes[0], names):
        axis.plot(epochs, [row.get(name) for row in rows], marker=".", label=f"train {name}")
        if f"val_{name}" in rows[0]:
            axis.plot(epochs, [row.get(f"val_{name}") for row in rows], marker=".", label=f"validation {name}")
        axis.set_xlabel("epoch")
        axis.set_title(name)
        axis.grid(True, alpha=0.3)
        axis.legend()
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    return _save(figure, plt, path)


def plot_references(references: list[str], root: Path, metric: str, path: Path) -> Path:
    """`annctl plot RUN...`: runs, or folders of runs (a runs root, a tune directory's trials)."""
    from annctl.errors import UsageError
    from annctl.rundir import expand_runs

    run_dirs = expand_runs(references, root)
    if not run_dirs:
        raise UsageError(f"{', '.join(references)}: no runs in there to plot (a run directory holds spec.yaml)")
    return plot_runs(run_dirs, metric, path)


def plot_runs(run_dirs: list[Path], metric: str, path: Path) -> Path:
    """One metrics.csv column of several runs; an unknown column lists the available ones."""
    from annctl.errors import UsageError

    series = [(run_dir.name, read_metrics(run_dir)) for run_dir in run_dirs]
    available = sorted({key for _, rows in series for row in rows for key in row} - {"epoch"})
    if not available:
        raise UsageError(f"--metric {metric}: these runs have no epoch in their metrics.csv yet")
    if metric not in available:
        raise UsageError(f"--metric {metric}: not in these runs' metrics.csv; available: {', '.join(available)}")
    return overlay(series, metric, path)


def plot_gradients(references: list[str], root: Path, path: Path) -> Path:
    """`annctl plot RUN... --gradients`: each layer's gradient norm per epoch, one panel per run."""
    from annctl.errors import UsageError
    from annctl.rundir import expand_runs

    run_dirs = expand_runs(references, root)
    if not run_dirs:
        raise UsageError(f"{', '.join(references)}: no runs in there to plot (a run directory holds spec.yaml)")
    series = [(run_dir.name, read_metrics(run_dir)) for run_dir in run_dirs]
    if all(any(key.startswith("grad_norm_step/") for row in rows for key in row) for _, rows in series):
        return step_gradient_panels(series, path)  # output.step_gradient_norms: the gradient through time
    for name, rows in series:
        if not any(key.startswith("grad_norm/") for row in rows for key in row):
            raise UsageError(
                f"--gradients: {name} logged no gradient norms; train it with `output.gradient_norms: true` "
                "(or, on sequences, `output.step_gradient_norms: true`)"
            )
    return gradient_panels(series, path)


def step_gradient_panels(runs: list[tuple[str, list[dict[str, float]]]], path: Path, curves: int = 6) -> Path:
    """The gradient reaching each time step, ‖∂loss/∂x_t‖ against t, one panel per run on one log scale, a
    curve for each of ``curves`` epochs from the first to the last (coloured early dark to late bright): a
    plain recurrence's norm falls by orders of magnitude towards the first step, a gated cell's stays up. A norm
    of exactly 0 (smaller than float32 holds) has no place on a log scale: it is drawn as ▼ at the bottom."""
    plt = _pyplot()
    picked_rows = []
    for _, rows in runs:
        measured = [row for row in rows if any(key.startswith("grad_norm_step/") for key in row)]
        picked = sorted({round(i * (len(measured) - 1) / max(1, curves - 1)) for i in range(curves)})
        picked_rows.append([measured[index] for index in picked] if measured else [])
    values = [v for rows in picked_rows for row in rows for k, v in row.items() if k.startswith("grad_norm_step/")]
    floor = min((v for v in values if v > 0), default=1.0) / 10  # where an underflowed 0 is drawn
    figure, axes = plt.subplots(1, len(runs), figsize=(6.5 * len(runs), 4.5), squeeze=False, sharey=True)
    colours = plt.get_cmap("viridis")
    for axis, (label, _), rows in zip(axes[0], runs, picked_rows):
        underflow = False
        for i, row in enumerate(rows):
            colour = colours(i / max(1, len(rows) - 1))
            points = sorted((int(k.split("/", 1)[1]), v) for k, v in row.items() if k.startswith("grad_norm_step/"))
            shown = [(step, value) for step, value in points if value > 0]
            if shown:
                axis.plot(*zip(*shown), "-", color=colour, marker=".", label=f"epoch {int(row['epoch'])}")
            zeros = [step for step, value in points if value == 0]
            if zeros:
                underflow = True
                axis.plot(zeros, [floor] * len(zeros), "v", color=colour, linestyle="none")
        if underflow:
            axis.plot([], [], "v", color="gray", linestyle="none", label="0 (below float32)")
        axis.set_yscale("log")
        axis.set_xlabel("time step t (1 = first)")
        axis.set_title(label, fontsize="small")
        axis.grid(True, alpha=0.3, which="both")
        axis.legend(fontsize="x-small")
    axes[0][0].set_ylabel("‖∂loss/∂x_t‖ (one fixed batch)")
    figure.tight_layout()
    return _save(figure, plt, path)


def gradient_panels(runs: list[tuple[str, list[dict[str, float]]]], path: Path) -> Path:
    """`plot --gradients`: one panel per run (gradient_figure), saved as a PNG."""
    plt = _pyplot()
    return _save(gradient_figure(runs), plt, path)


def gradient_figure(runs: list[tuple[str, list[dict[str, float]]]]):
    """One panel per run, each drawn by the panel functions of GRADIENT_PANELS (more can be added there)."""
    plt = _pyplot()
    figure, axes = plt.subplots(1, len(runs), figsize=(6.5 * len(runs), 4.5), squeeze=False, sharey=True)
    for axis, (label, rows) in zip(axes[0], runs):
        for draw in GRADIENT_PANELS:
            draw(axis, rows)
        axis.set_title(label, fontsize="small")
        if axis.get_legend_handles_labels()[0]:  # matplotlib warns about a legend without entries
            axis.legend(fontsize="x-small")
    axes[0][0].set_ylabel("gradient L2 norm")
    figure.tight_layout()
    return figure


def epoch_norms(axis, rows: list[dict[str, float]]) -> None:
    """Mean (solid, dots) and largest (dashed, triangles) gradient L2 norm of each layer against the epoch, on a
    log scale (the norms of an exploding or a vanishing gradient span orders of magnitude), the layers coloured
    from input (dark) to output; every point marked, as a run that exploded may have one epoch. The epoch where
    the loss or a norm first became NaN or infinite is a red line: a log scale has no place for those values."""
    from matplotlib.ticker import MaxNLocator

    layers = list(dict.fromkeys(k.split("/", 1)[1] for row in rows for k in row if k.startswith("grad_norm/")))
    colours = _pyplot().get_cmap("viridis")
    for i, layer in enumerate(layers):
        colour = colours(i / max(1, len(layers) - 1))
        for key, style, marker, what in (("grad_norm", "-", "o", "mean"), ("grad_norm_max", "--", "^", "max")):
            values = [(row["epoch"], row.get(f"{key}/{layer}", math.nan)) for row in rows]
            points = [(epoch, value) for epoch, value in values if math.isfinite(value) and value > 0]
            if points:
                axis.plot(*zip(*points), style, color=colour, marker=marker, markersize=6, label=f"{layer} {what}")
    broken = first_non_finite_epoch(rows)
    if broken is not None:
        axis.axvline(
            broken, color="tab:red", linestyle=":", linewidth=2, zorder=1, label=f"NaN or infinite in epoch {broken:g}"
        )  # behind the points of that epoch
    if any(line.get_ydata().size for line in axis.get_lines() if not line.get_label().startswith("NaN")):
        axis.set_yscale("log")
    epochs = [row["epoch"] for row in rows]
    if epochs:
        axis.set_xlim(min(epochs) - 0.5, max(epochs) + 0.5)
    axis.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))  # epochs, even only one
    axis.set_xlabel("epoch")
    axis.grid(True, alpha=0.3, which="both")


def first_non_finite_epoch(rows: list[dict[str, float]]) -> float | None:
    """The first epoch whose loss or a gradient norm is NaN or infinite (None: none is)."""
    for row in rows:
        if any(not math.isfinite(v) for k, v in row.items() if k == "loss" or k.startswith("grad_norm")):
            return row["epoch"]
    return None


# What `plot --gradients` draws in each run's panel, in order.
GRADIENT_PANELS = [epoch_norms]


def overlay(runs: list[tuple[str, list[dict[str, float]]]], metric: str, path: Path) -> Path:
    """One metric of several runs on one chart."""
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(7, 4.5))
    for label, rows in runs:
        points = [(row["epoch"], row[metric]) for row in rows if metric in row]
        if points:
            axis.plot(*zip(*points), marker=".", label=label)
    axis.set_xlabel("epoch")
    axis.set_ylabel(metric)
    axis.grid(True, alpha=0.3)
    axis.legend(fontsize="small")
    figure.tight_layout()
    return _save(figure, plt, path)


def residuals(y_true, y_pred, path: Path) -> Path:
    """Predicted against true values, for regression runs."""
    import numpy as np

    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(5, 5))
    y_true, y_pred = np.ravel(y_true), np.ravel(y_pred)
    axis.scatter(y_true, y_pred, s=4, alpha=0.4)
    low, high = float(min(y_true.min(), y_pred.min())), float(max(y_true.max(), y_pred.max()))
    axis.plot([low, high], [low, high], color="gray", linewidth=1)
    axis.set_xlabel("true")
    axis.set_ylabel("predicted")
    axis.set_title("predicted vs true")
    figure.tight_layout()
    return _save(figure, plt, path)


def confusion_matrix(labels: list[str], matrix: list[list[int]], accuracy: float, path: Path) -> Path:
    plt = _pyplot()
    size = max(4.0, 0.6 * len(labels) + 2)
    figure, axes = plt.subplots(figsize=(size, size))
    image = axes.imshow(matrix, cmap="Blues")
    axes.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    axes.set_yticks(range(len(labels)), labels)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title(f"accuracy {accuracy:.4f}")
    peak = max(max(row) for row in matrix) or 1
    for i, row in enumerate(matrix):
        for j, count in enumerate(row):
            axes.text(j, i, str(count), ha="center", va="center", color="white" if count > peak / 2 else "black")
    figure.colorbar(image)
    figure.tight_layout()
    return _save(figure, plt, path)


def _save(figure, plt, path: Path) -> Path:
    with atomic_path(path, suffix=".png") as tmp:
        figure.savefig(tmp, dpi=100)
    plt.close(figure)
    return path


def parallel_coordinates(params: dict[str, list], values: list, metric: str, path: Path) -> Path:
    """Each run a line across its parameters (scaled to [0, 1]; text values as categories), coloured by metric."""
    plt = _pyplot()
    names = list(params)
    columns = []
    for name in names:
        raw = params[name]
        numeric = [v for v in raw if isinstance(v, (int, float)) and not isinstance(v, bool)]
        if len(numeric) == len(raw):
            low, high = min(numeric), max(numeric)
            columns.append([(v - low) / (high - low) if high > low else 0.5 for v in raw])
        else:
            categories = sorted({str(v) for v in raw})
            step = 1 / max(1, len(categories) - 1)
            columns.append([categories.index(str(v)) * step if len(categories) > 1 else 0.5 for v in raw])
    figure, axis = plt.subplots(figsize=(min(16, max(6, 1.2 * len(names))), 4.5))
    present = [v for v in values if v is not None]
    low, high = (min(present), max(present)) if present else (0, 1)
    colormap = plt.get_cmap("viridis")
    for i, value in enumerate(values):
        color = "lightgray" if value is None else colormap((value - low) / (high - low) if high > low else 0.5)
        axis.plot(range(len(names)), [column[i] for column in columns], color=color, alpha=0.8, marker="o")
    axis.set_xticks(range(len(names)), names, rotation=20, ha="right")
    axis.set_yticks([])
    mappable = plt.cm.ScalarMappable(cmap=colormap, norm=plt.Normalize(low, high))
    figure.colorbar(mappable, ax=axis, label=metric)
    figure.tight_layout()
    return _save(figure, plt, path)
