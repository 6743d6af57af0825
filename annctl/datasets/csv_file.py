"""The user's own CSV file: numeric feature columns and one target column."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field

from annctl.datasets.base import Data, Example, unknown_name
from annctl.datasets.registry import register_dataset
from annctl.datasets.tabular import TabularSpec, is_missing
from annctl.errors import DataError

MAX_CLASSES_FOR_INTEGER_TARGET = 20  # an integer target with at most this many values is taken as class labels


def column_type(cells: list[str]) -> str:
    """`numeric` when every present cell is a number, else `text`."""
    for cell in cells:
        if not is_missing(cell) and not _is_number(cell):
            return "text"
    return "numeric"


def numeric_array(cells: list[str]):
    import numpy as np

    return np.asarray([float("nan") if is_missing(c) else float(c) for c in cells], dtype="float32")


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
    delimiter: str = Field(",", min_length=1, max_length=1, description="Field separator.")
    encoding: str = Field("utf-8", description="Text encoding of the file.")
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
        return self if path.is_absolute() else self.model_copy(update={"path": str((base_dir / path).resolve())})

    def problems(self):
        """The file opens and its header (read alone, with the spec's dialect) has `target` and `features`."""
        path = Path(self.path)
        try:
            with open(path, newline="", encoding=self.encoding) as handle:
                first = next(csv.reader(handle, delimiter=self.delimiter), None)
        except LookupError:
            return [(("encoding",), f"unknown encoding {self.encoding!r}")]
        except UnicodeDecodeError as error:
            return [(("encoding",), f"{path} is not {self.encoding} text ({error.reason} at byte {error.start})")]
        except FileNotFoundError:
            return [(("path",), f"no such file: {path}")]
        except IsADirectoryError:
            return [(("path",), f"{path} is a directory, not a CSV file")]
        except (OSError, csv.Error) as error:
            return [(("path",), f"cannot read {path}: {getattr(error, 'strerror', None) or error}")]
        if first is None:
            return [(("path",), f"{path} is empty; expected a header row and data rows")]
        columns = [name.strip() for name in first] if self.header else [f"column_{i + 1}" for i in range(len(first))]
        found = unknown_name(("target",), self.target, columns, "column")
        for i, name in enumerate(self.features or []):
            found += unknown_name(("features", i), name, columns, "column")
        return found

    def read(self) -> tuple[list[str], list[list[str]]]:
        path = Path(self.path)
        try:
            with open(path, newline="", encoding=self.encoding) as handle:
                rows = list(csv.reader(handle, delimiter=self.delimiter))
        except FileNotFoundError:
            raise DataError(f"{path}: CSV file not found (dataset.path)") from None
        except (OSError, UnicodeDecodeError, LookupError, csv.Error) as error:
            raise DataError(f"{path}: cannot read CSV: {error}") from None
        if not rows:
            raise DataError(f"{path}: the file is empty; expected a header row and data rows")
        if self.header:
            header, rows = [name.strip() for name in rows[0]], rows[1:]
        else:
            header = [f"column_{i + 1}" for i in range(len(rows[0]))]
        body = [row for row in rows if any(cell.strip() for cell in row)]
        if not body:
            raise DataError(f"{path}: no data rows after the header")
        return header, body

    def load(self, seed: int) -> Data:
        import numpy as np

        header, body = self.read()
        path = self.path
        if self.target not in header:
            raise DataError(f"{path}: dataset.target: no column {self.target!r}; columns: {', '.join(header)}")
        features = self.features or [name for name in header if name != self.target]
        unknown = [name for name in features if name not in header]
        if unknown:
            raise DataError(
                f"{path}: dataset.features: no column(s) {', '.join(unknown)}; columns: {', '.join(header)}"
            )
        for row_number, row in enumerate(body, start=2 if self.header else 1):
            if len(row) != len(header):
                raise DataError(f"{path}:{row_number}: expected {len(header)} fields, found {len(row)}")
        first_row = 2 if self.header else 1
        columns = {name: [row[header.index(name)].strip() for row in body] for name in [*features, self.target]}
        missing = {name: sum(is_missing(cell) for cell in cells) for name, cells in columns.items()}
        missing = {name: count for name, count in missing.items() if count}
        if missing and self.missing == "error":
            listed = ", ".join(f"{name} ({count})" for name, count in missing.items())
            raise DataError(
                f"{path}: missing values in {listed}; set dataset.missing to drop, mean, median or "
                "most_frequent (imputation values come from the training split and are saved in the model)"
            )
        keep = [i for i in range(len(body)) if not is_missing(columns[self.target][i])]
        if self.missing == "drop":
            keep = [i for i in keep if not any(is_missing(columns[name][i]) for name in features)]
        if not keep:
            raise DataError(f"{path}: no rows left after dropping rows with missing values")
        columns = {name: [cells[i] for i in keep] for name, cells in columns.items()}
        types = {name: column_type(columns[name]) for name in features}
        for name in features:
            if types[name] == "numeric":
                for i, cell in enumerate(columns[name]):
                    if not is_missing(cell) and not math.isfinite(float(cell)):
                        raise DataError(
                            f"{path}:{keep[i] + first_row}: column {name!r}: {cell!r} is not a finite number"
                        )
        task, y, class_names = self._target(columns[self.target])
        if "text" in types.values():
            x = {
                name: numeric_array(columns[name])
                if types[name] == "numeric"
                else np.asarray(["" if is_missing(c) else c for c in columns[name]], dtype=object)
                for name in features
            }
        else:
            x = np.stack([numeric_array(columns[name]) for name in features], axis=1)
        imputes = self.missing in ("mean", "median", "most_frequent") and any(name in missing for name in features)
        return self.finish(
            x,
            y,
            seed,
            task=task,
            feature_names=features,
            target_name=self.target,
            class_names=class_names,
            types=types,
            fill_strategy=self.missing if imputes else None,
        )

    def _target(self, raw: list[str]):
        import numpy as np

        numbers: list[float] | None = []
        for cell in raw:
            try:
                numbers.append(float(cell))
            except ValueError:
                numbers = None
                break
        task = self.task
        if task == "auto":
            integral = numbers is not None and all(math.isfinite(v) and v == int(v) for v in numbers)
            few = len(set(raw)) <= MAX_CLASSES_FOR_INTEGER_TARGET
            task = "classification" if numbers is None or (integral and few) else "regression"
        if task == "regression":
            if numbers is None:
                bad = next(i for i, cell in enumerate(raw) if not _is_number(cell))
                raise DataError(
                    f"{self.path}:{bad + 2}: column {self.target!r}: non-numeric target {raw[bad]!r} "
                    "for a regression task (set dataset.task: classification for text labels)"
                )
            return task, np.asarray(numbers, dtype="float32"), None
        if numbers is not None and all(v == int(v) for v in numbers):
            labels = sorted({int(v) for v in numbers})
            names = [str(v) for v in labels]
            keys = [str(int(v)) for v in numbers]
        else:
            names = sorted(set(raw))
            keys = raw
        if len(names) < 2:
            raise DataError(f"{self.path}: column {self.target!r}: a classification target needs at least 2 classes")
        lookup = {name: i for i, name in enumerate(names)}
        return task, np.asarray([lookup[k] for k in keys], dtype="int64"), names


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True
