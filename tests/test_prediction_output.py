"""How predictions are written (issue 29, item 18): probabilities with the same decimals, top-k without rounding
to 1|0, model values without the digits of float64 widening, and JSON lines with names as written."""

import io
import json

import numpy as np

from annctl.prediction import PredictionWriter, model_number
from annctl.records import DataInfo


def info(classes=None, task="classification", decision="probability") -> DataInfo:
    return DataInfo(
        kind="tabular",
        shape=[2],
        dtype="float32",
        task=task,
        target_name="label",
        class_names=classes,
        decision=decision,
    )


def written(description: DataInfo, fmt: str, outputs, top_k=None) -> str:
    handle = io.StringIO()
    PredictionWriter(handle, fmt, description, top_k, []).write({"output": np.asarray(outputs, "float32")}, None)
    return handle.getvalue()


def test_probabilities_have_the_same_decimals_in_csv():
    text = written(info(["dogs", "cats"]), "csv", [[0.9999999, 1e-7], [0.000371, 0.999629]])
    assert text.splitlines() == ["prediction,probability", "dogs,1.000000", "cats,0.999629"]


def test_top_k_keeps_the_decimals_instead_of_one_and_zero():
    text = written(info(["dogs", "cats"]), "csv", [[0.9999999, 1e-7]], top_k=2)
    assert text.splitlines()[1] == "dogs,1.000000,dogs:1.000000|cats:0.000000"


def test_a_binary_sigmoid_output_prints_both_sides_alike():
    text = written(info(["no", "yes"]), "csv", [[0.25]], top_k=2)
    assert text.splitlines()[1] == "no,0.750000,no:0.750000|yes:0.250000"


def test_regression_values_are_the_models_float32_not_its_float64_widening():
    value = np.float32(6.9041405)
    assert float(value) == 6.904140472412109  # what was printed before
    assert model_number(value) == 6.9041405
    text = written(info(task="regression"), "csv", [[value]])
    assert text.splitlines() == ["prediction", "6.9041405"]


def test_jsonl_keeps_non_ascii_class_names_and_numbers():
    text = written(info(["café", "naïve"]), "jsonl", [[0.75, 0.25]], top_k=1)
    assert "café" in text and "\\u00e9" not in text
    row = json.loads(text)
    assert row == {"prediction": "café", "probability": 0.75, "top_k": [{"class": "café", "probability": 0.75}]}


def test_one_sigmoid_unit_says_the_second_class_from_one_half_up_with_its_probability():
    outputs = [[0.8], [0.3], [0.5]]
    assert written(info(["cat", "dog"]), "csv", outputs) == (
        "prediction,probability\ndog,0.800000\ncat,0.700000\ndog,0.500000\n"  # LF line ends, not CRLF
    )


def test_a_perceptrons_score_says_the_second_class_from_zero_up_and_is_written_as_the_score():
    outputs = [[1.5], [-0.5], [0.0]]
    assert written(info(["cat", "dog"], decision="score"), "csv", outputs) == (
        "prediction,score\ndog,1.500000\ncat,-0.500000\ndog,0.000000\n"
    )


def test_no_rows_still_write_the_header_of_the_columns():
    assert written(info(["cat", "dog"]), "csv", np.zeros((0, 2))) == "prediction,probability\n"
    handle = io.StringIO()
    PredictionWriter(handle, "csv", info(["cat", "dog"]), 2, []).write({"output": np.zeros((0, 2))}, ["x.png"][:0])
    assert handle.getvalue() == "prediction,probability,top_k\n"


def test_a_model_of_several_targets_writes_one_column_per_target_name():
    several = info(task="regression").model_copy(update={"target_name": "low,high", "n_targets": 2})
    handle = io.StringIO()
    PredictionWriter(handle, "csv", several, None, []).write({"output": np.asarray([[1.5, 2.5]], "float32")}, None)
    assert handle.getvalue().splitlines() == ["prediction_low,prediction_high", "1.5,2.5"]
