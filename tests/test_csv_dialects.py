"""CSV files as spreadsheets and exports write them (issue 23): any column name, BOM, CRLF, quoted fields,
`;` with decimal commas, tab, `|`, another encoding — each trained for an epoch and predicted on raw rows in
the same dialect; `validate` and `train` agree on every bad header."""

import codecs
import csv
import io
import json
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from annctl.cli import app
from annctl.datasets.csv_dialect import detect_delimiter
from annctl.datasets.tabular import keras_names

from .conftest import EXPERIMENTS
from .terminal import annctl_command

runner = CliRunner()

BASE = ["hours", "devices", "country", "plan"]
# (id, column names (the last is the target), how the file is written, the spec's dialect fields)
VARIANTS = [
    ("spaces", ["monthly hours", "device count", "country name", "plan"], {}, {}),
    ("punctuation", ["hours (h)", "devices/#", "country [ISO]", 'plan "tier"'], {}, {}),
    ("non_ascii", ["Größe (m²)", "Geräte", "年龄", "Tarif"], {}, {}),
    ("leading_digits_and_collisions", ["2023 hours", "a b", "a-b", "A_B"], {}, {}),
    ("bom", BASE, {"bom": True}, {}),
    ("crlf", BASE, {"crlf": True}, {}),
    ("quote_all", BASE, {"quoting": csv.QUOTE_ALL}, {}),
    ("semicolon_decimal_comma", BASE, {"delimiter": ";", "decimal": ","}, {"decimal": ","}),
    (
        "excel_european",
        ["Stunden (h)", "Geräte", "Land", "Tarif"],
        {"delimiter": ";", "decimal": ",", "bom": True, "crlf": True},
        {"decimal": ","},
    ),
    ("tab", BASE, {"delimiter": "\t"}, {}),
    ("pipe", BASE, {"delimiter": "|"}, {}),
    ("cp1252", ["Größe", "Geräte", "Länd", "Tarif"], {"encoding": "cp1252"}, {"encoding": "cp1252"}),
]
# text cells that need quoting: a comma, quotes, a line break (every variant's file holds them)
COUNTRIES = ["DE", "Spain, mainland", 'the "Netherlands"', "two\nlines"]


def table(rows: int = 48, seed: int = 3) -> list[list]:
    """hours (a float, one gap), devices (an integer), country (text), plan (the class)."""
    rng = np.random.default_rng(seed)
    hours = rng.uniform(0, 200, rows).round(2)
    devices = rng.integers(1, 6, rows)
    countries = rng.choice(COUNTRIES, rows)
    plan = np.where(hours / 40 + devices + (countries == "DE") > 5, "premium", "basic")
    body = [[float(h), int(d), str(c), str(p)] for h, d, c, p in zip(hours, devices, countries, plan)]
    body[5][0] = None
    return body


def write(path: Path, names: list[str], rows: list[list], *, delimiter=",", decimal=".", encoding="utf-8",
          bom=False, crlf=False, quoting=csv.QUOTE_MINIMAL) -> Path:  # fmt: skip
    def cell(value):
        if value is None:
            return "NA"
        return str(value).replace(".", decimal) if isinstance(value, float) else str(value)

    text = io.StringIO()
    writer = csv.writer(text, delimiter=delimiter, lineterminator="\r\n" if crlf else "\n", quoting=quoting)
    writer.writerow(names)
    writer.writerows([cell(value) for value in row] for row in rows)
    path.write_bytes((codecs.BOM_UTF8 if bom else b"") + text.getvalue().encode(encoding))
    return path


def experiment(directory: Path, csv_path: Path, target: str, **fields) -> Path:
    dataset = {"name": "csv", "path": csv_path.name, "target": target, "missing": "mean", **fields}
    path = directory / f"{csv_path.stem}.yaml"
    path.write_text(
        f"name: {csv_path.stem}\nseed: 1\ndataset: {json.dumps(dataset, ensure_ascii=False)}\n"
        "model: {architecture: mlp, hidden_units: [4]}\ntraining: {epochs: 1, batch_size: 8}\n",
        encoding="utf-8",
    )
    return path


def train(path: Path, root: Path):
    result = runner.invoke(app, ["train", str(path), "--json", "--runs-dir", str(root)])
    return result, (json.loads(result.stdout) if result.exit_code == 0 else None)


def predictions(run_dir: str, source: Path | str, *options: str, stdin: str | None = None) -> list[dict]:
    result = runner.invoke(app, ["predict", run_dir, "-i", str(source), "--format", "jsonl", *options], input=stdin)
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The plain file and every variant, each trained for one epoch with the same seed."""
    directory = tmp_path_factory.mktemp("dialects")
    rows = table()
    runs = {}
    for case, names, written, fields in [("plain", BASE, {}, {}), *VARIANTS]:
        path = write(directory / f"{case}.csv", names, rows, **written)
        runs[case] = train(experiment(directory, path, names[-1], **fields), directory / "runs")
    return directory, rows, runs


@pytest.mark.slow
@pytest.mark.parametrize(("case", "names", "written", "fields"), VARIANTS, ids=[v[0] for v in VARIANTS])
def test_each_dialect_and_name_trains_and_predicts_its_raw_rows(trained, case, names, written, fields):
    directory, rows, runs = trained
    result, summary = runs[case]
    assert result.exit_code == 0, result.output
    plain = runs["plain"][1]
    delimiter = written.get("delimiter", ",")
    shown = "tab" if delimiter == "\t" else repr(delimiter)
    assert f"note: {directory / case}.csv: delimiter {shown} detected" in result.stderr
    # dataset.json keeps the names in the file; the model's names are recorded beside them
    info = json.loads((Path(summary["run_dir"]) / "dataset.json").read_text(encoding="utf-8"))
    assert info["feature_names"] == names[:3] and info["target_name"] == names[3]
    assert info["details"] == {
        "delimiter": delimiter,
        "decimal": written.get("decimal", "."),
        "encoding": fields.get("encoding", "utf-8"),
    }
    assert [f["input_name"] for f in info["features"]] == keras_names(names[:3])
    # the same numbers and words as the plain file: same statistics, same model, same test metrics
    plain_info = json.loads((Path(plain["run_dir"]) / "dataset.json").read_text())
    strip = lambda features: [{k: v for k, v in f.items() if k not in ("name", "input_name")} for f in features]  # noqa: E731
    assert strip(info["features"]) == strip(plain_info["features"])
    assert summary["test_metrics"] == pytest.approx(plain["test_metrics"])
    # new raw rows in the same dialect (columns in another order, no target) predict as the same rows as JSON
    new_rows = [row[:3] for row in rows[:12]]
    order = [2, 0, 1]
    source = write(
        directory / f"{case}-new.csv", [names[j] for j in order], [[r[j] for j in order] for r in new_rows], **written
    )
    as_json = directory / f"{case}-new.jsonl"
    as_json.write_text("".join(json.dumps(dict(zip(names, r))) + "\n" for r in new_rows))
    from_csv = predictions(summary["run_dir"], source)
    assert len(from_csv) == 12 and {p["prediction"] for p in from_csv} <= {"basic", "premium"}
    assert from_csv == predictions(summary["run_dir"], as_json)
    plain_json = directory / f"{case}-plain.jsonl"
    plain_json.write_text("".join(json.dumps(dict(zip(BASE, r))) + "\n" for r in new_rows))
    assert [p["prediction"] for p in from_csv] == [p["prediction"] for p in predictions(plain["run_dir"], plain_json)]


def test_stdin_with_a_byte_order_mark_and_evaluate_data_in_the_training_dialect(trained):
    directory, rows, runs = trained
    run_dir = runs["excel_european"][1]["run_dir"]
    names = next(variant[1] for variant in VARIANTS if variant[0] == "excel_european")
    labeled = write(directory / "labeled.csv", names, rows, delimiter=";", decimal=",", bom=True, crlf=True)
    text = labeled.read_bytes().decode("utf-8")  # the BOM stays in the text, as `cat file |` passes it on
    assert len(predictions(run_dir, "-", stdin=text)) == len(rows)
    result = runner.invoke(app, ["evaluate", run_dir, "--data", str(labeled), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["metrics"]["samples"] == len(rows)
    # the same rows as a plain comma file: --delimiter and --decimal override the recorded dialect
    plain = write(directory / "labeled-plain.csv", names, rows)
    result = runner.invoke(app, ["evaluate", run_dir, "--data", str(plain), "--json"])
    assert result.exit_code == 2 and "the file looks ','-separated: pass --delimiter ','" in result.stderr
    result = runner.invoke(
        app, ["evaluate", run_dir, "--data", str(plain), "--json", "--delimiter", ",", "--decimal", "."]
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["evaluate", run_dir, "--data", str(plain), "--json", "--delimiter", "auto"])
    assert result.exit_code == 2 and "(the run's decimal mark is ',': pass --decimal" in result.stderr


def test_predict_messages_keep_the_names_in_the_file(trained):
    directory, rows, runs = trained
    run_dir = runs["punctuation"][1]["run_dir"]
    source = write(directory / "partial.csv", ["hours (h)", "devices/#", "extra [x]"], [r[:3] for r in rows[:3]])
    result = runner.invoke(app, ["predict", run_dir, "-i", str(source)])
    assert result.exit_code == 2
    assert "missing feature column(s) 'country [ISO]'; the model needs 'hours (h)', 'devices/#', 'country [ISO]'" in (
        result.stderr
    )
    twice = write(directory / "twice.csv", ["hours (h)", "devices/#", "country [ISO]", "hours (h)"], [[1, 2, "DE", 3]])
    result = runner.invoke(app, ["predict", run_dir, "-i", str(twice)])
    assert result.exit_code == 2
    assert f"{twice}:1: the column name 'hours (h)' is in the header 2 times (columns 1, 4)" in result.stderr
    for option, value, message in [
        ("--delimiter", ";;", "--delimiter ';;': use auto, tab, or one character"),
        ("--decimal", ";", "--decimal ';': use . or ,"),
        ("--encoding", "klingon", "--encoding 'klingon': unknown encoding"),
    ]:
        result = runner.invoke(app, ["predict", run_dir, "-i", str(source), option, value])
        assert result.exit_code == 2 and message in result.stderr


def test_keras_names_are_valid_unique_and_made_in_one_place():
    columns = ["Größe (m²)", "monthly hours (h)", "2023 sales", "a b", "a-b", "A_B", "", "年龄", "\ufeffage", "x" * 99]
    names = keras_names(columns)
    assert names[:6] == ["in_grosse_m2", "in_monthly_hours_h", "in_2023_sales", "in_a_b", "in_a_b_2", "in_a_b_3"]
    assert names[6:8] == ["in_column_7", "in_column_8"] and names[8] == "in_age"
    assert len(set(names)) == len(names) and all(re.fullmatch(r"in_[a-z0-9_]{1,40}", name) for name in names)
    assert keras_names(columns) == names  # a run's names are recorded, but a rebuild makes the same ones


def test_auto_picks_the_comma_for_the_shipped_files():
    for path in (EXPERIMENTS / "data").glob("*.csv"):
        assert detect_delimiter(path.read_text()) == ",", path


def test_a_column_of_decimal_commas_read_with_decimal_point_is_noted(tmp_path):
    from annctl.config import spec_from_text

    path = write(tmp_path / "d.csv", BASE, table(), delimiter=";", decimal=",")
    spec = spec_from_text(
        f"name: d\ndataset: {{name: csv, path: {path}, target: plan, missing: mean}}\nmodel: {{architecture: mlp}}\n",
        "<d>",
    )
    data = spec.dataset.load(0)
    assert data.description.feature_types["hours"] == "text"
    assert any(
        "column 'hours' is read as text, but its values are numbers written with decimal ','" in note
        for note in data.notes
    )


# --- `validate` and `train` agree on every bad header -------------------------------------------------------

ROWS = "".join(f"{i},{i % 3},{i % 2}\n" for i in range(20))
BAD_HEADERS = [
    ("duplicate", b"a,a,y\n" + ROWS.encode(), {}),
    ("duplicate_after_trimming", b"a, a ,y\n" + ROWS.encode(), {}),
    ("duplicate_after_the_bom", b"\xef\xbb\xbfa,\xef\xbb\xbfa,y\n" + ROWS.encode(), {}),
    ("duplicate_unicode_forms", "é,e\u0301,y\n".encode() + ROWS.encode(), {}),
    ("empty", b",b,y\n" + ROWS.encode(), {}),
    ("empties_and_duplicates", b"a,,a, ,y\n" + ROWS.encode(), {}),
    ("one_column_with_the_delimiter_given", b"a;b;y\n" + ROWS.replace(",", ";").encode(), {"delimiter": ","}),
    ("one_column_with_every_delimiter", b"abc\n1\n2\n", {}),
    ("undecodable_late", b"a,b,y\n" + ROWS.encode() + b"1,\xe9,0\n", {}),
    ("unknown_target_and_feature", b"a,b,target\n" + ROWS.encode(), {"features": ["a", "c"]}),
]


def bad_experiments(directory: Path) -> list[tuple[Path, Path]]:
    made = []
    for case, content, fields in BAD_HEADERS:
        data = directory / f"{case}.csv"
        data.write_bytes(content)
        dataset = {"name": "csv", "path": data.name, "target": "y", **fields}
        spec = directory / f"{case}.yaml"
        spec.write_text(
            f"name: t\ndataset: {json.dumps(dataset)}\nmodel: {{architecture: mlp}}\ntraining: {{epochs: 1}}\n"
        )
        made.append((spec, data))
    return made


@pytest.mark.slow
def test_validate_and_train_agree_on_every_bad_header(tmp_path):
    made = bad_experiments(tmp_path)
    # validate: real processes, no TensorFlow; every problem once, with the file and the line
    validated = {}
    for spec, data in made:
        result = subprocess.run([*annctl_command(), "validate", str(spec)], capture_output=True, text=True, timeout=120)
        assert result.returncode == 2, (spec.name, result.stdout, result.stderr)
        lines = result.stderr.splitlines()
        assert len(lines) == len(set(lines)) and all(line.startswith(f"error: {spec}:") for line in lines)
        validated[spec] = lines
    # train: the same problems, as exit 2 before any run directory (nothing reaches Keras)
    for spec, data in made:
        result = runner.invoke(app, ["train", str(spec), "--runs-dir", str(tmp_path / "runs")])
        assert result.exit_code == 2, (spec.name, result.output)
        trained = [line.removeprefix("error: ") for line in result.stderr.splitlines() if line.startswith("error: ")]
        expected = []
        for line in validated[spec]:
            field, message = re.fullmatch(
                rf"error: {re.escape(str(spec))}:\d+:\d+: (dataset\.[\w.]+): (.*)", line
            ).groups()
            expected.append(message if str(data) in message else f"{data}: {field}: {message}")
        assert trained == expected, spec.name
        assert re.search(rf"{re.escape(str(data))}(:\d+)?: ", " ".join(trained)), trained
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
    # what each one says
    said = {spec.stem: " | ".join(lines) for spec, lines in validated.items()}
    assert "duplicate.csv:1: the column name 'a' is in the header 2 times (columns 1, 2)" in said["duplicate"]
    assert "the column name 'a' is in the header 2 times" in said["duplicate_after_trimming"]
    assert "the column name 'a' is in the header 2 times" in said["duplicate_after_the_bom"]
    assert "the column name 'é' is in the header 2 times" in said["duplicate_unicode_forms"]
    assert "empty.csv:1: column 1 has no name in the header" in said["empty"]
    assert "columns 2, 4 have no name" in said["empties_and_duplicates"]
    assert "the column name 'a' is in the header 2 times (columns 1, 3)" in said["empties_and_duplicates"]
    assert (
        "dataset.delimiter: " in said["one_column_with_the_delimiter_given"]
        and "the file looks ';'-separated: set dataset.delimiter: ';'" in said["one_column_with_the_delimiter_given"]
    )
    assert "one column with every delimiter annctl tries (, ; tab |)" in said["one_column_with_every_delimiter"]
    assert "undecodable_late.csv:22: not utf-8 text (invalid continuation byte" in said["undecodable_late"]
    assert "dataset.target: no column 'y'" in said["unknown_target_and_feature"]
    assert "dataset.features.1: no column 'c'" in said["unknown_target_and_feature"]


# --- the issue's files, as a user runs them -------------------------------------------------------------------


@pytest.mark.slow
def test_a_european_excel_export_of_the_shipped_customers_file_in_real_processes(tmp_path):
    """customers.csv saved as "CSV UTF-8" by a German Excel: a BOM, CRLF, `;`, decimal commas, a quoted text
    cell holding a comma and `;`, names with spaces, punctuation and umlauts. validate, train, predict."""
    with open(EXPERIMENTS / "data" / "customers.csv", newline="") as handle:
        rows = list(csv.reader(handle))
    names = ["Alter", "monthly hours (h)", "Geräte", "country name", "plan"]
    body = [[c.replace(".", ",") for c in row[:3]] + ["Spain, mainland; ES" if row[3] == "ES" else row[3], row[4]]
            for row in rows[1:]]  # fmt: skip
    text = io.StringIO()
    csv.writer(text, delimiter=";", lineterminator="\r\n").writerows([names, *body])
    data = tmp_path / "Kunden.csv"
    data.write_bytes(codecs.BOM_UTF8 + text.getvalue().encode())
    spec = tmp_path / "kunden.yaml"
    spec.write_text(
        "name: kunden\ndataset: {name: csv, path: Kunden.csv, target: plan, missing: most_frequent, decimal: ','}\n"
        "model: {architecture: mlp, hidden_units: [8]}\ntraining: {epochs: 1}\n"
    )
    annctl = annctl_command()
    run = lambda *args, **kw: subprocess.run([*annctl, *args], capture_output=True, text=True, timeout=300, **kw)  # noqa: E731
    result = run("validate", str(spec))
    assert result.returncode == 0, result.stderr
    result = run("train", str(spec), "--quiet", "--runs-dir", str(tmp_path / "runs"))
    assert result.returncode == 0, result.stderr
    assert f"note: {data}: delimiter ';' detected" in result.stderr
    run_dir = result.stdout.strip()
    new = tmp_path / "neu.csv"
    new.write_bytes(codecs.BOM_UTF8 + "\r\n".join(text.getvalue().split("\r\n")[:6]).encode() + b"\r\n")
    result = run("predict", run_dir, "-i", str(new))
    assert result.returncode == 0, result.stderr
    predicted = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(predicted) == 5 and {p["prediction"] for p in predicted} <= {"basic", "family", "premium"}
    assert "Traceback" not in result.stderr


def test_a_column_of_decimal_commas_is_noticed_when_only_some_cells_have_a_fraction():
    from annctl.datasets.csv_file import other_decimal

    assert other_decimal(["1,5", "2", "3", ""], ".") == ","  # one fraction is enough; whole numbers and gaps too
    assert other_decimal(["1.5", "2", "NA"], ",") == "."
    assert other_decimal(["1", "2", "3"], ".") is None  # nothing written with the other mark
    assert other_decimal(["1,5", "abc"], ".") is None  # not a column of numbers
    assert other_decimal(["", "NA"], ".") is None
