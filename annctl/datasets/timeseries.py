"""The sequence kind: one ordered series from a CSV, cut into windows of `window` past steps that predict the
next `horizon` values (regression: a forecast) or the next row's class — and the course's by-hand sequences.

Everything about the kind lives here: the `timeseries` entry (reading, time order, missing values,
chronological splits), the windows (made lazily from the series, so memory does not grow with `window`), how a
window enters a model (standardised with the training part's statistics, text one-hot — inside the model, so
a saved model takes raw rows), how `predict` and `evaluate --data` read recent rows, the naive forecast every
forecaster checks first. (`inline_sequence.py`, the by-hand sequences of `annctl backprop`, shares the kind.)

Regression targets are standardised too, but inside the model's output layer (``InputBlock.target_scale``,
applied by annctl.models.base.Head): the network learns standardised values while its outputs, the loss,
every metric and every prediction are in the target's own units. Unscaling after prediction instead would
have left `metrics.csv`, Keras' `val_` metrics and every consumer of a model's outputs in standard deviations.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field, model_validator

from annctl.datasets.base import (
    Data,
    DatasetSpec,
    Example,
    Feature,
    InputBlock,
    InputDescription,
    InputKind,
    Warn,
    unknown_name,
)
from annctl.datasets.csv_dialect import (
    DelimiterField,
    Dialect,
    Table,
    decimal_field,
    delimiter_field,
    encoding_field,
    parse_number,
    read_table,
    shown,
)
from annctl.datasets.interfaces import InputReader, Split
from annctl.datasets.registry import register_dataset
from annctl.datasets.tabular import is_missing
from annctl.errors import DataError
from annctl.paths import resolved
from annctl.wording import shown_path

if TYPE_CHECKING:
    import numpy as np

NUMERIC_INPUT = "series"  # the model's input of numeric features (text features: one input each, by name)
# Tried in order on the first time cell when `time_format` is not given (or the column is plain numbers).
TIME_FORMATS = (
    "%Y-%m-%d",
    "%Y/%m/%d",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M",
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
    "%Y-%m",
    "%Y-%m-%dT%H:%M:%S%z",  # with a UTC offset (+01:00, +0100, Z): ordered and spaced in UTC
    "%Y-%m-%d %H:%M:%S%z",
    "%Y-%m-%dT%H:%M%z",
    "%Y-%m-%d %H:%M%z",
)
EPOCH = datetime(1970, 1, 1)


class SequenceDataset(DatasetSpec):
    """Datasets of sequences: windows of (steps, features) in, the sequence input block."""

    kind: ClassVar[InputKind] = "sequence"

    def input_block(self, description: InputDescription) -> InputBlock:
        return SequenceBlock(description)

    def summary_fields(self, description: InputDescription, test_metrics: dict[str, Any]) -> dict[str, Any]:
        # forecasts (and adding): flagged when the model does not beat the naive baseline, which is named
        if "beats_naive" not in test_metrics:
            return {}
        return {"beats_naive": test_metrics["beats_naive"], "baseline": test_metrics["baseline"]}


@register_dataset
class TimeSeries(SequenceDataset):
    """One ordered series from a CSV: the last `window` rows predict the next `horizon` values (or the next class)."""

    name: Literal["timeseries"] = "timeseries"
    path: str = Field(..., min_length=1, description="CSV file; a relative path is relative to the experiment file.")
    time: str | None = Field(
        None,
        description="Time column: parsed and sorted; duplicate times are an error, gaps are reported. With a "
        "regular step, predictions carry the time they are for. Default: the rows are in order, no time.",
    )
    time_format: str | None = Field(
        None,
        description="strptime format of the time column, e.g. `%d.%m.%Y`; default: detected (ISO dates like "
        "2012-01-31, 2012/01/31, with or without a time of day, with or without a UTC offset like +01:00, or "
        "plain numbers). Times with offsets are ordered and spaced in UTC; predictions keep the last row's offset.",
    )
    target: str = Field(..., min_length=1, description="The column to predict.")
    features: list[str] | None = Field(
        None, min_length=1, description="Columns the model sees at each step (default: the target alone)."
    )
    delimiter: DelimiterField = delimiter_field("a choice other than `,` is noted on stderr")
    decimal: Literal[".", ","] = decimal_field()
    encoding: str = encoding_field()
    task: Literal["auto", "classification", "regression"] = Field(
        "auto", description="`auto`: a numeric target is regression (a forecast), a text target classification."
    )
    window: int = Field(14, ge=1, le=10_000, description="Past steps (rows) the model sees.")
    horizon: int = Field(
        1, ge=1, le=1_000, description="Steps ahead to predict: the next `horizon` values (classification: 1)."
    )
    missing: Literal["error", "drop", "interpolate", "ffill"] = Field(
        "error",
        description="Empty or NA cells: `error` stops naming each column and its count; `drop` drops those rows "
        "(gaps, reported with a time column); `interpolate` draws a straight line between the neighbours (over "
        "time; text columns: ffill); `ffill` repeats the last value (a leading gap takes the first value).",
    )
    validation_split: float = Field(
        0.15, gt=0, lt=1, description="Fraction of the rows, after the training part, that validates."
    )
    test_split: float = Field(0.15, gt=0, lt=1, description="Fraction of the rows, at the end, held out for testing.")
    normalize: bool = Field(
        True,
        description="Standardise numeric features (and a regression target) with the training part's mean and "
        "standard deviation, inside the model: it takes raw rows and gives values in the target's units.",
    )

    smoke_reference: ClassVar[bool] = True

    @model_validator(mode="after")
    def _check(self) -> TimeSeries:
        if self.validation_split + self.test_split >= 1:
            raise ValueError(
                f"validation_split + test_split: {self.validation_split} + {self.test_split} leaves no training rows"
            )
        if self.task == "classification" and self.horizon != 1:
            raise ValueError("horizon: a classification predicts the next row's class; leave horizon at 1")
        return self

    @classmethod
    def example(cls, directory):
        """120 days of a noisy seasonal series with a text column, predicting the next 2 values."""
        import numpy as np

        rng = np.random.default_rng(0)
        path = Path(directory) / "series.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        lines = ["day,value,wind,weekday"]
        for i in range(120):
            day = (datetime(2024, 1, 1) + timedelta(days=i)).strftime("%Y-%m-%d")
            value = 10 + 5 * math.sin(i / 7) + rng.normal()
            lines.append(f"{day},{value:.3f},{rng.uniform(0, 9):.2f},{'weekend' if i % 7 >= 5 else 'workday'}")
        path.write_text("\n".join(lines) + "\n")
        fields = {
            "name": "timeseries",
            "path": str(path),
            "time": "day",
            "target": "value",
            "features": ["value", "wind", "weekday"],
            "window": 6,
            "horizon": 2,
        }
        return Example(fields, new_inputs=path)

    def known_task(self):
        return None if self.task == "auto" else self.task

    def reader(self, description: InputDescription, source: str, *, chunk_rows: int, warn: Warn | None = None):
        return SeriesReader(description, source, chunk_rows=chunk_rows, warn=warn)

    def resolve_paths(self, base_dir: Path) -> TimeSeries:
        path = Path(self.path).expanduser()
        return self if path.is_absolute() else self.model_copy(update={"path": str(resolved(base_dir / path))})

    def columns(self) -> list[str]:
        """The columns read: the target and the features (the time column apart)."""
        return list(dict.fromkeys([self.target, *(self.features or [self.target])]))

    def dialect(self) -> Dialect:
        return Dialect("\t" if self.delimiter == "tab" else self.delimiter, self.decimal, self.encoding)

    def problems(self):
        """The file reads in the spec's dialect and its header names the time, target and feature columns."""
        needed = [*([self.time] if self.time else []), *self.columns()]
        try:
            header = read_table(Path(self.path), self.dialect(), option="dataset.", only_needed=True).names
        except DataError as error:
            return [(("path",), str(error))]
        found = unknown_name(("target",), self.target, header, "column")
        if self.time is not None:
            found += unknown_name(("time",), self.time, header, "column")
        for i, name in enumerate(self.features or []):
            found += unknown_name(("features", i), name, header, "column")
        if found and len(header) == 1:  # most likely the wrong delimiter: say which one the file looks like
            try:
                read_table(Path(self.path), self.dialect(), option="dataset.", needed=needed, only_needed=True)
            except DataError as error:
                return [(("delimiter",), str(error))]
        return found

    def load(self, seed: int) -> Data:
        """Read, order and clean the series, split it chronologically and describe it from the training part."""
        import numpy as np

        needed = [*([self.time] if self.time else []), *self.columns()]
        table = read_table(Path(self.path), self.dialect(), option="dataset.", needed=needed, only_needed=True)
        series = read_series(
            Path(self.path),
            self.columns(),
            time=self.time,
            time_format=self.time_format,
            missing=self.missing,
            warn=lambda message: print(f"warning: {message}", file=sys.stderr),
            table=table,
            decimal=self.decimal,
        )
        rows = series.rows
        features = self.features or [self.target]
        parts = self._part_sizes(rows)
        train_end, validation_end = parts[0], parts[0] + parts[1]
        task, labels, class_names = self._targets(series)
        notes = []  # told at train time (Data.notes), not on every load
        if table.detected and table.delimiter != ",":
            notes.append(
                f"{shown_path(self.path)}: delimiter {shown(table.delimiter)} detected (dataset.delimiter: auto)"
            )
        types = {name: series.types[name] for name in features}
        text = [name for name in features if types[name] == "text"]
        if NUMERIC_INPUT in text:
            raise DataError(
                f"{shown_path(self.path)}: rename the text column {NUMERIC_INPUT!r} (the name of the numeric input)"
            )
        described = []
        for name in features:
            column = series.columns[name][:train_end]
            if types[name] == "text":
                described.append(Feature(name=name, type="text", vocabulary=sorted(set(column.tolist()))))
            else:
                variance = float(np.var(column.astype("float64")))
                described.append(
                    Feature(name=name, mean=float(np.mean(column, dtype="float64")), variance=variance or 1.0)
                )
        scale = None
        if task == "regression" and self.normalize:
            train_targets = series.columns[self.target][:train_end].astype("float64")
            scale = {"mean": float(train_targets.mean()), "std": float(train_targets.std()) or 1.0}
        description = InputDescription(
            kind="sequence",
            shape=[self.window, len(features)],
            dtype="mixed" if text else "float32",
            features=described,
            normalize=self.normalize,
            task=task,
            target_name=self.target,
            class_names=class_names,
            n_targets=self.horizon if task == "regression" else 1,
            details={
                "window": self.window,
                "horizon": self.horizon,
                "time": series.time_info,
                "missing": self.missing,
                "target_scale": scale,
                "rows": {"train": parts[0], "validation": parts[1], "test": parts[2]},
                "filled": series.filled,
                # how `predict` and `evaluate --data` read new rows: the training file's dialect
                "delimiter": table.delimiter,
                "decimal": self.decimal,
                "encoding": self.encoding,
            },
        )
        numbers = [name for name in features if types[name] == "numeric"]
        matrix = np.stack([series.columns[name].astype("float32") for name in numbers], axis=1) if numbers else None
        texts = {name: series.columns[name] for name in text}
        target_values = series.columns[self.target] if task == "regression" else None

        def part(start: int, end: int, limit: int | None = None) -> WindowSplit:
            return WindowSplit(
                matrix[start:end] if matrix is not None else None,
                {name: values[start:end] for name, values in texts.items()},
                labels[start:end],
                self.window,
                self.horizon if task == "regression" else 1,
                naive_source=None if target_values is None else target_values[start:end].astype("float32"),
                limit=limit,
            )

        data = Data(
            description,
            part(0, train_end, self.max_train_samples),
            part(train_end, validation_end),
            part(validation_end, rows),
        )
        data.notes += notes
        return data

    def _part_sizes(self, rows: int) -> tuple[int, int, int]:
        """Rows of the training, validation and test parts, in time order; each holds at least one window."""
        test = int(round(rows * self.test_split))
        validation = int(round(rows * self.validation_split))
        sizes = (rows - validation - test, validation, test)
        needed = self.window + (self.horizon if self.task != "classification" else 1)
        for name, size in zip(("training", "validation", "test"), sizes):
            if size < needed:
                raise DataError(
                    f"{shown_path(self.path)}: "
                    f"the {name} part has {size} of the {rows} rows, fewer than window + horizon = "
                    f"{needed} (one window and its targets): lower dataset.window or dataset.horizon, or change "
                    "validation_split/test_split"
                )
        return sizes

    def _targets(self, series: Series):
        """(task, one label per row, class names): numbers for regression, class indices for classification."""
        import numpy as np

        values = series.columns[self.target]
        numeric = series.types[self.target] == "numeric"
        task = self.task if self.task != "auto" else ("regression" if numeric else "classification")
        if task == "regression":
            if not numeric:
                bad = next(i for i, cell in enumerate(values) if parse_number(cell, self.decimal) is None)
                raise DataError(
                    f"{shown_path(self.path)}:{series.lines[bad]}: "
                    f"column {self.target!r}: non-numeric value {values[bad]!r} "
                    "for a regression target (fix the cell; or set dataset.task: classification for class labels, "
                    "or dataset.decimal for numbers with another decimal mark)"
                )
            return task, values.astype("float32"), None
        if self.horizon != 1:
            raise DataError(
                f"{shown_path(self.path)}: "
                f"column {self.target!r} is text (a classification): it predicts the next row's "
                f"class; set dataset.horizon to 1 (it is {self.horizon})"
            )
        if numeric:
            numbers = sorted({float(v) for v in values})
            names = [format_number(v) for v in numbers]
            keys = [format_number(float(v)) for v in values]
        else:
            names = sorted(set(values.tolist()))
            keys = values.tolist()
        if len(names) < 2:
            raise DataError(
                f"{shown_path(self.path)}: column {self.target!r}: a classification target needs at least 2 classes"
            )
        lookup = {name: i for i, name in enumerate(names)}
        return task, np.asarray([lookup[key] for key in keys], dtype="int64"), names


# -- reading and cleaning a series ----------------------------------------------------------------------------


class Series:
    """A cleaned series: each used column as an array (numbers float64, text str), in time order, with the
    file's line of each row (``lines``) and its time cell as written (``stamps``)."""

    def __init__(self, columns: dict, types: dict[str, str], times: list | None, time_info: dict | None, filled):
        self.columns, self.types, self.times, self.time_info, self.filled = columns, types, times, time_info, filled
        self.lines: list[int] = []
        self.stamps: list[str] = []

    @property
    def rows(self) -> int:
        return len(next(iter(self.columns.values())))


def read_series(
    source: str | Path,
    names: list[str],
    *,
    time: str | None,
    time_format: str | None,
    missing: str,
    warn: Warn,
    text: str | None = None,
    types: Mapping[str, str] | None = None,
    require_sorted: bool = False,
    table: Table | None = None,
    dialect: Dialect | None = None,
    decimal: str = ".",
    option: str = "dataset.",
) -> Series:
    """Read the ``names`` columns (and ``time``) of a CSV into a clean :class:`Series`.

    The file is read by the one CSV reader (csv_dialect.read_table) in ``dialect``, or ``table`` is the file
    already read; ``text`` is its contents (stdin). Training (``require_sorted`` False) sorts rows by time;
    `predict` (True) refuses rows out of order. ``types`` fixes each column's type (a run's); otherwise a
    column is numeric when every present cell is one (``decimal``: its decimal mark).
    """
    import numpy as np

    wanted = [*([time] if time else []), *names]
    if table is None:
        table = read_table(source, dialect or Dialect(), option=option, needed=wanted, text=text, only_needed=True)
        decimal = (dialect or Dialect()).decimal
    header, body = table.names, table.rows
    absent = [name for name in dict.fromkeys(wanted) if name not in header]
    if absent:
        raise DataError(f"{shown_path(source)}: no column {', '.join(map(repr, absent))}; columns: {', '.join(header)}")
    lines = [number for number, _ in body]
    cells = {name: [row[header.index(name)].strip() for _, row in body] for name in names}
    times: list | None = None  # floats, or datetimes (parse_times says which)
    time_info: dict[str, Any] | None = None
    stamps: list[str] = []  # the time cells as written
    if time:
        stamps = [row[header.index(time)].strip() for _, row in body]
        parsed, kind, detected = parse_times(stamps, lines, source, time, time_format)
        times = parsed
        order = sorted(range(len(parsed)), key=lambda i: parsed[i])
        if order != list(range(len(times))):
            first = next(i for i in range(1, len(times)) if times[i] < times[i - 1])
            if require_sorted:
                raise DataError(
                    f"{shown_path(source)}:{lines[first]}: column {time!r}: {stamps[first]} comes before the row above "
                    f"({stamps[first - 1]}); the rows must be in time order"
                )
            warn(f"{shown_path(source)}: the rows are not in time order (line {lines[first]}); sorted by {time!r}")
            times, stamps, lines = [times[i] for i in order], [stamps[i] for i in order], [lines[i] for i in order]
            cells = {name: [column[i] for i in order] for name, column in cells.items()}
        for i in range(1, len(times)):
            if times[i] == times[i - 1]:
                raise DataError(
                    f"{shown_path(source)}:{lines[i]}: column {time!r}: duplicate time {stamps[i]} (lines "
                    f"{lines[i - 1]} and {lines[i]}); each time must appear once"
                )
        time_info = {"column": time, "format": detected, **time_step(times, kind)}
    gaps = {name: sum(is_missing(cell) for cell in column) for name, column in cells.items()}
    gaps = {name: count for name, count in gaps.items() if count}
    if gaps and missing == "error":
        listed = ", ".join(f"{name} ({count})" for name, count in gaps.items())
        first = min(i for name in gaps for i, cell in enumerate(cells[name]) if is_missing(cell))
        raise DataError(
            f"{shown_path(source)}: "
            f"missing values in {listed} (first on line {lines[first]}); set dataset.missing to drop, "
            "interpolate or ffill"
        )
    if gaps and missing == "drop":
        keep = [i for i in range(len(lines)) if not any(is_missing(cells[name][i]) for name in gaps)]
        if not keep:
            raise DataError(f"{shown_path(source)}: no rows left after dropping rows with missing values")
        cells = {name: [column[i] for i in keep] for name, column in cells.items()}
        lines = [lines[i] for i in keep]
        if times is not None and time_info is not None:
            times, stamps = [times[i] for i in keep], [stamps[i] for i in keep]
            time_info = {"column": time, "format": time_info["format"], **time_step(times, kind)}
    types = dict(types or {name: column_type(cells[name], decimal) for name in names})
    columns = {}
    for name in names:
        if types[name] == "text":
            columns[name] = np.asarray(cells[name], dtype=object)
        else:
            columns[name] = numbers(cells[name], lines, source, name, decimal)
    filled = {}
    if gaps and missing in ("interpolate", "ffill"):
        axis = np.asarray([position(t) for t in times], dtype="float64") if times else None
        for name in gaps:
            columns[name], filled[name] = fill(columns[name], types[name], missing, axis, source, name)
    if time_info and not time_info["regular"]:
        irregular = time_info["irregular_steps"]
        warn(
            f"{shown_path(source)}: "
            f"column {time!r}: {irregular} step(s) differ from the usual {describe_step(time_info)} "
            f"(largest: {describe_step(time_info, time_info['largest_step'])}); windows may span those gaps"
        )
    series = Series(columns, types, times, time_info, filled)
    series.lines, series.stamps = lines, stamps
    return series


def column_type(cells: list[str], decimal: str = ".") -> str:
    for cell in cells:
        if not is_missing(cell) and parse_number(cell, decimal) is None:
            return "text"
    return "numeric"


def numbers(cells: list[str], lines: list[int], source, name: str, decimal: str = "."):
    """A numeric column (NaN where missing); a non-number or infinite cell names its line."""
    import numpy as np

    values = np.empty(len(cells), dtype="float64")
    for i, cell in enumerate(cells):
        if is_missing(cell):
            values[i] = np.nan
            continue
        value = parse_number(cell, decimal)
        if value is None:
            raise DataError(f"{shown_path(source)}:{lines[i]}: column {name!r}: non-numeric value {cell!r}")
        values[i] = value
        if not math.isfinite(values[i]):
            raise DataError(f"{shown_path(source)}:{lines[i]}: column {name!r}: {cell!r} is not a finite number")
    return values


def fill(column, kind: str, policy: str, axis, source, name: str):
    """Fill a column's gaps: (filled column, cells filled). Text is always forward-filled."""
    import numpy as np

    gaps = np.asarray([is_missing(v) for v in column]) if kind == "text" else np.isnan(column)
    present = np.flatnonzero(~gaps)
    if not len(present):
        raise DataError(f"{shown_path(source)}: column {name!r} has no value at all")
    if policy == "interpolate" and kind != "text":
        where = axis if axis is not None else np.arange(len(column), dtype="float64")
        filled = column.copy()
        filled[gaps] = np.interp(where[gaps], where[present], column[present])  # edges take the nearest value
        return filled, int(gaps.sum())
    # ffill: each gap takes the last value before it; a leading gap the first value
    last = np.maximum.accumulate(np.where(gaps, -1, np.arange(len(column))))
    last[last < 0] = present[0]
    return column[last], int(gaps.sum())


def parse_times(stamps: list[str], lines: list[int], source, column: str, time_format: str | None):
    """(values, kind, format): datetimes (kind `datetime`) or numbers (kind `number`)."""
    for i, stamp in enumerate(stamps):
        if is_missing(stamp):
            raise DataError(f"{shown_path(source)}:{lines[i]}: column {column!r}: missing time")
    if time_format is None:
        try:
            return [float(stamp) for stamp in stamps], "number", "number"
        except ValueError:
            pass
        time_format = next((f for f in TIME_FORMATS if _parses(stamps[0], f)), None)
        if time_format is None:
            raise DataError(
                f"{shown_path(source)}:{lines[0]}: column {column!r}: cannot read {stamps[0]!r} as a time; give "
                "dataset.time_format (e.g. '%d.%m.%Y')"
            )
    elif time_format == "number":
        values: list = []  # floats here, datetimes below
        for stamp, line in zip(stamps, lines):
            try:
                values.append(float(stamp))
            except ValueError:
                raise DataError(f"{shown_path(source)}:{line}: column {column!r}: {stamp!r} is not a number") from None
        return values, "number", "number"
    values = []
    for stamp, line in zip(stamps, lines):
        try:
            values.append(datetime.strptime(stamp, time_format))
        except ValueError:
            where = f"{shown_path(source)}:{line}: column {column!r}: {stamp!r}"
            raise DataError(
                f"{where} {_offset_mismatch(stamp, time_format) or 'does not match'} the time format {time_format!r}"
            ) from None
    return values, "datetime", time_format


def _offset_mismatch(stamp: str, time_format: str) -> str | None:
    """Why a time with a UTC offset among times without (or the reverse) does not match: times of one column
    are all compared in UTC or all as written, never mixed."""
    if "%z" in time_format and _parses(stamp, time_format.replace("%z", "")):
        return "has no UTC offset, unlike the other rows (every time needs one, or none) and"
    if "%z" not in time_format and _parses(stamp, time_format + "%z"):
        return "has a UTC offset, unlike the other rows (every time needs one, or none), and does not match"
    return None


def _parses(stamp: str, time_format: str) -> bool:
    try:
        datetime.strptime(stamp, time_format)
    except ValueError:
        return False
    return True


def position(value) -> float:
    """A time as a number on one axis (seconds since 1970 for datetimes; in UTC for times with an offset)."""
    if not isinstance(value, datetime):
        return float(value)
    return value.timestamp() if value.tzinfo is not None else (value - EPOCH).total_seconds()


def month_index(value: datetime) -> int:
    return value.year * 12 + value.month - 1


def time_step(times: list, kind: str) -> dict[str, Any]:
    """The usual step between rows (the most common difference) and how many steps differ from it.

    Datetimes on the same day of the month and time of day whose seconds differ are counted in months.
    """
    from collections import Counter

    if kind == "number":
        unit, axis = "number", [float(t) for t in times]
    elif len({(t.day, t.time()) for t in times}) == 1 and len({b - a for a, b in zip(times, times[1:])}) > 1:
        unit, axis = "months", [float(month_index(t)) for t in times]
    else:
        unit, axis = "seconds", [position(t) for t in times]
    differences = [round(b - a, 9) for a, b in zip(axis, axis[1:])] or [1.0]
    step = Counter(differences).most_common(1)[0][0]
    irregular = sum(difference != step for difference in differences)
    return {
        "unit": unit,
        "step": step,
        "regular": irregular == 0,
        "irregular_steps": irregular,
        "largest_step": max(differences),
    }


def describe_step(info: dict, amount: float | None = None) -> str:
    amount = info["step"] if amount is None else amount
    if info["unit"] == "months":
        return f"{amount:g} month(s)"
    if info["unit"] == "number":
        return f"{amount:g}"
    for size, name in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if amount % size == 0:
            return f"{amount / size:g} {name}(s)"
    return f"{amount:g} s"


def advance(value, info: dict, steps: int):
    """The time ``steps`` usual steps after ``value``."""
    if info["unit"] == "number":
        return value + info["step"] * steps
    if info["unit"] == "months":
        total = month_index(value) + int(info["step"]) * steps
        return value.replace(year=total // 12, month=total % 12 + 1)
    return value + timedelta(seconds=info["step"] * steps)


def format_time(value, info: dict, like: str = "") -> str:
    """A time as the column writes it; a UTC offset as ``like`` (a time cell of the input) writes its own:
    `Z`, `+01:00` or `+0100`."""
    if not isinstance(value, datetime):
        return format_number(value)
    time_format = info["format"]
    offset = value.utcoffset()
    if offset is not None and "%z" in time_format:
        minutes = int(offset.total_seconds() // 60)
        if minutes == 0 and like.endswith("Z"):
            text = "Z"
        else:
            sign, minutes = ("-" if minutes < 0 else "+"), abs(minutes)
            colon = ":" if len(like) >= 6 and like[-3] == ":" and like[-6] in "+-" else ""
            text = f"{sign}{minutes // 60:02d}{colon}{minutes % 60:02d}"
        time_format = time_format.replace("%z", text)
    return value.strftime(time_format)


def format_number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


# -- windows --------------------------------------------------------------------------------------------------


class WindowSplit(Split):
    """One part of the series and its windows, made on demand: window ``i`` is rows ``i … i+window−1``, its
    target the next ``horizon`` rows' values (or the next row's class). Only the series is held (as tensors
    made once); a batch gathers its windows from it by index, so memory does not grow with ``window``."""

    def __init__(self, numbers, texts: dict, labels, window: int, horizon: int, *, naive_source=None, limit=None):
        self.numbers, self.texts, self.targets = numbers, texts, labels
        self.window, self.horizon, self.naive_source = window, horizon, naive_source
        count = max(0, len(labels) - window - horizon + 1)
        self._size = min(count, limit) if limit else count
        self._tensors = None

    @property
    def size(self) -> int:
        return self._size

    def _target_rows(self):
        import numpy as np

        return np.arange(self.size)[:, None] + self.window + np.arange(self.horizon)[None, :]

    def labels(self):
        """Each window's targets: (windows,) for one value or class, (windows, horizon) for several."""
        labels = self.targets[self._target_rows()]
        return labels[:, 0] if self.horizon == 1 else labels

    def naive_forecast(self):
        """The naive forecast of each window: its last target value, repeated for the horizon (None for
        classification)."""
        import numpy as np

        if self.naive_source is None:
            return None
        last = self.naive_source[np.arange(self.size) + self.window - 1]
        return last if self.horizon == 1 else np.repeat(last[:, None], self.horizon, axis=1)

    def windows(self, starts):
        """The windows starting at ``starts`` as the model takes them (numpy; text as string tensors)."""
        import numpy as np

        rows = np.asarray(starts)[:, None] + np.arange(self.window)[None, :]
        return model_inputs(
            None if self.numbers is None else self.numbers[rows], {n: t[rows] for n, t in self.texts.items()}
        )

    def x_batches(self, batch_size: int) -> Iterator[Any]:
        import numpy as np

        for start in range(0, self.size, batch_size):
            yield self.windows(np.arange(start, min(start + batch_size, self.size)))

    def batches(self, order):
        """``order``: a tf.data dataset of int64 index batches (window starts) → (x, y) batches."""
        import tensorflow as tf

        if self._tensors is None:
            self._tensors = (
                None if self.numbers is None else tf.constant(self.numbers, "float32"),
                {name: tf.constant(values.astype(str)) for name, values in self.texts.items()},
                tf.constant(self.targets),
            )
        numbers, texts, targets = self._tensors
        steps = tf.range(self.window, dtype=tf.int64)
        ahead = tf.range(self.horizon, dtype=tf.int64) + self.window
        single = self.horizon == 1

        def gather(indices):
            rows = indices[:, None] + steps[None, :]
            x = {name: tf.gather(values, rows)[:, :, None] for name, values in texts.items()}
            if numbers is not None:
                x[NUMERIC_INPUT] = tf.gather(numbers, rows)
            y = tf.gather(targets, indices[:, None] + ahead[None, :])
            return (x if texts else x[NUMERIC_INPUT]), (y[:, 0] if single else y)

        return order.map(gather, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def model_inputs(numbers, texts: dict):
    """Windows as the model takes them: one float array, or a dict with text columns as NumPy strings (string
    tensors for Keras: annctl.training.inference.keras_batch)."""
    if not texts:
        return numbers
    x = {name: values.astype(str)[:, :, None] for name, values in texts.items()}
    if numbers is not None:
        x[NUMERIC_INPUT] = numbers
    return x


# -- into the model -------------------------------------------------------------------------------------------


class SequenceBlock(InputBlock):
    """Raw windows in — (window, features) numbers, and (window, 1) words per text feature — and one
    (window, features) float tensor out: numbers standardised with the training part's statistics, words
    one-hot with its vocabulary (an unseen word falls into an out-of-vocabulary slot). Saved in the model."""

    def __init__(self, description: InputDescription):
        self.description = description
        window = description.shape[0]
        self.numeric = [f for f in description.features if f.type == "numeric"]
        self.text = [f for f in description.features if f.type == "text"]
        width = len(self.numeric) + sum(len(f.vocabulary or []) + 1 for f in self.text)
        self.shape = (window, width)
        scale = description.details.get("target_scale")
        if scale and description.task == "regression":
            self.target_scale = ((scale["mean"],) * description.n_targets, (scale["std"],) * description.n_targets)

    def _numeric_layers(self) -> list:
        import keras

        layers = [keras.Input(shape=(self.shape[0], len(self.numeric)), name=NUMERIC_INPUT)]
        if self.description.normalize:
            mean = [f.mean for f in self.numeric]
            variance = [f.variance for f in self.numeric]
            layers.append(keras.layers.Normalization(mean=mean, variance=variance, name="normalize"))
        return layers

    def chain(self) -> list | None:
        return None if self.text else self._numeric_layers()

    def functional(self):
        if not self.text:
            return super().functional()
        import keras

        inputs, parts = {}, []
        if self.numeric:
            layers = self._numeric_layers()
            inputs[NUMERIC_INPUT] = tensor = layers[0]
            for layer in layers[1:]:
                tensor = layer(tensor)
            parts.append(tensor)
        for feature in self.text:
            # (window, 1) words → (window, vocabulary + 1): one_hot encodes a last axis of size 1 in place
            inputs[feature.name] = keras.Input(shape=(self.shape[0], 1), dtype="string", name=feature.name)
            lookup = keras.layers.StringLookup(
                vocabulary=feature.vocabulary, output_mode="one_hot", name=f"lookup_{feature.name}"
            )
            parts.append(lookup(inputs[feature.name]))
        joined = keras.layers.Concatenate(axis=-1, name="features")(parts) if len(parts) > 1 else parts[0]
        return inputs, joined


# -- new rows: `predict` and `evaluate --data` -----------------------------------------------------------------


class SeriesReader(InputReader):
    """Recent rows of the series (a CSV with the run's columns, or ``-``), read whole and checked: at least
    `window` rows, every feature column, times in order. ``chunks()`` yields the windows to forecast from:
    the last one, or with ``rolling`` every complete one; ``prediction_rows`` turns the model's outputs into
    one output row per step ahead."""

    can_roll = True

    def __init__(self, description: InputDescription, source: str, *, chunk_rows: int = 8192, warn=None):
        self.description, self.source, self.chunk_rows = description, source, chunk_rows
        self.warn = warn or (lambda message: None)
        details = description.details
        self.window, self.horizon = details["window"], details["horizon"]
        self.time = details.get("time")
        self.target = description.target_name
        # the training file's dialect (`--delimiter` etc. in its place); a run made before it: `,` `.` UTF-8
        self.dialect = Dialect(
            details.get("delimiter", ","), details.get("decimal", "."), details.get("encoding", "utf-8")
        )
        self._naive: np.ndarray | None = None

    def _series(self, with_target: bool = False) -> Series:
        names = [f.name for f in self.description.features]
        if with_target and self.target not in names:
            names.append(self.target)
        types = {f.name: f.type for f in self.description.features}
        if with_target and self.target not in types:
            types[self.target] = "numeric" if self.description.task == "regression" else "text"
        text = None
        source = self.source
        if source == "-":
            text, source = sys.stdin.read(), "<stdin>"
        time = self.time["column"] if self.time else None
        needed = [*([time] if time else []), *names]
        table = read_table(source, self.dialect, option="--", needed=needed, text=text, only_needed=True)
        used = {*names, *([time] if time else []), self.target}
        extra = [repr(c) if c else f"column {i + 1} (no name)" for i, c in enumerate(table.names) if c not in used]
        if extra:
            self.warn(f"{shown_path(source)}: ignoring column(s) the model does not use: {', '.join(extra)}")
        policy = self.description.details.get("missing", "error")
        series = read_series(
            source,
            names,
            time=time,
            time_format=self.time["format"] if self.time else None,
            missing=policy,
            warn=self.warn,
            types=types,
            require_sorted=True,
            table=table,
            decimal=self.dialect.decimal,
        )
        if series.rows < self.window:
            raise DataError(
                f"{shown_path(source)}: {series.rows} row(s); this model needs at least {self.window} (dataset.window) "
                "to forecast from"
            )
        self.name = source
        return series

    def _inputs(self, series: Series, ends) -> Any:
        import numpy as np

        rows = np.asarray(ends)[:, None] - self.window + 1 + np.arange(self.window)[None, :]
        numeric = [f.name for f in self.description.features if f.type == "numeric"]
        numbers = (
            np.stack([series.columns[name].astype("float32") for name in numeric], axis=1)[rows] if numeric else None
        )
        texts = {f.name: series.columns[f.name][rows] for f in self.description.features if f.type == "text"}
        return model_inputs(numbers, texts)

    def chunks(self) -> Iterator[tuple[Any, list[dict]]]:
        series = self._series(with_target=self.rolling and self._has_target())
        self.series = series
        last = series.rows - 1
        ends = list(range(self.window - 1, series.rows)) if self.rolling else [last]
        for start in range(0, len(ends), self.chunk_rows):
            chunk = ends[start : start + self.chunk_rows]
            yield self._inputs(series, chunk), [{"end": end} for end in chunk]

    def _has_target(self) -> bool:
        if any(f.name == self.target for f in self.description.features):
            return True
        try:
            header = (
                read_table(self.source, self.dialect, option="--", only_needed=True).names if self.source != "-" else []
            )
        except DataError:
            return False
        return self.target in header

    def prediction_rows(self, outputs, contexts: list[dict], writer) -> list[dict[str, Any]]:
        """One row per step ahead (per window with ``rolling``): `row` (rolling: the data row forecast, 1 =
        the first row after the header), `step`, `time` (a regular time column), the prediction, and `actual`
        (rolling: the row's value when the input has it)."""
        import numpy as np

        from annctl.prediction import model_number

        series = self.series
        outputs = np.asarray(outputs, dtype="float64")
        classes = self.description.class_names
        time_info, times = self.time or {}, series.times or []
        regular = bool(time_info and time_info["regular"])
        actual = series.columns.get(self.target)
        rows = []
        for output, context in zip(outputs, contexts):
            end = context["end"]
            for step in range(1, (1 if classes else self.horizon) + 1):
                row: dict[str, Any] = {"row": end + step + 1} if self.rolling else {}
                row["step"] = step
                if regular:
                    at = advance(times[end], time_info, step)
                    row["time"] = format_time(at, time_info, series.stamps[end])
                if classes:
                    writer.cells(output, "", row)
                else:
                    row["prediction"] = model_number(np.atleast_1d(output)[step - 1])
                if self.rolling:
                    target_row = end + step
                    value = actual[target_row] if actual is not None and target_row < series.rows else None
                    row["actual"] = None if value is None else (value if classes else model_number(value))
                rows.append(row)
        return rows

    def read_labeled(self, path: Path):
        """Every complete window of a labeled CSV with its next `horizon` values (or class): (x, y)."""
        import numpy as np

        self.source = str(path)
        series = self._series(with_target=True)
        ends = np.arange(self.window - 1, series.rows - (self.horizon if not self.description.class_names else 1))
        if not len(ends):
            raise DataError(
                f"{shown_path(path)}: {series.rows} rows hold no window of {self.window} rows followed by its "
                f"{self.horizon} target row(s)"
            )
        values = series.columns[self.target]
        if self.description.class_names:
            names = self.description.class_names
            keys = [format_number(float(v)) if not isinstance(v, str) else v for v in values]
            unknown = sorted({k for k in keys[self.window :] if k not in names})
            if unknown:
                raise DataError(
                    f"{shown_path(path)}: column {self.target!r}: unknown class(es) {', '.join(unknown)}; classes: "
                    f"{', '.join(names)}"
                )
            labels = np.asarray([names.index(k) if k in names else -1 for k in keys])[ends + 1]
        else:
            targets = values.astype("float32")
            ahead = ends[:, None] + 1 + np.arange(self.horizon)[None, :]
            labels = targets[ahead][:, 0] if self.horizon == 1 else targets[ahead]
            last = targets[ends]
            self._naive = last if self.horizon == 1 else np.repeat(last[:, None], self.horizon, axis=1)
        return self._inputs(series, ends), labels

    def naive_forecast(self):
        return self._naive
