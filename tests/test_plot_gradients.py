"""Issue 29, item 14: `plot --gradients` of an exploding run shows the explosion — a log scale, markers on every
series (one epoch is one point), the epoch where the loss or a norm went NaN or infinite — without a warning."""

from __future__ import annotations

import csv
import math
import subprocess
from pathlib import Path

from annctl.plots import first_non_finite_epoch, gradient_figure, read_metrics
from tests.terminal import annctl_command

# metrics.csv of experiments/memory_exploding.yaml as annctl train writes it (seed 42): NaN in epoch 1
EXPLODING = [
    {
        "epoch": 1,
        "loss": "nan",
        "accuracy": 0.5166,
        "val_loss": "nan",
        "val_accuracy": 0.4709,
        "grad_norm/simple_rnn_1": "nan",
        "grad_norm/output": "nan",
        "grad_norm_max/simple_rnn_1": 2498.056640625,
        "grad_norm_max/output": 171.26376342773438,
        "learning_rate": 0.05,
        "epoch_seconds": 6.9,
    }
]


def write_run(root: Path, name: str, rows: list[dict]) -> Path:
    run_dir = root / name
    run_dir.mkdir(parents=True)
    (run_dir / "spec.yaml").write_text(f"name: {name}\n")
    with open(run_dir / "metrics.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return run_dir


def growing(epochs: int, broken: int) -> list[dict]:
    """A norm growing tenfold an epoch until it is infinite in epoch ``broken``."""
    rows = []
    for epoch in range(1, epochs + 1):
        norm = "inf" if epoch >= broken else 10.0**epoch
        rows.append({"epoch": epoch, "loss": 1.0 if epoch < broken else "nan", "grad_norm/rnn": norm})
        rows[-1]["grad_norm_max/rnn"] = "inf" if epoch >= broken else 3 * 10.0**epoch
    return rows


def test_the_exploding_run_shows_its_explosion(tmp_path):
    run_dir = write_run(tmp_path, "memory_exploding", EXPLODING)
    rows = read_metrics(run_dir)
    assert first_non_finite_epoch(rows) == 1
    figure = gradient_figure([(run_dir.name, rows)])
    (axis,) = figure.axes
    assert axis.get_yscale() == "log"
    drawn = [line for line in axis.get_lines() if line.get_label().startswith(("simple_rnn_1", "output"))]
    assert {line.get_label() for line in drawn} == {"simple_rnn_1 max", "output max"}  # the means are NaN
    assert all(line.get_marker() not in (None, "None", "", " ") for line in drawn)  # one point each: visible
    low, high = axis.get_xlim()
    assert low <= 0.5 and high >= 1.5  # not 0.96–1.04 around the one epoch
    (broken,) = [line for line in axis.get_lines() if "NaN or infinite" in line.get_label()]
    assert broken.get_label() == "NaN or infinite in epoch 1" and list(broken.get_xdata()) == [1, 1]
    assert [text.get_text() for text in axis.get_legend().get_texts()]  # a legend, with entries


def test_a_norm_growing_to_infinity_is_drawn_up_to_the_epoch_it_broke(tmp_path):
    rows = read_metrics(write_run(tmp_path, "growing", growing(5, broken=4)))
    assert first_non_finite_epoch(rows) == 4
    (axis,) = gradient_figure([("growing", rows)]).axes
    (mean,) = [line for line in axis.get_lines() if line.get_label() == "rnn mean"]
    assert list(mean.get_xdata()) == [1, 2, 3] and list(mean.get_ydata()) == [10.0, 100.0, 1000.0]
    assert axis.get_ylim()[1] >= 3000  # the largest finite norm is inside the panel
    assert not any(math.isinf(y) for line in axis.get_lines() for y in line.get_ydata() if isinstance(y, float))


def test_plot_gradients_of_the_exploding_run_warns_nothing(tmp_path):
    run_dir = write_run(tmp_path, "memory_exploding", EXPLODING)
    output = tmp_path / "gradients.png"
    result = subprocess.run(
        [*annctl_command(), "plot", str(run_dir), "--gradients", "-o", str(output)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # no "No artists with labels found to put in legend"
    assert output.read_bytes().startswith(b"\x89PNG")
