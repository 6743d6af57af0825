"""annctl.datasets.timeseries function by function, on series of a few rows and without a model: the example's
file, the spec's limits, the parts' sizes, each message in full, time parsing, steps and formats, filling, the
windows and the reader of recent rows — so that a one-token change of a line fails a test."""

from __future__ import annotations

import hashlib
import io
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from annctl.datasets.base import InputDescription
from annctl.datasets.csv_dialect import Dialect, read_table
from annctl.datasets.timeseries import (
    NUMERIC_INPUT,
    SequenceBlock,
    SeriesReader,
    TimeSeries,
    WindowSplit,
    advance,
    column_type,
    describe_step,
    fill,
    format_number,
    format_time,
    model_inputs,
    numbers,
    parse_times,
    position,
    read_series,
    time_step,
)
from annctl.errors import DataError


def data_error(function, *args, **kwargs) -> str:
    with pytest.raises(DataError) as error:
        result = function(*args, **kwargs)
        if hasattr(result, "__next__"):
            list(result)
    return str(error.value)


def csv_file(path: Path, *lines: str) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def series_of(path: Path, names=("v",), warnings=None, **options):
    settings = {"time": None, "time_format": None, "missing": "error", **options}
    return read_series(path, list(names), warn=(warnings if warnings is not None else []).append, **settings)


def numbered(path: Path, rows: int, header="t,v,w", row=lambda i: f"{i},{i * 10},{100 + i}") -> Path:
    return csv_file(path, header, *(row(i) for i in range(rows)))


# -- the example and the spec ----------------------------------------------------------------------------------


def test_the_example_writes_120_days_of_the_seasonal_series(tmp_path):
    example = TimeSeries.example(tmp_path / "sub")
    path = tmp_path / "sub" / "series.csv"
    text = path.read_text()
    lines = text.splitlines()
    assert len(lines) == 121 and text.endswith("\n")
    assert lines[:4] == [
        "day,value,wind,weekday",
        "2024-01-01,10.126,2.43,workday",
        "2024-01-02,11.352,0.15,workday",
        "2024-01-03,10.874,8.21,workday",
    ]
    assert lines[6].endswith(",weekend") and lines[7].endswith(",weekend") and lines[8].endswith(",workday")
    assert lines[-1] == "2024-04-29,3.425,7.21,workday"
    assert hashlib.sha256(text.encode()).hexdigest()[:16] == "c01bba058e4ba98a"
    assert example.fields == {
        "name": "timeseries",
        "path": str(path),
        "time": "day",
        "target": "value",
        "features": ["value", "wind", "weekday"],
        "window": 6,
        "horizon": 2,
    }
    assert example.new_inputs == path
    TimeSeries.model_validate(example.fields)


def test_the_specs_defaults_and_limits():
    spec = TimeSeries(path="s.csv", target="v")
    assert (spec.window, spec.horizon, spec.missing, spec.task, spec.normalize) == (14, 1, "error", "auto", True)
    assert (spec.validation_split, spec.test_split, spec.time, spec.features) == (0.15, 0.15, None, None)
    assert TimeSeries.smoke_reference is True and spec.known_task() is None
    assert TimeSeries(path="s", target="v", task="regression").known_task() == "regression"
    assert TimeSeries(path="s", target="v", window=10_000, horizon=1_000).window == 10_000
    for fields in ({"window": 10_001}, {"horizon": 1_001}, {"window": 0}, {"horizon": 0}):
        with pytest.raises(ValidationError):
            TimeSeries(path="s", target="v", **fields)
    assert TimeSeries(path="s", target="v", validation_split=0.5, test_split=0.49).test_split == 0.49
    with pytest.raises(ValidationError) as error:
        TimeSeries(path="s", target="v", validation_split=0.5, test_split=0.5)
    assert "validation_split + test_split: 0.5 + 0.5 leaves no training rows" in str(error.value)
    with pytest.raises(ValidationError) as error:
        TimeSeries(path="s", target="v", task="classification", horizon=2)
    assert "horizon: a classification predicts the next row's class; leave horizon at 1" in str(error.value)


def test_columns_dialect_and_paths(tmp_path):
    spec = TimeSeries(path="s.csv", target="v", features=["w", "v", "x"], delimiter="tab", decimal=",")
    assert spec.columns() == ["v", "w", "x"]
    assert TimeSeries(path="s", target="v").columns() == ["v"]
    dialect = spec.dialect()
    assert (dialect.delimiter, dialect.decimal, dialect.encoding) == ("\t", ",", "utf-8")
    assert TimeSeries(path="s", target="v", delimiter=";").dialect().delimiter == ";"
    assert spec.resolve_paths(tmp_path / "exp").path == str(tmp_path / "exp" / "s.csv")
    absolute = TimeSeries(path=str(tmp_path / "s.csv"), target="v")
    assert absolute.resolve_paths(tmp_path / "exp") is absolute


def test_problems_name_the_field_of_each_unknown_column(tmp_path):
    path = numbered(tmp_path / "s.csv", 3)
    assert TimeSeries(path=str(path), target="v", time="t", features=["v", "w"]).problems() == []
    assert TimeSeries(path=str(path), target="q", time="z", features=["v", "y"]).problems() == [
        (("target",), "no column 'q'; columns: t, v, w"),
        (("time",), "no column 'z'; columns: t, v, w"),
        (("features", 1), "no column 'y'; columns: t, v, w"),
    ]
    one = csv_file(tmp_path / "one.csv", "t;v", "1;2", "2;3")
    assert TimeSeries(path=str(one), target="v").problems() == []  # delimiter auto: `;` found
    assert TimeSeries(path=str(one), target="v", delimiter=",").problems() == [
        (
            ("delimiter",),
            f"{one}:1: the header 't;v' is one column with delimiter ','; the file looks ';'-separated: set "
            "dataset.delimiter: ';' (or auto)",
        )
    ]
    assert TimeSeries(path=str(one), target="t;v", delimiter=",").problems() == []
    missing = tmp_path / "none.csv"
    ((field, message),) = TimeSeries(path=str(missing), target="v").problems()
    assert field == ("path",) and message.startswith(f"{missing}: ")


# -- loading: parts, targets, the description -----------------------------------------------------------------


def test_a_part_of_exactly_window_plus_horizon_rows_is_enough_and_one_fewer_is_not(tmp_path):
    spec = TimeSeries(
        path=str(tmp_path / "s.csv"), target="v", window=3, horizon=2, validation_split=0.25, test_split=0.25
    )
    assert spec._part_sizes(20) == (10, 5, 5)
    assert data_error(spec._part_sizes, 18) == (
        f"{tmp_path / 's.csv'}: the validation part has 4 of the 18 rows, fewer than window + horizon = 5 (one "
        "window and its targets): lower dataset.window or dataset.horizon, or change validation_split/test_split"
    )
    late = TimeSeries(path="s", target="v", window=3, horizon=2, validation_split=0.3, test_split=0.2)
    assert data_error(late._part_sizes, 22).startswith("s: the test part has 4 of the 22 rows")
    small = TimeSeries(path="s", target="v", window=3, horizon=2, validation_split=0.4, test_split=0.4)
    assert data_error(small._part_sizes, 20).startswith("s: the training part has 4 of the 20 rows")


def test_load_describes_the_training_part_and_keeps_the_dialect(tmp_path):
    path = numbered(tmp_path / "s.csv", 20, header="t;v;w;k", row=lambda i: f"{i};{i % 4};5;{'ab'[i % 2]}")
    spec = TimeSeries(
        path=str(path), target="v", time="t", features=["v", "w", "k"], window=2, validation_split=0.25, test_split=0.25
    )
    data = spec.load(0)
    info = data.description
    assert (info.kind, info.shape, info.dtype, info.task, info.target_name, info.n_targets) == (
        "sequence",
        [2, 3],
        "mixed",
        "regression",
        "v",
        1,
    )
    v, w, k = info.features
    assert (v.mean, v.variance) == pytest.approx((1.3, 1.21))
    assert (w.mean, w.variance) == (5.0, 1.0)  # a constant column: variance 1, not 0
    assert (k.type, k.vocabulary) == ("text", ["a", "b"])
    details = dict(info.details)
    assert details.pop("time") == {
        "column": "t",
        "format": "number",
        "unit": "number",
        "step": 1.0,
        "regular": True,
        "irregular_steps": 0,
        "largest_step": 1.0,
    }
    assert details == {
        "window": 2,
        "horizon": 1,
        "missing": "error",
        "target_scale": {"mean": pytest.approx(1.3), "std": pytest.approx(1.1)},
        "rows": {"train": 10, "validation": 5, "test": 5},
        "filled": {},
        "delimiter": ";",
        "decimal": ".",
        "encoding": "utf-8",
    }
    assert data.notes == [f"{path}: delimiter ';' detected (dataset.delimiter: auto)"]
    assert (data.train.size, data.validation.size, data.test.size) == (8, 3, 3)
    assert data.train.labels().tolist() == [2, 3, 0, 1, 2, 3, 0, 1]
    assert data.test.naive_forecast().tolist() == [0, 1, 2]


def test_load_without_normalize_a_comma_file_or_numeric_features_only(tmp_path):
    path = numbered(tmp_path / "s.csv", 20, row=lambda i: f"{i},7,{i}")
    spec = TimeSeries(path=str(path), target="v", window=2, normalize=False, validation_split=0.25, test_split=0.25)
    data = spec.load(0)
    assert data.description.details["target_scale"] is None and data.description.normalize is False
    assert data.description.dtype == "float32" and data.notes == []
    assert data.description.details["time"] is None
    scaled = TimeSeries(path=str(path), target="v", window=2, validation_split=0.25, test_split=0.25).load(0)
    assert scaled.description.details["target_scale"] == {"mean": 7.0, "std": 1.0}
    limited = TimeSeries(
        path=str(path), target="v", window=2, max_train_samples=3, validation_split=0.25, test_split=0.25
    )
    assert limited.load(0).train.size == 3
    commas = numbered(tmp_path / "c.csv", 20, header="t;v", row=lambda i: f"{i};{i},5")
    spec = TimeSeries(path=str(commas), target="v", window=2, decimal=",", validation_split=0.25, test_split=0.2)
    details = spec.load(0).description.details
    assert (details["decimal"], details["delimiter"]) == (",", ";")
    assert details["rows"] == {"train": 11, "validation": 5, "test": 4}


def test_a_text_column_named_series_is_refused(tmp_path):
    path = numbered(tmp_path / "s.csv", 20, header="t,v,series", row=lambda i: f"{i},{i},x{i}")
    spec = TimeSeries(path=str(path), target="v", features=["v", NUMERIC_INPUT], window=2)
    assert data_error(spec.load, 0) == f"{path}: rename the text column 'series' (the name of the numeric input)"


def test_targets_regression_classification_and_their_refusals(tmp_path):
    path = numbered(tmp_path / "s.csv", 20, header="t,v,c", row=lambda i: f"{i},{i % 3 * 0.5},{'xy'[i % 2]}")
    spec = TimeSeries(path=str(path), target="v", task="classification", window=2)
    data = spec.load(0)
    assert data.description.class_names == ["0", "0.5", "1"]
    assert data.description.n_targets == 1 and data.description.details["target_scale"] is None
    assert data.train.labels().tolist()[:3] == [2, 0, 1]
    auto = TimeSeries(path=str(path), target="c", window=3, horizon=2, validation_split=0.25, test_split=0.25)
    assert data_error(auto.load, 0) == (
        f"{path}: column 'c' is text (a classification): it predicts the next row's class; set dataset.horizon to 1 "
        "(it is 2)"
    )
    forced = TimeSeries(path=str(path), target="c", task="regression", window=2)
    assert data_error(forced.load, 0) == (
        f"{path}:2: column 'c': non-numeric value 'x' for a regression target (fix the cell; or set dataset.task: "
        "classification for class labels, or dataset.decimal for numbers with another decimal mark)"
    )
    one = numbered(tmp_path / "one.csv", 20, header="t,v", row=lambda i: f"{i},same")
    assert data_error(TimeSeries(path=str(one), target="v", window=2).load, 0) == (
        f"{one}: column 'v': a classification target needs at least 2 classes"
    )


# -- reading a series -------------------------------------------------------------------------------------------


def test_rows_out_of_order_are_sorted_with_a_warning_or_refused(tmp_path):
    path = csv_file(tmp_path / "s.csv", "t,v", "1,10", "3,30", "2,20")
    warnings = []
    series = series_of(path, warnings=warnings, time="t")
    assert series.columns["v"].tolist() == [10, 20, 30] and series.lines == [2, 4, 3]
    assert series.stamps == ["1", "2", "3"] and series.times == [1.0, 2.0, 3.0]
    assert warnings == [f"{path}: the rows are not in time order (line 4); sorted by 't'"]
    assert data_error(series_of, path, time="t", require_sorted=True) == (
        f"{path}:4: column 't': 2 comes before the row above (3); the rows must be in time order"
    )
    csv_file(path, "t,v", "1,10", "2,20", "2,30")
    assert data_error(series_of, path, time="t") == (
        f"{path}:4: column 't': duplicate time 2 (lines 3 and 4); each time must appear once"
    )
    assert data_error(series_of, path, ["v", "q", "r"], time="z") == f"{path}: no column 'z', 'q', 'r'; columns: t, v"
    table = read_table(path, Dialect(), option="dataset.", only_needed=True)  # read without naming the columns
    assert data_error(series_of, path, ["v", "q", "r"], time="z", table=table) == (
        f"{path}: no column 'z', 'q', 'r'; columns: t, v"
    )
    csv_file(path, "t,v", "1,10", "1,10", "3,30", "2,20")
    assert data_error(series_of, path, time="t", require_sorted=True) == (
        f"{path}:5: column 't': 2 comes before the row above (3); the rows must be in time order"
    )


def test_missing_values_error_drop_and_fill(tmp_path):
    path = csv_file(tmp_path / "s.csv", "t,v,w", "1,1,a", "2,NA,b", "4,5,", "5,,d")
    assert data_error(series_of, path, ["v", "w"], time="t") == (
        f"{path}: missing values in v (2), w (1) (first on line 3); set dataset.missing to drop, interpolate or ffill"
    )
    warnings = []
    dropped = series_of(path, ["v", "w"], warnings=warnings, time="t", missing="drop")
    assert dropped.columns["v"].tolist() == [1.0] and dropped.lines == [2] and dropped.stamps == ["1"]
    assert dropped.time_info["largest_step"] == 1.0 and dropped.filled == {}
    interpolated = series_of(path, ["v", "w"], warnings=warnings, time="t", missing="interpolate")
    assert interpolated.columns["v"].tolist() == pytest.approx(
        [1.0, 7 / 3, 5.0, 5.0]
    )  # over time: t=2 is a third of 1..4
    assert interpolated.columns["w"].tolist() == ["a", "b", "b", "d"]
    assert interpolated.filled == {"v": 2, "w": 1}
    assert series_of(path, ["v", "w"], missing="interpolate").columns["v"].tolist() == [1.0, 3.0, 5.0, 5.0]
    filled = series_of(path, ["v"], warnings=warnings, time="t", missing="ffill")
    assert filled.columns["v"].tolist() == [1.0, 1.0, 5.0, 5.0] and filled.filled == {"v": 2}
    assert (
        warnings
        == [f"{path}: column 't': 1 step(s) differ from the usual 1 (largest: 2); windows may span those gaps"] * 2
    )
    csv_file(path, "v", "NA", "")
    assert (
        data_error(series_of, path, missing="drop") == f"{path}: no rows left after dropping rows with missing values"
    )
    assert data_error(series_of, path, missing="ffill") == f"{path}: column 'v' has no value at all"


def test_fill_edges_take_the_nearest_value_and_a_leading_gap_the_first():
    column = np.array([np.nan, 2.0, np.nan, np.nan, 8.0, np.nan])
    filled, count = fill(column, "numeric", "interpolate", None, "s", "v")
    assert filled.tolist() == [2.0, 2.0, 4.0, 6.0, 8.0, 8.0] and count == 4
    filled, count = fill(column, "numeric", "ffill", None, "s", "v")
    assert filled.tolist() == [2.0, 2.0, 2.0, 2.0, 8.0, 8.0] and count == 4
    axis = np.array([0.0, 1.0, 2.0, 5.0, 7.0, 9.0])
    assert fill(column, "numeric", "interpolate", axis, "s", "v")[0].tolist() == [
        2.0,
        2.0,
        2.0 + 6 * 1 / 6,
        2.0 + 6 * 4 / 6,
        8.0,
        8.0,
    ]
    text = np.array(["", "a", "NA", "b"], dtype=object)
    assert fill(text, "text", "interpolate", None, "s", "w")[0].tolist() == ["a", "a", "a", "b"]


def test_column_types_and_number_cells(tmp_path):
    assert column_type(["1", "NA", "2.5"]) == "numeric"
    assert column_type(["1", "x"]) == "text"
    assert column_type(["1,5"]) == "text" and column_type(["1,5"], ",") == "numeric"
    assert numbers(["1,5", "?"], [2, 3], "f", "v", ",")[0] == 1.5
    assert np.isnan(numbers(["1", "?"], [2, 3], "f", "v")[1])
    assert data_error(numbers, ["1", "x"], [2, 5], "f", "v") == "f:5: column 'v': non-numeric value 'x'"
    assert data_error(numbers, ["inf"], [7], "f", "v") == "f:7: column 'v': 'inf' is not a finite number"


def test_given_types_are_kept(tmp_path):
    path = csv_file(tmp_path / "s.csv", "v,w", "1,2", "3,4")
    series = series_of(path, ["v", "w"], types={"v": "text", "w": "numeric"})
    assert series.types == {"v": "text", "w": "numeric"}
    assert series.columns["v"].dtype == object and series.columns["w"].dtype == np.float64
    assert series.rows == 2 and series.times is None and series.time_info is None and series.stamps == []


# -- times ------------------------------------------------------------------------------------------------------


def test_times_are_numbers_detected_formats_or_the_given_one_and_each_refusal(tmp_path):
    lines = [2, 3]
    assert parse_times(["1", "2.5"], lines, "f", "t", None) == ([1.0, 2.5], "number", "number")
    assert parse_times(["1", "2"], lines, "f", "t", "number") == ([1.0, 2.0], "number", "number")
    values, kind, found = parse_times(["2024-01-31 10:00", "2024-02-01 10:00"], lines, "f", "t", None)
    assert (values[0], kind, found) == (datetime(2024, 1, 31, 10), "datetime", "%Y-%m-%d %H:%M")
    assert parse_times(["2024-03"], [2], "f", "t", None)[2] == "%Y-%m"
    assert parse_times(["2024/03/05"], [2], "f", "t", None)[2] == "%Y/%m/%d"
    assert parse_times(["2024-03-05T01:02:03+01:00"], [2], "f", "t", None)[2] == "%Y-%m-%dT%H:%M:%S%z"
    assert parse_times(["05.03.2024"], [2], "f", "t", "%d.%m.%Y")[0] == [datetime(2024, 3, 5)]
    refusals = {
        (("1", " NA "), None): "f:3: column 't': missing time",
        (
            ("soon", "1"),
            None,
        ): "f:2: column 't': cannot read 'soon' as a time; give dataset.time_format (e.g. '%d.%m.%Y')",
        (("1", "x"), "number"): "f:3: column 't': 'x' is not a number",
        (("2024-01-01", "01/02/2024"), None): "f:3: column 't': '01/02/2024' does not match the time format '%Y-%m-%d'",
        (("2024-01-01T00:00:00+01:00", "2024-01-01T01:00:00"), None): "f:3: column 't': '2024-01-01T01:00:00' has no "
        "UTC offset, unlike the other rows (every time needs one, or none) and the time format '%Y-%m-%dT%H:%M:%S%z'",
        (("2024-01-01T00:00:00", "2024-01-01T01:00:00Z"), None): "f:3: column 't': '2024-01-01T01:00:00Z' has a UTC "
        "offset, unlike the other rows (every time needs one, or none), and does not match the time format "
        "'%Y-%m-%dT%H:%M:%S'",
    }
    for (stamps, time_format), message in refusals.items():
        assert data_error(parse_times, list(stamps), lines, "f", "t", time_format) == message


def test_positions_steps_and_their_descriptions():
    assert position(3) == 3.0
    assert position(datetime(1970, 1, 2)) == 86400.0
    assert position(datetime(1970, 1, 1, 1, tzinfo=timezone(timedelta(hours=1)))) == 0.0
    monthly = [datetime(2024, m, 31) for m in (1, 3, 5, 7)]
    assert time_step(monthly, "datetime") == {
        "unit": "months",
        "step": 2.0,
        "regular": True,
        "irregular_steps": 0,
        "largest_step": 2.0,
    }
    daily = [datetime(2024, 1, d) for d in (1, 2, 3, 5, 6)]
    info = time_step(daily, "datetime")
    assert info == {
        "unit": "seconds",
        "step": 86400.0,
        "regular": False,
        "irregular_steps": 1,
        "largest_step": 172800.0,
    }
    assert time_step([5.0], "number") == {
        "unit": "number",
        "step": 1.0,
        "regular": True,
        "irregular_steps": 0,
        "largest_step": 1.0,
    }
    assert time_step([datetime(2024, 1, 1), datetime(2024, 1, 2)], "datetime")["unit"] == "seconds"
    assert time_step([datetime(2024, 1, 5), datetime(2024, 2, 5)], "datetime")["unit"] == "seconds"  # one step
    two_days = [datetime(2024, 1, 1), datetime(2024, 1, 2), datetime(2024, 2, 1), datetime(2024, 2, 2)]
    assert time_step(two_days, "datetime")["unit"] == "seconds"
    assert time_step([0.0, 0.5, 1.0, 3.0], "number")["step"] == 0.5
    assert describe_step({"unit": "months", "step": 2.0}) == "2 month(s)"
    assert describe_step({"unit": "number", "step": 0.5}) == "0.5"
    assert describe_step({"unit": "number", "step": 0.5}, 3.0) == "3"
    seconds = {"unit": "seconds", "step": 86400.0}
    assert [describe_step(seconds, amount) for amount in (86400, 172800, 7200, 3600 * 25, 120, 90.0, 0.5)] == [
        "1 day(s)",
        "2 day(s)",
        "2 hour(s)",
        "25 hour(s)",
        "2 minute(s)",
        "90 s",
        "0.5 s",
    ]


def test_times_advance_by_their_usual_step():
    assert advance(2.5, {"unit": "number", "step": 0.5}, 3) == 4.0
    assert advance(datetime(2024, 1, 1), {"unit": "seconds", "step": 3600.0}, 2) == datetime(2024, 1, 1, 2)
    months = {"unit": "months", "step": 2.0}
    assert advance(datetime(2024, 11, 30), months, 1) == datetime(2025, 1, 30)
    assert advance(datetime(2024, 1, 15), months, 3) == datetime(2024, 7, 15)


def test_times_are_written_as_the_column_writes_them():
    number = {"unit": "number", "step": 0.5, "format": "number"}
    assert format_time(3.0, number) == "3" and format_time(2.5, number) == "2.5"
    plain = {"format": "%Y-%m-%d %H:%M"}
    assert format_time(datetime(2024, 2, 3, 4, 5), plain) == "2024-02-03 04:05"
    zoned = {"format": "%Y-%m-%dT%H:%M%z"}
    utc = datetime(2024, 1, 1, 6, 0, tzinfo=timezone.utc)
    assert format_time(utc, zoned, "2024-01-01T05:00Z") == "2024-01-01T06:00Z"
    assert format_time(utc, zoned, "2024-01-01T05:00+00:00") == "2024-01-01T06:00+00:00"
    east = datetime(2024, 1, 1, 6, 0, tzinfo=timezone(timedelta(hours=5, minutes=30)))
    assert format_time(east, zoned, "2024-01-01T05:00+05:30") == "2024-01-01T06:00+05:30"
    assert format_time(east, zoned, "2024-01-01T05:00+0530") == "2024-01-01T06:00+0530"
    assert format_time(east, zoned, "+05:30") == "2024-01-01T06:00+05:30"
    west = datetime(2024, 1, 1, 6, 0, tzinfo=timezone(-timedelta(hours=3, minutes=15)))
    assert format_time(west, zoned, "x-03:15") == "2024-01-01T06:00-03:15"
    assert format_time(west, zoned) == "2024-01-01T06:00-0315"
    assert [format_number(v) for v in (3.0, -2.0, 0.1, 1e20)] == ["3", "-2", "0.1", "100000000000000000000"]


# -- windows ------------------------------------------------------------------------------------------------------


def test_windows_their_targets_and_the_naive_forecast():
    values = np.arange(10, dtype="float32")
    split = WindowSplit(values[:, None] * 10, {}, values, 3, 2, naive_source=values)
    assert split.size == 6
    assert split.labels().tolist()[:2] == [[3, 4], [4, 5]]
    assert split.naive_forecast().tolist()[:2] == [[2, 2], [3, 3]]
    assert split.windows([0, 5])[:, :, 0].tolist() == [[0, 10, 20], [50, 60, 70]]
    assert [batch.shape[0] for batch in split.x_batches(4)] == [4, 2]
    single = WindowSplit(values[:, None], {}, values, 3, 1, naive_source=values, limit=2)
    assert single.size == 2 and single.labels().tolist() == [3, 4] and single.naive_forecast().tolist() == [2, 3]
    assert WindowSplit(values[:, None], {}, values, 3, 1).naive_forecast() is None
    assert WindowSplit(values[:4, None], {}, values[:4], 3, 1).size == 1
    assert WindowSplit(values[:3, None], {}, values[:3], 3, 1).size == 0
    assert WindowSplit(values[:, None], {}, values, 3, 1, limit=100).size == 7


def test_model_inputs_are_an_array_or_a_dict_of_named_text_and_the_series():
    numbers_ = np.zeros((2, 3, 1))
    assert model_inputs(numbers_, {}) is numbers_
    inputs = model_inputs(numbers_, {"day": np.array([["a", "b", "c"], ["d", "e", "f"]], dtype=object)})
    assert sorted(inputs) == ["day", NUMERIC_INPUT] and inputs["day"].shape == (2, 3, 1)
    assert inputs["day"][1, 2, 0] == "f" and inputs[NUMERIC_INPUT] is numbers_
    assert sorted(model_inputs(None, {"day": np.array([["a"]], dtype=object)})) == ["day"]
    assert NUMERIC_INPUT == "series"


def description(**details) -> InputDescription:
    return InputDescription(
        kind="sequence",
        shape=[3, 2],
        dtype="mixed",
        features=[
            {"name": "v", "mean": 1.0, "variance": 4.0},
            {"name": "k", "type": "text", "vocabulary": ["a", "b"]},
        ],
        normalize=True,
        task="regression",
        target_name="v",
        n_targets=2,
        details={"window": 3, "horizon": 2, "target_scale": {"mean": 5.0, "std": 2.0}, **details},
    )


def test_the_block_is_window_by_numbers_and_vocabulary_slots_with_the_target_scale():
    block = SequenceBlock(description())
    assert block.shape == (3, 4)
    assert block.target_scale == ((5.0, 5.0), (2.0, 2.0))
    classes = description().model_copy(update={"task": "classification", "class_names": ["x", "y"]})
    assert SequenceBlock(classes).target_scale is None


# -- recent rows -------------------------------------------------------------------------------------------------


def test_the_reader_defaults_to_comma_point_utf8(tmp_path):
    reader = SeriesReader(description(), "-")
    assert (reader.dialect.delimiter, reader.dialect.decimal, reader.dialect.encoding) == (",", ".", "utf-8")
    assert (reader.window, reader.horizon, reader.time, reader.target, reader.chunk_rows) == (3, 2, None, "v", 8192)
    assert reader.warn("x") is None and reader.naive_forecast() is None


def test_recent_rows_too_few_extra_columns_and_the_last_window(tmp_path):
    path = csv_file(tmp_path / "r.csv", "k,v,note,", "a,1,x,", "b,2,y,", "a,3,z,", "b,4,w,")
    warnings = []
    reader = SeriesReader(description(), str(path), warn=warnings.append)
    reader.rolling = False
    ((inputs, contexts),) = list(reader.chunks())
    assert contexts == [{"end": 3}]
    assert inputs[NUMERIC_INPUT][:, :, 0].tolist() == [[2, 3, 4]]
    assert inputs["k"][:, :, 0].tolist() == [["b", "a", "b"]]
    assert warnings == [f"{path}: ignoring column(s) the model does not use: 'note', column 4 (no name)"]
    csv_file(path, "k,v", "a,1", "b,2")
    reader = SeriesReader(description(), str(path))
    reader.rolling = False
    assert (
        data_error(reader.chunks) == f"{path}: 2 row(s); this model needs at least 3 (dataset.window) to forecast from"
    )


def test_rolling_windows_come_in_chunks_of_chunk_rows(tmp_path):
    path = csv_file(tmp_path / "r.csv", "k,v", *(f"a,{i}" for i in range(7)))
    reader = SeriesReader(description(), str(path), chunk_rows=2)
    reader.rolling = True
    chunks = list(reader.chunks())
    assert [contexts for _, contexts in chunks] == [[{"end": 2}, {"end": 3}], [{"end": 4}, {"end": 5}], [{"end": 6}]]
    assert chunks[2][0][NUMERIC_INPUT][:, :, 0].tolist() == [[4, 5, 6]]


def test_prediction_rows_per_step_with_the_row_the_time_and_the_actual_value(tmp_path):
    time = {"column": "t", "format": "number", "unit": "number", "step": 2.0, "regular": True}
    info = description(time=time).model_copy(update={"features": description().features[:1], "dtype": "float32"})
    path = csv_file(tmp_path / "r.csv", "t,v", "0,1", "2,2", "4,3", "6,4")
    reader = SeriesReader(info, str(path))
    reader.rolling = True
    contexts = [context for _, chunk in reader.chunks() for context in chunk]
    rows = reader.prediction_rows([[10.5, 11.25], [12.0, 13.0]], contexts, None)
    assert rows == [
        {"row": 4, "step": 1, "time": "6", "prediction": 10.5, "actual": 4.0},
        {"row": 5, "step": 2, "time": "8", "prediction": 11.25, "actual": None},
        {"row": 5, "step": 1, "time": "8", "prediction": 12.0, "actual": None},
        {"row": 6, "step": 2, "time": "10", "prediction": 13.0, "actual": None},
    ]
    reader.rolling = False
    contexts = [context for _, chunk in reader.chunks() for context in chunk]
    assert reader.prediction_rows([[1.0, 2.0]], contexts, None) == [
        {"step": 1, "time": "8", "prediction": 1.0},
        {"step": 2, "time": "10", "prediction": 2.0},
    ]


def test_labeled_rows_make_every_complete_window_and_refuse_unknown_classes(tmp_path):
    info = description().model_copy(update={"features": description().features[:1], "dtype": "float32"})
    path = csv_file(tmp_path / "r.csv", "v", *(str(i) for i in range(6)))
    x, y = SeriesReader(info, str(path)).read_labeled(path)
    assert x[:, :, 0].tolist() == [[0, 1, 2], [1, 2, 3]] and y.tolist() == [[3, 4], [4, 5]]
    reader = SeriesReader(info, "-")
    reader.read_labeled(path)
    assert reader.naive_forecast().tolist() == [[2, 2], [3, 3]]
    csv_file(path, "v", "1", "2", "3", "4")
    assert data_error(SeriesReader(info, "-").read_labeled, path) == (
        f"{path}: 4 rows hold no window of 3 rows followed by its 2 target row(s)"
    )
    classes = InputDescription(
        kind="sequence",
        shape=[2, 1],
        dtype="float32",
        features=[{"name": "w", "mean": 0.0, "variance": 1.0}],
        task="classification",
        target_name="c",
        class_names=["hi", "lo"],
        details={"window": 2, "horizon": 1},
    )
    csv_file(path, "w,c", "1,zz", "2,hi", "3,lo", "4,hi")
    x, y = SeriesReader(classes, "-").read_labeled(path)
    assert x[:, :, 0].tolist() == [[1, 2], [2, 3]] and y.tolist() == [1, 0]
    csv_file(path, "w,c", "1,hi", "2,hi", "3,mid", "4,aa", "5,zed", "6,bb", "7,qq", "8,hi")
    assert data_error(SeriesReader(classes, "-").read_labeled, path) == (
        f"{path}: column 'c': unknown class(es) aa, bb, mid, qq, zed; classes: hi, lo"
    )


def test_stdin_rows_are_read_as_a_series(monkeypatch):
    info = description().model_copy(update={"features": description().features[:1], "dtype": "float32"})
    monkeypatch.setattr("sys.stdin", io.StringIO("v\n1\n2\n3\n4\n"))
    reader = SeriesReader(info, "-")
    reader.rolling = False
    ((inputs, contexts),) = list(reader.chunks())
    assert inputs[:, :, 0].tolist() == [[2, 3, 4]] and contexts == [{"end": 3}] and reader.name == "<stdin>"


def test_a_class_forecast_row_has_the_class_its_probability_and_the_actual_class(tmp_path):
    from annctl.prediction import PredictionWriter
    from annctl.records import DataInfo

    classes = DataInfo(
        kind="sequence",
        shape=[2, 1],
        dtype="float32",
        features=[{"name": "w", "mean": 0.0, "variance": 1.0}],
        task="classification",
        target_name="c",
        class_names=["hi", "lo"],
        details={"window": 2, "horizon": 1},
    )
    path = csv_file(tmp_path / "r.csv", "w,c", "1,hi", "2,lo", "3,hi")
    reader = SeriesReader(classes, str(path))
    reader.rolling = True
    contexts = [context for _, chunk in reader.chunks() for context in chunk]
    writer = PredictionWriter(io.StringIO(), "jsonl", classes, None, [])
    rows = reader.prediction_rows([[0.25, 0.75], [0.9, 0.1]], contexts, writer)
    assert rows == [
        {"row": 3, "step": 1, "prediction": "lo", "probability": 0.75, "actual": "hi"},
        {"row": 4, "step": 1, "prediction": "hi", "probability": 0.9, "actual": None},
    ]


def test_a_one_column_file_without_the_time_column_is_told_about_delimiters(tmp_path):
    path = tmp_path / "one.csv"
    path.write_text("temp\n1\n2\n3\n")
    assert TimeSeries(path=str(path), target="temp", time="date").problems() == [
        (
            ("delimiter",),
            f"{path}:1: the header 'temp' is one column with every delimiter annctl tries (, ; tab |); set "
            "dataset.delimiter to the file's separator",
        )
    ]
