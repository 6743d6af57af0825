"""The user's own CSV file: numeric and text feature columns and one target column, in the dialect spreadsheets
and exports write (see ``csv_dialect``); any column name a CSV can hold."""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field

from annctl.datasets.base import Data, Example, unknown_name
from annctl.datasets.csv_dialect import (
    DelimiterField,
    Dialect,
    column_name,
    decimal_field,
    delimiter_field,
    encoding_field,
    header_problems,
    one_column_message,
    open_text,
    parse_number,
    python_encoding,
    rows_of,
    sample_of,
    shown,
    undecodable,
)
from annctl.datasets.registry import register_dataset
from annctl.datasets.tabular import TabularSpec, is_missing, keras_names
from annctl.errors import DataError
from annctl.paths import resolved
from annctl.wording import shown_path

MAX_CLASSES_FOR_INTEGER_TARGET = 20  # an integer target with at most this many values is taken as class labels


def column_type(cells: list[str], decimal: str = ".") -> str:
    """`numeric` when every present cell is a number, else `text`."""
    for cell in cells:
        if not is_missing(cell) and parse_number(cell, decimal) is None:
            return "text"
    return "numeric"


def numeric_array(cells: list[str], decimal: str = "."):
    import numpy as np

    return np.asarray([float("nan") if is_missing(c) else parse_number(c, decimal) for c in cells], dtype="float32")


def other_decimal(cells: list[str], decimal: str) -> str | None:
    """The other decimal mark when every present cell is a number written with it and some have a fraction
    (a column of decimal commas read with `decimal: "."`, or the reverse), else None."""
    other = "," if decimal == "." else "."
    present = [cell for cell in cells if not is_missing(cell)]
    if present and any(other in cell for cell in present) and column_type(present, other) == "numeric":
        return other
    return None


@dataclass(frozen=True)
class Header:
    """A CSV file's header as read: column names, the line it is on, the delimiter and whether it was detected."""

    names: list[str]
    line: int
    delimiter: str
    detected: bool


def _located(path: Path, where: tuple, message: str) -> str:
    """A `validate` problem as `load` raises it: the same message, after the file where it has none."""
    return message if str(path) in message else f"{shown_path(path)}: dataset.{'.'.join(map(str, where))}: {message}"


@register_dataset
class CsvFile(TabularSpec):
    """Your own CSV file: numeric and text feature columns, a `target` column, missing values handled."""

    name: Literal["csv"] = "csv"
    path: str = Field(..., min_length=1, description="CSV file; a relative path is relative to the experiment file.")
    target: str = Field(..., min_length=1, description="Name of the column to predict.")
    task: Literal["auto", "classification", "regression"] = Field(
        "auto",
        description="`auto`: classification when the target is text or has at most "
        f"{MAX_CLASSES_FOR_INTEGER_TARGET} distinct integers, regression otherwise.",
    )
    delimiter: DelimiterField = delimiter_field()
    decimal: Literal[".", ","] = decimal_field()
    encoding: str = encoding_field()
    header: bool = Field(True, description="The first row names the columns (false: columns are column_1, ...).")
    missing: Literal["error", "drop", "mean", "median", "most_frequent"] = Field(
        "error",
        description="Empty or NA cells: `error` stops naming each column and its count; `drop` drops those rows; "
        "`mean`/`median`/`most_frequent` fill them with a value from the training split (text columns: the most "
        "frequent value), saved inside the model. Rows without a target are always dropped.",
    )

    smoke_reference: ClassVar[bool] = True

    @classmethod
    def example(cls, directory):
        """60 rows: three numeric features, a text target (two classes)."""
        import numpy as np

        rng = np.random.default_rng(0)
        x = rng.normal(size=(60, 3)).round(4)
        labels = np.where(x[:, 0] + x[:, 1] > 0, "yes_class", "no_class")
        path = Path(directory) / "example.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("a,b,c,target\n" + "".join(f"{r[0]},{r[1]},{r[2]},{t}\n" for r, t in zip(x, labels)))
        return Example({"name": "csv", "path": str(path), "target": "target"}, new_inputs=path)

    def known_task(self):
        return None if self.task == "auto" else self.task

    def known_num_classes(self):
        return 2 if self.positive_class else None

    def resolve_paths(self, base_dir: Path) -> CsvFile:
        path = Path(self.path).expanduser()
        return self if path.is_absolute() else self.model_copy(update={"path": str(resolved(base_dir / path))})

    def dialect(self) -> Dialect:
        return Dialect("\t" if self.delimiter == "tab" else self.delimiter, self.decimal, self.encoding)

    def problems(self):
        """The file decodes, and its header (with the spec's dialect) splits into columns, names each one once
        and has `target` and `features` — what `load` would stop at, found without loading anything."""
        return self._problems(whole_file=True)[0]

    def _problems(self, whole_file: bool) -> tuple[list[tuple[tuple, str]], Header | None]:
        found, head = self.read_header(whole_file)
        if head is not None:
            found += unknown_name(("target",), self.target, head.names, "column")
            for i, name in enumerate(self.features or []):
                found += unknown_name(("features", i), name, head.names, "column")
        return found, head

    def read_header(self, whole_file: bool = False) -> tuple[list[tuple[tuple, str]], Header | None]:
        """The header as `validate` and `load` both see it, and its problems as (field path, message) pairs.
        ``whole_file``: also decode the rest of the file (`validate`; `load` meets it while reading)."""
        path, dialect = Path(self.path), self.dialect()
        try:
            python_encoding(self.encoding)
        except LookupError:
            return [(("encoding",), f"unknown encoding {self.encoding!r}")], None
        try:
            with open_text(path, self.encoding) as handle:
                sample, complete = sample_of(handle)
        except UnicodeDecodeError:
            return [(("encoding",), self._undecodable())], None
        except FileNotFoundError:
            return [(("path",), f"no such file: {path}")], None
        except IsADirectoryError:
            return [(("path",), f"{shown_path(path)} is a directory, not a CSV file")], None
        except OSError as error:
            return [(("path",), f"cannot read {path}: {error.strerror or error}")], None
        delimiter, detected = dialect.resolve(sample, complete)
        try:
            line, cells = next(rows_of(io.StringIO(sample), delimiter), (0, []))
        except csv.Error as error:
            return [(("path",), f"{shown_path(path)}: unreadable CSV: {error}")], None
        if not cells:
            return [(("path",), f"{shown_path(path)} is empty; expected a header row and data rows")], None
        where = f"{shown_path(path)}:{line}"
        one_column = one_column_message(where, cells, delimiter, sample, "dataset.delimiter")
        if one_column:
            return [(("delimiter",), one_column)], None
        if self.header:
            names = [column_name(cell) for cell in cells]
            found = [(("path",), message) for message in header_problems(where, names)]
        else:
            names, found = [f"column_{i + 1}" for i in range(len(cells))], []
        if whole_file and not complete and (message := undecodable(path, self.encoding)):
            found.append((("encoding",), message))
        return found, Header(names, line, delimiter, detected)

    def _undecodable(self) -> str:
        return undecodable(Path(self.path), self.encoding) or f"{shown_path(self.path)}: not {self.encoding} text"

    def read(self) -> tuple[Header, list[tuple[int, list[str]]]]:
        """The header and the data rows, each with the line it starts on; header problems are exit 2."""
        path = Path(self.path)
        found, head = self._problems(whole_file=False)
        if head is None or found:
            raise DataError("\n".join(_located(path, where, message) for where, message in found))
        try:
            with open_text(path, self.encoding) as handle:
                rows = list(rows_of(handle, head.delimiter))
        except UnicodeDecodeError:
            raise DataError(self._undecodable()) from None
        except (OSError, csv.Error) as error:
            raise DataError(
                f"{shown_path(path)}: cannot read CSV: {getattr(error, 'strerror', None) or error}"
            ) from None
        body = rows[1:] if self.header else rows
        if not body:
            raise DataError(f"{shown_path(path)}: no data rows after the header")
        return head, body

    def load(self, seed: int) -> Data:
        import numpy as np

        head, body = self.read()
        header, path, dialect = head.names, self.path, self.dialect()
        notes = []  # told at train time (Data.notes), not on every load
        if head.detected:
            chosen = shown(head.delimiter)
            notes.append(f"{shown_path(path)}: delimiter {chosen} detected (dataset.delimiter: auto; set it to choose)")
        features = self.features or [name for name in header if name != self.target]
        for line, row in body:
            if len(row) != len(header):
                raise DataError(
                    f"{shown_path(path)}:{line}: expected {len(header)} fields, found {len(row)}"
                    + (f" (delimiter {shown(head.delimiter)}, detected)" if head.detected else "")
                )
        positions = {name: header.index(name) for name in [*features, self.target]}
        columns = {name: [row[j].strip() for _, row in body] for name, j in positions.items()}
        missing = {name: sum(is_missing(cell) for cell in cells) for name, cells in columns.items()}
        missing = {name: count for name, count in missing.items() if count}
        if missing and self.missing == "error":
            listed = ", ".join(f"{name} ({count})" for name, count in missing.items())
            raise DataError(
                f"{shown_path(path)}: missing values in {listed}; set dataset.missing to drop, mean, median or "
                "most_frequent (imputation values come from the training split and are saved in the model)"
            )
        keep = [i for i in range(len(body)) if not is_missing(columns[self.target][i])]
        if self.missing == "drop":
            keep = [i for i in keep if not any(is_missing(columns[name][i]) for name in features)]
        if not keep:
            raise DataError(f"{shown_path(path)}: no rows left after dropping rows with missing values")
        lines = [body[i][0] for i in keep]
        columns = {name: [cells[i] for i in keep] for name, cells in columns.items()}
        types = {name: column_type(columns[name], dialect.decimal) for name in features}
        for name in features:
            if types[name] == "numeric":
                for line, cell in zip(lines, columns[name]):
                    if not is_missing(cell) and not math.isfinite(dialect.number(cell) or 0.0):
                        raise DataError(f"{shown_path(path)}:{line}: column {name!r}: {cell!r} is not a finite number")
            elif decimal := other_decimal(columns[name], dialect.decimal):
                notes.append(
                    f"{shown_path(path)}: column {name!r} is read as text, but its values are numbers written with "
                    f"decimal {decimal!r}: set dataset.decimal to that"
                )
        task, y, class_names = self._target(columns[self.target], lines, notes)
        keys = dict(zip(features, keras_names(features)))
        x: Any
        if "text" in types.values():
            x = {
                keys[name]: numeric_array(columns[name], dialect.decimal)
                if types[name] == "numeric"
                else np.asarray(["" if is_missing(c) else c for c in columns[name]], dtype=object)
                for name in features
            }
        else:
            x = np.stack([numeric_array(columns[name], dialect.decimal) for name in features], axis=1)
        imputes = self.missing in ("mean", "median", "most_frequent") and any(name in missing for name in features)
        data = self.finish(
            x,
            y,
            seed,
            task=task,
            feature_names=features,
            target_name=self.target,
            class_names=class_names,
            types=types,
            fill_strategy=self.missing if imputes else None,
            details={"delimiter": head.delimiter, "decimal": self.decimal, "encoding": self.encoding},
        )
        data.notes += notes
        return data

    def _target(self, raw: list[str], lines: list[int], notes: list[str]):
        import numpy as np

        parsed = [parse_number(cell, self.decimal) for cell in raw]
        numbers: list[float] | None = None  # None: some cell is not a number
        if all(value is not None for value in parsed):
            numbers = [value for value in parsed if value is not None]
        task = self.task
        if task == "auto":
            integral = numbers is not None and all(math.isfinite(v) and v == int(v) for v in numbers)
            few = len(set(raw)) <= MAX_CLASSES_FOR_INTEGER_TARGET
            task = "classification" if numbers is None or (integral and few) else "regression"
            if numbers is None and (decimal := other_decimal(raw, self.decimal)):
                notes.append(
                    f"{shown_path(self.path)}: "
                    f"target {self.target!r} is read as class labels, but its values are numbers "
                    f"written with decimal {decimal!r}: set dataset.decimal to that"
                )
        if task == "regression":
            if numbers is None:
                bad = next(i for i, cell in enumerate(raw) if parse_number(cell, self.decimal) is None)
                raise DataError(
                    f"{shown_path(self.path)}:{lines[bad]}: column {self.target!r}: non-numeric target {raw[bad]!r} "
                    "for a regression task (set dataset.task: classification for text labels, or dataset.decimal "
                    "for numbers with another decimal mark)"
                )
            infinite = next((i for i, v in enumerate(numbers) if not math.isfinite(v)), None)
            if infinite is not None:
                where = f"{shown_path(self.path)}:{lines[infinite]}"
                raise DataError(f"{where}: column {self.target!r}: {raw[infinite]!r} is not a finite number")
            return task, np.asarray(numbers, dtype="float32"), None
        if numbers is not None and all(math.isfinite(v) and v == int(v) for v in numbers):
            labels = sorted({int(v) for v in numbers})
            names = [str(v) for v in labels]
            keys = [str(int(v)) for v in numbers]
        else:
            names = sorted(set(raw))
            keys = raw
        if len(names) < 2:
            raise DataError(
                f"{shown_path(self.path)}: column {self.target!r}: a classification target needs at least 2 classes"
            )
        lookup = {name: i for i, name in enumerate(names)}
        return task, np.asarray([lookup[k] for k in keys], dtype="int64"), names
