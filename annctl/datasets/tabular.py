"""The tabular kind: rows of named features (numbers, or text in CSV files), split at random.

Shared by the tabular entries (iris, california_housing, csv, xor, inline): how their description is made
from the training split, how the rows enter a model (fill, standardise, one-hot text — saved inside the
model, so it takes raw rows), and how `predict` and `evaluate --data` read new rows (CSV, JSON lines, .npy).
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import math
import re
import sys
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TextIO, TypeVar

from pydantic import Field

from annctl.datasets.base import (
    ArraySplit,
    Data,
    DatasetSpec,
    Feature,
    InputBlock,
    InputDescription,
    InputKind,
    Warn,
    unknown_name,
)
from annctl.datasets.csv_dialect import (
    SAMPLE_CHARS,
    Dialect,
    column_name,
    header_problems,
    one_column_message,
    open_text,
    parse_number,
    python_encoding,
    rows_of,
    undecodable,
)
from annctl.datasets.interfaces import InputReader
from annctl.errors import DataError, SpecError, UsageError
from annctl.paths import why_unreadable
from annctl.specbase import Task
from annctl.wording import shown_path

if TYPE_CHECKING:
    import numpy as np

Described = TypeVar("Described", bound=InputDescription)  # a run's DataInfo stays a DataInfo

MISSING_TOKENS = {"", "na", "n/a", "nan", "null", "none", "?"}  # compared lower-cased


def is_missing(cell: str) -> bool:
    return cell.strip().lower() in MISSING_TOKENS


INPUT_PREFIX = "in_"  # a column's Keras input is `in_<name>`: apart from any layer an architecture names
KERAS_NAME_CHARS = 40  # longer names are cut (the full name stays in dataset.json)
LETTERS = {"ß": "ss", "æ": "ae", "ø": "o", "œ": "oe", "ł": "l", "đ": "d", "ð": "d", "þ": "th"}  # no NFKD form


def keras_names(columns: list[str]) -> list[str]:
    """The model's names for these columns, in order — the one place they are made. `in_`, then the name in
    lower-case ASCII letters, digits and `_`: accents dropped (`é` → `e`, `ß` → `ss`, `²` → `2`), every other
    run of characters one `_`, at most 40 characters, `column_N` (its position) when nothing is left; a name
    taken already (`a b` and `a-b`) gets `_2`, `_3`, ... Any name a CSV holds (spaces, punctuation, non-ASCII,
    leading digits) so becomes a valid, unique Keras input, layer and TensorFlow scope name; the layers made
    from it are `fill_`, `lookup_`, `normalize_` and the same part."""
    names: list[str] = []
    taken: set[str] = set()
    for position, column in enumerate(columns, start=1):
        ascii_text = "".join(LETTERS.get(char, char) for char in column.lower())
        ascii_text = unicodedata.normalize("NFKD", ascii_text).encode("ascii", "ignore").decode()
        part = re.sub(r"[^a-z0-9]+", "_", ascii_text).strip("_")[:KERAS_NAME_CHARS].rstrip("_")
        part = part or f"column_{position}"
        name, count = part, 1
        while name in taken:
            count += 1
            name = f"{part}_{count}"
        taken.add(name)
        names.append(INPUT_PREFIX + name)
    return names


class TabularDataset(DatasetSpec):
    """Datasets of feature rows: the tabular input block and row reader."""

    kind: ClassVar[InputKind] = "tabular"

    def input_block(self, description: InputDescription) -> InputBlock:
        return TabularBlock(description)

    def reader(self, description: InputDescription, source: str, *, chunk_rows: int, warn: Warn | None = None):
        return RowReader(description, source, chunk_rows=chunk_rows, warn=warn)


class TabularSpec(TabularDataset):
    """Tabular datasets split at random (stratified for classes), with the course's options."""

    test_split: float = Field(0.2, gt=0, lt=1, description="Fraction of all rows held out as the test set.")
    validation_split: float = Field(
        0.2, gt=0, lt=1, description="Fraction of the remaining (non-test) rows held out for validation."
    )
    normalize: bool = Field(
        True, description="Standardise features with a Normalization layer adapted on the training split."
    )
    features: list[str] | None = Field(
        None, min_length=1, description="Feature columns to use, by name (default: all of them)."
    )
    positive_class: str | None = Field(
        None, description="Turn a multi-class target into one-vs-rest: this class against all others."
    )

    def known_names(self, features: list[str], classes: list[str] | None) -> list[tuple[tuple, str]]:
        """`problems` for a dataset whose feature and class names are constants (classes None: regression)."""
        found = [
            p
            for i, name in enumerate(self.features or [])
            for p in unknown_name(("features", i), name, features, "feature")
        ]
        if self.positive_class is not None:
            if classes is None:
                found.append((("positive_class",), "applies to classification datasets only"))
            else:
                found += unknown_name(("positive_class",), self.positive_class, classes, "class", "classes")
        return found

    def finish(
        self,
        x,
        y,
        seed: int,
        *,
        task: Task,
        feature_names: list[str],
        target_name: str,
        class_names: list[str] | None = None,
        types: dict[str, str] | None = None,
        fill_strategy: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> Data:
        """Apply `features` and `positive_class`, split, and describe the input from the training split.
        ``x`` is an array, or a dict of columns keyed by :func:`keras_names` of ``feature_names``."""
        import numpy as np

        if self.features is not None and self.features != feature_names and not isinstance(x, dict):
            unknown = [name for name in self.features if name not in feature_names]
            if unknown:
                raise DataError(
                    f"dataset.features: no feature {', '.join(map(repr, unknown))}; "
                    f"features: {', '.join(feature_names)}"
                )
            x = x[:, [feature_names.index(name) for name in self.features]]
            feature_names = list(self.features)
        if self.positive_class is not None:
            if task != "classification" or not class_names:
                raise DataError("dataset.positive_class: applies to classification datasets only")
            if self.positive_class not in class_names:
                raise DataError(
                    f"dataset.positive_class: no class {self.positive_class!r}; classes: {', '.join(class_names)}"
                )
            y = (y == class_names.index(self.positive_class)).astype("int64")
            class_names = [f"not_{self.positive_class}", self.positive_class]
        x_train, y_train, x_val, y_val, x_test, y_test = split_tabular(
            x if isinstance(x, dict) else np.asarray(x), np.asarray(y), self, seed, stratify=task == "classification"
        )
        description = describe(
            x_train,
            feature_names,
            types,
            fill_strategy,
            normalize=self.normalize,
            task=task,
            target_name=target_name,
            class_names=class_names,
            n_targets=1 if np.ndim(y) == 1 else int(np.shape(y)[1]),
            details=details,
        )
        return Data(description, ArraySplit(x_train, y_train), ArraySplit(x_val, y_val), ArraySplit(x_test, y_test))


def split_tabular(x, y: np.ndarray, spec: TabularSpec, seed: int, stratify: bool) -> tuple:
    """Test split first, then validation from the rest (as the course does); deterministic in ``seed``.

    ``x`` is an array, or a dict of named columns (CSV files with text columns).
    """
    import numpy as np
    from sklearn.model_selection import train_test_split

    if isinstance(x, dict):
        parts = split_tabular(np.arange(len(y)), y, spec, seed, stratify)
        take = lambda rows: {name: column[rows] for name, column in x.items()}  # noqa: E731
        return take(parts[0]), parts[1], take(parts[2]), parts[3], take(parts[4]), parts[5]

    def split(a, b, fraction):
        try:
            return train_test_split(a, b, test_size=fraction, random_state=seed, stratify=b if stratify else None)
        except ValueError:  # a class too small to stratify (tiny data): plain random split instead
            try:
                return train_test_split(a, b, test_size=fraction, random_state=seed)
            except ValueError as error:
                raise DataError(f"cannot split {len(a)} rows with fraction {fraction}: {error}") from None

    x_rest, x_test, y_rest, y_test = split(x, y, spec.test_split)
    x_train, x_val, y_train, y_val = split(x_rest, y_rest, spec.validation_split)
    if spec.max_train_samples:
        x_train, y_train = x_train[: spec.max_train_samples], y_train[: spec.max_train_samples]
    return x_train, y_train, x_val, y_val, x_test, y_test


def same_rows(x, y, *, description: InputDescription) -> Data:
    """A dataset whose few rows serve as training, validation and test set at once (by-hand examples)."""
    split = ArraySplit(x, y)
    return Data(description, split, split, split)


def describe(
    x_train,
    feature_names: list[str],
    types: dict[str, str] | None = None,
    fill_strategy: str | None = None,
    *,
    normalize: bool,
    task: Task,
    target_name: str,
    class_names: list[str] | None = None,
    n_targets: int = 1,
    details: dict[str, Any] | None = None,
) -> InputDescription:
    """The description of tabular rows, with what the model keeps of the training split: each feature's fill
    value when the data has gaps (``fill_strategy`` mean/median/most_frequent; text: the most frequent value),
    each numeric feature's mean and variance after filling, each text feature's vocabulary."""
    import numpy as np

    types = types or {}
    features = []
    for j, (name, key) in enumerate(zip(feature_names, keras_names(feature_names))):
        column = x_train[key] if isinstance(x_train, dict) else x_train[:, j]
        if types.get(name) == "text":
            present = [str(v) for v in column if str(v).strip()]
            fill = None
            if fill_strategy:
                from collections import Counter

                fill = Counter(present).most_common(1)[0][0] if present else ""
            vocabulary = sorted(set(present))
            features.append(Feature(name=name, input_name=key, type="text", fill=fill, vocabulary=vocabulary))
            continue
        values = np.asarray(column, dtype="float64")
        gaps = np.isnan(values)
        numeric_fill: float | None = None
        if fill_strategy:
            numeric_fill = fill_value(values[~gaps], fill_strategy)
            values = np.where(gaps, numeric_fill, values)
        mean, variance = float(values.mean()), float(values.var())
        features.append(Feature(name=name, input_name=key, mean=mean, variance=variance, fill=numeric_fill))
    mixed = any(feature.type == "text" for feature in features)
    return InputDescription(
        kind="tabular",
        shape=[len(features)],
        dtype="mixed" if mixed else "float32",
        features=features,
        normalize=normalize,
        task=task,
        target_name=target_name,
        class_names=class_names,
        n_targets=n_targets,
        details=details or {},
    )


def fill_value(present: np.ndarray, strategy: str) -> float:
    import numpy as np

    if not len(present):
        return 0.0
    if strategy == "mean":
        return float(present.mean())
    if strategy == "median":
        return float(np.median(present))
    uniques, counts = np.unique(present, return_counts=True)
    return float(uniques[counts.argmax()])


class TabularBlock(InputBlock):
    """Rows enter the model raw: missing values are filled and numbers standardised by layers inside it (so
    a saved model takes raw rows); text columns are one-hot encoded with the training split's vocabulary
    (an unseen value falls into an out-of-vocabulary slot). Text makes one named input per column."""

    def __init__(self, description: InputDescription):
        self.description = description
        self.shape = (
            (sum(len(f.vocabulary or []) + 1 if f.type == "text" else 1 for f in description.features),)
            if description.has_text
            else (len(description.features),)
        )

    def chain(self) -> list | None:
        import keras

        description = self.description
        if description.has_text:
            return None
        layers = [keras.Input(shape=(len(description.features),), name="features")]
        if description.fill_values:
            from annctl.models.keras_layers import FillMissing

            fill = [float(f.fill) if f.fill is not None else 0.0 for f in description.features]
            layers.append(FillMissing(fill, name="fill_missing"))
        if description.normalize:
            mean = [f.mean for f in description.features]
            variance = [f.variance for f in description.features]
            layers.append(keras.layers.Normalization(mean=mean, variance=variance, name="normalize"))
        return layers

    def functional(self):
        if not self.description.has_text:
            return super().functional()
        import keras

        from annctl.models.keras_layers import FillMissing

        inputs, encoded = {}, []
        for feature in self.description.features:
            # the model's names come from keras_names (recorded in the description); runs made before it
            # used the column's name as it was
            key = feature.input_name or feature.name
            part = key.removeprefix(INPUT_PREFIX) if feature.input_name else key
            if feature.type == "text":
                inputs[key] = keras.Input(shape=(1,), dtype="string", name=key)
                tensor = inputs[key]
                if feature.fill is not None:
                    tensor = FillMissing(str(feature.fill), name=f"fill_{part}")(tensor)
                lookup = keras.layers.StringLookup(
                    vocabulary=feature.vocabulary, output_mode="one_hot", name=f"lookup_{part}"
                )
                encoded.append(lookup(tensor))
            else:
                inputs[key] = keras.Input(shape=(1,), name=key)
                tensor = inputs[key]
                if feature.fill is not None:
                    tensor = FillMissing(float(feature.fill), name=f"fill_{part}")(tensor)
                if self.description.normalize:
                    tensor = keras.layers.Normalization(
                        mean=[feature.mean], variance=[feature.variance], name=f"normalize_{part}"
                    )(tensor)
                encoded.append(tensor)
        joined = keras.layers.Concatenate(name="features")(encoded) if len(encoded) > 1 else encoded[0]
        return inputs, joined


def require_chain(block: InputBlock, architecture: str) -> list:
    """The block as a layer chain, or the message that this architecture needs numeric columns."""
    layers = block.chain()
    if layers is None:
        raise SpecError(
            [
                f"model.architecture: text (categorical) CSV columns need the `mlp` architecture, not "
                f"{architecture}; choose numeric columns with dataset.features for this one"
            ]
        )
    return layers


# -- reading new rows: `predict` and `evaluate --data` ---------------------------------------------------------


def _number(text: Any, where: str, column: str, decimal: str = ".") -> float:
    if isinstance(text, bool) or text is None:
        raise DataError(f"{where}: column {column!r}: expected a number, got {json.dumps(text)}")
    value = parse_number(text, decimal) if isinstance(text, str) else float(text)
    if value is None:
        shown_cell = "an empty cell" if not text.strip() else f"non-numeric value {text!r}"
        hint = ""
        if parse_number(text, "," if decimal == "." else ".") is not None:
            hint = f" (the run's decimal mark is {decimal!r}: pass --decimal to read another)"
        raise DataError(f"{where}: column {column!r}: {shown_cell}{hint}")
    if not math.isfinite(value):
        raise DataError(f"{where}: column {column!r}: {text!r} is not a finite number")
    return value


def dialect_options(delimiter: str | None, decimal: str | None, encoding: str | None) -> dict[str, str]:
    """`predict`/`evaluate --data`'s ``--delimiter``, ``--decimal``, ``--encoding``, checked (UsageError), as
    ``details`` keys; options not given are left out."""
    given = {}
    if delimiter is not None:
        given["delimiter"] = {"tab": "\t", "\\t": "\t"}.get(delimiter, delimiter)
        if given["delimiter"] != "auto" and (len(given["delimiter"]) != 1 or given["delimiter"] in '"\r\n'):
            raise UsageError(f"--delimiter {delimiter!r}: use auto, tab, or one character such as ';'")
    if decimal is not None:
        if decimal not in (".", ","):
            raise UsageError(f"--decimal {decimal!r}: use . or ,")
        given["decimal"] = decimal
    if encoding is not None:
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise UsageError(f"--encoding {encoding!r}: unknown encoding (e.g. utf-8, cp1252, latin-1)") from None
        given["encoding"] = encoding
    return given


DIALECT_OPTIONS = {  # the text files each kind of run reads new inputs from, and the options they take
    "tabular": ("delimiter", "decimal", "encoding"),  # CSV rows
    "sequence": ("delimiter", "decimal", "encoding"),  # recent rows of the series, a CSV
    "image": ("encoding",),  # a list file of image paths
}


def with_dialect(description: Described, options: dict[str, str] | None) -> Described:
    """The description with :func:`dialect_options` in place of the dialect recorded from the training file
    (its ``details``: how new text inputs are read); options not given keep that one."""
    if not options:
        return description
    allowed = DIALECT_OPTIONS.get(description.kind, ())
    refused = [option for option in options if option not in allowed]
    if refused:
        given = ", ".join(f"--{option}" for option in refused)
        raise UsageError(
            f"{given}: for CSV rows of tabular and sequence models (--encoding: also a list file of images); "
            f"this run's input is {description.kind}"
        )
    return description.model_copy(update={"details": {**description.details, **options}})


class RowReader(InputReader):
    """Reads new rows — CSV with a header, JSON lines, .npy/.npz, or ``-`` for stdin — validated, in chunks.

    CSV is read in the training file's dialect, recorded in the description's ``details`` (delimiter, decimal
    mark, encoding; a run without them: `,` `.` UTF-8); columns are matched by their names in the file. Every
    problem is a DataError (exit 2) naming the file, the line and the column, raised before the chunk that
    contains it reaches the model. ``chunks()`` yields ``(x, None)`` as the model takes x.
    """

    def __init__(self, description: InputDescription, source: str, *, chunk_rows: int = 8192, warn: Warn | None = None):
        self.description, self.source, self.chunk_rows = description, source, chunk_rows
        self.warn = warn or (lambda message: None)
        self.features: list[str] = description.feature_names
        self.keys: dict[str, str] = description.input_names
        self.types: dict[str, str] = description.feature_types or {}
        self.fill_values: dict[str, Any] = description.fill_values or {}
        details = description.details
        self.dialect = Dialect(
            details.get("delimiter", ","), details.get("decimal", "."), details.get("encoding", "utf-8")
        )

    def _value(self, cell: Any, where: str, column: str) -> float | str:
        """One cell as the model takes it: a number, text for text columns, a gap where the run imputes."""
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
        return _number(cell, where, column, self.dialect.decimal)

    def _chunk(self, rows: list[list[Any]]):
        import numpy as np

        if "text" not in self.types.values():
            return np.asarray(rows, dtype="float32")
        columns = {
            self.keys[name]: np.asarray(
                [row[j] for row in rows], dtype=object if self.types[name] == "text" else "float32"
            )
            for j, name in enumerate(self.features)
        }
        return ArraySplit(columns, np.zeros(len(rows))).model_x(columns)

    def chunks(self) -> Iterator[tuple[Any, list[str] | None]]:
        if self.source == "-":
            text = sys.stdin.read()
            if not text.strip():
                raise DataError("<stdin>: no input rows")
            stream = io.StringIO(text.removeprefix("\ufeff"))
            if text.lstrip("\ufeff \t\r\n").startswith("{"):
                yield from self._jsonl(stream, "<stdin>")
            else:
                yield from self._csv(stream, "<stdin>")
            return
        path = Path(self.source)
        if (why := why_unreadable(path)) is not None:
            raise DataError(f"{shown_path(path)}: {why}")
        suffix = path.suffix.lower()
        if path.is_dir() or suffix in IMAGE_SUFFIXES:
            raise DataError(
                f"{shown_path(path)}: "
                f"images are input for image models only; this model takes {', '.join(self.features)}"
            )
        if path.stat().st_size == 0:
            raise DataError(f"{shown_path(path)}: the file is empty")
        if suffix in (".npy", ".npz"):
            yield from self._arrays(path)
            return
        if suffix in (".jsonl", ".ndjson", ".json"):
            with open(path, newline="", encoding="utf-8-sig") as handle:  # JSON text is UTF-8
                try:
                    yield from self._jsonl(handle, str(path))
                except UnicodeDecodeError:
                    raise DataError(undecodable(path, "utf-8", None) or f"{shown_path(path)}: not UTF-8 text") from None
            return
        yield from self._csv_file(path)

    def _csv_file(self, path: Path, labels: list | None = None) -> Iterator[tuple[Any, None]]:
        encoding = self.dialect.encoding
        try:
            python_encoding(encoding)
        except LookupError:
            raise DataError(f"{shown_path(path)}: unknown encoding {encoding!r}; pass --encoding") from None
        if (why := why_unreadable(path)) is not None:  # `evaluate --data` comes here directly
            raise DataError(f"{shown_path(path)}: {why}")
        if path.is_dir():
            raise DataError(
                f"{shown_path(path)}: a folder; --data for this model takes a CSV file of features and target"
            )
        with open_text(path, encoding) as handle:
            try:
                yield from self._csv(handle, str(path), labels)
            except UnicodeDecodeError:
                raise DataError(
                    undecodable(path, encoding, "--encoding") or f"{shown_path(path)}: not {encoding} text"
                ) from None

    def _csv(self, handle: TextIO, name: str, labels: list | None = None) -> Iterator[tuple[Any, None]]:
        """Rows of a CSV in chunks; with ``labels`` (`evaluate --data`) the target column too, appended to it."""
        sample = handle.read(SAMPLE_CHARS)  # for `auto`, and to say what a one-column header looks like
        handle.seek(0)
        delimiter, _ = self.dialect.resolve(sample, len(sample) < SAMPLE_CHARS)
        rows = rows_of(handle, delimiter)
        try:
            line, cells = next(rows)
        except StopIteration:
            raise DataError(f"{name}: the file is empty; expected a header row naming the features") from None
        except csv.Error as error:
            raise DataError(f"{name}:1: unreadable CSV: {error}") from None
        header = [column_name(cell) for cell in cells]
        target = self.description.target_name
        needed = [*self.features, *([target] if labels is not None else [])]
        missing = [feature for feature in self.features if feature not in header]
        if missing:
            one_column = one_column_message(f"{name}:{line}", cells, delimiter, sample, "--delimiter")
            raise DataError(
                one_column
                or f"{name}:{line}: missing feature column(s) {', '.join(map(repr, missing))}; the model needs "
                f"{', '.join(map(repr, self.features))}"
            )
        if labels is not None and target not in header:
            raise DataError(f"{name}: no target column {target!r}; --data needs the features and the target")
        twice = header_problems(f"{name}:{line}", header, only=needed)
        if twice:
            raise DataError("\n".join(twice))
        used = [*needed, target]
        extra = [repr(c) if c else f"column {i + 1} (no name)" for i, c in enumerate(header) if c not in used]
        if extra:
            self.warn(f"{name}: ignoring column(s) the model does not use: {', '.join(extra)}")
        index = [header.index(feature) for feature in self.features]
        target_index = header.index(target) if labels is not None else -1
        batch: list[list[Any]] = []
        count = 0
        try:
            for line, row in rows:
                if len(row) != len(header):
                    raise DataError(f"{name}:{line}: expected {len(header)} fields, found {len(row)}")
                batch.append([self._value(row[i], f"{name}:{line}", header[i]) for i in index])
                if labels is not None:
                    labels.append(self._label(row[target_index], f"{name}:{line}"))
                count += 1
                if len(batch) == self.chunk_rows:
                    yield self._chunk(batch), None
                    batch = []
        except csv.Error as error:
            raise DataError(f"{name}:{line}: unreadable CSV: {error}") from None
        if batch:
            yield self._chunk(batch), None
        if count == 0:
            raise DataError(f"{name}: no data rows after the header")

    def _label(self, cell: str, where: str) -> int | float:
        description, target = self.description, self.description.target_name
        cell = cell.strip()
        if description.task == "classification":
            names = description.class_names or []
            if cell not in names:
                raise DataError(f"{where}: column {target!r}: unknown class {cell!r}; classes: {', '.join(names)}")
            return names.index(cell)
        return _number(cell, where, target, self.dialect.decimal)

    def _jsonl(self, handle: TextIO, name: str) -> Iterator[tuple[Any, None]]:
        rows: list[list[Any]] = []
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
            extra = [k for k in item if k not in self.features and k != self.description.target_name]
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

        array = load_array(path, self.description.shape)
        for start in range(0, len(array), self.chunk_rows):
            chunk = np.asarray(array[start : start + self.chunk_rows])
            check_finite(chunk, path, start)
            yield chunk.astype("float32"), None

    def read_labeled(self, path: Path):
        """Features plus the target column of a CSV, for `evaluate --data`: (x, labels)."""
        import numpy as np

        labels: list = []
        chunks = [chunk for chunk, _ in self._csv_file(Path(path), labels)]
        x: Any
        if isinstance(chunks[0], dict):
            import tensorflow as tf

            x = {name: tf.concat([chunk[name] for chunk in chunks], axis=0) for name in chunks[0]}
        else:
            x = np.concatenate(chunks)
        dtype = "int64" if self.description.task == "classification" else "float32"
        return x, np.asarray(labels, dtype=dtype)


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")


def load_array(path: Path, shape: tuple[int, ...] | list[int] | None = None):
    """A .npy (memory-mapped) or .npz (one array, or the one named `x`) of numbers, with at least one row,
    each of ``shape`` (a model's input) when given."""
    import numpy as np

    try:
        if path.suffix.lower() == ".npz":
            with np.load(path, allow_pickle=False) as archive:
                if len(archive.files) != 1 and "x" not in archive.files:
                    raise DataError(
                        f"{shown_path(path)}: expected one array, or one named `x`; found {', '.join(archive.files)}"
                    )
                array = archive["x" if "x" in archive.files else archive.files[0]]
        else:
            array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as error:
        raise DataError(f"{shown_path(path)}: cannot read the array: {error}") from None
    if array.dtype.kind not in "uif":
        raise DataError(f"{shown_path(path)}: array of {array.dtype} values; expected numbers")
    if array.ndim == 0 or len(array) == 0:
        raise DataError(f"{shown_path(path)}: the array has no rows")
    if shape is not None and tuple(array.shape[1:]) != tuple(shape):
        raise DataError(
            f"{shown_path(path)}: "
            f"array shape {tuple(array.shape)} does not fit the model's input (N, {', '.join(map(str, shape))})"
        )
    return array


def check_finite(chunk, path: Path, start: int) -> None:
    import numpy as np

    if chunk.dtype.kind == "f" and not np.isfinite(chunk).all():
        bad = int(np.argwhere((~np.isfinite(chunk.reshape(len(chunk), -1))).any(axis=1))[0][0])
        raise DataError(f"{shown_path(path)}: row {start + bad}: NaN or infinite value")
