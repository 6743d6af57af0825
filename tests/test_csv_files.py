"""Real-world CSV files: text columns encoded in the model, missing values, delimiter/header options."""

import csv
import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from annctl.cli import app
from annctl.config import load_spec, spec_from_text
from annctl.errors import DataError
from annctl.training import train

from .conftest import EXPERIMENTS

runner = CliRunner()


@pytest.fixture(scope="module")
def shipped_csv_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("csvruns")
    runs = {}
    for stem in ("csv_regression", "csv_classification"):
        spec = load_spec(EXPERIMENTS / f"{stem}.yaml", ["training.epochs=25"])
        runs[stem] = Path(train(spec, root).run_dir)
    return runs


@pytest.mark.slow
def test_shipped_csv_experiments_learn(shipped_csv_runs):
    regression = json.loads((shipped_csv_runs["csv_regression"] / "summary.json").read_text())
    assert regression["test_metrics"]["mse"] < 0.3  # price variance is ~1.0
    classification = json.loads((shipped_csv_runs["csv_classification"] / "summary.json").read_text())
    assert classification["test_metrics"]["accuracy"] > 0.7
    info = json.loads((shipped_csv_runs["csv_regression"] / "dataset.json").read_text())
    assert info["feature_types"] == {"rooms": "numeric", "area": "numeric", "age": "numeric", "district": "text"}
    assert set(info["fill_values"]) == {"rooms", "area", "age", "district"}


def test_predict_raw_text_unseen_category_and_missing_cells(shipped_csv_runs):
    rows = "district,age,area,rooms\ncentre,10,80,3\natlantis,10,80,3\n,10,,3\n"
    result = runner.invoke(app, ["predict", str(shipped_csv_runs["csv_regression"]), "-i", "-"], input=rows)
    assert result.exit_code == 0, result.output
    values = [float(r["prediction"]) for r in csv.DictReader(io.StringIO(result.stdout))]
    assert len(values) == 3 and all(0 < v < 10 for v in values)
    result = runner.invoke(
        app,
        ["predict", str(shipped_csv_runs["csv_classification"]), "-i", "-", "--format", "jsonl"],
        input='{"age": 30, "monthly_hours": 100, "devices": 5, "country": "DE"}\n'
        '{"age": 70, "monthly_hours": 2, "devices": 1, "country": "XX"}\n',
    )
    labels = [json.loads(line)["prediction"] for line in result.stdout.splitlines()]
    assert labels[0] in ("family", "premium") and labels[1] == "basic"  # text labels come back


def test_evaluate_with_labeled_csv_of_text_labels(shipped_csv_runs):
    data = EXPERIMENTS / "data" / "customers.csv"
    result = runner.invoke(
        app, ["evaluate", str(shipped_csv_runs["csv_classification"]), "--data", str(data), "--json"]
    )
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)["metrics"]
    assert set(metrics["per_class"]) == {"basic", "family", "premium"} and metrics["samples"] == 600


def write(tmp_path, text, name="d.csv"):
    (tmp_path / name).write_text(text)
    return tmp_path / name


def csv_spec(tmp_path, path, **fields):
    extra = "".join(f", {k}: {json.dumps(v)}" for k, v in fields.items())
    return spec_from_text(
        f"name: c\ndataset: {{name: csv, path: {path}, target: y{extra}}}\n"
        "model: {architecture: mlp, hidden_units: [4]}\ntraining: {epochs: 1}\n",
        "<c>",
    )


ROWS = "x,colour,y\n" + "".join(f"{i % 7},{['red', 'blue', 'NA'][i % 3]},{i % 2}\n" for i in range(40)) + ",red,1\n"


def test_missing_values_default_to_an_error_naming_columns_and_counts(tmp_path):
    path = write(tmp_path, ROWS)
    with pytest.raises(DataError, match=r"missing values in x \(1\), colour \(13\); set dataset.missing"):
        csv_spec(tmp_path, path).dataset.load(0)


def test_missing_drop_and_imputation_from_the_training_split(tmp_path):
    path = write(tmp_path, ROWS)
    dropped = csv_spec(tmp_path, path, missing="drop").dataset.load(0)
    assert (
        dropped.train.size + dropped.validation.size + dropped.test.size == 27
    )  # 41 rows − 14 with a gap (13 colours, 1 x)
    filled = csv_spec(tmp_path, path, missing="mean").dataset.load(0)
    assert filled.description.feature_types == {"x": "numeric", "colour": "text"}
    assert filled.description.fill_values["colour"] in ("red", "blue") and 0 < filled.description.fill_values["x"] < 7
    summary = train(csv_spec(tmp_path, path, missing="mean"), tmp_path / "runs")
    assert summary.status == "completed"


def test_predict_with_a_gap_on_a_run_without_imputation_is_exit_2(tmp_path):
    path = write(tmp_path, "a,b,y\n" + "".join(f"{i},{i % 3},{i % 2}\n" for i in range(30)))
    run_dir = train(csv_spec(tmp_path, path), tmp_path / "runs").run_dir
    result = runner.invoke(app, ["predict", run_dir, "-i", "-", "-o", str(tmp_path / "o.csv")], input="a,b\n1,\n")
    assert result.exit_code == 2 and "trained without imputation" in result.stderr
    assert not (tmp_path / "o.csv").exists()


def test_delimiter_and_headerless_files(tmp_path):
    path = write(tmp_path, "".join(f"{i};{i % 5};{i % 2}\n" for i in range(30)), "semi.csv")
    spec = spec_from_text(
        f"name: c\ndataset: {{name: csv, path: {path}, target: column_3, delimiter: ';', "
        "header: false}\nmodel: {architecture: mlp}\n",
        "<c>",
    )
    data = spec.dataset.load(0)
    assert data.feature_names == ["column_1", "column_2"] and data.task == "classification"


def test_text_columns_need_the_mlp(tmp_path):
    from annctl.errors import SpecError

    path = write(tmp_path, "a,t,y\n" + "".join(f"{i},{'uv'[i % 2]},{i % 2}\n" for i in range(30)))
    spec = spec_from_text(
        f"name: c\ndataset: {{name: csv, path: {path}, target: y}}\nmodel: {{architecture: perceptron}}\n", "<c>"
    )
    with pytest.raises(SpecError, match="text .categorical. CSV columns need the `mlp` architecture"):
        train(spec, tmp_path / "runs")
