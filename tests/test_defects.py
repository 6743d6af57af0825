"""Issue 18's wrong results, each with the test that failed before its fix: the perceptron's defaults, 16-bit
outputs under mixed precision, float images given to predict, and transfer provenance."""

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from annctl.cli import app
from annctl.config import spec_from_text
from annctl.datasets import DATASETS
from annctl.models import ARCHITECTURES
from annctl.training import train

from .test_architectures import reference_dataset, smoke_cases

runner = CliRunner()

PERCEPTRON_ONLY = """
name: perc
dataset: {name: iris, features: [petal_length, petal_width], positive_class: setosa}
model: {architecture: perceptron}
training: {epochs: 20}
"""


@pytest.mark.slow
def test_a_perceptron_with_only_a_dataset_and_its_architecture_learns(tmp_path):
    """Before: Adam at 0.001, batch 32 → 0.067 test accuracy on a linearly separable task."""
    spec = spec_from_text(PERCEPTRON_ONLY, "<perc>")
    assert (spec.training.optimizer, spec.training.learning_rate, spec.training.batch_size) == ("sgd", 1.0, 1)
    summary = train(spec, tmp_path / "runs")
    assert summary.test_metrics["accuracy"] == 1.0


def test_perceptron_defaults_show_in_validate_and_yield_to_the_users_values(tmp_path):
    path = tmp_path / "perc.yaml"
    path.write_text(PERCEPTRON_ONLY)
    result = runner.invoke(app, ["validate", str(path), "--show"])
    assert "optimizer: sgd" in result.stdout and "learning_rate: 1.0" in result.stdout
    assert "batch_size: 1\n" in result.stdout
    chosen = spec_from_text(PERCEPTRON_ONLY.replace("{epochs: 20}", "{optimizer: adam, batch_size: 4}"), "<p>")
    assert (chosen.training.optimizer, chosen.training.learning_rate, chosen.training.batch_size) == (
        "adam",
        0.001,  # Adam's own default rate, not the perceptron's 1.0
        4,
    )
    mlp = spec_from_text(PERCEPTRON_ONLY.replace("perceptron", "mlp"), "<m>")
    assert (mlp.training.optimizer, mlp.training.batch_size) == ("adam", 32)  # other architectures unchanged


@pytest.mark.parametrize("architecture,kind", smoke_cases(), ids=[f"{a}-{k}" for a, k in smoke_cases()])
def test_mixed_precision_keeps_every_architectures_outputs_float32(architecture, kind, tmp_path, monkeypatch):
    """Before: wide_deep, wide_deep_subclassed and perceptron output bfloat16 under mixed precision."""
    from annctl.training.assemble import build_model, precision_policy

    example = reference_dataset(kind).example(tmp_path / "data")
    for key, value in example.env.items():
        monkeypatch.setenv(key, value)
    document = {
        "name": "mixed",
        "dataset": example.fields,
        "model": {"architecture": architecture, **ARCHITECTURES.get(architecture).example},
        "training": {"mixed_precision": "bfloat16"},
    }
    spec = spec_from_text(json.dumps(document), "<mixed>")
    data = spec.dataset.load(0)
    from annctl.config import resolve_or_raise

    spec = resolve_or_raise(spec, data.task, data.num_classes, "<mixed>")
    with precision_policy("bfloat16"):
        model = build_model(spec, data.description)
    (batch,) = list(data.test.x_batches(4))[:1]
    outputs = model.predict_on_batch(spec.model.feed(batch, data.description))
    for output in outputs.values() if isinstance(outputs, dict) else [outputs]:
        assert np.asarray(output).dtype == np.float32, architecture


def test_predict_takes_the_courses_float_images_in_0_1(tmp_path, monkeypatch):
    """Before: float32 pixels in [0, 1] were cast to uint8 (all 0 or 1) and every image got the same class."""
    example = DATASETS.get("fashion_mnist").example(tmp_path / "data")
    monkeypatch.setenv("ANNCTL_DATA_DIR", example.env["ANNCTL_DATA_DIR"])
    document = {"name": "img", "dataset": example.fields, "model": {"architecture": "mlp", "hidden_units": [8]}}
    spec = spec_from_text(json.dumps({**document, "training": {"epochs": 1}}), "<img>")
    run_dir = train(spec, tmp_path / "r").run_dir
    pixels = np.load(example.new_inputs)
    np.save(tmp_path / "uint8.npy", pixels)
    np.save(tmp_path / "floats.npy", pixels.astype("float32") / 255.0)
    as_bytes = runner.invoke(app, ["predict", run_dir, "-i", str(tmp_path / "uint8.npy"), "--top-k", "3"])
    as_floats = runner.invoke(app, ["predict", run_dir, "-i", str(tmp_path / "floats.npy"), "--top-k", "3"])
    assert as_bytes.exit_code == 0 and as_floats.exit_code == 0, as_floats.output
    assert as_floats.stdout == as_bytes.stdout  # the same predictions, probabilities included
    assert "scaled by 255" in as_floats.stderr
    np.save(tmp_path / "wrong.npy", pixels.astype("float32") * 2.0)  # 0..510: neither scale
    result = runner.invoke(app, ["predict", run_dir, "-i", str(tmp_path / "wrong.npy")])
    assert result.exit_code == 2 and "0..255, or in 0..1 as floats" in result.stderr


def test_transfer_records_the_source_run_and_pins_it_in_the_spec(tmp_path):
    """Before: spec.yaml kept `init_from: <prefix>` and nothing said which run was used."""
    import yaml

    from annctl.datasets.csv_file import CsvFile

    example = CsvFile.example(tmp_path)
    base = {"dataset": example.fields, "training": {"epochs": 1}}
    source_document = {"name": "src", "model": {"architecture": "mlp", "hidden_units": [4]}, **base}
    source = train(spec_from_text(json.dumps(source_document), "<s>"), tmp_path / "runs")
    model = {"architecture": "mlp", "hidden_units": [4], "init_from": "src"}
    target = train(spec_from_text(json.dumps({"name": "dst", "model": model, **base}), "<t>"), tmp_path / "runs")
    pinned = yaml.safe_load((Path(target.run_dir) / "spec.yaml").read_text())["model"]["init_from"]
    assert pinned == str(Path(source.run_dir).resolve())
    assert target.source.init_from == "src" and target.source.run_dir == pinned
    assert target.source.model_sha256 == source.model_sha256
