"""Every message of spec loading: FILE:LINE:COL: field.path: message, all problems at once, exit code 2."""

import os
import re
from pathlib import Path

import pytest

from annctl.config import load_spec
from annctl.errors import SpecError

from .conftest import EXPERIMENTS, write_experiment
from .test_tune import SPACE, tune_experiment


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
    from annctl.datasets import DATASETS

    registered = ", ".join(DATASETS.names())  # every entry, in order (new entries join the list)
    assert any(
        f"dataset.name: unknown dataset 'irsi' (did you mean `iris`?); registered: {registered}" in p for p in found
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
    from annctl.datasets import DATASETS

    assert f"dataset.name: missing; registered datasets: {', '.join(DATASETS.names())}" in found[0]


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
        f"{path}: --set training.epochs: training.epochs: Input should be a valid integer (got 'abc')"
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


# --- strict values (issue 18 item 5): no conversion between strings, numbers and booleans ---------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "dataset: {name: iris, normalize: yes}",
            "2:23: dataset.normalize: Input should be a valid boolean (got 'yes'",
        ),
        (
            'dataset: {name: iris, normalize: "off"}',
            "2:23: dataset.normalize: Input should be a valid boolean (got 'off'",
        ),
        (
            "dataset: {name: iris}\ntraining: {shuffle: 0}",
            "3:12: training.shuffle: Input should be a valid boolean (got 0",
        ),
        (
            'dataset: {name: iris}\ntraining: {epochs: "3"}',
            "3:12: training.epochs: Input should be a valid integer (got '3'",
        ),
        (
            "dataset: {name: iris}\ntraining: {epochs: 3.0}",
            "3:12: training.epochs: Input should be a valid integer (got 3.0",
        ),
        (
            "dataset: {name: iris}\noutput: {tensorboard: 1}",
            "3:10: output.tensorboard: Input should be a valid boolean (got 1",
        ),
        (
            "dataset: {name: iris}\nmodel: {architecture: mlp, hidden_units: ['8']}",
            "3:43: model.hidden_units.0: Input should be a valid integer (got '8'",
        ),
        (
            'dataset: {name: inline, x: [[1, "2"]], y: [1]}',
            "2:33: dataset.x.0.1: Input should be a valid number (got '2'",
        ),
        ("dataset: {name: iris}\nname: 7", "2:1: name: Input should be a valid string (got 7)"),
    ],
)
def test_values_are_not_converted_between_strings_numbers_and_booleans(tmp_path, text, expected):
    text = text if "model:" in text else text + "\nmodel: {architecture: mlp}"
    text = text if "\nname:" in text else "name: t\n" + text
    found = problems(tmp_path, text + "\n")
    assert len(found) == 1 and found[0].startswith(f"{tmp_path / 'exp.yaml'}:{expected}"), found


def test_an_integer_is_a_valid_float(tmp_path):
    (tmp_path / "e.yaml").write_text(MINIMAL + "training: {learning_rate: 1, momentum: 0}\n")
    spec = load_spec(tmp_path / "e.yaml")
    assert spec.training.learning_rate == 1.0 and isinstance(spec.training.learning_rate, float)


def test_overrides_are_strict_too():
    path = EXPERIMENTS / "iris_mlp.yaml"
    with pytest.raises(SpecError) as info:
        load_spec(path, ["training.epochs=true", "dataset.normalize=no"])
    assert info.value.problems == [
        f"{path}: --set dataset.normalize: dataset.normalize: Input should be a valid boolean "
        "(got 'no'; write true or false)",
        f"{path}: --set training.epochs: training.epochs: Input should be a valid integer (got True)",
    ]


# --- every enumerated field suggests the value meant (issue 16) ----------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "training: {optimizer: adma}",
            "training.optimizer: Input should be 'sgd', 'adam', 'rmsprop', 'adagrad' or "
            "'adamw' (got 'adma'; did you mean `adam`?)",
        ),
        (
            "training: {metrics: [acuracy]}",
            "training.metrics.0: Input should be 'accuracy', 'auc', 'mae', 'mse' or "
            "'rmse' (got 'acuracy'; did you mean `accuracy`?)",
        ),
        (
            "training: {lr_schedule: {type: cosin, decay_steps: 10}}",
            "training.lr_schedule.type: Input should be "
            "'exponential', 'cosine' or 'reduce_on_plateau' (got 'cosin'; did you mean `cosine`?)",
        ),
        (
            "training: {threads: autoo}",
            "training.threads: Input should be 'auto'; or: Input should be a valid "
            "integer (got 'autoo'; did you mean `auto`?)",
        ),
        (
            "search: {space: {training.epochs: {type: innt, low: 1, high: 2}}}",
            "search.space.training.epochs.type: "
            "Input should be 'float', 'int' or 'choice' (got 'innt'; did you mean `int`?)",
        ),
    ],
)
def test_a_misspelt_value_of_an_enumerated_field_gets_a_suggestion(tmp_path, text, expected):
    found = problems(tmp_path, MINIMAL + text + "\n")
    assert len(found) == 1 and found[0].endswith(expected), found


def test_an_activation_far_from_any_lists_them_without_a_suggestion(tmp_path):
    found = problems(tmp_path, "name: t\ndataset: {name: iris}\nmodel: {architecture: mlp, activation: zzz}\n")
    assert found[0].endswith(
        "model.activation: Input should be 'relu', 'sigmoid', 'tanh', 'leaky_relu', 'elu', "
        "'selu', 'gelu', 'softmax' or 'linear' (got 'zzz')"
    )


def test_keys_with_spaces_or_newlines_stay_on_one_line(tmp_path):
    """Found by the fuzz test's one-line assertion: a key holding a newline split the message."""
    found = problems(tmp_path, MINIMAL + 'training: {"learning\\nrate": 1}\n')
    assert found == [
        f'{tmp_path / "exp.yaml"}:4:12: training."learning\\nrate": unknown field `"learning\\nrate"`'
        " (did you mean `learning_rate`?)"
    ]


# --- --seed and --name are named as typed (issue 16) -------------------------------------------------------


def test_seed_and_name_options_are_named_in_messages(tmp_path):
    """Through a real `annctl train` process: the options are turned into spec fields in the CLI."""
    import subprocess
    import sys

    experiment = EXPERIMENTS / "iris_mlp.yaml"
    command = [sys.executable, "-m", "annctl", "train", str(experiment), "--seed", "-1", "--name", "a b"]
    result = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [
        f"error: {experiment}: --name: name: String should match pattern '^[A-Za-z0-9][A-Za-z0-9._-]{{0,63}}$' "
        "(got 'a b')",
        f"error: {experiment}: --seed: seed: Input should be greater than or equal to 0 (got -1)",
    ]
    assert not (tmp_path / "runs").exists()


def test_an_option_wins_over_set_and_is_named_alone(tmp_path):
    path = EXPERIMENTS / "iris_mlp.yaml"
    with pytest.raises(SpecError) as info:
        load_spec(path, ["seed=3"], [("--seed", "seed", -5)])
    assert info.value.problems == [f"{path}: --seed: seed: Input should be greater than or equal to 0 (got -5)"]
    assert load_spec(path, ["seed=-3"], [("--seed", "seed", 5)]).seed == 5


# --- `annctl validate` checks what it can without TensorFlow, every problem once (issue 18 item 6) ----------


def validate(*args: str) -> tuple[int, list[str]]:
    from typer.testing import CliRunner

    from annctl.cli import app

    result = CliRunner().invoke(app, ["validate", *map(str, args)])
    return result.exit_code, result.stderr.splitlines()


def csv_experiment(tmp_path: Path, dataset: str, csv_text: str | bytes = "a;b;target\n1;2;x\n") -> Path:
    data = tmp_path / "data.csv"
    data.write_bytes(csv_text if isinstance(csv_text, bytes) else csv_text.encode())
    path = tmp_path / "exp.yaml"
    path.write_text(f"name: t\ndataset:\n  name: csv\n{dataset}model: {{architecture: mlp}}\n")
    return path


def test_validate_reads_the_csv_header_with_the_spec_dialect(tmp_path):
    path = csv_experiment(tmp_path, "  path: data.csv\n  delimiter: ';'\n  target: targt\n  features: [a, bb]\n")
    assert validate(path) == (
        2,
        [
            f"error: {path}:6:3: dataset.target: no column 'targt' (did you mean `target`?); columns: a, b, target",
            f"error: {path}:7:17: dataset.features.1: no column 'bb' (did you mean `b`?); columns: a, b, target",
        ],
    )
    path = csv_experiment(tmp_path, "  path: data.csv\n  delimiter: ';'\n  target: target\n  features: [a, b]\n")
    assert validate(path)[0] == 0
    path = csv_experiment(tmp_path, "  path: data.csv\n  header: false\n  delimiter: ';'\n  target: column_4\n")
    assert validate(path)[1] == [
        f"error: {path}:7:3: dataset.target: no column 'column_4' (did you mean `column_3`?); "
        "columns: column_1, column_2, column_3"
    ]


def test_validate_reports_a_csv_file_that_cannot_be_read(tmp_path):
    path = csv_experiment(tmp_path, "  path: missing.csv\n  target: y\n")
    assert validate(path) == (2, [f"error: {path}:4:3: dataset.path: no such file: {tmp_path / 'missing.csv'}"])
    (tmp_path / "folder.csv").mkdir()
    path = csv_experiment(tmp_path, "  path: folder.csv\n  target: y\n")
    assert validate(path)[1] == [
        f"error: {path}:4:3: dataset.path: {tmp_path / 'folder.csv'} is a directory, not a CSV file"
    ]
    path = csv_experiment(tmp_path, "  path: data.csv\n  target: y\n", "")
    assert validate(path)[1] == [
        f"error: {path}:4:3: dataset.path: {tmp_path / 'data.csv'} is empty; expected a header row and data rows"
    ]
    path = csv_experiment(tmp_path, "  path: data.csv\n  target: café\n", "x,café\n1,2\n".encode("latin-1"))
    assert validate(path)[1] == [
        f"error: {path}:2:1: dataset.encoding: {tmp_path / 'data.csv'}:1: not utf-8 text (invalid continuation byte "
        "at byte 5); set dataset.encoding to the file's encoding (e.g. cp1252, latin-1, utf-16)"
    ]
    path = csv_experiment(tmp_path, "  path: data.csv\n  target: y\n  encoding: klingon\n")
    assert validate(path)[1] == [f"error: {path}:6:3: dataset.encoding: unknown encoding 'klingon'"]


@pytest.mark.parametrize(
    ("dataset", "expected"),
    [
        (
            "{name: iris, features: [petal_lenght, petal_width]}",
            "2:34: dataset.features.0: no feature 'petal_lenght' (did you mean `petal_length`?); features: "
            "sepal_length, sepal_width, petal_length, petal_width",
        ),
        (
            "{name: iris, positive_class: setosaa}",
            "2:23: dataset.positive_class: no class 'setosaa' (did you mean `setosa`?); classes: setosa, versicolor, "
            "virginica",
        ),
        (
            "{name: california_housing, features: [MedInc, HouseAg]}",
            "2:56: dataset.features.1: no feature 'HouseAg' (did you mean `HouseAge`?); features: MedInc, HouseAge, "
            "AveRooms, AveBedrms, Population, AveOccup, Latitude, Longitude",
        ),
        (
            "{name: california_housing, positive_class: x}",
            "2:37: dataset.positive_class: applies to classification datasets only",
        ),
        (
            "{name: fashion_mnist, classes: [Sandal, shirt]}",
            "2:50: dataset.classes.1: no class 'shirt' (did you mean `Shirt`?); classes: T-shirt/top, Trouser, "
            "Pullover, Dress, Coat, Sandal, Shirt, Sneaker, Bag, Ankle boot",
        ),
    ],
)
def test_validate_checks_names_known_without_the_data(tmp_path, dataset, expected):
    path = tmp_path / "exp.yaml"
    path.write_text(f"name: t\ndataset: {dataset}\nmodel: {{architecture: mlp}}\n")
    assert validate(path) == (2, [f"error: {path}:{expected}"])


@pytest.mark.realdata
@pytest.mark.skipif(not os.environ.get("SCIKIT_LEARN_DATA"), reason="SCIKIT_LEARN_DATA not set")
def test_california_feature_names_match_scikit_learn():
    """validate checks `features` against a constant; the loader takes scikit-learn's names: they must agree."""
    from sklearn.datasets import fetch_california_housing

    from annctl.datasets.california import FEATURES

    assert list(fetch_california_housing(download_if_missing=False).feature_names) == FEATURES


def test_validate_does_not_need_the_data_itself(tmp_path, monkeypatch):
    monkeypatch.setenv("ANNCTL_DATA_DIR", str(tmp_path / "empty"))
    monkeypatch.setenv("HOME", str(tmp_path))
    assert validate(EXPERIMENTS / "fashion_mnist_mlp.yaml")[0] == 0


def test_validate_resolves_init_from_in_the_runs_root(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text("name: t\ndataset: {name: iris}\nmodel: {architecture: mlp, init_from: source}\n")
    root = tmp_path / "elsewhere"
    assert validate(path, "--runs-dir", root) == (
        2,
        [
            f"error: {path}:3:28: model.init_from: source: no such run directory, and no run in {root} is named or "
            "starts with that"
        ],
    )
    run = root / "source-20260101T000000-abcdef"
    run.mkdir(parents=True)
    (run / "spec.yaml").write_text("name: source\n")
    assert validate(path, "--runs-dir", root)[0] == 0


SEARCH = """\
name: t
dataset: {name: iris}
model: {architecture: mlp, hidden_units: [4]}
search:
  space:
    model.hiden_units: {type: choice, values: [[4], [8]]}
    training.learning_rate: {type: float, low: 0.001, high: 20}
    training.epochs: {type: innt, low: 1, high: 3}
    name: {type: choice, values: [a, b]}
    training.batch_size: {type: choice, values: [8, 0]}
"""


def test_every_search_problem_once_in_one_pass(tmp_path):
    """Before: three fix-and-rerun rounds, and the typo reported under every other parameter too."""
    found = problems(tmp_path, SEARCH)
    path = tmp_path / "exp.yaml"
    assert found == [
        f"{path}:6:5: search.space.model.hiden_units: model.hiden_units: unknown field `hiden_units` "
        "(did you mean `hidden_units`?)",
        f"{path}:7:5: search.space.training.learning_rate: value 20.0 is invalid: training.learning_rate: "
        "Input should be less than or equal to 10 (got 20.0)",
        f"{path}:8:23: search.space.training.epochs.type: Input should be 'float', 'int' or 'choice' "
        "(got 'innt'; did you mean `int`?)",
        f"{path}:9:5: search.space.name: name cannot be searched",
        f"{path}:10:5: search.space.training.batch_size: value 0 is invalid: training.batch_size: "
        "Input should be greater than or equal to 1 (got 0)",
    ]


def test_a_broken_parameter_still_has_its_path_checked(tmp_path):
    found = problems(tmp_path, MINIMAL + "search:\n  space:\n    training.lerning_rate: {type: float, low: 1, hi: 2}\n")
    path = tmp_path / "exp.yaml"
    assert found == [
        f"{path}:6:5: search.space.training.lerning_rate: training.lerning_rate: unknown field `lerning_rate` "
        "(did you mean `learning_rate`?)",
        f"{path}:6:5: search.space.training.lerning_rate.high: required field missing",
        f"{path}:6:50: search.space.training.lerning_rate.hi: unknown field `hi` (did you mean `high`?)",
    ]


def test_a_searched_value_made_valid_by_another_parameter_is_not_blamed(tmp_path):
    text = MINIMAL + (
        "search:\n  space:\n    training.optimizer: {type: choice, values: [sgd, rmsprop]}\n"
        "    training.momentum: {type: float, low: 0.5, high: 0.9}\n"
    )
    (tmp_path / "e.yaml").write_text(text)
    assert load_spec(tmp_path / "e.yaml").search is not None
    found = problems(tmp_path, text.replace("[sgd, rmsprop]", "[adam, sgd]"))
    assert found == [
        f"{tmp_path / 'exp.yaml'}:7:5: search.space.training.momentum: value 0.5 is invalid: training: "
        "momentum applies to sgd and rmsprop only, not adam"
    ]


def test_validate_reports_every_kind_of_problem_in_one_run(tmp_path):
    """A real `annctl validate` process: fields, the CSV header, init_from and the search, all at once."""
    import subprocess
    import sys

    (tmp_path / "data.csv").write_text("a,b,target\n1,2,x\n")
    path = tmp_path / "exp.yaml"
    path.write_text(
        "name: t\ndataset: {name: csv, path: data.csv, target: targt, normalize: yes}\n"
        "model: {architecture: mlp, init_from: nothing}\ntraining: {epochs: '3'}\n"
        "search:\n  space:\n    training.batch_size: {type: int, low: 0, high: 8}\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "annctl", "validate", str(path), "--runs-dir", str(tmp_path / "runs")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.splitlines() == [
        f"error: {path}:2:38: dataset.target: no column 'targt' (did you mean `target`?); columns: a, b, target",
        f"error: {path}:2:53: dataset.normalize: Input should be a valid boolean (got 'yes'; write true or false)",
        f"error: {path}:3:28: model.init_from: nothing: no such run directory, and no run in {tmp_path / 'runs'} "
        "is named or starts with that",
        f"error: {path}:4:12: training.epochs: Input should be a valid integer (got '3'; write the number without "
        "quotes)",
        f"error: {path}:7:5: search.space.training.batch_size: value 0 is invalid: training.batch_size: Input should "
        "be greater than or equal to 1 (got 0)",
    ]


@pytest.mark.parametrize("path", sorted(EXPERIMENTS.glob("*.yaml")), ids=lambda path: path.stem)
def test_every_shipped_experiment_passes_the_complete_validate(path, tmp_path):
    """The CSV examples' files and headers, every name and init_from (fashion_mnist_transfer names a run of
    fashion_mnist_mlp: a run directory stands in for it)."""
    source = tmp_path / "runs" / "fashion_mnist_mlp-20260101T000000-abcdef"
    source.mkdir(parents=True)
    (source / "spec.yaml").write_text("name: fashion_mnist_mlp\n")
    stand_in = []
    if "name: image_folder" in path.read_text():  # its folder tree is made by make_examples.py: two classes stand in
        from PIL import Image

        for folder in ("training_set/a", "training_set/b", "test_set/a", "test_set/b"):
            (tmp_path / "tree" / folder).mkdir(parents=True)
            Image.new("L", (2, 2)).save(tmp_path / "tree" / folder / "0.png")  # an empty class folder is a problem
        tree = tmp_path / "tree"
        stand_in = ["--set", f"dataset.path={tree / 'training_set'}", "--set", f"dataset.test_path={tree / 'test_set'}"]
    assert validate(path, "--runs-dir", tmp_path / "runs", *stand_in) == (0, [])


def test_set_reaches_into_lists_by_index_and_refuses_indices_past_the_end():
    from annctl.config import apply_overrides

    data = {"model": {"hidden_units": [8, 4], "layers": [{"units": 3}]}}
    assert apply_overrides(data, ["model.hidden_units.1=16", "model.layers.0.units=5"]) == {
        ("model", "hidden_units", 1): "--set model.hidden_units.1",
        ("model", "layers", 0, "units"): "--set model.layers.0.units",
    }
    assert data["model"] == {"hidden_units": [8, 16], "layers": [{"units": 5}]}
    for item, message in [
        ("model.hidden_units.2=1", "index 2 is outside the list"),
        ("model.layers.1.units=1", "model.layers.1 does not exist"),
        ("model.hidden_units.0.x=1", "model.hidden_units.0 is a value, not a section"),
    ]:
        with pytest.raises(SpecError, match=re.escape(f"--set {item}: {message}")):
            apply_overrides(data, [item])
    assert data["model"] == {"hidden_units": [8, 16], "layers": [{"units": 5}]}  # nothing half-set


def test_the_spec_takes_tracking_by_set_and_a_search_cannot_search_it(tmp_path):
    experiment = write_experiment(tmp_path, "classification", name="spec_only")
    spec = load_spec(experiment, ["tracking.mlflow.uri=http://mlflow.example:5000"])
    assert spec.tracking.mlflow.uri == "http://mlflow.example:5000" and spec.tracking.mlflow.experiment is None
    assert load_spec(experiment).tracking is None  # off unless asked for
    with pytest.raises(SpecError, match="tracking.mlflow.port"):
        load_spec(experiment, ["tracking.mlflow.port=5000"])
    searched = tune_experiment(tmp_path, SPACE + "    tracking.mlflow.experiment: {type: choice, values: [a, b]}\n")
    with pytest.raises(SpecError, match="tracking cannot be searched"):
        load_spec(searched)


def test_every_bad_set_is_reported_not_only_the_first():
    from annctl.config import apply_overrides

    data = {"training": {"epochs": 1}}
    with pytest.raises(SpecError) as raised:
        apply_overrides(data, ["nopath", "training.epochs=[", "training.batch_size=[", "also bad"])
    assert len(raised.value.problems) == 4
    assert raised.value.problems[0] == "--set nopath: expected PATH=VALUE, e.g. training.epochs=3"
    assert raised.value.problems[1].startswith("--set training.epochs=[: ")


def test_an_experiment_file_that_cannot_be_read_says_why(tmp_path, monkeypatch):
    import errno
    import os
    from pathlib import Path

    from annctl.config import load_spec

    path = tmp_path / "x.yaml"
    path.write_text("name: x\n")

    def failing(self):
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(Path, "read_bytes", failing)
    with pytest.raises(SpecError) as raised:
        load_spec(path)
    assert raised.value.problems == [f"{path}: cannot read: {os.strerror(errno.EIO)}"]
