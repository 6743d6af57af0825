"""docs/how-to/serving-inputs.md against real exports (issue 29, item 21): for each kind of run the table's row
names the argument, dtype and shape that `annctl export` writes in its manifest — RGB photos [None, H, W, 3]
included, and sequence models' inputs."""

import json
import re
from pathlib import Path

import numpy as np
import pytest

from annctl.config import spec_from_text
from annctl.datasets.timeseries import TimeSeries
from annctl.export.exporter import export_run
from annctl.training import train

from .conftest import REPO, write_csv

PAGE = REPO / "docs" / "how-to" / "serving-inputs.md"


def table_rows(heading: str) -> list[list[str]]:
    """The rows of the first table under ``heading``, as cells (backticks kept)."""
    section = PAGE.read_text().split(f"## {heading}\n", 1)[1]
    rows = [line for line in section.splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows[2:]]


def documented(row_start: str) -> tuple[str, str, str]:
    """(argument, dtype, shape) cells of the input row whose first cell starts with ``row_start``."""
    (row,) = [row for row in table_rows("Inputs") if row[0].startswith(row_start)]
    return row[1], row[2], row[3]


def photos(root: Path, mode: str) -> Path:
    from PIL import Image

    rng = np.random.default_rng(0)
    for label, name in enumerate(("cats", "dogs")):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(6):
            pixels = (rng.integers(0, 100, (10, 12, 3)) + 150 * label).astype("uint8")
            Image.fromarray(pixels).convert(mode).save(root / name / f"{i}.png")
    return root


def exported_inputs(document: dict, tmp_path: Path) -> list[tuple[str, str, list]]:
    document = {"training": {"epochs": 1, "batch_size": 8}, **document}
    summary = train(spec_from_text(json.dumps(document), f"<{document['name']}>"), tmp_path / "runs")
    assert summary.status == "completed", summary.error
    manifest = export_run(Path(summary.run_dir), "savedmodel")
    assert manifest.verification.passed
    return [(item.name, item.dtype, item.shape) for item in manifest.inputs]


def concrete(shape: str, sizes: dict[str, int]) -> list:
    """`[None, H, W, 3]` with H, W from ``sizes`` → [None, 10, 12, 3]."""
    cells = [cell.strip() for cell in shape.strip().strip("`[]").split(",")]
    return [None if cell == "None" else sizes[cell] if cell in sizes else int(cell) for cell in cells]


@pytest.mark.slow
@pytest.mark.parametrize(
    "row,mode,sizes",
    [("RGB photos", "RGB", {"H": 10, "W": 12}), ("grayscale photos", "L", {"H": 10, "W": 12})],
    ids=["rgb", "grayscale"],
)
def test_photo_signatures_are_as_documented(row, mode, sizes, tmp_path):
    folder = photos(tmp_path / "photos", mode)
    color = "rgb" if mode == "RGB" else "grayscale"
    dataset = {"name": "image_folder", "path": str(folder), "image_size": [10, 12], "color_mode": color}
    model = {"architecture": "cnn", "filters": [2], "dense_units": [4]}
    inputs = exported_inputs({"name": f"photos_{color}", "dataset": dataset, "model": model}, tmp_path)
    argument, dtype, shape = documented(row)
    assert inputs == [(argument.strip("`"), dtype, concrete(shape, sizes))]


@pytest.mark.slow
def test_tabular_and_column_signatures_are_as_documented(tmp_path):
    numbers = {"name": "csv", "path": str(write_csv(tmp_path / "n.csv", "regression")), "target": "target"}
    inputs = exported_inputs({"name": "numbers", "dataset": numbers, "model": {"architecture": "mlp"}}, tmp_path)
    argument, dtype, shape = documented("tabular, numbers only")
    assert inputs == [(argument.strip("`"), dtype, concrete(shape, {"F": 3}))]

    text = tmp_path / "text.csv"
    rng = np.random.default_rng(1)
    rows = [f"{x:.3f},{['red', 'blue'][i % 2]},{'yes' if x > 0 else 'no'}" for i, x in enumerate(rng.normal(size=40))]
    text.write_text("Preis [EUR],color,label\n" + "\n".join(rows) + "\n")
    columns = {"name": "csv", "path": str(text), "target": "label"}
    inputs = exported_inputs({"name": "columns", "dataset": columns, "model": {"architecture": "mlp"}}, tmp_path)
    _, dtype, shape = documented("CSV with a text column")
    assert dtype == "float32 or string" and concrete(shape, {}) == [None]
    assert inputs == [("Preis_EUR", "float32", [None]), ("color", "string", [None])]
    assert "(`Preis [EUR]` → `Preis_EUR`)" in table_rows("Inputs")[1][4]


@pytest.mark.slow
def test_sequence_signatures_are_as_documented(tmp_path):
    example = TimeSeries.example(tmp_path)  # window 6; value and wind numeric, weekday text
    with_text = {"name": "words", "dataset": example.fields, "model": {"architecture": "rnn", "units": [3]}}
    inputs = exported_inputs(with_text, tmp_path)
    arguments, dtypes, shapes = documented("sequence with text columns")
    assert arguments.startswith("`series` and one argument per text column") and dtypes == "float32; string"
    series_shape, words_shape = shapes.split(";")
    assert sorted(inputs) == [
        ("series", "float32", concrete(series_shape, {"T": 6, "N": 2})),
        ("weekday", "string", concrete(words_shape, {"T": 6})),
    ]
    numbers_only = {**example.fields, "features": ["value", "wind"]}
    numbers = {"name": "numbers", "dataset": numbers_only, "model": {"architecture": "rnn", "units": [3]}}
    argument, dtype, shape = documented("sequence of numbers")
    assert exported_inputs(numbers, tmp_path) == [(argument.strip("`"), dtype, concrete(shape, {"T": 6, "F": 2}))]


def test_the_page_names_every_kind_of_input_the_exports_have():
    """Every shipped experiment's kind of input has a row (a new kind needs a line in the page)."""
    first_cells = " ".join(row[0] for row in table_rows("Inputs"))
    for word in ("tabular", "CSV with a text column", "Wide & Deep", "RGB photos", "grayscale", "Fashion-MNIST"):
        assert word in first_cells
    assert re.search(r"sequence of numbers.*sequence with text columns", first_cells)
