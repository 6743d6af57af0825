"""Rich tables for `annctl backprop`, named like the course (h1, o1, w5, b(h1)); built here, printed by the CLI."""

from __future__ import annotations

from typing import Any

from rich.table import Table

MAX_NAMED = 64  # larger networks get one summary line per layer instead of a row per neuron or weight


def _fmt(value: float) -> str:
    return f"{value:.9g}"


def step_tables(record: dict[str, Any], learning_rate: float) -> list[Table]:
    n_samples = len(record["forward"][0]["z"])
    forward = Table(title=f"step {record['step']}: forward pass", title_justify="left")
    forward.add_column("neuron")
    for s in range(n_samples):
        suffix = f" [{s + 1}]" if n_samples > 1 else ""
        forward.add_column(f"z{suffix}", justify="right")
        forward.add_column(f"a{suffix}", justify="right")
    backward = Table(title=f"step {record['step']}: error terms δ = ∂C/∂z", title_justify="left")
    backward.add_column("neuron")
    for s in range(n_samples):
        backward.add_column(f"δ [{s + 1}]" if n_samples > 1 else "δ", justify="right")
    for layer, deltas in zip(record["forward"], record["delta"], strict=False):
        for j, neuron in enumerate(layer["neurons"][:MAX_NAMED]):
            cells = []
            for s in range(n_samples):
                cells += [_fmt(layer["z"][s][j]), _fmt(layer["a"][s][j])]
            forward.add_row(neuron, *cells)
            backward.add_row(neuron, *[_fmt(deltas["delta"][s][j]) for s in range(n_samples)])
    update = Table(title=f"step {record['step']}: gradients and update (η = {learning_rate:g})", title_justify="left")
    for column in ("parameter", "connects", "value", "∂C/∂·", "updated"):
        update.add_column(column, justify="left" if column in ("parameter", "connects") else "right")
    entries = record["weights"] + record["biases"]
    for entry in entries[:MAX_NAMED]:
        name = entry["name"]
        before, after = record["before"][name], record["updated"][name]
        note = " (fixed)" if entry.get("fixed") else ""
        update.add_row(name, entry["connects"], _fmt(before), _fmt(record["gradients"][name]), _fmt(after) + note)
    if len(entries) > MAX_NAMED:
        update.add_row("…", f"{len(entries) - MAX_NAMED} more in --json", "", "", "")
    return [forward, backward, update]


def check_line(check: dict[str, Any]) -> str:
    worst = check["max_difference"]
    detail = ", ".join(f"{key} {value:.1e}" for key, value in worst.items())
    if check["agrees"]:
        return f"[green]✓ agrees with TensorFlow's GradientTape[/green] (largest difference: {detail})"
    return (
        f"[bold red]✗ DISAGREES with TensorFlow beyond {check['tolerance']:.0e}[/bold red] "
        f"(largest difference: {detail})"
    )


def final_table(result: dict[str, Any]) -> Table:
    final = result["final"]
    table = Table(title=f"after {final['after_steps']} step(s)", title_justify="left", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value")
    table.add_row("loss", _fmt(final["loss"]))
    names = result["neurons"][-1]
    for s, row in enumerate(final["outputs"][:8]):
        label = "outputs" if len(final["outputs"]) == 1 else f"outputs [{s + 1}]"
        table.add_row(label, ", ".join(f"{n} = {_fmt(v)}" for n, v in zip(names, row, strict=False)))
    return table


# -- backpropagation through time (annctl.backprop.through_time) -----------------------------------------------


def _cell(values: list) -> str:
    """One table cell for a value per sample (samples separated by `;`), each a number or a short vector."""
    parts = []
    for sample in values:
        flat = [float(v) for v in (sample if isinstance(sample, list) else [sample])]
        parts.append(", ".join(_fmt(v) for v in flat))
    return "; ".join(parts)


def _matrix_cell(values: list) -> str:
    """A per-sample square matrix: a number for one unit, else rows in brackets."""
    shown = []
    for matrix in values:
        if len(matrix) == 1:
            shown.append(_fmt(matrix[0][0]))
        else:
            shown.append(" ".join("[" + ", ".join(_fmt(v) for v in row) + "]" for row in matrix))
    return "; ".join(shown)


def through_time_tables(record: dict[str, Any], learning_rate: float) -> list[Table]:
    """Forward through time, backward through time (with the vanishing factor), gradients and the update."""
    steps = record["time"]
    forward = Table(title=f"step {record['step']}: forward, t = 1 … {len(steps)}  (h_0 = 0)", title_justify="left")
    for column in ("t", "x_t", "z_t = x_t·W + h_{t-1}·U + b", "h_t = f(z_t)"):
        forward.add_column(column, justify="left" if column == "t" else "right")
    for item in steps:
        forward.add_row(str(item["t"]), _cell(item["x"]), _cell(item["z"]), _cell(item["h"]))
    output = record["output"]
    forward.add_row("out", "", "o = h_T·V + c: " + _cell(output["o"]), "a = g(o): " + _cell(output["a"]))
    backward = Table(title=f"step {record['step']}: backward through time, t = {len(steps)} … 1", title_justify="left")
    for column in ("t", "∂E/∂h_t", "δ_t = ∂E/∂z_t", "∂h_t/∂h_t−1", "∂h_T/∂h_t"):
        backward.add_column(column, justify="left" if column == "t" else "right")
    shares = Table(
        title=f"step {record['step']}: each step's share of the gradients (x_tᵀδ_t, h_t−1ᵀδ_t, δ_t)",
        title_justify="left",
    )
    for column in ("t", "→ ∂E/∂W", "→ ∂E/∂U", "→ ∂E/∂b"):
        shares.add_column(column, justify="left" if column == "t" else "right")
    for item in reversed(steps):
        share = item["contribution"]
        backward.add_row(
            str(item["t"]),
            _cell(item["grad_h"]),
            _cell(item["delta"]),
            _matrix_cell(item["jacobian"]),
            _matrix_cell(item["factor"]),
        )
        shares.add_row(str(item["t"]), _cell(share["W"]), _cell(share["U"]), _cell(share["b"]))
    update = Table(
        title=f"step {record['step']}: gradients summed over time, and the update (η = {learning_rate:g})",
        title_justify="left",
    )
    for column in ("parameter", "value", "∂E/∂·", "updated"):
        update.add_column(column, justify="left" if column == "parameter" else "right")
    for name, gradient in list(record["gradients"].items())[:MAX_NAMED]:
        update.add_row(name, _fmt(record["before"][name]), _fmt(gradient), _fmt(record["updated"][name]))
    return [forward, backward, shares, update]


def vanishing_line(record: dict[str, Any]) -> str:
    """The product of ∂h_t/∂h_{t-1} over the steps: how much of the last step's error reaches the first."""
    steps = record["time"]
    first = steps[0]["factor"]
    if len(first[0]) == 1 and len(first) == 1:
        factors = " × ".join(_fmt(item["jacobian"][0][0][0]) for item in steps[1:])
        value = _fmt(first[0][0][0])
        product = f"{factors} = {value}" if factors else value
        return f"vanishing factor ∂h_T/∂h_1 = Π_(t=2..T) U·f′(z_t) = {product}"
    return f"vanishing factor: largest ‖∂h_T/∂h_1‖ over the samples = {_fmt(record['vanishing_factor'])}"


def through_time_final(result: dict[str, Any]) -> Table:
    final = result["final"]
    table = Table(title=f"after {final['after_steps']} step(s)", title_justify="left", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value")
    table.add_row("loss", _fmt(final["loss"]))
    table.add_row("outputs", _cell(final["outputs"][:8]))
    table.add_row("parameters", ", ".join(f"{k} = {_fmt(v)}" for k, v in list(final["parameters"].items())[:MAX_NAMED]))
    return table
