"""`annctl backprop`: the course's numbers, and the formulas against GradientTape on random small networks."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from annctl.backprop import run_backprop
from annctl.cli import app
from annctl.config import load_spec, spec_from_text
from annctl.errors import SpecError

from .conftest import EXPERIMENTS

runner = CliRunner()


def test_linear_example_matches_the_course():
    result = run_backprop(load_spec(EXPERIMENTS / "backprop_linear.yaml"))
    step = result["shown_steps"][0]
    assert step["forward"][0]["a"] == [[4.0]] and step["forward"][1]["a"] == [[16.0]]
    assert step["loss"] == pytest.approx(121, abs=1e-6)
    # course names: w21 = w2, w22 = b(o1), w11 = w1, w12 = b(h1)
    expected_gradients = {"w2": 88, "b(o1)": 22, "w1": 132, "b(h1)": 66}
    expected_updated = {"w2": 2.12, "b(o1)": 3.78, "w1": -0.32, "b(h1)": 1.34}
    for name, value in expected_gradients.items():
        assert step["gradients"][name] == pytest.approx(value, abs=1e-6)
    for name, value in expected_updated.items():
        assert step["updated"][name] == pytest.approx(value, abs=1e-6)
    assert result["check"]["agrees"]


def test_sigmoid_example_first_step_matches_the_course():
    result = run_backprop(load_spec(EXPERIMENTS / "backprop_sigmoid.yaml"))
    step = result["shown_steps"][0]
    hidden, output = step["forward"]
    assert hidden["a"][0] == pytest.approx([0.593269992, 0.596884378], abs=1e-6)
    assert output["a"][0] == pytest.approx([0.75136507, 0.772928465], abs=1e-6)
    assert step["loss"] == pytest.approx(0.298371109, abs=1e-6)
    expected = {
        "w5": 0.35891648,
        "w6": 0.408666186,
        "w7": 0.511301270,
        "w8": 0.561370121,
        "w1": 0.149780716,
        "w2": 0.19956143,
        "w3": 0.24975114,
        "w4": 0.29950229,
    }
    for name, value in expected.items():
        assert step["updated"][name] == pytest.approx(value, abs=1e-6), name
    assert step["updated"]["b(h1)"] == 0.35 and step["updated"]["b(o2)"] == 0.60  # biases stay fixed
    assert result["final"]["loss"] == pytest.approx(0.2910278, abs=1e-6)
    assert result["check"]["agrees"]


@pytest.mark.slow
def test_sigmoid_example_after_10000_steps():
    result = run_backprop(load_spec(EXPERIMENTS / "backprop_sigmoid.yaml"), steps=10_000)
    assert result["final"]["loss"] == pytest.approx(3.5102e-5, rel=1e-3)
    assert result["final"]["outputs"][0] == pytest.approx([0.0159136, 0.9840643], rel=1e-3)
    assert result["check"]["agrees"] and len(result["shown_steps"]) == 1


def random_network(activation, output_activation, loss, task="regression", outputs=2, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(5, 3)).round(3).tolist()
    if task == "classification":
        y = [int(v) for v in rng.integers(0, outputs, size=5)]
        y[0], y[1] = 0, outputs - 1  # every class present
    else:
        y = rng.uniform(0.1, 0.9, size=(5, outputs)).round(3).tolist()
    text = f"""
name: random
seed: {seed}
dataset: {{name: inline, task: {task}, x: {x}, y: {y}}}
model: {{architecture: mlp, hidden_units: [4, 3], activation: {activation}, output_activation: {output_activation}}}
training: {{optimizer: sgd, learning_rate: 0.1, loss: {loss}}}
"""
    return spec_from_text(text, "<random>")


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu", "linear"])
@pytest.mark.parametrize(
    "output_activation,loss,task,outputs",
    [
        ("linear", "quadratic", "regression", 2),
        ("sigmoid", "mse", "regression", 2),
        ("sigmoid", "binary_crossentropy", "classification", 2),
        ("softmax", "categorical_crossentropy", "classification", 3),
        ("softmax", "sparse_categorical_crossentropy", "classification", 3),
    ],
)
def test_formulas_agree_with_gradient_tape(activation, output_activation, loss, task, outputs):
    result = run_backprop(random_network(activation, output_activation, loss, task, outputs), steps=3)
    assert result["check"]["agrees"], result["check"]
    assert len(result["shown_steps"]) == 3


def test_wrong_initial_weight_shape_names_the_layer_and_both_shapes():
    spec = load_spec(EXPERIMENTS / "backprop_sigmoid.yaml", ["model.initial_weights.0.kernel=[[0.1, 0.2, 0.3]]"])
    with pytest.raises(SpecError, match=r"hidden_1.kernel: shape \(1, 3\) does not match the layer's \(2, 2\)"):
        run_backprop(spec)
    result = runner.invoke(
        app, ["backprop", str(EXPERIMENTS / "backprop_sigmoid.yaml"), "--set", "model.initial_weights.1.bias=[1, 2, 3]"]
    )
    assert result.exit_code == 2 and "output.bias: shape (3,)" in result.stderr


def test_unsupported_settings_are_explained():
    spec = load_spec(EXPERIMENTS / "backprop_sigmoid.yaml", ["training.optimizer=adam", "model.dropout=0.5"])
    with pytest.raises(SpecError) as info:
        run_backprop(spec)
    text = str(info.value)
    assert "plain gradient descent; use sgd" in text and "remove dropout" in text


def test_cli_tables_and_json():
    result = runner.invoke(app, ["backprop", str(EXPERIMENTS / "backprop_sigmoid.yaml")])
    assert result.exit_code == 0, result.output
    for text in ("h1", "o2", "w5", "0.35891648", "0.298371109", "b(h1)", "(fixed)", "agrees with TensorFlow"):
        assert text in result.stdout, text
    result = runner.invoke(app, ["backprop", str(EXPERIMENTS / "backprop_linear.yaml"), "--json", "--steps", "3"])
    data = json.loads(result.stdout)
    assert [s["step"] for s in data["shown_steps"]] == [1, 2, 3]
    assert data["shown_steps"][0]["gradients"]["w1"] == pytest.approx(132)


def test_backprop_after_a_training_in_the_same_process(tmp_path):
    """Regression: Keras fixes its global dtype policy at the first training, so backprop's float64 was ignored
    and its check failed by ~1e-7 after any earlier training in the process."""
    from annctl.training import train

    train(load_spec(EXPERIMENTS / "iris_mlp.yaml", ["training.epochs=1"]), tmp_path / "runs")
    result = run_backprop(load_spec(EXPERIMENTS / "backprop_linear.yaml"))
    assert result["check"]["agrees"], result["check"]
    assert result["check"]["max_difference"]["weights"] == 0.0
