"""`annctl export`: every architecture and kind of input, each format, verified in a process without annctl.

Runs are trained once (1 epoch on generated data) for the module. Each export runs its own verification in a
`python -I` process where annctl cannot be imported; on top of that, the README's ways of using an export
(the REST body TensorFlow Serving takes, plain TensorFlow, TFLite) are run here in a process of our own
without annctl, against `annctl predict`.
"""

import csv
import io
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from annctl.cli import app
from annctl.config import load_spec, spec_from_text
from annctl.datasets import DATASETS
from annctl.errors import UsageError
from annctl.export.exporter import export_run
from annctl.export.signature import argument_name, signature_inputs
from annctl.fileio import sha256_file
from annctl.modelio import load_run_model
from annctl.models import ARCHITECTURES
from annctl.records import DataInfo
from annctl.rundir import read_data_info
from annctl.training import train

from .conftest import REPO

runner = CliRunner()
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}


def write_mixed_csv(path: Path, gaps: bool) -> Path:
    """48 rows: two numeric columns and a text column (with gaps in all three when ``gaps``), a text target."""
    rng = np.random.default_rng(3)
    lines = ["size,weight,color,label"]
    for i in range(48):
        size, weight = rng.normal(size=2).round(3)
        color = ["red", "green", "blue"][i % 3]
        label = "big" if size + (color == "red") > 0.5 else "small"
        cells = [str(size), str(weight), color]
        if gaps and i % 5 == 1:
            cells[i % 3] = "" if i % 2 else "NA"
        lines.append(",".join([*cells, label]))
    path.write_text("\n".join(lines) + "\n")
    return path


def example_document(architecture: str, kind: str, directory: Path) -> tuple[dict, dict]:
    """(experiment, environment) of the registry's tiny example for this architecture and kind."""
    (entry,) = [e for e in DATASETS.values() if e.kind == kind and e.smoke_reference]
    example = entry.example(directory)
    document = {
        "name": f"{architecture}_{kind}",
        "dataset": example.fields,
        "model": {"architecture": architecture, **ARCHITECTURES.get(architecture).example},
        "training": {"epochs": 1, "batch_size": 8},
    }
    if architecture == "perceptron":  # its default rate 1 makes scores in the hundreds: keep them near 1, so the
        document["training"]["learning_rate"] = 0.01  # absolute difference check_verified makes stays meaningful
    return document, example.env


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """One tiny run per case, trained once: (run directory, environment its data needs)."""
    base = tmp_path_factory.mktemp("export")
    documents = {
        "csv_gaps": (
            {
                "name": "csv_gaps",
                "dataset": {
                    "name": "csv",
                    "path": str(write_mixed_csv(base / "gaps.csv", gaps=True)),
                    "target": "label",
                    "missing": "most_frequent",
                },
                "model": {"architecture": "mlp", "hidden_units": [4]},
                "training": {"epochs": 1, "batch_size": 8},
            },
            {},
        ),
        "csv_text": (
            {
                "name": "csv_text",
                "dataset": {
                    "name": "csv",
                    "path": str(write_mixed_csv(base / "text.csv", gaps=False)),
                    "target": "label",
                },
                "model": {"architecture": "mlp", "hidden_units": [4]},
                "training": {"epochs": 1, "batch_size": 8},
            },
            {},
        ),
        "iris_mlp": (
            {
                "name": "iris_mlp",
                "dataset": {"name": "iris"},
                "model": {"architecture": "mlp", "hidden_units": [4]},
                "training": {"epochs": 1, "batch_size": 16},
            },
            {},
        ),
        "iris_mixed": (
            {
                "name": "iris_mixed",
                "dataset": {"name": "iris"},
                "model": {"architecture": "mlp", "hidden_units": [4]},
                "training": {"epochs": 1, "batch_size": 16, "mixed_precision": "float16"},
            },
            {},
        ),
        "perceptron": example_document("perceptron", "tabular", base / "perceptron"),
        "wide_deep": example_document("wide_deep", "tabular", base / "wide_deep"),
        "subclassed": example_document("wide_deep_subclassed", "tabular", base / "subclassed"),
        "cnn": example_document("cnn", "image", base / "images"),
        "mlp_image": example_document("mlp", "image", base / "images"),
        "perceptron_image": example_document("perceptron", "image", base / "images"),
    }
    made = {}
    for case, (document, env) in documents.items():
        with pytest.MonkeyPatch.context() as patch:
            for key, value in env.items():
                patch.setenv(key, value)
            summary = train(spec_from_text(json.dumps(document), f"<{case}>"), base / "runs")
        assert summary.status == "completed", (case, summary.error)
        made[case] = (Path(summary.run_dir), env)
    return made


def exported(runs, monkeypatch, case: str, fmt: str, **options):
    run_dir, env = runs[case]
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return run_dir, export_run(run_dir, fmt, **options)


def check_verified(manifest, rows: int | None = None) -> None:
    check = manifest.verification
    assert check.passed and not check.annctl_importable
    assert check.max_abs_difference <= check.tolerance
    assert check.metric is not None and check.metric.annctl is not None
    if rows is not None:
        assert check.rows == rows


def signature_of(path: Path):
    import tensorflow as tf

    function = tf.saved_model.load(str(path)).signatures["serving_default"]
    inputs = function.structured_input_signature[1]
    return {name: (spec.dtype.name, spec.shape.as_list()) for name, spec in inputs.items()}, function


# -- SavedModel: the signature users call -------------------------------------------------------------------


@pytest.mark.slow
def test_csv_with_text_and_gaps_savedmodel_takes_raw_columns(runs, monkeypatch):
    run_dir, manifest = exported(runs, monkeypatch, "csv_gaps", "savedmodel")
    check_verified(manifest)
    target = Path(manifest.path)
    assert target == run_dir / "export" / "savedmodel"
    inputs, function = signature_of(target)
    assert inputs == {"size": ("float32", [None]), "weight": ("float32", [None]), "color": ("string", [None])}
    assert set(function.structured_outputs) == {"probabilities", "class_name"}
    assert (target / "assets" / "labels.txt").read_text().splitlines() == ["big", "small"]
    assert manifest.signature_inputs == {"size": "size", "weight": "weight", "color": "color"}
    # a row with gaps, as raw cells: NaN for a number, "" for text — filled inside as annctl fills them
    import tensorflow as tf

    out = function(size=tf.constant([np.nan, 0.4]), weight=tf.constant([0.1, np.nan]), color=tf.constant(["", "red"]))
    assert out["probabilities"].shape == (2, 1) and set(out["class_name"].numpy()) <= {b"big", b"small"}
    written = json.loads((target / "export.json").read_text())
    assert written["source"]["model_sha256"] == json.loads((run_dir / "summary.json").read_text())["model_sha256"]
    import jsonschema

    jsonschema.validate(written, json.loads((REPO / "schemas" / "export.schema.json").read_text()))


@pytest.mark.slow
def test_subclassed_wide_deep_signature_says_wide_and_deep(runs, monkeypatch):
    run_dir, manifest = exported(runs, monkeypatch, "subclassed", "savedmodel")
    check_verified(manifest)
    inputs, function = signature_of(Path(manifest.path))
    assert inputs == {"wide": ("float32", [None, 1]), "deep": ("float32", [None, 2])}  # example: [0] and [1, 2]
    outputs = {"probabilities", "class_name", "aux_probabilities", "aux_class_name"}  # the example classifies
    assert set(function.structured_outputs) == outputs
    # exporting again replaces the earlier export, and leaves no scratch folder behind
    _, again = exported(runs, monkeypatch, "subclassed", "savedmodel")
    assert again.path == manifest.path and again.verification.passed
    assert sorted(p.name for p in (run_dir / "export").iterdir()) == ["savedmodel"]


@pytest.mark.slow
def test_multi_input_multi_output_wide_deep_all_formats(runs, monkeypatch):
    for fmt in ("savedmodel", "tflite", "keras"):
        _, manifest = exported(runs, monkeypatch, "wide_deep", fmt)
        check_verified(manifest)
        assert {t.name for t in manifest.inputs} == {"wide", "deep"}
        names = [t.name for t in manifest.outputs]
        signature = ["probabilities", "class_name", "aux_probabilities", "aux_class_name"]
        assert names == (["main", "aux"] if fmt == "keras" else signature)


@pytest.mark.slow
def test_image_model_takes_raw_pixels_in_every_format(runs, monkeypatch):
    for fmt in ("savedmodel", "keras", "tflite"):
        _, manifest = exported(runs, monkeypatch, "cnn", fmt)
        check_verified(manifest, rows=10)
        (image,) = manifest.inputs
        assert (image.name, image.dtype, image.shape) == ("image", "uint8", [None, 28, 28])
        assert manifest.class_names[0] == "T-shirt/top"


@pytest.mark.slow
@pytest.mark.parametrize("case", ["mlp_image", "perceptron_image"])
def test_other_architectures_on_images(runs, monkeypatch, case):
    _, manifest = exported(runs, monkeypatch, case, "tflite")
    check_verified(manifest, rows=10)
    assert manifest.outputs[0].name == ("score" if case.startswith("perceptron") else "probabilities")


# -- TFLite -----------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_tflite_of_a_csv_model_with_text_gaps_matches_keras(runs):
    # its FillMissing on a text column (tf.strings.strip) becomes built-in operators, as on the light path
    run_dir, env = runs["csv_gaps"]
    result = subprocess.run(
        [sys.executable, "-m", "annctl", "export", str(run_dir), "--format", "tflite"],
        capture_output=True,
        text=True,
        env={**ENV, **env},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(run_dir / "export" / "model.tflite")
    verification = json.loads((run_dir / "export" / "model.tflite.json").read_text())["verification"]
    assert verification["passed"] and verification["rows"] == 10  # the test split
    assert verification["max_abs_difference"] <= verification["tolerance"]


@pytest.mark.slow
def test_mixed_precision_model_tflite_refused_savedmodel_compared_at_16_bit(runs, monkeypatch):
    with pytest.raises(UsageError, match=r"layer 'normalize' computes in float16 \(training.mixed_precision\)"):
        exported(runs, monkeypatch, "iris_mixed", "tflite")
    _, manifest = exported(runs, monkeypatch, "iris_mixed", "savedmodel")
    check_verified(manifest)
    assert manifest.verification.tolerance == 1e-2 and "mixed precision" in manifest.notes[0]
    assert [t.dtype for t in manifest.outputs] == ["float32", "string"]  # output layers compute in float32


@pytest.mark.slow
def test_tflite_takes_text_columns_without_gaps(runs, monkeypatch):
    _, manifest = exported(runs, monkeypatch, "csv_text", "tflite")
    check_verified(manifest)
    assert {t.name: t.dtype for t in manifest.inputs} == {"size": "float32", "weight": "float32", "color": "string"}


@pytest.mark.slow
def test_perceptron_in_every_format(runs, monkeypatch):
    for fmt in ("savedmodel", "tflite"):
        _, manifest = exported(runs, monkeypatch, "perceptron", fmt)
        check_verified(manifest)
        assert manifest.outputs[0].name == "score" and manifest.decision == "score"
    run_dir, manifest = exported(runs, monkeypatch, "perceptron", "keras", checkpoint="last")
    check_verified(manifest)
    assert manifest.compiled is False and "perceptron" in manifest.notes[0]
    assert Path(manifest.path) == run_dir / "export" / "last-model.keras"
    recorded = json.loads((run_dir / "checkpoints" / "manifest.json").read_text())["last"]["sha256"]
    assert manifest.source.checkpoint == "last" and manifest.source.model_sha256 == recorded


@pytest.mark.slow
def test_quantised_tflite_reports_the_test_accuracy_change(runs, monkeypatch):
    run_dir, env = runs["cnn"]
    result = subprocess.run(
        [sys.executable, "-m", "annctl", "export", str(run_dir), "--format", "tflite", "--quantize", "float16"],
        capture_output=True,
        text=True,
        env={**ENV, **env},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(run_dir / "export" / "model-float16.tflite")
    assert re.search(r"test accuracy: annctl \d\.\d{4}, export \d\.\d{4} \(change [+-]\d\.\d{4}\)", result.stderr)
    manifest = json.loads((run_dir / "export" / "model-float16.tflite.json").read_text())
    assert manifest["quantize"] == "float16" and manifest["verification"]["tolerance"] == 0.25
    assert manifest["verification"]["passed"] and manifest["verification"]["metric"]["name"] == "accuracy"


# -- Keras ------------------------------------------------------------------------------------------------------


def run_files(run_dir: Path) -> dict[str, str]:
    return {
        str(path.relative_to(run_dir)): sha256_file(path)
        for path in run_dir.rglob("*")
        if path.is_file() and "export" not in path.relative_to(run_dir).parts
    }


@pytest.mark.slow
def test_keras_file_of_csv_model_has_only_builtin_pieces(runs, monkeypatch):
    run_dir, _ = runs["csv_gaps"]
    before = run_files(run_dir)
    run_dir, manifest = exported(runs, monkeypatch, "csv_gaps", "keras")
    assert run_files(run_dir) == before  # the run's own files are untouched
    check_verified(manifest)
    assert manifest.compiled is True
    assert any("empty string is a missing value" in note for note in manifest.notes)
    with zipfile.ZipFile(manifest.path) as archive:
        config = archive.read("config.json").decode()
    assert "annctl" not in config and "FillMissing" not in config  # no custom class or function is named
    recorded = json.loads((run_dir / "summary.json").read_text())["model_sha256"]
    assert sha256_file(run_dir / "model.keras") == recorded  # the run's own file is unchanged


@pytest.mark.slow
def test_keras_file_of_subclassed_model_is_functional(runs, monkeypatch):
    _, manifest = exported(runs, monkeypatch, "subclassed", "keras")
    check_verified(manifest)
    assert {t.name for t in manifest.inputs} == {"wide", "deep"}
    assert "Functional API" in manifest.notes[0]
    # float16 TFLite rebuilds it too, its standardisation as one multiply-add
    _, manifest = exported(runs, monkeypatch, "subclassed", "tflite", quantize="float16")
    check_verified(manifest)
    assert "x·(1/std) − mean/std" in manifest.notes[0] and manifest.verification.metric.name == "accuracy"


def test_float16_standardisation_as_multiply_add_is_the_same_function():
    import keras

    from annctl.export.tflite import float16_ready

    inputs = keras.Input(shape=(2,), name="features")
    normalized = keras.layers.Normalization(mean=[1425.0, -119.6], variance=[1.2e6, 4.0], name="normalize")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(1, name="output")(normalized))
    ready = float16_ready(model, None, None)
    assert [type(layer).__name__ for layer in ready.layers] == ["InputLayer", "Rescaling", "Dense"]
    x = np.array([[1425.0, -119.6], [35682.0, -124.3], [3.0, -114.3]], dtype="float32")
    np.testing.assert_allclose(ready(x), model(x), rtol=1e-5, atol=1e-5)


@pytest.mark.slow
def test_keras_refuses_a_layer_that_is_not_keras(tmp_path):
    import keras

    from annctl.export.keras_file import check_builtin
    from annctl.models.keras_layers import FillMissing

    inputs = keras.Input(shape=(2,), name="features")
    model = keras.Model(inputs, FillMissing([0.0, 1.0], name="fill_missing")(inputs))
    with pytest.raises(UsageError, match=r"FillMissing in layer 'fill_missing' is not part of Keras.*savedmodel"):
        check_builtin(model)


# -- the verification itself ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_verification_process_cannot_import_annctl(tmp_path):
    """The isolation the verification applies removes an annctl that `python -I` could otherwise import."""
    source = (REPO / "annctl" / "export" / "standalone.py").read_text()
    reachable = f"import sys; sys.path.insert(0, {str(REPO)!r}); import annctl; print(annctl.__file__)"
    plain = subprocess.run([sys.executable, "-I", "-c", reachable], capture_output=True, text=True, check=False)
    assert plain.returncode == 0 and plain.stdout.startswith(str(REPO))
    isolated = f"{reachable.split('; import')[0]}\n{source.split('def main')[0]}\nprint(isolate({str(REPO)!r}))"
    result = subprocess.run([sys.executable, "-I", "-c", isolated], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


@pytest.mark.slow
def test_the_runs_own_keras_file_fails_where_annctl_is_missing(runs, tmp_path):
    """What the issue reported, reproduced by the verification: the run's model.keras needs annctl's FillMissing,
    so the process without annctl cannot load it — the check would catch an export that still needs annctl."""
    from annctl.errors import AnnctlError
    from annctl.export import verify

    run_dir, _ = runs["csv_gaps"]
    spec = load_spec(run_dir / "spec.yaml")
    rows = verify.test_rows(spec, read_data_info(run_dir), load_run_model(run_dir))
    (tmp_path / "work").mkdir()
    with pytest.raises(AnnctlError, match=r"where annctl is not installed: .*FillMissing"):
        verify.run_without_annctl(
            "keras", run_dir / "model.keras", verify.artifact_inputs("keras", rows, []), tmp_path / "work"
        )


@pytest.mark.slow
def test_a_mismatch_fails_the_export_and_leaves_nothing(runs, monkeypatch):
    from annctl.errors import AnnctlError
    from annctl.export import verify

    real = verify.test_rows

    def shifted(*args):
        rows = real(*args)
        rows.reference = {name: value + 1e-3 for name, value in rows.reference.items()}
        return rows

    monkeypatch.setattr(verify, "test_rows", shifted)
    run_dir, _ = runs["perceptron"]
    target = run_dir / "elsewhere" / "model.keras"
    with pytest.raises(AnnctlError, match=r"verification failed: .* differ from annctl's by up to 0.001"):
        exported(runs, monkeypatch, "perceptron", "keras", output=target)
    assert not target.parent.exists()  # the folder the export made for it is gone too


def test_argument_names_are_identifiers_and_keep_the_users_column():
    taken: set[str] = set()
    names = ["floor area (m²)", "2nd floor", "class", "größe", "a-b", "a b", "___", "wide"]
    arguments = []
    for name in names:
        arguments.append(argument_name(name, taken))
        taken.add(arguments[-1])
    assert arguments == ["floor_area_m2", "column_2nd_floor", "class_", "grosse", "a_b", "a_b_2", "input", "wide"]
    assert all(a.isidentifier() and re.match(r"^[A-Za-z][A-Za-z0-9_]*$", a) for a in arguments)
    description = DataInfo(
        kind="tabular",
        shape=[2],
        dtype="mixed",
        task="regression",
        target_name="price",
        features=[{"name": "floor area (m²)"}, {"name": "district name", "type": "text"}],
    )
    fed = {"floor area (m²)": np.zeros((3, 1), "float32"), "district name": np.array([["a"], ["b"], ["c"]])}
    inputs = signature_inputs(description, fed)
    assert [(i.name, i.argument, i.dtype, i.shape, i.column) for i in inputs] == [
        ("floor area (m²)", "floor_area_m2", "float32", (None,), True),
        ("district name", "district_name", "string", (None,), True),
    ]


# -- the command line, and the README's ways of using an export ------------------------------------------------


def readme_block(heading: str, language: str) -> str:
    """The first ``language`` code block after ``heading`` in the manual's export page (what users copy)."""
    text = (REPO / "docs" / "how-to" / "export-and-serving.md").read_text()
    after = text[text.index(heading) :]
    return re.search(rf"```{language}\n(.*?)```", after, re.S).group(1)


@pytest.mark.slow
def test_cli_export_json_and_the_readme_rest_body_against_annctl_predict(runs, tmp_path):
    run_dir, _ = runs["iris_mlp"]
    target = tmp_path / "iris_savedmodel"
    command = [sys.executable, "-m", "annctl", "export", str(run_dir), "-o", str(target), "--json"]
    result = subprocess.run(command, capture_output=True, text=True, env=ENV, check=False)
    assert result.returncode == 0, result.stderr
    manifest = json.loads(result.stdout)
    assert manifest["format"] == "savedmodel" and manifest["path"] == str(target)
    assert manifest["inputs"] == [{"name": "features", "dtype": "float32", "shape": [None, 4]}]
    assert manifest["features"] == ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    assert manifest["verification"]["passed"] and manifest["verification"]["rows"] == 30
    # the REST request body the README shows, read the way TensorFlow Serving reads the row format, fed to the
    # signature in a process without annctl; the answers must be `annctl predict`'s
    body = json.loads(readme_block("REST request body", "json"))
    script = f"""
import json, sys
sys.path = [p for p in sys.path if p and p.rstrip("/") != {str(REPO)!r}]  # the checkout, not a .venv inside it
sys.meta_path = [f for f in sys.meta_path if "annctl" not in str(getattr(f, "__module__", ""))]
try:
    import annctl
    raise SystemExit("annctl is importable")
except ImportError:
    pass
import numpy as np, tensorflow as tf
body = json.loads(sys.stdin.read())
serve = tf.saved_model.load({str(target)!r}).signatures["serving_default"]
names = list(serve.structured_input_signature[1])
instances = body["instances"]
columns = {{n: [i[n] for i in instances] if isinstance(instances[0], dict) else instances for n in names}}
out = serve(**{{n: tf.constant(np.asarray(v, dtype=np.float32)) for n, v in columns.items()}})
print(json.dumps([{{"class_name": c.decode(), "probabilities": p.tolist()}}
                  for c, p in zip(out["class_name"].numpy(), out["probabilities"].numpy())]))
"""
    served = subprocess.run(
        [sys.executable, "-I", "-c", script], input=json.dumps(body), capture_output=True, text=True, env=ENV
    )
    assert served.returncode == 0, served.stderr
    predictions = json.loads(served.stdout)
    features = manifest["features"]
    rows = "\n".join(",".join(str(v) for v in instance["features"]) for instance in body["instances"])
    predicted = runner.invoke(app, ["predict", str(run_dir), "--input", "-"], input=",".join(features) + "\n" + rows)
    assert predicted.exit_code == 0, predicted.output
    expected = list(csv.DictReader(io.StringIO(predicted.stdout)))
    assert [p["class_name"] for p in predictions] == [row["prediction"] for row in expected]
    assert [max(p["probabilities"]) for p in predictions] == pytest.approx(
        [float(row["probability"]) for row in expected], abs=1e-5
    )


@pytest.mark.slow
def test_bad_options_exit_2_before_anything_is_written(runs, tmp_path):
    run_dir, _ = runs["iris_mlp"]
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep me")
    cases = [
        (["--format", "onnx"], "use savedmodel, tflite, keras"),
        (["--format", "keras", "--quantize", "float16"], "--quantize applies to --format tflite"),
        (["--format", "tflite", "--quantize", "int4"], "use float16 or dynamic"),
        (["-o", str(folder)], "not an earlier export"),
        (["--format", "keras", "-o", str(tmp_path / "model.h5")], "must end in .keras"),
    ]
    for options, message in cases:
        result = runner.invoke(app, ["export", str(run_dir), *options])
        assert result.exit_code == 2, (options, result.output)
        assert message in result.output
    assert (folder / "notes.txt").read_text() == "keep me" and len(list(folder.iterdir())) == 1
    assert not (tmp_path / "model.h5").exists()


def test_a_nan_on_one_side_only_is_a_mismatch():
    from annctl.export.signature import SignatureOutput
    from annctl.export.verify import TestRows, compare

    description = DataInfo(kind="tabular", shape=[1], dtype="float32", task="regression", target_name="y")
    rows = TestRows(np.zeros((2, 1), "float32"), {"output": np.array([[1.0], [np.nan]])}, np.array([1.0, 2.0]))
    report = {"annctl_importable": False, "annctl_loaded": False, "loader": "test"}
    outputs = [SignatureOutput("prediction", "output", False)]
    same, _ = compare(
        "savedmodel", description, rows, {"prediction": np.array([[1.0], [np.nan]])}, outputs, report, 1e-5
    )
    assert same.passed and same.max_abs_difference == 0
    one_side, _ = compare(
        "savedmodel", description, rows, {"prediction": np.array([[1.0], [2.0]])}, outputs, report, 1e-5
    )
    assert not one_side.passed and one_side.max_abs_difference == np.inf


@pytest.mark.slow
def test_data_gone_exit_2_says_why_export_needs_it(runs, tmp_path):
    import shutil

    run_dir, _ = runs["csv_text"]
    moved = tmp_path / run_dir.name
    shutil.copytree(run_dir, moved, ignore=shutil.ignore_patterns("export"))  # other tests' exports
    spec = moved / "spec.yaml"
    spec.write_text(re.sub(r"path: .*", f"path: {tmp_path / 'gone.csv'}", spec.read_text()))
    result = runner.invoke(app, ["export", str(moved)])
    assert result.exit_code == 2, result.output
    assert "an export is verified on the run's test split, which cannot be loaded" in result.output
    assert "gone.csv" in result.output and not (moved / "export").exists()
