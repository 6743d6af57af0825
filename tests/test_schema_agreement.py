"""`annctl validate` and an independent JSON Schema validator (check-jsonschema, on the committed
experiment.schema.json) agree on a corpus of experiment files covering every section, wherever the schema can
express the rule. The rules it cannot express are listed below as known differences, one reason each.

Editors validate experiment files against the schema, so a file one accepts and the other refuses is a bug
in one of them (issue 18: `normalize: yes` was true for annctl and an error for editors).
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from annctl.cli import app

from .conftest import REPO

HEAD = "name: t\n"
IRIS = "dataset: {name: iris}\n"
MLP = "model: {architecture: mlp}\n"

# (id, the file after `name: t`, the field annctl and the schema must both name; None: valid for both)
CORPUS = [
    # top level
    ("minimal", IRIS + MLP, None),
    ("seed", "seed: 0\n" + IRIS + MLP, None),
    ("seed-negative", "seed: -1\n" + IRIS + MLP, "seed"),
    ("seed-quoted", "seed: '7'\n" + IRIS + MLP, "seed"),
    ("unknown-section", IRIS + MLP + "trainig: {}\n", "trainig"),
    ("unknown-top-key", "name2: x\n" + IRIS + MLP, "name2"),
    ("name-pattern", "name: 'a b'\n" + IRIS + MLP, "name"),
    ("name-number", "name: 7\n" + IRIS + MLP, "name"),
    # dataset variants
    (
        "iris-full",
        "dataset: {name: iris, test_split: 0.25, validation_split: 0.2, normalize: false, "
        "features: [petal_length, petal_width], positive_class: setosa, max_train_samples: 50}\n" + MLP,
        None,
    ),
    ("iris-normalize-yes", "dataset: {name: iris, normalize: yes}\n" + MLP, "dataset.normalize"),
    ("iris-normalize-off", "dataset: {name: iris, normalize: 'off'}\n" + MLP, "dataset.normalize"),
    ("iris-split-quoted", "dataset: {name: iris, test_split: '0.2'}\n" + MLP, "dataset.test_split"),
    ("iris-split-too-big", "dataset: {name: iris, test_split: 1}\n" + MLP, "dataset.test_split"),
    ("iris-features-empty", "dataset: {name: iris, features: []}\n" + MLP, "dataset.features"),
    ("unknown-dataset", "dataset: {name: irsi}\n" + MLP, "dataset"),
    ("california", "dataset: {name: california_housing, features: [MedInc]}\n" + MLP, None),
    (
        "fashion",
        "dataset: {name: fashion_mnist, validation_size: 100, classes: [Sandal, Shirt]}\nmodel: {architecture: cnn}\n",
        None,
    ),
    ("fashion-one-class", "dataset: {name: fashion_mnist, classes: [Sandal]}\n" + MLP, "dataset.classes"),
    ("fashion-size-bool", "dataset: {name: fashion_mnist, validation_size: true}\n" + MLP, "dataset.validation_size"),
    ("xor", "dataset: {name: xor}\n" + MLP, None),
    ("xor-extra", "dataset: {name: xor, normalize: true}\n" + MLP, "dataset.normalize"),
    (
        "csv",
        "dataset: {name: csv, path: data.csv, target: target, delimiter: ',', header: true, "
        "missing: mean, task: classification}\n" + MLP,
        None,
    ),
    ("csv-no-target", "dataset: {name: csv, path: data.csv}\n" + MLP, "dataset.target"),
    ("csv-header-no", "dataset: {name: csv, path: data.csv, target: target, header: no}\n" + MLP, "dataset.header"),
    (
        "csv-delimiter-long",
        "dataset: {name: csv, path: data.csv, target: target, delimiter: ';;'}\n" + MLP,
        "dataset.delimiter",
    ),
    (
        "csv-missing-enum",
        "dataset: {name: csv, path: data.csv, target: target, missing: zero}\n" + MLP,
        "dataset.missing",
    ),
    ("inline", "dataset: {name: inline, x: [[0.05, 0.1]], y: [[0.01, 0.99]]}\n" + MLP, None),
    ("inline-quoted-number", "dataset: {name: inline, x: [[0.05, '0.1']], y: [1]}\n" + MLP, "dataset.x.0.1"),
    ("inline-task", "dataset: {name: inline, x: [[1]], y: [0], task: classify}\n" + MLP, "dataset.task"),
    # model variants
    (
        "mlp-full",
        IRIS + "model: {architecture: mlp, hidden_units: [8, 4], activation: tanh, dropout: [0.1, 0.2], "
        "batch_norm: true, l2: 0.001, kernel_initializer: he_normal}\n",
        None,
    ),
    ("mlp-units-zero", IRIS + "model: {architecture: mlp, hidden_units: [0]}\n", "model.hidden_units.0"),
    ("mlp-units-quoted", IRIS + "model: {architecture: mlp, hidden_units: ['8']}\n", "model.hidden_units.0"),
    ("mlp-activation", IRIS + "model: {architecture: mlp, activation: rleu}\n", "model.activation"),
    ("mlp-batch-norm-0", IRIS + "model: {architecture: mlp, batch_norm: 0}\n", "model.batch_norm"),
    (
        "cnn-kernel-quoted",
        "dataset: {name: fashion_mnist}\nmodel: {architecture: cnn, kernel_size: '3'}\n",
        "model.kernel_size",
    ),
    ("perceptron", IRIS + "model: {architecture: perceptron}\n", None),
    ("perceptron-extra", IRIS + "model: {architecture: perceptron, hidden_units: [3]}\n", "model.hidden_units"),
    (
        "wide-deep",
        "dataset: {name: california_housing}\nmodel: {architecture: wide_deep, aux_output: {loss_weight: 0.2}}\n",
        None,
    ),
    (
        "wide-deep-aux",
        "dataset: {name: california_housing}\nmodel: {architecture: wide_deep, aux_output: {loss_weight: 2}}\n",
        "model.aux_output.loss_weight",
    ),
    (
        "wide-deep-subclassed",
        "dataset: {name: california_housing}\nmodel: {architecture: wide_deep_subclassed}\n",
        None,
    ),
    ("unknown-architecture", IRIS + "model: {architecture: transformer}\n", "model"),
    # training
    (
        "training-full",
        IRIS + MLP + "training: {optimizer: sgd, learning_rate: 1, momentum: 0.9, nesterov: true, "
        "epochs: 3, batch_size: 8, shuffle: false, threads: 2, mixed_precision: bfloat16, "
        "early_stopping: {patience: 2}, lr_schedule: {type: exponential, decay_steps: 10}}\n",
        None,
    ),
    ("epochs-quoted", IRIS + MLP + 'training: {epochs: "3"}\n', "training.epochs"),
    ("epochs-bool", IRIS + MLP + "training: {epochs: true}\n", "training.epochs"),
    ("shuffle-0", IRIS + MLP + "training: {shuffle: 0}\n", "training.shuffle"),
    ("learning-rate-bool", IRIS + MLP + "training: {learning_rate: true}\n", "training.learning_rate"),
    ("learning-rate-high", IRIS + MLP + "training: {learning_rate: 11}\n", "training.learning_rate"),
    ("optimizer", IRIS + MLP + "training: {optimizer: adma}\n", "training.optimizer"),
    ("metrics", IRIS + MLP + "training: {metrics: [acuracy]}\n", "training.metrics.0"),
    ("threads-auto", IRIS + MLP + "training: {threads: auto}\n", None),
    ("threads-zero", IRIS + MLP + "training: {threads: 0}\n", "training.threads"),
    ("threads-quoted", IRIS + MLP + "training: {threads: '2'}\n", "training.threads"),
    ("early-stopping", IRIS + MLP + "training: {early_stopping: {patience: -1}}\n", "training.early_stopping.patience"),
    ("schedule-missing", IRIS + MLP + "training: {lr_schedule: {type: cosine}}\n", "training.lr_schedule.decay_steps"),
    ("schedule-type", IRIS + MLP + "training: {lr_schedule: {type: cosin, decay_steps: 5}}\n", "training.lr_schedule"),
    # output
    ("output", IRIS + MLP + "output: {tensorboard: false, histogram_freq: 1, checkpoint_monitor: val_loss}\n", None),
    ("output-tensorboard", IRIS + MLP + "output: {tensorboard: 'false'}\n", "output.tensorboard"),
    ("output-histogram", IRIS + MLP + "output: {histogram_freq: 1.5}\n", "output.histogram_freq"),
    # search
    (
        "search",
        IRIS + MLP + "search:\n  metric: val_loss\n  direction: minimize\n  space:\n"
        "    training.learning_rate: {type: float, low: 0.001, high: 0.1, log: true}\n"
        "    training.batch_size: {type: int, low: 8, high: 32, step: 8}\n"
        "    model.hidden_units: {type: choice, values: [[4], [8, 8]]}\n",
        None,
    ),
    ("search-empty", IRIS + MLP + "search: {space: {}}\n", "search.space"),
    (
        "search-type",
        IRIS + MLP + "search: {space: {training.epochs: {type: innt, low: 1, high: 2}}}\n",
        "search.space.training.epochs",
    ),
    (
        "search-low-quoted",
        IRIS + MLP + "search: {space: {training.epochs: {type: int, low: '1', high: 2}}}\n",
        "search.space.training.epochs.low",
    ),
    (
        "search-log-yes",
        IRIS + MLP + "search: {space: {training.learning_rate: {type: float, low: 0.1, high: 1, log: yes}}}\n",
        "search.space.training.learning_rate.log",
    ),
    (
        "search-direction",
        IRIS + MLP + "search: {direction: up, space: {training.epochs: {type: int, low: 1, high: 2}}}\n",
        "search.direction",
    ),
]

# Rules JSON Schema cannot express: annctl refuses these files, the schema accepts them.
KNOWN_DIFFERENCES = [
    (
        "integral-float",
        IRIS + MLP + "training: {epochs: 3.0}\n",
        "training.epochs",
        "JSON Schema's integer includes 3.0 (the JSON data model has one kind of number); annctl wants `3`",
    ),
    (
        "momentum-with-adam",
        IRIS + MLP + "training: {optimizer: adam, momentum: 0.9}\n",
        "training",
        "cross-field: momentum applies to sgd and rmsprop only",
    ),
    (
        "one-kind-of-clipping",
        IRIS + MLP + "training: {clipnorm: 1.0, clipvalue: 0.5}\n",
        "training",
        "cross-field: Keras' optimizers take one kind of gradient clipping",
    ),
    (
        "gradient-norms-one-replica",
        IRIS + MLP + "training: {distribution: mirrored}\noutput: {gradient_norms: true}\n",
        "output",
        "cross-section: gradient norms are measured without a distribution strategy",
    ),
    (
        "dropout-per-layer",
        IRIS + "model: {architecture: mlp, hidden_units: [4, 4], dropout: [0.1]}\n",
        "model.dropout",
        "cross-field: one rate per hidden layer",
    ),
    (
        "loss-for-the-task",
        IRIS + MLP + "training: {loss: mse}\n",
        "training.loss",
        "depends on the dataset's task (iris is classification)",
    ),
    (
        "unknown-monitor",
        IRIS + MLP + "training: {early_stopping: {monitor: val_acc}}\n",
        "training.early_stopping.monitor",
        "depends on the metrics the run logs",
    ),
    (
        "iris-feature-name",
        "dataset: {name: iris, features: [petal_lenght]}\n" + MLP,
        "dataset.features.0",
        "a dataset's own names (a list kept in code, not in the schema)",
    ),
    (
        "csv-file-missing",
        "dataset: {name: csv, path: nowhere.csv, target: y}\n" + MLP,
        "dataset.path",
        "a file on disk",
    ),
    (
        "csv-column",
        "dataset: {name: csv, path: data.csv, target: y}\n" + MLP,
        "dataset.target",
        "the CSV file's header",
    ),
    ("init-from", IRIS + "model: {architecture: mlp, init_from: no_such_run}\n", "model.init_from", "the runs on disk"),
    (
        "search-low-above-high",
        IRIS + MLP + "search: {space: {training.epochs: {type: int, low: 3, high: 2}}}\n",
        "search.space.training.epochs",
        "cross-field: low ≤ high",
    ),
    (
        "search-path",
        IRIS + MLP + "search: {space: {model.hiden_units: {type: choice, values: [[4]]}}}\n",
        "search.space.model.hiden_units",
        "a searched path must name a field of the experiment",
    ),
    (
        "search-value",
        IRIS + MLP + "search: {space: {training.epochs: {type: int, low: 0, high: 2}}}\n",
        "search.space.training.epochs",
        "each sampled value must fit the field it sets",
    ),
]


def write_corpus(directory: Path, cases) -> list[Path]:
    (directory / "data.csv").write_text("a,b,target\n1,2,x\n3,4,y\n")
    paths = []
    for case_id, body, *_ in cases:
        path = directory / f"{case_id}.yaml"
        path.write_text(body if body.startswith("name:") else HEAD + body)
        paths.append(path)
    return paths


def annctl_verdicts(paths: list[Path]) -> dict[str, list[str]]:
    """File name → the problem lines of `annctl validate` (empty when valid)."""
    runner = CliRunner()
    verdicts = {}
    for path in paths:
        result = runner.invoke(app, ["validate", str(path), "--runs-dir", str(path.parent / "runs")])
        assert result.exit_code in (0, 2), result.output
        verdicts[path.name] = result.stderr.splitlines() if result.exit_code else []
    return verdicts


def schema_verdicts(paths: list[Path]) -> dict[str, list[tuple[str, str]]]:
    """File name → the (JSON path, message) pairs check-jsonschema reports (none when valid), from one real
    process."""
    command = Path(sys.executable).parent / "check-jsonschema"
    result = subprocess.run(
        [str(command), "--schemafile", str(REPO / "experiment.schema.json"), "-o", "json", *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    report = json.loads(result.stdout)
    assert not report["parse_errors"], report["parse_errors"]
    verdicts: dict[str, list[tuple[str, str]]] = {path.name: [] for path in paths}
    for error in report["errors"]:
        name = Path(error["filename"]).name
        verdicts[name].append((error["path"], error["message"]))
        if "best_deep_match" in error:
            verdicts[name].append((error["best_deep_match"]["path"], error["best_deep_match"]["message"]))
    return verdicts


def json_path(dotted: str) -> str:
    """`model.hidden_units.0` → `$.model.hidden_units[0]` (check-jsonschema's notation)."""
    out = "$"
    for part in dotted.split("."):
        out += f"[{part}]" if part.isdigit() else f".{part}"
    return out


def names(reported: list[tuple[str, str]], field: str) -> bool:
    """Whether the schema's errors name the field: at its path; at a union holding it (JSON Schema ignores
    pydantic's `discriminator`, so it reports a union's failure at the union, e.g. `$.dataset`); or, for an
    unknown key, at its parent with the key in the message."""
    target = json_path(field)
    parent, _, key = target.rpartition(".")
    for path, message in reported:
        if path == parent and f"'{key}' was unexpected" in message:
            return True
        if path != "$" and (target == path or target.startswith(path + ".") or target.startswith(path + "[")):
            return True
    return False


@pytest.fixture(scope="module")
def verdicts(tmp_path_factory):
    directory = tmp_path_factory.mktemp("corpus")
    paths = write_corpus(directory, CORPUS + KNOWN_DIFFERENCES)
    return annctl_verdicts(paths), schema_verdicts(paths), directory


@pytest.mark.parametrize(("case_id", "body", "field"), CORPUS, ids=[case[0] for case in CORPUS])
def test_annctl_and_the_schema_agree(verdicts, case_id, body, field):
    by_annctl, by_schema, directory = verdicts
    annctl_lines, schema_paths = by_annctl[f"{case_id}.yaml"], by_schema[f"{case_id}.yaml"]
    if field is None:
        assert annctl_lines == [] and schema_paths == [], (annctl_lines, schema_paths)
        return
    path = directory / f"{case_id}.yaml"
    assert len(annctl_lines) == 1 and annctl_lines[0].startswith(f"error: {path}:"), annctl_lines
    assert f": {field}: " in annctl_lines[0] or f": {field}." in annctl_lines[0], annctl_lines
    assert names(schema_paths, field), schema_paths


@pytest.mark.parametrize(
    ("case_id", "body", "field", "reason"), KNOWN_DIFFERENCES, ids=[case[0] for case in KNOWN_DIFFERENCES]
)
def test_known_differences_are_only_what_the_schema_cannot_express(verdicts, case_id, body, field, reason):
    """annctl refuses each, naming the field; the schema accepts each (if it learns one, move it to CORPUS)."""
    by_annctl, by_schema, _ = verdicts
    annctl_lines = by_annctl[f"{case_id}.yaml"]
    assert len(annctl_lines) == 1 and (f": {field}: " in annctl_lines[0]), annctl_lines
    assert by_schema[f"{case_id}.yaml"] == [], reason
