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
