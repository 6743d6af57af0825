"""Gradient clipping (validated, recorded, acting) and per-layer gradient norms (present, finite, exact,
harmless to the training), `annctl plot --gradients`, and the vanishing gradient they make visible."""

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from annctl.cli import app
from annctl.config import load_spec, spec_from_text
from annctl.errors import SpecError, TrainingDiverged
from annctl.training import train

from .conftest import write_csv, write_experiment

runner = CliRunner()


def metrics_rows(run_dir) -> list[dict[str, float]]:
    with open(Path(run_dir) / "metrics.csv") as handle:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(handle)]


def test_clipping_is_validated_and_recorded(tmp_path):
    experiment = write_experiment(tmp_path, "regression", clipnorm=-1)
    result = runner.invoke(app, ["validate", str(experiment)])
    assert result.exit_code == 2 and "training.clipnorm: Input should be greater than 0" in result.stderr
    with pytest.raises(SpecError, match="clipnorm and global_clipnorm: give at most one kind of gradient clipping"):
        load_spec(write_experiment(tmp_path, "regression", clipnorm=1.0, global_clipnorm=2.0))
    from annctl.training.compile import build_optimizer

    for field in ("clipnorm", "clipvalue", "global_clipnorm"):
        spec = load_spec(write_experiment(tmp_path, "regression", optimizer="rmsprop", **{field: 0.5}))
        assert getattr(build_optimizer(spec.training), field) == 0.5
    summary = train(load_spec(write_experiment(tmp_path, "regression", epochs=1, clipvalue=0.25)), tmp_path / "runs")
    recorded = (Path(summary.run_dir) / "spec.yaml").read_text()
    assert "clipvalue: 0.25" in recorded and "clipnorm: null" in recorded


def test_clipping_keeps_a_diverging_training_finite(tmp_path):
    """Large raw targets and a large SGD step: unclipped, the loss becomes NaN; clipped, it never does."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 3))
    y = 500 * x[:, 0] + 1000
    (tmp_path / "big.csv").write_text("a,b,c,target\n" + "".join(f"{r[0]},{r[1]},{r[2]},{t}\n" for r, t in zip(x, y)))
    text = (
        f"name: clip\ndataset: {{name: csv, path: {tmp_path / 'big.csv'}, target: target, normalize: false}}\n"
        "model: {architecture: mlp, hidden_units: [16, 16]}\n"
        "training: {optimizer: sgd, learning_rate: 0.05, epochs: 5, batch_size: 8}\n"
    )
    with pytest.raises(TrainingDiverged):
        train(spec_from_text(text, "<unclipped>"), tmp_path / "runs")
    clipped = train(spec_from_text(text, "<clipped>", ["training.clipnorm=1.0"]), tmp_path / "runs")
    assert clipped.status == "completed" and math.isfinite(clipped.test_metrics["loss"])
    assert all(math.isfinite(v) for row in metrics_rows(clipped.run_dir) for v in row.values())


def gradient_experiment(tmp_path, **training) -> Path:
    path = write_experiment(tmp_path, "classification", name="grads", **training)
    path.write_text(path.read_text() + "output:\n  gradient_norms: true\n")
    return path


def test_gradient_norms_are_logged_per_layer_finite_and_in_tensorboard(tmp_path):
    summary = train(load_spec(gradient_experiment(tmp_path, epochs=2)), tmp_path / "runs")
    run_dir = Path(summary.run_dir)
    header = (run_dir / "metrics.csv").read_text().splitlines()[0].split(",")
    layers = ["hidden_1", "output"]
    expected = [f"grad_norm/{layer}" for layer in layers] + [f"grad_norm_max/{layer}" for layer in layers]
    assert header[header.index("val_accuracy") + 1 : header.index("learning_rate")] == expected
    for row in metrics_rows(run_dir):
        for layer in layers:
            mean, largest = row[f"grad_norm/{layer}"], row[f"grad_norm_max/{layer}"]
            assert math.isfinite(mean) and 0 < mean <= largest
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run_dir / "tensorboard" / "train"))
    events.Reload()
    tags = set(events.Tags()["scalars"]) | set(events.Tags()["tensors"])
    assert {"epoch_grad_norm/hidden_1", "epoch_grad_norm_max/output"} <= tags
    assert "grad_norm" not in (run_dir / "plots" / "learning_curves.png").name  # drawn by plot --gradients


@pytest.mark.slow
def test_gradient_norms_are_the_norms_of_the_steps_gradients(tmp_path):
    """One batch per epoch: epoch 1's norm is the gradient norm at the initial weights, computed here again
    with a GradientTape on the same model; and measuring changes nothing in the training."""
    import keras
    import tensorflow as tf

    from annctl.config import resolve_or_raise
    from annctl.training.assemble import make_model
    from annctl.training.compile import encode_targets
    from annctl.training.tf_setup import seed_everything

    spec = load_spec(gradient_experiment(tmp_path, epochs=2, batch_size=64))
    measured = train(spec, tmp_path / "runs")
    rows = metrics_rows(measured.run_dir)
    assert rows[0]["grad_norm/hidden_1"] == rows[0]["grad_norm_max/hidden_1"]  # one batch: mean = max
    seed_everything(spec.seed)
    data = spec.dataset.load(spec.seed)
    resolved = resolve_or_raise(spec, data.task, data.num_classes, "<spec>")
    model = make_model(resolved, data.description)
    x, y = data.train.tensors()
    layers = ("hidden_1", "output")
    weights = [model.get_layer(layer).trainable_weights for layer in layers]
    with tf.GradientTape() as tape:
        predictions = model(x, training=True)
        targets = encode_targets(y, resolved.training.loss, data.num_classes)
        loss = keras.ops.mean(keras.losses.get(resolved.training.loss)(targets, predictions))
    gradients = tape.gradient(loss, weights)
    for layer, layer_gradients in zip(layers, gradients):
        norm = math.sqrt(sum(float(tf.reduce_sum(g**2)) for g in layer_gradients))
        assert rows[0][f"grad_norm/{layer}"] == pytest.approx(norm, rel=1e-4), layer
    unmeasured = train(
        load_spec(write_experiment(tmp_path, "classification", name="grads", epochs=2, batch_size=64)),
        tmp_path / "runs",
    )
    plain = metrics_rows(unmeasured.run_dir)
    for with_norms, without in zip(rows, plain):
        assert with_norms["loss"] == without["loss"] and with_norms["val_loss"] == without["val_loss"]


def test_gradient_norms_under_mixed_precision_are_unscaled(tmp_path):
    """The loss-scaling optimizer multiplies the loss by 2^15; the norms logged are those of the true gradient."""
    base = train(load_spec(gradient_experiment(tmp_path, epochs=1)), tmp_path / "runs")
    mixed = train(load_spec(gradient_experiment(tmp_path, epochs=1, mixed_precision="float16")), tmp_path / "runs")
    first, second = metrics_rows(base.run_dir)[0], metrics_rows(mixed.run_dir)[0]
    assert second["grad_norm/output"] == pytest.approx(first["grad_norm/output"], rel=0.05)


def test_gradient_norms_need_one_replica(tmp_path):
    path = gradient_experiment(tmp_path, distribution="mirrored")
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 2 and "output: gradient_norms are measured on one replica's gradients" in result.stderr


@pytest.mark.slow
def test_plot_gradients(tmp_path):
    run_dir = train(load_spec(gradient_experiment(tmp_path, epochs=2)), tmp_path / "runs").run_dir
    result = runner.invoke(app, ["plot", run_dir, "--gradients", "-o", str(tmp_path / "g.png")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "g.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    plain_spec = load_spec(write_experiment(tmp_path, "classification", name="plain", epochs=1))
    plain = train(plain_spec, tmp_path / "runs").run_dir
    result = runner.invoke(app, ["plot", run_dir, plain, "--gradients", "-o", str(tmp_path / "h.png")])
    assert result.exit_code == 2
    assert "logged no gradient norms; train it with `output.gradient_norms: true`" in result.stderr


def test_sigmoid_layers_far_from_the_output_get_vanishing_gradients(tmp_path):
    """The course's demonstration in miniature: 8 sigmoid layers pass back a first-layer gradient hundreds of
    times smaller than the last layer's; ReLU with He initialisation keeps them within a small factor."""
    write_csv(tmp_path / "c.csv", "classification", rows=200)
    ratios = {}
    for activation, initializer in (("sigmoid", "glorot_uniform"), ("relu", "he_normal")):
        text = (
            f"name: deep_{activation}\ndataset: {{name: csv, path: {tmp_path / 'c.csv'}, target: target}}\n"
            f"model: {{architecture: mlp, hidden_layers: 8, units: 32, activation: {activation}, "
            f"kernel_initializer: {initializer}}}\n"
            "training: {optimizer: sgd, epochs: 1}\noutput: {gradient_norms: true}\n"
        )
        row = metrics_rows(train(spec_from_text(text, "<deep>"), tmp_path / "runs").run_dir)[0]
        ratios[activation] = row["grad_norm/hidden_8"] / row["grad_norm/hidden_1"]
    assert ratios["sigmoid"] > 100 and ratios["relu"] < 10, ratios


def test_shipped_gradient_experiments_log_their_norms():
    for stem in ("vanishing_sigmoid", "vanishing_relu_he", "memory_simple_rnn", "memory_lstm", "memory_clipped"):
        spec = load_spec(Path(__file__).resolve().parents[1] / "experiments" / f"{stem}.yaml")
        assert spec.output.gradient_norms, stem
    clipped = load_spec(Path(__file__).resolve().parents[1] / "experiments" / "memory_clipped.yaml")
    exploding = load_spec(Path(__file__).resolve().parents[1] / "experiments" / "memory_exploding.yaml")
    assert clipped.training.clipnorm == 1.0 and exploding.training.clipnorm is None
    assert json.loads(clipped.model_dump_json(exclude={"name", "training", "output"})) == json.loads(
        exploding.model_dump_json(exclude={"name", "training", "output"})
    )


def test_gradient_norms_are_each_layers_l2_norm_mean_and_largest_over_the_epochs_steps():
    """Known gradients through the wrapped optimizer: a layer whose kernel gradient is [3, 4] (bias 0) has norm 5,
    not 25 (the squares' sum) nor 7 (the plain sum); two steps of norms 5 and 10 give mean 7.5 and maximum 10."""
    import keras
    import numpy as np

    from annctl.training.callbacks.gradient_norms import GradientNorms

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, name="only")])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.0), loss="mse")
    model.optimizer.build(model.trainable_variables)
    norms = GradientNorms()
    norms.set_model(model)
    norms.on_epoch_begin(0)
    kernel, bias = model.trainable_variables
    for scale in (1.0, 2.0):
        grads = [np.array([[3.0], [4.0]], "float32") * scale, np.zeros((1,), "float32")]
        model.optimizer.apply(grads, [kernel, bias])
    logs: dict = {}
    norms.on_epoch_end(0, logs)
    assert logs == {"grad_norm/only": pytest.approx(7.5), "grad_norm_max/only": pytest.approx(10.0)}
