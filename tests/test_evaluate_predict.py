"""evaluate and predict on real (tiny) trained runs: output formats, gates, exit codes, bad input."""

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from annctl.cli import app
from annctl.config import load_spec
from annctl.training import train

from .conftest import write_experiment
from .test_datasets import fake_fashion

runner = CliRunner()


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """One classification, one regression and one image run, trained once for the whole module."""
    base = tmp_path_factory.mktemp("trained")
    root = base / "runs"
    made = {}
    for task in ("classification", "regression"):
        spec = load_spec(write_experiment(base, task, name=f"tiny_{task}", epochs=3))
        made[task] = Path(train(spec, root).run_dir)
    fake_fashion(base / "data", n_train=60, n_test=12)
    image_experiment = base / "images.yaml"
    image_experiment.write_text(
        "name: tiny_images\ndataset: {name: fashion_mnist, validation_size: 10}\n"
        "model: {architecture: mlp, hidden_units: [8]}\ntraining: {epochs: 1}\n"
    )
    with pytest.MonkeyPatch.context() as patch:  # restores the caller's ANNCTL_DATA_DIR afterwards
        patch.setenv("ANNCTL_DATA_DIR", str(base / "data"))
        made["image"] = Path(train(load_spec(image_experiment), root).run_dir)
    made["root"] = root
    made["data"] = base
    return made


def model_outputs(run_dir, x):
    import keras

    import annctl.losses  # noqa: F401

    model = keras.saving.load_model(run_dir / "model.keras", safe_mode=True)
    return np.asarray(model.predict(x, verbose=0))


@pytest.mark.slow
def test_evaluate_classification_json_files_and_png(runs):
    result = runner.invoke(app, ["evaluate", str(runs["classification"]), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data) >= {"run_dir", "split", "checkpoint", "metrics"} and data["split"] == "test"
    metrics = data["metrics"]
    assert {"loss", "accuracy", "macro_precision", "macro_recall", "macro_f1", "per_class", "confusion_matrix"} <= set(
        metrics
    )
    assert set(metrics["per_class"]) == {"no_class", "yes_class"}
    matrix = metrics["confusion_matrix"]["rows_true_columns_predicted"]
    assert sum(map(sum, matrix)) == metrics["samples"]
    assert (runs["classification"] / "eval" / "confusion_matrix-test.png").stat().st_size > 1000
    saved = list((runs["classification"] / "eval").glob("test-*.json"))
    assert saved and json.loads(saved[0].read_text())["metrics"]["accuracy"] == metrics["accuracy"]


def test_evaluate_matches_training_summary_and_other_splits(runs):
    summary = json.loads((runs["classification"] / "summary.json").read_text())
    result = json.loads(runner.invoke(app, ["evaluate", str(runs["classification"]), "--json"]).stdout)
    assert result["metrics"]["accuracy"] == pytest.approx(summary["test_metrics"]["accuracy"])
    assert result["metrics"]["loss"] == pytest.approx(summary["test_metrics"]["loss"], rel=1e-4)
    for split in ("validation", "train"):
        result = runner.invoke(app, ["evaluate", str(runs["classification"]), "--split", split, "--json"])
        assert json.loads(result.stdout)["split"] == split
    result = runner.invoke(app, ["evaluate", str(runs["classification"]), "--checkpoint", "best", "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout)["checkpoint"] == "best"


def test_evaluate_regression_metrics(runs):
    result = runner.invoke(app, ["evaluate", str(runs["regression"]), "--json"])
    metrics = json.loads(result.stdout)["metrics"]
    assert {"loss", "mse", "rmse", "mae", "r2"} <= set(metrics)
    assert metrics["rmse"] == pytest.approx(metrics["mse"] ** 0.5)


def test_gates_pass_fail_and_unknown_metric(runs):
    run = str(runs["regression"])
    assert runner.invoke(app, ["evaluate", run, "--fail-over", "mse=1000", "--fail-under", "r2=-1000"]).exit_code == 0
    result = runner.invoke(app, ["evaluate", run, "--fail-over", "mse=0.000001"])
    assert result.exit_code == 3
    assert "gate failed: mse = " in result.stderr and "is above the bound 1e-06 (--fail-over)" in result.stderr
    result = runner.invoke(app, ["evaluate", str(runs["classification"]), "--fail-under", "accuracy=1.01", "--json"])
    assert result.exit_code == 3 and json.loads(result.stdout)["metrics"]["accuracy"] <= 1
    result = runner.invoke(app, ["evaluate", run, "--fail-under", "accuracy=0.9"])
    assert result.exit_code == 2
    assert "unknown metric 'accuracy'; available: loss, mse, rmse, mae, r2" in result.stderr


def test_evaluate_labeled_csv(runs):
    csv_file = runs["data"] / "classification.csv"
    result = runner.invoke(app, ["evaluate", str(runs["classification"]), "--data", str(csv_file), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["split"] == "data" and data["metrics"]["samples"] == 60


def test_run_references_latest_and_prefix(runs, monkeypatch):
    monkeypatch.setenv("ANNCTL_DATA_DIR", str(runs["data"] / "data"))
    root = str(runs["root"])
    result = runner.invoke(app, ["evaluate", "latest", "--runs-dir", root, "--json"])
    assert json.loads(result.stdout)["run_dir"] == str(runs["image"])
    result = runner.invoke(app, ["evaluate", "tiny_regr", "--runs-dir", root, "--json"])
    assert json.loads(result.stdout)["run_dir"] == str(runs["regression"])
    result = runner.invoke(app, ["evaluate", "tiny", "--runs-dir", root])
    assert result.exit_code == 2 and "3 runs" in result.stderr and "or a longer prefix" in result.stderr
    result = runner.invoke(app, ["evaluate", "nothing", "--runs-dir", root])
    assert result.exit_code == 2 and "no such run directory" in result.stderr


def test_predict_csv_by_name_with_extra_column_equals_model_predict(runs, tmp_path):
    source = runs["data"] / "classification.csv"
    rows = list(csv.DictReader(open(source)))
    shuffled = tmp_path / "in.csv"
    with open(shuffled, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["c", "extra", "a", "b"])
        for row in rows:
            writer.writerow([row["c"], "zzz", row["a"], row["b"]])
    out = tmp_path / "pred.csv"
    result = runner.invoke(app, ["predict", str(runs["classification"]), "--input", str(shuffled), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert result.stderr.count("ignoring column(s) the model does not use: 'extra'") == 1
    predicted = list(csv.DictReader(open(out)))
    assert len(predicted) == len(rows) and list(predicted[0]) == ["prediction", "probability"]
    x = np.array([[float(r["a"]), float(r["b"]), float(r["c"])] for r in rows], dtype="float32")
    probabilities = model_outputs(runs["classification"], x)[:, 0]
    expected = np.where(probabilities >= 0.5, "yes_class", "no_class")
    assert [p["prediction"] for p in predicted] == expected.tolist()
    chosen = np.where(probabilities >= 0.5, probabilities, 1 - probabilities)
    assert [float(p["probability"]) for p in predicted] == pytest.approx(chosen.tolist(), abs=1e-5)


def test_predict_jsonl_npy_stdin_and_top_k(runs, tmp_path):
    run = str(runs["regression"])
    x = np.array([[0.1, 0.2, 0.3], [1.0, -1.0, 0.5]], dtype="float32")
    expected = model_outputs(runs["regression"], x)[:, 0]
    jsonl = tmp_path / "in.jsonl"
    jsonl.write_text("\n".join(json.dumps({"a": float(r[0]), "b": float(r[1]), "c": float(r[2])}) for r in x) + "\n")
    result = runner.invoke(app, ["predict", run, "--input", str(jsonl), "--format", "jsonl"])
    values = [json.loads(line)["prediction"] for line in result.stdout.splitlines()]
    assert values == pytest.approx(expected.tolist(), abs=1e-5)
    np.save(tmp_path / "in.npy", x)
    result = runner.invoke(app, ["predict", run, "--input", str(tmp_path / "in.npy")])
    values = [float(r["prediction"]) for r in csv.DictReader(io.StringIO(result.stdout))]
    assert values == pytest.approx(expected.tolist(), abs=1e-5)
    result = runner.invoke(app, ["predict", run, "--input", "-"], input="a,b,c\n0.1,0.2,0.3\n1.0,-1.0,0.5\n")
    values = [float(r["prediction"]) for r in csv.DictReader(io.StringIO(result.stdout))]
    assert values == pytest.approx(expected.tolist(), abs=1e-5)
    result = runner.invoke(
        app,
        ["predict", str(runs["classification"]), "-i", "-", "--top-k", "2", "--format", "jsonl"],
        input='{"a": 1, "b": 1, "c": 0}\n',
    )
    row = json.loads(result.stdout)
    assert [entry["class"] for entry in row["top_k"]][0] == row["prediction"] and len(row["top_k"]) == 2


def test_predict_images_and_arrays_for_an_image_model(runs, tmp_path):
    from PIL import Image

    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (3, 28, 28), dtype=np.uint8)
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i, image in enumerate(images):
        Image.fromarray(image).save(folder / f"{i}.png")
    Image.fromarray(images[0]).resize((56, 56)).convert("RGB").save(folder / "big.jpg")
    result = runner.invoke(app, ["predict", str(runs["image"]), "--input", str(folder)])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [Path(r["file"]).name for r in rows] == ["0.png", "1.png", "2.png", "big.jpg"]
    classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
    expected = model_outputs(runs["image"], images).argmax(axis=1)
    assert [r["prediction"] for r in rows[:3]] == [classes[i] for i in expected]
    np.save(tmp_path / "imgs.npy", images)
    result = runner.invoke(app, ["predict", str(runs["image"]), "--input", str(tmp_path / "imgs.npy")])
    assert [r["prediction"] for r in csv.DictReader(io.StringIO(result.stdout))] == [classes[i] for i in expected]


@pytest.mark.parametrize(
    "name,content,message",
    [
        ("missing.csv", "a,b\n1,2\n", "missing feature column(s) 'c'"),
        ("text.csv", "a,b,c\n1,2,3\n1,x,3\n", "text.csv:3: column 'b': non-numeric value 'x'"),
        ("nan.csv", "a,b,c\n1,nan,3\n", "nan.csv:2: column 'b': missing value, and this run was trained without"),
        ("inf.csv", "a,b,c\n1,inf,3\n", "inf.csv:2: column 'b': 'inf' is not a finite number"),
        ("empty.csv", "", "the file is empty"),
        ("header.csv", "a,b,c\n", "no data rows"),
        ("bad.jsonl", '{"a": 1, "b": 2, "c": 3}\n{"a": 1, "b": "x", "c": 3}\n', "bad.jsonl:2: column 'b'"),
        ("shape.npy", None, "array shape (2, 5) does not fit the model's input (N, 3)"),
        ("late.csv", "a,b,c\n" + "1,2,3\n" * 5000 + "1,2,\n", "late.csv:5002: column 'c': missing value"),
    ],
)
def test_bad_input_exit_2_and_no_output_file(runs, tmp_path, name, content, message):
    path = tmp_path / name
    if content is None:
        np.save(path, np.zeros((2, 5), dtype="float32"))
    else:
        path.write_text(content)
    out = tmp_path / "out.csv"
    result = runner.invoke(
        app, ["predict", str(runs["regression"]), "--input", str(path), "-o", str(out), "--batch-size", "1000"]
    )
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert not out.exists() and not list(tmp_path.glob(".out.csv*"))


def test_unreadable_image_and_wrong_kind_of_input(runs, tmp_path):
    (tmp_path / "broken.png").write_bytes(b"not a png")
    result = runner.invoke(app, ["predict", str(runs["image"]), "--input", str(tmp_path / "broken.png")])
    assert result.exit_code == 2 and "unreadable image" in result.stderr
    result = runner.invoke(app, ["predict", str(runs["regression"]), "--input", str(tmp_path / "broken.png")])
    assert result.exit_code == 2 and "images are input for image models only" in result.stderr


def test_tampered_or_foreign_model_is_refused(runs, tmp_path):
    import shutil

    copy = tmp_path / runs["regression"].name
    shutil.copytree(runs["regression"], copy)
    with open(copy / "model.keras", "ab") as handle:
        handle.write(b"\0")
    result = runner.invoke(app, ["evaluate", str(copy)])
    assert result.exit_code == 2 and "does not match the hash recorded by the run" in result.stderr
    result = runner.invoke(app, ["predict", str(tmp_path), "--input", "x.csv"])
    assert result.exit_code == 2 and "not an annctl run directory" in result.stderr


def test_inputs_in_a_symbolic_link_loop_are_exit_2_naming_them(runs, tmp_path):
    """`ln -s b.csv a.csv; ln -s a.csv b.csv`: `predict --input` and `evaluate --data` name the loop (exit 2),
    neither `no such file` nor a traceback."""
    (tmp_path / "a.csv").symlink_to("b.csv")
    (tmp_path / "b.csv").symlink_to("a.csv")
    loop = tmp_path / "a.csv"
    for args in (["predict", str(runs["regression"]), "--input", str(loop)],
                 ["evaluate", str(runs["classification"]), "--data", str(loop)],
                 ["predict", str(runs["image"]), "--input", str(loop)]):  # fmt: skip
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        assert result.stderr == f"error: {loop}: a symbolic link loop\n", args


def test_evaluate_a_csv_holding_some_of_the_classes(runs, tmp_path):
    """Evaluation needs no second class: rows of one class are measured against the run's classes."""
    lines = (runs["data"] / "classification.csv").read_text().splitlines()
    only = tmp_path / "yes_only.csv"
    only.write_text("\n".join([lines[0], *[line for line in lines[1:] if line.endswith(",yes_class")]]) + "\n")
    result = runner.invoke(app, ["evaluate", str(runs["classification"]), "--data", str(only), "--json"])
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)["metrics"]
    assert metrics["samples"] == len(only.read_text().splitlines()) - 1
    assert metrics["confusion_matrix"]["labels"] == ["no_class", "yes_class"]


def test_a_folder_with_a_file_that_is_not_an_image_is_not_silently_skipped(runs, tmp_path):
    """A Fashion-MNIST run (no on_bad_image of its own: `error`) given a folder with `Thumbs.db`."""
    from PIL import Image

    folder = tmp_path / "imgs"
    folder.mkdir()
    Image.fromarray(np.zeros((28, 28), dtype=np.uint8)).save(folder / "0.png")
    (folder / "Thumbs.db").write_bytes(b"\xd0\xcf\x11\xe0")
    result = runner.invoke(app, ["predict", str(runs["image"]), "--input", str(folder)])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"error: {folder / 'Thumbs.db'}: not an image file")
    result = runner.invoke(app, ["predict", str(runs["image"]), "--input", str(folder), "--on-bad-image", "skip"])
    assert result.exit_code == 0 and len(result.stdout.splitlines()) == 2, result.output
    assert "skipped 1 file(s) that are not readable images" in result.stderr
    result = runner.invoke(app, ["predict", str(runs["regression"]), "--input", "x.csv", "--on-bad-image", "skip"])
    assert result.exit_code == 2 and "--on-bad-image applies to image inputs" in result.stderr


def test_predict_run_reports_its_rows_time_output_and_format(tmp_path, capsys):
    import time

    from annctl.prediction import predict_run

    run_dir = train(load_spec(write_experiment(tmp_path, "regression", epochs=1)), tmp_path / "runs").run_dir
    source, out = str(tmp_path / "regression.csv"), tmp_path / "p.csv"
    started = time.perf_counter()
    result = predict_run(run_dir, source, out)
    wall = time.perf_counter() - started
    assert (result["rows"], result["output"], result["format"], result["skipped"]) == (60, str(out), "csv", 0)
    assert result["skipped_files"] == [] and 0 < result["seconds"] <= wall
    assert result["rows_per_second"] == pytest.approx(60 / result["seconds"])
    capsys.readouterr()
    to_stdout = predict_run(run_dir, source, fmt="jsonl")
    assert to_stdout["output"] == "-" and len(capsys.readouterr().out.splitlines()) == 60
    lines = (tmp_path / "regression.csv").read_text().splitlines()
    many = tmp_path / "many.csv"  # more rows than one chunk (4,096, the batch): every chunk's rows are counted
    many.write_text("\n".join([lines[0], *(lines[1:] * 80)]) + "\n")
    assert predict_run(run_dir, str(many), tmp_path / "many-p.csv")["rows"] == 80 * 60
