"""One smoke test over every registered architecture, and the behaviours the catalogue promises."""

import csv
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from annctl.cli import app
from annctl.config import load_spec, spec_from_text
from annctl.datasets import DATASETS
from annctl.datasets.registry import input_kinds
from annctl.errors import SpecError
from annctl.models import ARCHITECTURES
from annctl.training import train

from .conftest import write_csv

runner = CliRunner()


def smoke_cases() -> list[tuple[str, str]]:
    """Every registered architecture × every kind of input it accepts."""
    return [(name, kind) for name, entry in ARCHITECTURES.items() for kind in entry.accepted_kinds()]


def reference_dataset(kind: str):
    """The dataset entry whose tiny example stands for this kind of input."""
    (entry,) = [e for e in DATASETS.values() if e.kind == kind and e.smoke_reference]
    return entry


def smoke_document(architecture: str, kind: str, tmp_path, monkeypatch, training: dict) -> tuple[dict, Any]:
    """An experiment of ``architecture``'s example on ``kind``'s reference dataset (its data made in tmp_path),
    and that dataset's Example (its new inputs for predict)."""
    example = reference_dataset(kind).example(tmp_path / "data")
    for key, value in example.env.items():
        monkeypatch.setenv(key, value)
    model = {"architecture": architecture, **ARCHITECTURES.get(architecture).example}
    return {"name": "smoke", "dataset": example.fields, "model": model, "training": training}, example


@pytest.mark.slow
@pytest.mark.parametrize("architecture,kind", smoke_cases(), ids=[f"{a}-{k}" for a, k in smoke_cases()])
def test_build_train_save_reload_predict_identically(architecture, kind, tmp_path, monkeypatch):
    import keras

    from annctl.modelio import load_run_model
    from annctl.prediction import predict_run
    from annctl.training.inference import predict_batches

    document, example = smoke_document(architecture, kind, tmp_path, monkeypatch, {"epochs": 1, "batch_size": 8})
    spec = spec_from_text(json.dumps(document), "<smoke>")
    summary = train(spec, tmp_path / "runs")
    run_dir = Path(summary.run_dir)
    assert summary.status == "completed"
    in_memory = keras.saving.load_model(run_dir / "model.keras", safe_mode=True)
    reloaded = load_run_model(run_dir)
    data = load_spec(run_dir / "spec.yaml").dataset.load(spec.seed)
    fed = [spec.model.feed(x, data.description) for x in data.test.x_batches(4096)]
    first = predict_batches(in_memory, iter(fed), all_outputs=True)
    second = predict_batches(reloaded, iter(fed), all_outputs=True)
    assert list(first) == list(second) == spec.model.output_names()
    for name in first:
        np.testing.assert_allclose(first[name], second[name], rtol=0, atol=0)
        assert first[name].dtype == np.float32 and len(first[name]) == data.test.size
    # new inputs, read by the dataset entry's reader as `annctl predict` reads them
    output = tmp_path / "predictions.csv"
    result = predict_run(run_dir, str(example.new_inputs), output)
    assert result["rows"] > 0 and len(output.read_text().splitlines()) == result["rows"] + 1


def test_every_registered_kind_is_trained_by_an_architecture_on_its_reference_dataset(tmp_path):
    """The smoke tests train every kind of input a registered dataset gives (a new kind with no architecture
    that takes it, or no reference dataset, fails here), from the registries, not a list kept by hand."""
    trained = {kind for _, kind in smoke_cases()}
    assert trained == set(input_kinds())
    for kind in trained:
        assert reference_dataset(kind).example(tmp_path / kind) is not None


def test_perceptron_rule_matches_a_hand_computed_update(tmp_path):
    """One misclassified sample, batch size 1, SGD: w ← w + η·s·x and b ← b + η·s."""
    import keras

    from annctl.training.assemble import make_model
    from annctl.training.compile import encode_targets

    text = """
name: rule
dataset: {name: inline, task: classification, x: [[2.0, -1.0], [0.5, 0.5]], y: [1, 0]}
model: {architecture: perceptron}
training: {optimizer: sgd, learning_rate: 0.1, batch_size: 1, epochs: 1, shuffle: false}
"""
    spec = spec_from_text(text, "<rule>")
    data = spec.dataset.load(0)
    model = make_model(spec, data.description)
    x_train, y_train = data.train.x, data.train.y
    model_targets = lambda y: encode_targets(y, spec.training.loss, data.num_classes)  # noqa: E731
    layer = model.get_layer("output")
    layer.set_weights([np.array([[-1.0], [0.5]], dtype="float32"), np.array([0.0], dtype="float32")])
    x, y = x_train[:1], model_targets(y_train[:1])
    # z = 2·(−1) + (−1)·0.5 = −2.5 < 0 for a positive sample (s = +1): misclassified, so it updates.
    model.fit(x, y, epochs=1, batch_size=1, shuffle=False, verbose=0)
    kernel, bias = layer.get_weights()
    np.testing.assert_allclose(kernel[:, 0], [-1.0 + 0.1 * 2.0, 0.5 + 0.1 * -1.0], atol=1e-6)
    np.testing.assert_allclose(bias, [0.1], atol=1e-6)
    # a correctly classified sample (s·z > 0) leaves the weights alone
    model.fit(x_train[1:], model_targets(y_train[1:]), epochs=1, batch_size=1, verbose=0)
    z = x_train[1] @ kernel[:, 0] + bias[0]
    assert z < 0  # z = 0.5·(−0.8) + 0.5·0.4 + 0.1 = −0.1: the negative sample (s = −1) is on the right side
    np.testing.assert_allclose(layer.get_weights()[0], kernel, atol=1e-7)
    np.testing.assert_allclose(layer.get_weights()[1], bias, atol=1e-7)
    keras.backend.clear_session()


def test_wide_deep_predict_with_named_columns_and_aux_output(tmp_path):
    write_csv(tmp_path / "r.csv", "regression")
    text = f"""
name: wd
dataset: {{name: csv, path: {tmp_path / "r.csv"}, target: target}}
model: {{architecture: wide_deep, hidden_units: [4], wide_features: [a, b], deep_features: [b, c],
        aux_output: {{loss_weight: 0.1}}}}
training: {{epochs: 2}}
"""
    summary = train(spec_from_text(text, "<wd>"), tmp_path / "runs")
    run_dir = summary.run_dir
    assert {"main_loss", "aux_loss", "val_main_loss", "val_aux_loss"} <= set(summary.final_metrics)
    assert {"loss", "mse", "main_loss", "aux_loss"} <= set(summary.test_metrics)
    header = (Path(run_dir) / "metrics.csv").read_text().splitlines()[0].split(",")
    assert "main_mae" in header and "val_aux_mae" in header
    rows = "c,b,a\n0.3,0.2,0.1\n-1,1,2\n"
    result = runner.invoke(app, ["predict", run_dir, "--input", "-", "--all-outputs"], input=rows)
    assert result.exit_code == 0, result.output
    out = list(csv.DictReader(io.StringIO(result.stdout)))
    assert list(out[0]) == ["prediction", "aux_prediction"] and len(out) == 2
    import keras

    import annctl.losses  # noqa: F401

    model = keras.saving.load_model(Path(run_dir) / "model.keras", safe_mode=True)
    x = np.array([[0.1, 0.2, 0.3], [2, 1, -1]], dtype="float32")  # a, b, c
    expected = model.predict({"wide": x[:, [0, 1]], "deep": x[:, [1, 2]]}, verbose=0)
    assert [float(r["prediction"]) for r in out] == pytest.approx(expected["main"][:, 0].tolist(), abs=1e-5)
    assert [float(r["aux_prediction"]) for r in out] == pytest.approx(expected["aux"][:, 0].tolist(), abs=1e-5)
    result = runner.invoke(app, ["evaluate", run_dir, "--json"])
    metrics = json.loads(result.stdout)["metrics"]
    assert set(metrics["outputs"]) == {"main", "aux"}
    total = 0.9 * metrics["outputs"]["main"]["loss"] + 0.1 * metrics["outputs"]["aux"]["loss"]
    assert metrics["loss"] == pytest.approx(total)


def test_features_positive_class_and_xor():
    spec = load_spec_text("dataset: {name: iris, features: [petal_length, petal_width], positive_class: setosa}")
    data = spec.dataset.load(0)
    assert data.feature_names == ["petal_length", "petal_width"] and data.class_names == ["not_setosa", "setosa"]
    assert set(np.unique(data.train.y)) == {0, 1} and spec.training.loss == "binary_crossentropy"
    with pytest.raises(Exception, match="no feature 'petal_size'"):
        load_spec_text("dataset: {name: iris, features: [petal_size]}").dataset.load(0)
    xor = load_spec_text("dataset: {name: xor}").dataset.load(0)
    assert xor.train.x.tolist() == [[0, 0], [0, 1], [1, 0], [1, 1]] and xor.train.y.tolist() == [0, 1, 1, 0]


def load_spec_text(dataset_line: str, model: str = "{architecture: mlp}"):
    return spec_from_text(f"name: t\n{dataset_line}\nmodel: {model}\n", "<t>")


def test_perceptron_and_its_loss_go_together():
    with pytest.raises(SpecError, match="perceptron loss, and only it"):
        load_spec_text("dataset: {name: xor}", "{architecture: perceptron}\ntraining: {loss: binary_crossentropy}")
    with pytest.raises(SpecError, match="perceptron loss, and only it"):
        load_spec_text("dataset: {name: xor}", "{architecture: mlp}\ntraining: {loss: perceptron}")


def test_learning_rate_schedules_are_logged(tmp_path):
    write_csv(tmp_path / "r.csv", "regression")
    text = f"""
name: sched
dataset: {{name: csv, path: {tmp_path / "r.csv"}, target: target}}
model: {{architecture: mlp, hidden_units: [4]}}
training: {{epochs: 3, batch_size: 8, learning_rate: 0.1,
           lr_schedule: {{type: exponential, decay_steps: 5, decay_rate: 0.5}}}}
"""
    summary = train(spec_from_text(text, "<s>"), tmp_path / "runs")
    rates = [float(r["learning_rate"]) for r in csv.DictReader(open(Path(summary.run_dir) / "metrics.csv"))]
    assert rates[0] < 0.1 and rates[2] < rates[1] < rates[0]
    text = text.replace(
        "{type: exponential, decay_steps: 5, decay_rate: 0.5}",
        "{type: reduce_on_plateau, patience: 0, factor: 0.5, monitor: loss}",
    )
    summary = train(spec_from_text(text, "<s>"), tmp_path / "runs")
    assert summary.status == "completed"
    with pytest.raises(SpecError, match="training.lr_schedule.monitor: unknown metric 'val_acc'"):
        load_spec_text(
            "dataset: {name: iris}",
            "{architecture: mlp}\ntraining: {lr_schedule: {type: reduce_on_plateau, monitor: val_acc}}",
        )


@pytest.mark.slow
def test_transfer_copies_matching_layers_and_freezes(tmp_path):
    write_csv(tmp_path / "r.csv", "regression")
    base = f"name: {{name}}\ndataset: {{{{name: csv, path: {tmp_path / 'r.csv'}, target: target}}}}\n"
    source = spec_from_text(
        base.format(name="source") + "model: {architecture: mlp, hidden_units: [6, 4]}\ntraining: {epochs: 2}\n",
        "<src>",
    )
    source_run = Path(train(source, tmp_path / "runs").run_dir)
    target_text = base.format(name="target") + (
        f"model: {{architecture: mlp, hidden_units: [6, 4], init_from: {source_run}, freeze: [hidden_1]}}\n"
        "training: {epochs: 2}\n"
    )
    summary = train(spec_from_text(target_text, "<t>"), tmp_path / "runs")
    assert set(summary.transferred_layers) >= {"hidden_1", "hidden_2", "output"}
    import keras

    source_model = keras.saving.load_model(source_run / "model.keras")
    target_model = keras.saving.load_model(Path(summary.run_dir) / "model.keras")
    np.testing.assert_array_equal(
        source_model.get_layer("hidden_1").get_weights()[0], target_model.get_layer("hidden_1").get_weights()[0]
    )  # frozen: unchanged
    assert not np.array_equal(
        source_model.get_layer("hidden_2").get_weights()[0], target_model.get_layer("hidden_2").get_weights()[0]
    )  # trained further
    by_prefix = target_text.replace(str(source_run), "source")  # newest run named source-...
    assert train(spec_from_text(by_prefix, "<t>"), tmp_path / "runs").status == "completed"
    mismatch = target_text.replace("hidden_units: [6, 4]", "hidden_units: [5, 4]")
    with pytest.raises(SpecError, match=r"hidden_1 \[\(3, 5\), \(5,\)\] vs \[\(3, 6\), \(6,\)\]"):
        train(spec_from_text(mismatch, "<t>"), tmp_path / "runs")
    with pytest.raises(SpecError, match="model.freeze: no layer nope"):
        train(spec_from_text(target_text.replace("freeze: [hidden_1]", "freeze: [nope]"), "<t>"), tmp_path / "runs")


def test_an_architecture_refuses_a_kind_it_does_not_take_and_names_those_it_does():
    from annctl.spec import ExperimentSpec
    from annctl.training.assemble import build_model

    text = "name: k\ndataset: {name: xor}\nmodel: {architecture: cnn}\n"
    with pytest.raises(SpecError, match=r"<k>:3:9: model.architecture: cnn takes image inputs; dataset xor gives"):
        spec_from_text(text, "<k>")  # validate and train find it in the file (issue 29 item 11)
    spec = ExperimentSpec.model_validate({"name": "k", "dataset": {"name": "xor"}, "model": {"architecture": "cnn"}})
    with pytest.raises(SpecError, match=r"cnn takes image inputs; dataset xor gives tabular inputs of shape \(2,\)"):
        build_model(spec, spec.dataset.load(0).description)  # and the model builder still refuses it
    rnn = ExperimentSpec.model_validate({"name": "k", "dataset": {"name": "xor"}, "model": {"architecture": "rnn"}})
    with pytest.raises(SpecError, match="rnn takes image or sequence inputs"):
        build_model(rnn, rnn.dataset.load(0).description)
