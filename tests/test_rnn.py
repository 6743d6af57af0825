"""The `rnn` architecture (every cell, stacked, bidirectional, images row by row, explicit weights) and
`annctl backprop` through time: the course's formulas against GradientTape."""

import json
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from annctl.backprop import run_backprop
from annctl.cli import app
from annctl.config import load_spec, spec_from_text
from annctl.errors import SpecError
from annctl.training import train

from .conftest import EXPERIMENTS

runner = CliRunner()


def series_csv(path: Path, rows: int = 50) -> Path:
    rng = np.random.default_rng(1)
    lines = ["day,value,weather"]
    for i in range(rows):
        day = (date(2024, 1, 1) + timedelta(days=i)).isoformat()
        lines.append(f"{day},{np.sin(i / 4) + rng.normal(0, 0.1):.3f},{['sun', 'rain'][i % 2]}")
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.slow
@pytest.mark.parametrize(
    "model",
    [
        "{architecture: rnn, cell: simple_rnn, units: [3]}",
        "{architecture: rnn, cell: lstm, units: [3, 2], dropout: 0.2, recurrent_dropout: 0.1}",
        "{architecture: rnn, cell: gru, units: [2], bidirectional: true, dense_units: [3]}",
    ],
    ids=["simple_rnn", "lstm-stacked-dropout", "gru-bidirectional"],
)
def test_every_cell_trains_saves_and_reloads(model, tmp_path):
    import keras

    from annctl.modelio import load_run_model

    path = series_csv(tmp_path / "s.csv")
    text = (
        f"name: cells\ndataset: {{name: timeseries, path: {path}, time: day, target: value, "
        f"features: [value, weather], window: 4}}\nmodel: {model}\ntraining: {{epochs: 1, batch_size: 8}}\n"
    )
    summary = train(spec_from_text(text, "<cells>"), tmp_path / "runs")
    assert summary.status == "completed" and np.isfinite(summary.test_metrics["mse"])
    run_dir = Path(summary.run_dir)
    reloaded = load_run_model(run_dir)
    names = [layer.name for layer in reloaded.layers]
    spec = load_spec(run_dir / "spec.yaml")
    cell = spec.model.cell
    assert f"{cell}_1" in names or "bidirectional_1" in names
    if spec.model.bidirectional:
        assert isinstance(reloaded.get_layer("bidirectional_1"), keras.layers.Bidirectional)
    data = spec.dataset.load(spec.seed)
    (batch,) = list(data.test.x_batches(data.test.size))
    original = keras.saving.load_model(run_dir / "model.keras", safe_mode=True)
    np.testing.assert_array_equal(original.predict_on_batch(batch), reloaded.predict_on_batch(batch))


def test_a_window_of_one_step_with_a_text_feature_keeps_its_time_axis(tmp_path):
    """Regression: a (1,)-shaped text input was one-hot encoded without its time axis, and every recurrent
    layer refused the 2-D tensor (`expected ndim=3, found ndim=2`)."""
    path = series_csv(tmp_path / "s.csv")
    text = (
        f"name: one\ndataset: {{name: timeseries, path: {path}, target: weather, window: 1}}\n"
        "model: {architecture: rnn, cell: simple_rnn, units: [2]}\ntraining: {epochs: 1}\n"
    )
    summary = train(spec_from_text(text, "<one>"), tmp_path / "runs")
    assert summary.status == "completed"


def test_images_are_read_row_by_row(tmp_path, monkeypatch):
    """Fashion-MNIST as 28 steps of 28 pixels, the classic recurrent-network demonstration."""
    from annctl.datasets.fashion_mnist import FashionMnist
    from annctl.training.assemble import build_model

    example = FashionMnist.example(tmp_path)
    monkeypatch.setenv("ANNCTL_DATA_DIR", example.env["ANNCTL_DATA_DIR"])
    spec = spec_from_text(
        json.dumps({"name": "rows", "dataset": example.fields, "model": {"architecture": "rnn", "units": [5]}}),
        "<rows>",
    )
    model = build_model(spec, spec.dataset.load(0).description)
    assert model.get_layer("rows_as_steps").output.shape == (None, 28, 28)
    assert model.get_layer("lstm_1").output.shape == (None, 5)


def test_initial_weights_name_the_layer_or_the_shape_that_is_wrong():
    spec = load_spec(
        EXPERIMENTS / "backprop_rnn.yaml", ["model.initial_weights.simple_rnn_1.recurrent_kernel=[[0.1, 0.2]]"]
    )
    with pytest.raises(
        SpecError, match=r"simple_rnn_1.recurrent_kernel: shape \(1, 2\) does not match the layer's \(1, 1\)"
    ):
        run_backprop(spec)
    spec = load_spec(EXPERIMENTS / "backprop_rnn.yaml", ["model.initial_weights.simple_rnn_1.kernal=[[0.1]]"])
    with pytest.raises(SpecError, match="kernal: no such weight; simple_rnn_1 has kernel, recurrent_kernel, bias"):
        run_backprop(spec)
    spec = load_spec(EXPERIMENTS / "backprop_rnn.yaml", ["model.initial_weights.lstm_1={kernel: [[1]]}"])
    with pytest.raises(SpecError, match="no layer 'lstm_1' with weights; layers: simple_rnn_1, output"):
        run_backprop(spec)


def test_backprop_through_time_matches_the_hand_computation():
    """The shipped example: W = 0.5, U = 0.8, b = 0, V = 1, c = 0, x = 1, 0.5, −1, y = 0.5, E = ½(y − o)²."""
    result = run_backprop(load_spec(EXPERIMENTS / "backprop_rnn.yaml"))
    step = result["shown_steps"][0]
    h1 = np.tanh(0.5)
    h2 = np.tanh(0.5 * 0.5 + 0.8 * h1)
    h3 = np.tanh(-0.5 + 0.8 * h2)
    assert [t["h"][0][0] for t in step["time"]] == pytest.approx([h1, h2, h3], abs=1e-12)
    assert step["loss"] == pytest.approx(0.5 * (0.5 - h3) ** 2, abs=1e-12)
    # backward through time, by hand
    g3 = h3 - 0.5  # ∂E/∂h_3 = (o − y)·V
    d3 = g3 * (1 - h3**2)
    g2 = d3 * 0.8
    d2 = g2 * (1 - h2**2)
    g1 = d2 * 0.8
    d1 = g1 * (1 - h1**2)
    assert [t["delta"][0][0] for t in step["time"]] == pytest.approx([d1, d2, d3], abs=1e-12)
    gradients = step["gradients"]
    assert gradients["W[1,1]"] == pytest.approx(1.0 * d1 + 0.5 * d2 - 1.0 * d3, abs=1e-12)
    assert gradients["U[1,1]"] == pytest.approx(0.0 * d1 + h1 * d2 + h2 * d3, abs=1e-12)
    assert gradients["b[1]"] == pytest.approx(d1 + d2 + d3, abs=1e-12)
    assert gradients["V[1,1]"] == pytest.approx(g3 * h3, abs=1e-12)
    # the vanishing factor: ∂h_3/∂h_1 = U·f′(z_2) · U·f′(z_3)
    factor = 0.8 * (1 - h2**2) * 0.8 * (1 - h3**2)
    assert step["time"][0]["factor"][0][0][0] == pytest.approx(factor, abs=1e-12)
    assert step["vanishing_factor"] == pytest.approx(abs(factor), abs=1e-12)
    assert step["updated"]["U[1,1]"] == pytest.approx(0.8 - 0.1 * gradients["U[1,1]"], abs=1e-12)
    assert result["check"]["agrees"] and max(result["check"]["max_difference"].values()) < 1e-12


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "relu", "linear"])
@pytest.mark.parametrize("task", ["regression", "classification"])
def test_through_time_formulas_agree_with_gradient_tape(activation, task):
    rng = np.random.default_rng(4)
    x = rng.normal(size=(3, 4, 2)).round(3).tolist()  # 3 sequences, 4 steps, 2 features
    y = [0, 1, 2] if task == "classification" else rng.uniform(-1, 1, size=(3, 2)).round(3).tolist()
    loss = "sparse_categorical_crossentropy" if task == "classification" else "mse"
    text = f"""
name: random_rnn
seed: 3
dataset: {{name: inline_sequence, task: {task}, x: {x}, y: {y}}}
model: {{architecture: rnn, cell: simple_rnn, units: [2], activation: {activation}}}
training: {{optimizer: sgd, learning_rate: 0.1, loss: {loss}}}
"""
    result = run_backprop(spec_from_text(text, "<random>"), steps=3)
    assert result["check"]["agrees"], result["check"]
    assert result["time_steps"] == 4 and result["units"] == 2 and len(result["shown_steps"]) == 3
    # two units: the factor is the product of 2×2 Jacobians ∂h_t/∂h_{t-1}
    step = result["shown_steps"][0]
    product = np.eye(2)
    for t in range(3, 0, -1):
        product = np.asarray(step["time"][t]["jacobian"][0]) @ product
    np.testing.assert_allclose(step["time"][0]["factor"][0], product, atol=1e-12)


def test_backprop_through_time_on_the_command_line():
    result = runner.invoke(app, ["backprop", str(EXPERIMENTS / "backprop_rnn.yaml")])
    assert result.exit_code == 0, result.output
    for text in ("backpropagation through time", "h_t = f(z_t)", "∂h_T/∂h_t", "0.156351706", "0.444193328", "agrees"):
        assert text in result.stdout, text
    assert "vanishing factor ∂h_T/∂h_1 = Π_(t=2..T) U·f′(z_t) = 0.557194353 × 0.797196392 = 0.444193328" in (
        result.stdout
    )
    data = json.loads(runner.invoke(app, ["backprop", str(EXPERIMENTS / "backprop_rnn.yaml"), "--json"]).stdout)
    assert data["network"] == "rnn" and data["check"]["agrees"]


def test_backprop_through_time_says_what_it_covers():
    spec = load_spec(
        EXPERIMENTS / "backprop_rnn.yaml", ["model.cell=lstm", "model.initial_weights=null", "training.optimizer=adam"]
    )
    with pytest.raises(SpecError) as info:
        run_backprop(spec)
    assert "one `simple_rnn` layer feeding the output" in str(info.value) and "use sgd" in str(info.value)


def test_inline_sequences_train_and_predict_from_an_array(tmp_path):
    text = (
        "name: seq\ndataset: {name: inline_sequence, x: [[[0.1, 1], [0.2, 0], [0.3, 1]], [[1, 0], [0.5, 1], "
        "[0, 0]]], y: [1.5, -0.5]}\nmodel: {architecture: rnn, cell: simple_rnn, units: [2]}\ntraining: {epochs: 1}\n"
    )
    run_dir = train(spec_from_text(text, "<seq>"), tmp_path / "runs").run_dir
    np.save(tmp_path / "new.npy", np.zeros((4, 3, 2), dtype="float32"))
    result = runner.invoke(app, ["predict", run_dir, "--input", str(tmp_path / "new.npy")])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == "prediction" and len(result.stdout.splitlines()) == 5
    np.save(tmp_path / "wrong.npy", np.zeros((4, 2, 2), dtype="float32"))
    result = runner.invoke(app, ["predict", run_dir, "--input", str(tmp_path / "wrong.npy")])
    assert result.exit_code == 2 and "does not fit the model's input" in result.stderr
