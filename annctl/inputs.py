"""Reading rows for `predict` and `evaluate --data`: CSV, JSON lines, .npy/.npz, images; validated, in chunks.

Every problem is a DataError (exit 2) naming the file, the row and the column, raised before the rows that
contain it reach the model.
"""

from __future__ import annotations

import csv
import io
import json
import math
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TextIO

from annctl.errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
Warn = Callable[[str], None]


def _number(text: Any, where: str, column: str) -> float:
    if isinstance(text, bool) or text is None:
        raise DataError(f"{where}: column {column!r}: expected a number, got {json.dumps(text)}")
    try:
        value = float(text.strip() if isinstance(text, str) else text)
    except (TypeError, ValueError):
        shown = "an empty cell" if isinstance(text, str) and not text.strip() else f"non-numeric value {text!r}"
        raise DataError(f"{where}: column {column!r}: {shown}") from None
    if not math.isfinite(value):
        raise DataError(f"{where}: column {column!r}: {text!r} is not a finite number")
    return value


class InputSource:
    """Yields ``(x_chunk, labels)``: validated float32 (or uint8 image) arrays and optional row labels."""

    def __init__(self, source: str, info: dict[str, Any], chunk_rows: int = 8192, warn: Warn | None = None):
        self.source, self.info, self.chunk_rows = source, info, chunk_rows
        self.warn = warn or (lambda message: None)
        self.features: list[str] = info["feature_names"]
        self.types: dict[str, str] = info.get("feature_types") or {}
        self.fill_values: dict[str, Any] = info.get("fill_values") or {}

    def _value(self, cell: Any, where: str, column: str) -> float | str:
        """One cell as the model takes it: a number, text for text columns, NaN where the run imputes."""
        from annctl.datasets.csv_file import is_missing

        text = cell if isinstance(cell, str) else ("" if cell is None else None)
        if text is not None and is_missing(text):
            if column in self.fill_values:
                return "" if self.types.get(column) == "text" else float("nan")
            raise DataError(
                f"{where}: column {column!r}: missing value, and this run was trained without "
                "imputation (dataset.missing: error or drop)"
            )
        if self.types.get(column) == "text":
            return str(cell).strip()
        return _number(cell, where, column)

    def _chunk(self, rows: list[list[Any]]):
        import numpy as np

        if "text" not in self.types.values():
            return np.asarray(rows, dtype="float32")
        return {
            name: np.asarray([row[j] for row in rows], dtype=object if self.types[name] == "text" else "float32")
            for j, name in enumerate(self.features)
        }

    def chunks(self) -> Iterator[tuple[Any, list[str] | None]]:
        if self.source == "-":
            text = sys.stdin.read()
            if not text.strip():
                raise DataError("<stdin>: no input rows")
            stream = io.StringIO(text)
            if text.lstrip().startswith("{"):
                yield from self._jsonl(stream, "<stdin>")
            else:
                yield from self._csv(stream, "<stdin>")
            return
        path = Path(self.source)
        if not path.exists():
            raise DataError(f"{path}: no such file or folder")
        if path.is_dir() or path.suffix.lower() in IMAGE_SUFFIXES:
            yield from self._images(path)
            return
        if path.stat().st_size == 0:
            raise DataError(f"{path}: the file is empty")
        suffix = path.suffix.lower()
        if suffix in (".npy", ".npz"):
            yield from self._arrays(path)
            return
        if self.info["input_kind"] == "image":
            raise DataError(f"{path}: an image model takes .npy/.npz arrays or PNG/JPEG images, not {suffix or 'this'}")
        try:
            with open(path, newline="", encoding="utf-8") as handle:
                if suffix in (".jsonl", ".ndjson", ".json"):
                    yield from self._jsonl(handle, str(path))
                else:
                    yield from self._csv(handle, str(path))
        except UnicodeDecodeError as error:
            raise DataError(f"{path}: not UTF-8 text ({error.reason} at byte {error.start})") from None

    def _csv(self, handle: TextIO, name: str) -> Iterator[tuple[Any, None]]:

        reader = csv.reader(handle)
        try:
            header = [column.strip() for column in next(reader)]
        except StopIteration:
            raise DataError(f"{name}: the file is empty; expected a header row naming the features") from None
        except csv.Error as error:
            raise DataError(f"{name}:1: unreadable CSV: {error}") from None
        missing = [feature for feature in self.features if feature not in header]
        if missing:
            raise DataError(
                f"{name}: missing feature column(s) {', '.join(missing)}; the model needs {', '.join(self.features)}"
            )
        extra = [c for c in header if c not in self.features and c != self.info.get("target_name")]
        if extra:
            self.warn(f"{name}: ignoring column(s) the model does not use: {', '.join(extra)}")
        index = [header.index(feature) for feature in self.features]
        rows: list[list[float]] = []
        count = 0
        try:
            for line_number, row in enumerate(reader, start=2):
                if not row or not any(cell.strip() for cell in row):
                    continue
                if len(row) != len(header):
                    raise DataError(f"{name}:{line_number}: expected {len(header)} fields, found {len(row)}")
                rows.append([self._value(row[i], f"{name}:{line_number}", header[i]) for i in index])
                count += 1
                if len(rows) == self.chunk_rows:
                    yield self._chunk(rows), None
                    rows = []
        except csv.Error as error:
            raise DataError(f"{name}:{reader.line_num}: unreadable CSV: {error}") from None
        if rows:
            yield self._chunk(rows), None
        if count == 0:
            raise DataError(f"{name}: no data rows after the header")

    def _jsonl(self, handle: TextIO, name: str) -> Iterator[tuple[Any, None]]:

        rows: list[list[float]] = []
        count, warned = 0, False
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except ValueError as error:
                raise DataError(f"{name}:{line_number}: not valid JSON: {error}") from None
            if not isinstance(item, dict):
                raise DataError(f"{name}:{line_number}: expected a JSON object of feature values")
            missing = [feature for feature in self.features if feature not in item]
            if missing:
                raise DataError(f"{name}:{line_number}: missing feature(s) {', '.join(missing)}")
            extra = [k for k in item if k not in self.features and k != self.info.get("target_name")]
            if extra and not warned:
                self.warn(f"{name}: ignoring key(s) the model does not use: {', '.join(extra)}")
                warned = True
            rows.append([self._value(item[f], f"{name}:{line_number}", f) for f in self.features])
            count += 1
            if len(rows) == self.chunk_rows:
                yield self._chunk(rows), None
                rows = []
        if rows:
            yield self._chunk(rows), None
        if count == 0:
            raise DataError(f"{name}: no input rows")

    def _arrays(self, path: Path) -> Iterator[tuple[Any, None]]:
        import numpy as np

        try:
            if path.suffix.lower() == ".npz":
                with np.load(path, allow_pickle=False) as archive:
                    if len(archive.files) != 1 and "x" not in archive.files:
                        raise DataError(
                            f"{path}: expected one array, or one named `x`; found {', '.join(archive.files)}"
                        )
                    array = archive["x" if "x" in archive.files else archive.files[0]]
            else:
                array = np.load(path, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as error:
            raise DataError(f"{path}: cannot read the array: {error}") from None
        shape = tuple(self.info["input_shape"])
        if tuple(array.shape[1:]) != shape:
            raise DataError(
                f"{path}: array shape {tuple(array.shape)} does not fit the model's input "
                f"(N, {', '.join(map(str, shape))})"
            )
        if array.dtype.kind not in "uif":
            raise DataError(f"{path}: array of {array.dtype} values; expected numbers")
        if len(array) == 0:
            raise DataError(f"{path}: the array has no rows")
        for start in range(0, len(array), self.chunk_rows):
            chunk = np.asarray(array[start : start + self.chunk_rows])
            if chunk.dtype.kind == "f" and not np.isfinite(chunk).all():
                bad = int(np.argwhere(~np.isfinite(chunk.reshape(len(chunk), -1)).any(axis=1))[0][0])
                raise DataError(f"{path}: row {start + bad}: NaN or infinite value")
            if self.info["input_kind"] == "image" and chunk.dtype != np.uint8:
                if chunk.min() < 0 or chunk.max() > 255:
                    raise DataError(f"{path}: image pixel values must lie in 0..255")
                chunk = chunk.astype("uint8")
            elif self.info["input_kind"] != "image":
                chunk = chunk.astype("float32")
            yield chunk, None

    def _images(self, path: Path) -> Iterator[tuple[Any, list[str]]]:
        import numpy as np

        if self.info["input_kind"] != "image":
            raise DataError(
                f"{path}: images are input for image models only; this model takes {', '.join(self.features)}"
            )
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) if path.is_dir() else [path]
        if not files:
            raise DataError(f"{path}: no PNG or JPEG images in this folder")
        height, width = self.info["input_shape"][:2]
        for start in range(0, len(files), self.chunk_rows):
            batch = files[start : start + self.chunk_rows]
            yield np.stack([load_image(file, height, width) for file in batch]), [str(f) for f in batch]


def load_image(path: Path, height: int, width: int):
    """A PNG/JPEG as the model's input: grayscale uint8, resized to height x width."""
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image = image.convert("L")
            if image.size != (width, height):
                image = image.resize((width, height))
            return np.asarray(image, dtype="uint8")
    except (OSError, UnidentifiedImageError, ValueError) as error:
        raise DataError(f"{path}: unreadable image: {error}") from None


def read_labeled_csv(path: Path, info: dict[str, Any]):
    """Features plus the target column, for `evaluate --data`."""
    import numpy as np

    target = info["target_name"]
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            header = next(csv.reader(handle), None)
    except OSError as error:
        raise DataError(f"{path}: cannot read: {error.strerror or error}") from None
    if not header or target not in [c.strip() for c in header]:
        raise DataError(f"{path}: no target column {target!r}; --data needs the features and the target")
    source = InputSource(str(path), info)
    chunks = [chunk for chunk, _ in source.chunks()]
    if isinstance(chunks[0], dict):
        x = {name: np.concatenate([chunk[name] for chunk in chunks]) for name in chunks[0]}
    else:
        x = np.concatenate(chunks)
    labels = []
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        for line_number, row in enumerate(reader, start=2):
            if not any((v or "").strip() for v in row.values()):
                continue
            cell = (row.get(target) or "").strip()
            if info["task"] == "classification":
                names = info["class_names"]
                if cell not in names:
                    raise DataError(
                        f"{path}:{line_number}: column {target!r}: unknown class {cell!r}; classes: {', '.join(names)}"
                    )
                labels.append(names.index(cell))
            else:
                labels.append(_number(cell, f"{path}:{line_number}", target))
    dtype = "int64" if info["task"] == "classification" else "float32"
    return x, np.asarray(labels, dtype=dtype)
