"""Every text file annctl reads goes through one reader (annctl.datasets.csv_dialect): a UTF-8 byte-order mark,
CRLF, the delimiter and decimal mark, the encoding — for the `csv` and `timeseries` datasets, forecast and CSV
inputs of `predict`/`evaluate --data`, and list files of images. Also the time column's UTC offsets, and
symbolic-link loops wherever a path is followed. Fast: no training here (trained runs: test_timeseries.py,
test_image_folder.py)."""

import codecs
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from annctl.datasets.images import list_file
from annctl.datasets.timeseries import TimeSeries, advance, format_time, read_series
from annctl.errors import DataError

from .terminal import annctl_command


def series_text(rows: int = 40, *, delimiter: str = ",", decimal: str = ".") -> str:
    lines = [delimiter.join(["day", "value", "wind"])]
    for i in range(rows):
        day = (datetime(2024, 1, 1) + timedelta(days=i)).strftime("%Y-%m-%d")
        value, wind = f"{i + 0.5}", f"{(i % 7) / 4:.2f}"
        lines.append(delimiter.join([day, value.replace(".", decimal), wind.replace(".", decimal)]))
    return "\n".join(lines) + "\n"


def spec(path: Path, **fields) -> TimeSeries:
    settings = {"name": "timeseries", "path": str(path), "time": "day", "target": "value", "window": 4, **fields}
    return TimeSeries.model_validate({**settings, "features": ["value", "wind"]})


# --- one reader ------------------------------------------------------------------------------------------------


def test_a_series_saved_by_excel_or_notepad_reads_as_the_plain_file(tmp_path):
    """A byte-order mark, CRLF, `;` and decimal commas (a European "CSV UTF-8"), or cp1252: the same series."""
    plain = tmp_path / "plain.csv"
    plain.write_text(series_text())
    expected = spec(plain).load(0)
    european = tmp_path / "european.csv"
    european.write_bytes(codecs.BOM_UTF8 + series_text(delimiter=";", decimal=",").replace("\n", "\r\n").encode())
    windows = tmp_path / "windows.csv"
    windows.write_bytes(series_text().replace("wind", "wïnd").replace("\n", "\r\n").encode("cp1252"))
    for data in (
        spec(european, decimal=",").load(0),
        TimeSeries.model_validate(
            {"name": "timeseries", "path": str(windows), "time": "day", "target": "value", "window": 4,
             "features": ["value", "wïnd"], "encoding": "cp1252"}
        ).load(0),
    ):  # fmt: skip
        assert [f.mean for f in data.description.features] == [f.mean for f in expected.description.features]
        assert np.array_equal(data.train.labels(), expected.train.labels())
    data = spec(european, decimal=",").load(0)
    details = data.description.details  # how predict reads the recent rows: as the training file
    assert (details["delimiter"], details["decimal"], details["encoding"]) == (";", ",", "utf-8")
    assert data.notes == [f"{european}: delimiter ';' detected (dataset.delimiter: auto)"]


def test_the_series_reader_says_what_the_csv_reader_says(tmp_path):
    """The messages of the one reader: a header left one column by the delimiter, an undecodable line."""
    path = tmp_path / "semi.csv"
    path.write_text(series_text(delimiter=";"))
    problems = spec(path, delimiter=",").problems()
    assert problems == [
        (
            ("delimiter",),
            f"{path}:1: the header 'day;value;wind' is one column with delimiter ','; the file looks ';'-separated: "
            "set dataset.delimiter: ';' (or auto)",
        )
    ]
    latin = tmp_path / "latin.csv"
    latin.write_bytes(series_text().encode() + "2024-02-10,1.5,0.5 é\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"latin.csv:42: not utf-8 text .*set dataset.encoding"):
        spec(latin).load(0)


def test_a_list_file_with_a_byte_order_mark_and_crlf_names_its_images(tmp_path):
    (tmp_path / "my_pet.jpg").write_bytes(b"x")
    (tmp_path / "über.jpg").write_bytes(b"x")
    listed = tmp_path / "photos.txt"
    listed.write_bytes(codecs.BOM_UTF8 + b"my_pet.jpg\r\n# a comment\r\n\r\n" + "über.jpg\r\n".encode())
    assert list_file(listed) == [tmp_path / "my_pet.jpg", tmp_path / "über.jpg"]
    listed.write_bytes("my_pet.jpg\r\nüber.jpg\r\n".encode("cp1252"))
    assert list_file(listed, "cp1252") == [tmp_path / "my_pet.jpg", tmp_path / "über.jpg"]
    with pytest.raises(DataError, match=r"photos.txt:2: not utf-8 text .*--encoding"):
        list_file(listed)


def test_reading_inputs_imports_no_tensorflow(tmp_path):
    """`predict` may read its input without TensorFlow: the reader of every text file imports nothing heavy."""
    (tmp_path / "s.csv").write_bytes(codecs.BOM_UTF8 + series_text().encode())
    (tmp_path / "a.jpg").write_bytes(b"x")
    (tmp_path / "l.txt").write_text("a.jpg\n")
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from annctl.datasets.csv_dialect import Dialect, read_table\n"
        "from annctl.datasets.timeseries import read_series\n"
        "from annctl.datasets.images import list_file\n"
        f"folder = Path({str(tmp_path)!r})\n"
        "read_table(folder / 's.csv', Dialect(), option='--')\n"
        "read_series(folder / 's.csv', ['value'], time='day', time_format=None, missing='error', warn=print)\n"
        "list_file(folder / 'l.txt')\n"
        "print(','.join(m for m in ('tensorflow', 'keras') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""


def test_a_non_numeric_regression_target_names_its_line_and_value(tmp_path):
    lines = series_text().splitlines()
    lines[40] = lines[40].replace("39.5", "twelve")  # line 41 of the file
    path = tmp_path / "s.csv"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"s.csv:41: column 'value': non-numeric value 'twelve' for a regression"):
        spec(path, task="regression").load(0)


# --- time columns with UTC offsets -------------------------------------------------------------------------------


def write_stamps(path: Path, stamps: list[str]) -> Path:
    path.write_text("time,value\n" + "".join(f"{stamp},{i}\n" for i, stamp in enumerate(stamps)))
    return path


def read(path: Path, time_format: str | None = None):
    return read_series(path, ["value"], time="time", time_format=time_format, missing="error", warn=pytest.fail)


def test_times_with_one_offset_are_spaced_and_predicted_in_it(tmp_path):
    stamps = [f"2024-05-01T{h:02d}:00:00+02:00" for h in range(12)]
    for time_format in (None, "%Y-%m-%dT%H:%M:%S%z"):
        series = read(write_stamps(tmp_path / "one.csv", stamps), time_format)
        info = series.time_info
        assert (info["unit"], info["step"], info["regular"]) == ("seconds", 3600, True)
        following = format_time(advance(series.times[-1], info, 1), info, series.stamps[-1])
        assert following == "2024-05-01T12:00:00+02:00"  # the input's offset, written as the input writes it
    compact = read(write_stamps(tmp_path / "z.csv", [f"2024-05-01T{h:02d}:00:00Z" for h in range(5)]))
    assert format_time(advance(compact.times[-1], compact.time_info, 2), compact.time_info, "…Z").endswith("06:00:00Z")


def test_rows_crossing_a_summer_time_change_are_ordered_and_spaced_in_utc(tmp_path):
    """Central Europe, 31 March 2024: 02:00 local does not exist (+01:00 → +02:00); 27 October: 02:00–03:00
    local happens twice. In UTC both are one row an hour — no gap, no duplicate, no row out of order."""
    spring = ["2024-03-31T00:00:00+01:00", "2024-03-31T01:00:00+01:00", "2024-03-31T03:00:00+02:00",
              "2024-03-31T04:00:00+02:00"]  # fmt: skip
    autumn = ["2024-10-27T01:00:00+02:00", "2024-10-27T02:00:00+02:00", "2024-10-27T02:00:00+01:00",
              "2024-10-27T03:00:00+01:00"]  # fmt: skip
    for stamps in (spring, autumn):
        series = read(write_stamps(tmp_path / "dst.csv", stamps))  # warn=pytest.fail: not unsorted, no gap
        assert series.time_info["step"] == 3600 and series.time_info["regular"]
        assert series.columns["value"].tolist() == [0, 1, 2, 3]
        utc = [t.astimezone(timezone.utc) for t in series.times]
        assert [b - a for a, b in zip(utc, utc[1:])] == [timedelta(hours=1)] * 3
    series = read(write_stamps(tmp_path / "dst.csv", autumn))
    assert format_time(advance(series.times[-1], series.time_info, 1), series.time_info, autumn[-1]) == (
        "2024-10-27T04:00:00+01:00"
    )


def test_a_time_without_an_offset_among_times_with_one_is_exit_2_naming_the_line(tmp_path):
    stamps = ["2024-05-01T00:00:00+02:00", "2024-05-01T01:00:00+02:00", "2024-05-01T02:00:00"]
    with pytest.raises(DataError, match=r"mixed.csv:4: column 'time': '2024-05-01T02:00:00' has no UTC offset"):
        read(write_stamps(tmp_path / "mixed.csv", stamps))
    stamps = ["2024-05-01T00:00:00", "2024-05-01T01:00:00+02:00"]
    with pytest.raises(DataError, match=r"mixed.csv:3: column 'time': '2024-05-01T01:00:00\+02:00' has a UTC offset"):
        read(write_stamps(tmp_path / "mixed.csv", stamps))


# --- symbolic-link loops wherever a path is followed ---------------------------------------------------------


def test_a_data_file_in_a_symbolic_link_loop_is_exit_2_naming_it_in_a_real_process(tmp_path):
    (tmp_path / "a.csv").symlink_to("b.csv")
    (tmp_path / "b.csv").symlink_to("a.csv")
    annctl = annctl_command()
    for dataset in ("{name: csv, path: a.csv, target: y}", "{name: timeseries, path: a.csv, target: y}"):
        experiment = tmp_path / "e.yaml"
        experiment.write_text(f"name: e\ndataset: {dataset}\nmodel: {{architecture: mlp}}\n")
        result = subprocess.run([*annctl, "validate", str(experiment)], capture_output=True, text=True, timeout=60)
        assert result.returncode == 2, result.stderr
        assert result.stderr.strip().splitlines() == [
            f"error: {tmp_path / 'a.csv'}: a symbolic link loop; remove or fix the link"
        ]


def test_a_series_saved_with_its_index_reads_its_named_columns(tmp_path):
    """pandas' `to_csv` writes the index as an unnamed first column: the series reads the columns it names
    (the csv dataset, which takes every column, refuses it); a name it needs twice is still exit 2."""
    lines = series_text().splitlines()
    path = tmp_path / "indexed.csv"
    path.write_text("\n".join(f",{line}" if i == 0 else f"{i - 1},{line}" for i, line in enumerate(lines)) + "\n")
    assert spec(path).problems() == []
    assert spec(path).load(0).description.details["rows"]["train"] == 28
    path.write_text(lines[0] + ",value\n" + "".join(f"{line},1\n" for line in lines[1:]))
    with pytest.raises(DataError, match="the column name 'value' is in the header 2 times"):
        spec(path).load(0)
