"""Every message of spec loading: FILE:LINE:COL: field.path: message, all problems at once, exit code 2."""

from pathlib import Path

import pytest

from annctl.config import load_spec
from annctl.errors import SpecError

from .conftest import EXPERIMENTS


def problems(tmp_path: Path, text: str, overrides=()) -> list[str]:
    path = tmp_path / "exp.yaml"
    path.write_text(text)
    with pytest.raises(SpecError) as info:
        load_spec(path, overrides)
    assert info.value.exit_code == 2
    return info.value.problems


MINIMAL = "name: t\ndataset: {name: iris}\nmodel: {architecture: mlp}\n"


def test_shipped_iris_experiment_resolves_defaults():
    spec = load_spec(EXPERIMENTS / "iris_mlp.yaml")
    assert spec.training.loss == "sparse_categorical_crossentropy"
    assert spec.training.metrics == ["accuracy"]
    assert spec.output.checkpoint_monitor == "val_loss"
    assert spec.training.early_stopping.patience == 10


def test_minimal_spec_fills_task_defaults(tmp_path):
    (tmp_path / "e.yaml").write_text(MINIMAL)
    spec = load_spec(tmp_path / "e.yaml")
    assert spec.training.loss == "sparse_categorical_crossentropy"
    assert spec.training.learning_rate == 0.001  # Keras' Adam default
    (tmp_path / "r.yaml").write_text(
        "name: r\ndataset: {name: california_housing}\nmodel: {architecture: mlp}\ntraining: {optimizer: sgd}\n"
    )
    spec = load_spec(tmp_path / "r.yaml")
    assert (spec.training.loss, spec.training.metrics, spec.training.learning_rate) == ("mse", ["mae"], 0.01)


def test_learning_rate_written_1e_3_is_a_float(tmp_path):
    (tmp_path / "e.yaml").write_text(MINIMAL + "training: {learning_rate: 1e-3}\n")
    assert load_spec(tmp_path / "e.yaml").training.learning_rate == 0.001


def test_misspelt_key_suggests_the_right_one_with_position(tmp_path):
    found = problems(tmp_path, MINIMAL + "training:\n  learning_rat: 0.1\n")
    assert found == [
        f"{tmp_path / 'exp.yaml'}:5:3: training.learning_rat: unknown field `learning_rat` "
        "(did you mean `learning_rate`?)"
    ]


def test_misspelt_key_inside_a_union_member(tmp_path):
    found = problems(tmp_path, "name: t\ndataset: {name: iris, validaton_split: 0.1}\nmodel: {architecture: mlp}\n")
    assert "dataset.validaton_split: unknown field" in found[0]
    assert "did you mean `validation_split`?" in found[0]
    assert ":2:" in found[0]


def test_misspelt_model_key_is_matched_against_the_chosen_architecture(tmp_path):
    # bug: the suggestion came from the first registered architecture (cnn's `dense_units`)
    found = problems(tmp_path, "name: t\ndataset: {name: iris}\nmodel: {architecture: mlp, hiden_units: [3]}\n")
    assert found[0].endswith("model.hiden_units: unknown field `hiden_units` (did you mean `hidden_units`?)")


def test_unknown_dataset_and_architecture_list_registered_names(tmp_path):
    found = problems(tmp_path, "name: t\ndataset: {name: irsi}\nmodel: {architecture: transformer}\n")
    assert any(
        "dataset.name: unknown dataset 'irsi' (did you mean `iris`?); registered: california_housing, csv, "
        "fashion_mnist, inline, iris" in p
        for p in found
    )
    assert any("model.architecture: unknown architecture 'transformer'" in p and "mlp" in p for p in found)


def test_all_problems_are_reported_at_once(tmp_path):
    found = problems(
        tmp_path,
        "name: 'bad name'\nseed: -1\ndataset: {name: iris, test_split: 2}\n"
        "model: {architecture: mlp, hidden_units: [0]}\ntraining: {epochs: 0, batch_size: 10000000}\n",
    )
    joined = "\n".join(found)
    for field in (
        "name:",
        "seed:",
        "dataset.test_split:",
        "model.hidden_units.0:",
        "training.epochs:",
        "training.batch_size:",
    ):
        assert field in joined, field
    assert all(p.startswith(str(tmp_path / "exp.yaml") + ":") for p in found)


def test_missing_required_sections(tmp_path):
    found = problems(tmp_path, "seed: 1\n")
    joined = "\n".join(found)
    assert "name: required field missing" in joined
    assert "dataset: required field missing" in joined and "model: required field missing" in joined


def test_missing_discriminator_lists_names(tmp_path):
    found = problems(tmp_path, "name: t\ndataset: {validation_split: 0.1}\nmodel: {architecture: mlp}\n")
    assert (
        "dataset.name: missing; registered datasets: california_housing, csv, fashion_mnist, inline, iris" in found[0]
    )


def test_model_validator_errors_name_their_field(tmp_path):
    found = problems(
        tmp_path, "name: t\ndataset: {name: iris}\nmodel: {architecture: mlp, hidden_units: [4, 4], dropout: [0.1]}\n"
    )
    assert "model.dropout: 1 rates given for 2 hidden layers" in found[0]
    found = problems(tmp_path, MINIMAL + "training: {optimizer: adam, momentum: 0.9}\n")
    assert "training: momentum applies to sgd and rmsprop only" in found[0]


def test_loss_that_contradicts_the_task(tmp_path):
    found = problems(tmp_path, MINIMAL + "training:\n  loss: mse\n")
    assert found == [
        f"{tmp_path / 'exp.yaml'}:5:3: training.loss: mse is a regression loss; this dataset is "
        "classification (use one of binary_crossentropy, categorical_crossentropy, "
        "sparse_categorical_crossentropy)"
    ]
    found = problems(tmp_path, MINIMAL + "training:\n  loss: binary_crossentropy\n")
    assert "binary_crossentropy needs 2 classes, this dataset has 3" in found[0]


def test_unknown_monitor(tmp_path):
    found = problems(tmp_path, MINIMAL + "training:\n  early_stopping: {monitor: val_acc}\n")
    assert (
        "training.early_stopping.monitor: unknown metric 'val_acc'; this run logs loss, accuracy, val_loss, "
        "val_accuracy" in found[0]
    )


def test_overrides_are_type_checked_like_the_file(tmp_path):
    path = EXPERIMENTS / "iris_mlp.yaml"
    spec = load_spec(path, ["training.epochs=3", "model.hidden_units=[64,32]", "training.learning_rate=1e-3"])
    assert (spec.training.epochs, spec.model.hidden_units, spec.training.learning_rate) == (3, [64, 32], 0.001)
    with pytest.raises(SpecError) as info:
        load_spec(path, ["training.epochs=abc"])
    assert info.value.problems == [
        f"{path}: --set training.epochs: training.epochs: Input should be a valid integer, "
        "unable to parse string as an integer (got 'abc')"
    ]
    with pytest.raises(SpecError, match="unknown field `epoch`"):
        load_spec(path, ["training.epoch=3"])
    with pytest.raises(SpecError, match="expected PATH=VALUE"):
        load_spec(path, ["training.epochs"])
    with pytest.raises(SpecError, match="is a value, not a section"):
        load_spec(path, ["name.x=3"])


def test_file_level_problems(tmp_path):
    missing = tmp_path / "nope.yaml"
    with pytest.raises(SpecError, match="no such file"):
        load_spec(missing)
    with pytest.raises(SpecError, match="is a directory"):
        load_spec(tmp_path)
    (tmp_path / "latin1.yaml").write_bytes("name: caf\xe9\n".encode("latin-1"))
    with pytest.raises(SpecError, match=r"latin1.yaml:1:1: not UTF-8"):
        load_spec(tmp_path / "latin1.yaml")
    (tmp_path / "bin.yaml").write_bytes(b"\x00\x01\x02name")
    with pytest.raises(SpecError, match="binary file"):
        load_spec(tmp_path / "bin.yaml")
    assert "expected a mapping" in problems(tmp_path, "- a\n- b\n")[0]
    assert ":3:1: YAML syntax" in problems(tmp_path, "name: t\ndataset: [\n")[0]


def test_csv_path_is_relative_to_the_experiment_file(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "e.yaml").write_text(
        "name: c\ndataset: {name: csv, path: data.csv, target: y}\nmodel: {architecture: mlp}\n"
    )
    spec = load_spec(tmp_path / "sub" / "e.yaml")
    assert spec.dataset.path == str((tmp_path / "sub" / "data.csv").resolve())
    assert spec.training.loss is None  # the task of a csv file is only known once it is read


def test_per_layer_batch_norm_must_match_the_layers(tmp_path):
    found = problems(
        tmp_path,
        "name: t\ndataset: {name: iris}\nmodel: {architecture: mlp, hidden_units: [4, 4], batch_norm: [true]}\n",
    )
    assert "model.batch_norm: 1 flags given for 2 hidden layers" in found[0]
