"""The user's own CSV file: numeric feature columns and one target column."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Literal

from pydantic import Field

from annctl.datasets import register_dataset
from annctl.datasets.base import Dataset, TabularSpec
from annctl.errors import DataError

MAX_CLASSES_FOR_INTEGER_TARGET = 20  # an integer target with at most this many values is taken as class labels


@register_dataset
class CsvFile(TabularSpec):
    """Your own CSV file with a header row: numeric features and a `target` column."""

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

    def known_task(self):
        return None if self.task == "auto" else self.task

    def known_num_classes(self):
        return 2 if self.positive_class else None

    def resolve_paths(self, base_dir: Path) -> CsvFile:
        path = Path(self.path).expanduser()
        return self if path.is_absolute() else self.model_copy(update={"path": str((base_dir / path).resolve())})

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
        header = [name.strip() for name in rows[0]]
        body = [row for row in rows[1:] if any(cell.strip() for cell in row)]
        if not body:
            raise DataError(f"{path}: no data rows after the header")
        return header, body

    def load(self, seed: int) -> Dataset:
        import numpy as np

        header, body = self.read()
        path = self.path
        if self.target not in header:
            raise DataError(f"{path}: dataset.target: no column {self.target!r}; columns: {', '.join(header)}")
        features = self.features or [name for name in header if name != self.target]
        missing = [name for name in features if name not in header]
        if missing:
            raise DataError(
                f"{path}: dataset.features: no column(s) {', '.join(missing)}; columns: {', '.join(header)}"
            )
        index = {name: header.index(name) for name in header}
        x = np.empty((len(body), len(features)), dtype="float32")
        for row_number, row in enumerate(body, start=2):
            if len(row) != len(header):
                raise DataError(f"{path}:{row_number}: expected {len(header)} fields, found {len(row)}")
            for j, name in enumerate(features):
                cell = row[index[name]].strip()
                try:
                    value = float(cell)
                except ValueError:
                    what = "an empty cell" if not cell else f"non-numeric value {cell!r}"
                    raise DataError(
                        f"{path}:{row_number}: column {name!r}: {what} (features must be numbers)"
                    ) from None
                if not math.isfinite(value):
                    raise DataError(f"{path}:{row_number}: column {name!r}: {cell!r} is not a finite number")
                x[row_number - 2, j] = value
        raw_target = [row[index[self.target]].strip() for row in body]
        task, y, class_names = self._target(raw_target)
        return self.finish(
            x, y, seed, task=task, feature_names=features, target_name=self.target, class_names=class_names
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
