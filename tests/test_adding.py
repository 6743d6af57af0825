"""The adding problem (annctl/datasets/adding.py): the generated sequences, the constant baseline reported beside
the model, the per-time-step gradient norms (output.step_gradient_norms) and their picture, the shipped
adding_* experiments, and — slow — the lesson itself: an LSTM learns it, a plain recurrence does not."""

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from annctl.cli import app
from annctl.config import load_spec, spec_from_text
from annctl.datasets.adding import Adding, generate
from annctl.errors import SpecError
from annctl.training import train
from annctl.training.callbacks.step_gradients import recorded_steps

from .conftest import EXPERIMENTS, write_experiment

runner = CliRunner()


def adding_text(cell: str = "simple_rnn", steps: int = 12, samples: int = 120, epochs: int = 2, **output) -> str:
    lines = [
        "name: adding_tiny",
        "seed: 3",
        f"dataset: {{name: adding, steps: {steps}, samples: {samples}}}",
        f"model: {{architecture: rnn, cell: {cell}, units: [4]}}",
        f"training: {{epochs: {epochs}, batch_size: 16}}",
        "output: {" + ", ".join(f"{k}: {str(v).lower()}" for k, v in {"tensorboard": False, **output}.items()) + "}",
    ]
    return "\n".join(lines) + "\n"


def metrics_rows(run_dir) -> list[dict[str, float]]:
    with open(Path(run_dir) / "metrics.csv") as handle:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(handle)]


# -- the data ---------------------------------------------------------------------------------------------------


def test_each_sequence_has_one_marker_per_half_and_the_target_is_their_sum():
    x, y = generate(10, 500, np.random.default_rng(0))
    assert x.shape == (500, 10, 2) and y.shape == (500,) and x.dtype == y.dtype == np.float32
    values, markers = x[..., 0], x[..., 1]
    assert ((values >= 0) & (values < 1)).all()
    assert set(np.unique(markers)) == {0.0, 1.0}
    assert (markers[:, :5].sum(axis=1) == 1).all() and (markers[:, 5:].sum(axis=1) == 1).all()
    np.testing.assert_allclose(y, (values * markers).sum(axis=1), rtol=1e-6)
    # the first marker falls anywhere in the first half, the second anywhere in the second
    assert set(markers[:, :5].argmax(axis=1)) == set(range(5)) and set(markers[:, 5:].argmax(axis=1)) == set(range(5))


def test_the_constant_baseline_is_one_sixth():
    """Always 1.0: the sum of two uniform values has mean 1 and variance 2/12, so its MSE is 1/6 ≈ 0.167."""
    _, y = generate(6, 200_000, np.random.default_rng(1))
    assert np.mean((y - 1.0) ** 2) == pytest.approx(1 / 6, abs=0.002)
    data = Adding(steps=6, samples=1000).load(seed=1)
    assert data.test.naive_forecast().tolist() == [1.0] * data.test.size


def test_the_splits_and_their_sizes_follow_the_fields_and_the_seed_decides_the_sequences():
    spec = Adding(steps=20, samples=1000, validation_split=0.2, test_split=0.1)
    data = spec.load(seed=5)
    assert (data.train.size, data.validation.size, data.test.size) == (700, 200, 100)
    assert data.description.shape == [20, 2] and data.description.feature_names == ["value", "marker"]
    assert data.task == "regression" and data.description.details["baseline"] == "always 1.0"
    again, other = spec.load(seed=5), spec.load(seed=6)
    for name in ("train", "validation", "test"):
        np.testing.assert_array_equal(data.split(name).x, again.split(name).x)
        np.testing.assert_array_equal(data.split(name).y, again.split(name).y)
    assert not np.array_equal(data.train.x, other.train.x)
    # the splits cut the generated sequences in order: none is in two splits, none is lost
    x, y = generate(20, 1000, np.random.default_rng(5))
    np.testing.assert_array_equal(np.concatenate([data.train.x, data.validation.x, data.test.x]), x)
    np.testing.assert_array_equal(np.concatenate([data.train.y, data.validation.y, data.test.y]), y)
    assert Adding(steps=20, samples=1000, max_train_samples=50).load(seed=5).train.size == 50


@pytest.mark.parametrize(
    "fields,message",
    [
        ("steps: 1", "adding.yaml:2:25: dataset.steps: Input should be greater than or equal to 2 (got 1)"),
        ("samples: 5", "adding.yaml:2:25: dataset.samples: 5 sequences split into 5 training, 0 validation and 0 test"),
        ("validation_split: 0.5, test_split: 0.5", "validation_split + test_split: 0.5 + 0.5 leaves no training"),
    ],
)
def test_bad_fields_are_one_line_each_with_exit_code_2(tmp_path, fields, message):
    path = tmp_path / "adding.yaml"
    path.write_text(f"name: bad\ndataset: {{name: adding, {fields}}}\nmodel: {{architecture: rnn}}\n")
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 2 and message in result.stderr and "Traceback" not in result.output


# -- the baseline beside the model -----------------------------------------------------------------------------


def test_the_summary_and_evaluate_report_the_constant_baseline(tmp_path):
    path = tmp_path / "adding.yaml"
    path.write_text(adding_text(epochs=1))
    result = runner.invoke(app, ["train", str(path)], env={"COLUMNS": "200"})  # the table unwrapped
    assert result.exit_code == 0, result.output
    summary = json.loads((Path(result.stdout.strip()) / "summary.json").read_text())
    assert summary["baseline"] == "always 1.0" and summary["beats_naive"] is False  # one epoch of 4 units
    y = Adding(steps=12, samples=120).load(seed=3).test.y
    assert summary["test_metrics"]["naive_mse"] == pytest.approx(float(np.mean((y - 1.0) ** 2)), rel=1e-5)
    assert "baseline (always 1.0)" in result.stderr and "worse than answering always 1.0" in result.stderr
    assert "repeating the last value" not in result.stderr
    evaluated = runner.invoke(app, ["evaluate", summary["run_dir"]], env={"COLUMNS": "200"})
    assert evaluated.exit_code == 0 and "baseline (always 1.0)" in evaluated.stdout
    report = tmp_path / "report.html"
    assert runner.invoke(app, ["report", summary["run_dir"], "-o", str(report)]).exit_code == 0
    assert "not</strong> beat the naive baseline (always 1.0)" in report.read_text()


# -- the gradient through time ---------------------------------------------------------------------------------


def test_the_recorded_steps_run_from_the_first_to_the_last():
    assert recorded_steps(150) == [1, 16, 31, 46, 61, 75, 90, 105, 120, 135, 150]
    assert recorded_steps(5) == [1, 2, 3, 4, 5] and recorded_steps(1) == [1]


def test_step_gradient_norms_are_the_gradient_reaching_each_input_step(tmp_path):
    """The last epoch's recorded norms equal ‖∂loss/∂x_t‖ of the final model on the first training sequences,
    computed here independently; and recording them leaves the training itself unchanged."""
    import keras
    import tensorflow as tf

    summary = train(spec_from_text(adding_text(step_gradient_norms=True), "<steps>"), tmp_path / "runs")
    rows = metrics_rows(summary.run_dir)
    keys = [f"grad_norm_step/{t}" for t in recorded_steps(12)]
    assert all(key in row and row[key] > 0 for row in rows for key in keys)
    model = keras.saving.load_model(Path(summary.run_dir) / "model.keras")
    data = Adding(steps=12, samples=120).load(seed=3)
    x = tf.constant(data.train.x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = keras.ops.mean(keras.losses.mean_squared_error(data.train.y[:, None], model(x)))
    norms = np.sqrt((tape.gradient(loss, x).numpy() ** 2).sum(axis=(0, 2)))
    expected = [norms[t - 1] for t in recorded_steps(12)]
    np.testing.assert_allclose([rows[-1][key] for key in keys], expected, rtol=1e-4)
    plain = train(spec_from_text(adding_text(), "<plain>"), tmp_path / "runs")
    assert [row["loss"] for row in metrics_rows(plain.run_dir)] == [row["loss"] for row in rows]


def test_step_gradient_norms_need_a_sequence_dataset(tmp_path):
    path = write_experiment(tmp_path, "regression")
    path.write_text(path.read_text() + "output:\n  step_gradient_norms: true\n")
    with pytest.raises(SpecError, match="step_gradient_norms: time steps need a sequence dataset .* tabular inputs"):
        load_spec(path)


def test_plot_gradients_draws_the_norm_against_the_time_step(tmp_path, monkeypatch):
    """One panel per run on one log scale, a curve per picked epoch with the recorded steps on the x axis."""
    import annctl.plots as plots

    drawn, save = {}, plots._save

    def keep(figure, plt, path):
        drawn["axes"] = figure.axes
        return save(figure, plt, path)

    monkeypatch.setattr(plots, "_save", keep)
    runs = [
        (name, [{"epoch": e, **{f"grad_norm_step/{t}": scale * 10.0 ** (t / 5) for t in (1, 5, 10)}} for e in (1, 2)])
        for name, scale in (("simple", 1e-6), ("lstm", 1.0))
    ]
    runs[0][1][1]["grad_norm_step/1"] = 0.0  # underflowed: no place on a log scale
    path = plots.step_gradient_panels(runs, tmp_path / "steps.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    simple, lstm = drawn["axes"]
    assert simple.get_yscale() == "log" and simple.get_shared_y_axes().joined(simple, lstm)
    curves = [line for line in simple.get_lines() if line.get_label().startswith("epoch")]
    assert [line.get_label() for line in curves] == ["epoch 1", "epoch 2"]
    assert list(curves[0].get_xdata()) == [1, 5, 10] and list(curves[1].get_xdata()) == [5, 10]
    assert curves[0].get_ydata()[0] == pytest.approx(1e-6 * 10**0.2)
    # the 0 is drawn as ▼ at the bottom: a tenth of the smallest norm drawn, and said in the legend
    zeros = [line for line in simple.get_lines() if line.get_marker() == "v" and len(line.get_xdata())]
    assert [(list(z.get_xdata()), list(z.get_ydata())) for z in zeros] == [([1], [pytest.approx(1e-7 * 10**0.2)])]
    assert "0 (below float32)" in [text.get_text() for text in simple.get_legend().get_texts()]
    assert "0 (below float32)" not in [text.get_text() for text in lstm.get_legend().get_texts()]


def test_annctl_plot_gradients_on_step_gradient_runs(tmp_path):
    """As users run it: a real `annctl plot --gradients` process on a run that recorded step norms, and the
    message for a run that recorded none."""
    recorded = train(spec_from_text(adding_text(step_gradient_norms=True), "<a>"), tmp_path / "runs")
    plain = train(spec_from_text(adding_text(), "<b>"), tmp_path / "runs")
    out = tmp_path / "gradients.png"
    command = [sys.executable, "-m", "annctl", "plot", recorded.run_dir, "--gradients", "-o", str(out)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    command[4] = plain.run_dir
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "or, on sequences, `output.step_gradient_norms: true`" in result.stderr
    assert "Traceback" not in result.stderr


# -- the shipped experiments and the lesson ---------------------------------------------------------------------

SHIPPED = ("adding_simple_rnn", "adding_lstm", "adding_gru")


def test_the_shipped_adding_experiments_differ_only_in_the_cell():
    specs = {stem: yaml.safe_load((EXPERIMENTS / f"{stem}.yaml").read_text()) for stem in SHIPPED}
    for stem, spec in specs.items():
        assert spec.pop("name") == stem and load_spec(EXPERIMENTS / f"{stem}.yaml").output.step_gradient_norms
        assert spec["model"].pop("cell") == stem.removeprefix("adding_")
    assert specs["adding_simple_rnn"] == specs["adding_lstm"] == specs["adding_gru"]


@pytest.mark.slow
def test_an_lstm_learns_the_adding_problem_and_a_simple_rnn_does_not(tmp_path):
    """The lesson, shorter than shipped (100 steps, 20 epochs: about half a minute on 2 quiet cores): the
    shipped LSTM gets far below the baseline's 0.167 (0.0006 measured; it finds the markers in epoch 10), the
    plain recurrence stays near it (0.156), and the gradient reaching its first step is orders of magnitude
    smaller than at its last (1.8e-7 of it; the LSTM's: 0.34)."""
    results = {}
    for cell in ("simple_rnn", "lstm"):
        spec = load_spec(EXPERIMENTS / "adding_lstm.yaml", [f"model.cell={cell}", *LESSON])
        summary = train(spec, tmp_path / "runs")
        last = metrics_rows(summary.run_dir)[-1]
        results[cell] = (summary.test_metrics["mse"], last["grad_norm_step/1"] / last[f"grad_norm_step/{LESSON_STEPS}"])
    assert results["lstm"][0] < 0.02 and results["simple_rnn"][0] > 0.1, results
    assert results["simple_rnn"][1] < 1e-3 * results["lstm"][1], results


LESSON_STEPS = 100
LESSON = [f"dataset.steps={LESSON_STEPS}", "training.epochs=20"]
