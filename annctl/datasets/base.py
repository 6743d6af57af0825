"""What every dataset entry gives the rest of annctl: its spec base class, an input description, and splits.

A dataset entry (one file, one decorated class) returns a :class:`Data`: three splits that stream ``(x, y)``
batches as ``tf.data`` pipelines, and an :class:`InputDescription` that says what one input is (kind, shape,
dtype, features and their training-split statistics, classes) — everything an architecture needs to build
its input layers and everything ``predict`` needs to read new inputs, without the training data. The entry
also says how its kind of input enters a model (:meth:`DatasetSpec.input_block`) and how new inputs are read
(:meth:`DatasetSpec.reader`); entries of one kind share those through a kind module (``tabular.py``,
``images.py``).
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field, computed_field, field_validator

from annctl.datasets.interfaces import InputReader, Split
from annctl.specbase import Record, StrictModel, Task

if TYPE_CHECKING:
    import numpy as np

InputKind = str  # a kind of input: declared by the dataset modules (registry.input_kinds), not listed here
Warn = Callable[[str], None]


class Feature(Record):
    """One input column: its name as the user wrote it, its type, and what the model keeps of the training split."""

    name: str = Field(..., description="The column's name in the data (a CSV header, a documented feature name).")
    input_name: str | None = Field(
        None,
        description="The model's name for the column (a Keras input of a model with one input per column, its "
        "SavedModel signature key): made from `name` by annctl.datasets.tabular.keras_names. None: `name`.",
    )
    type: Literal["numeric", "text"] = Field("numeric", description="`numeric`, or `text` (one-hot encoded).")
    mean: float | None = Field(None, description="Training-split mean (standardisation), numeric features.")
    variance: float | None = Field(None, description="Training-split variance (standardisation), numeric features.")
    fill: float | str | None = Field(None, description="What a missing cell becomes (training-split imputation).")
    vocabulary: list[str] | None = Field(None, description="Text features: the training split's values.")


class InputDescription(Record):
    """What one input of a dataset is: written to the run's `dataset.json`, read back by `predict`/`evaluate`."""

    kind: InputKind = Field(
        ...,
        description="The kind of input: `tabular` rows of features, `image`, `sequence`, or another a dataset "
        "module registers.",
        json_schema_extra=lambda schema: _list_kinds(schema),
    )
    shape: list[int] = Field(..., description="One sample's shape as the data holds it, e.g. [4] or [28, 28].")
    dtype: str = Field(..., description="Element type as stored: float32, uint8, or `mixed` (numbers and text).")
    channels: int | None = Field(None, description="Images: colour channels (1 grayscale, 3 RGB, 4 RGBA).")
    features: list[Feature] = Field(default_factory=list, description="Tabular and sequence inputs: the columns.")
    normalize: bool = Field(False, description="Numeric features are standardised inside the model.")
    task: Task = Field(..., description="classification or regression.")
    target_name: str = Field(..., description="The target's name (several targets: comma-separated).")
    class_names: list[str] | None = Field(None, description="Classification: the classes, in label order.")
    n_targets: int = Field(1, description="Regression: values predicted per sample.")
    details: dict[str, Any] = Field(
        default_factory=dict, description="Kind-specific settings for reading new inputs (e.g. image size, mode)."
    )

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, kind: str) -> str:
        if kind not in _registered_kinds():
            raise ValueError(f"unknown input kind {kind!r}; registered: {', '.join(_registered_kinds())}")
        return kind

    @computed_field(description="The features' names (`[image]` for images).")  # type: ignore[prop-decorator]
    @property
    def feature_names(self) -> list[str]:
        return [feature.name for feature in self.features] if self.features else ["image"]

    @property
    def input_names(self) -> dict[str, str]:
        """Each feature's name in the data → the model's name for it (Keras inputs, signature keys)."""
        return {feature.name: feature.input_name or feature.name for feature in self.features}

    @computed_field(description="Tabular inputs: each feature's type.")  # type: ignore[prop-decorator]
    @property
    def feature_types(self) -> dict[str, str] | None:
        return {f.name: f.type for f in self.features} if self.kind == "tabular" else None

    @computed_field(description="What fills a missing cell, per feature (imputation).")  # type: ignore[prop-decorator]
    @property
    def fill_values(self) -> dict[str, float | str] | None:
        fills = {f.name: f.fill for f in self.features if f.fill is not None}
        return fills or None

    @property
    def has_text(self) -> bool:
        return any(feature.type == "text" for feature in self.features)

    @property
    def num_classes(self) -> int:
        return len(self.class_names or [])


def _list_kinds(schema: dict[str, Any]) -> None:
    schema["enum"] = _registered_kinds()  # the JSON Schema lists the kinds registered when it is generated


def _registered_kinds() -> list[str]:
    from annctl.datasets.registry import input_kinds  # the package import registers every dataset

    return input_kinds()


class ArraySplit(Split):
    """A split held in memory: ``x`` an array (rows, ...) or a dict of named columns, ``y`` the labels.

    Batches are gathered from tensors made once, in an order the caller gives (the per-epoch order of
    annctl.training.pipeline), so nothing is copied per epoch.
    """

    def __init__(self, x: Any, y: np.ndarray):
        self.x, self.y = x, y
        self._tensors: tuple[Any, Any] | None = None

    @property
    def size(self) -> int:
        return len(self.y)

    def labels(self) -> np.ndarray:
        return self.y

    def head(self, rows: int) -> ArraySplit:
        """The first ``rows`` samples (``max_train_samples``)."""
        x = {k: v[:rows] for k, v in self.x.items()} if isinstance(self.x, dict) else self.x[:rows]
        return ArraySplit(x, self.y[:rows])

    def model_x(self, x: Any) -> Any:
        """Rows as the model takes them: a dict of columns becomes one (rows, 1) input per name, text as NumPy
        strings (made string tensors only for Keras, by annctl.training.inference.keras_batch: the light
        prediction path reads them without TensorFlow)."""
        if not isinstance(x, dict):
            return x
        import numpy as np

        fed = {}
        for name, column in x.items():
            column = np.asarray(column)
            fed[name] = (column.astype(str) if column.dtype.kind in "OUS" else column).reshape(-1, 1)
        return fed

    def tensors(self) -> tuple[Any, Any]:
        """(x, y) as TensorFlow tensors in the model's input structure, made once."""
        if self._tensors is None:
            import tensorflow as tf

            x = tf.nest.map_structure(tf.convert_to_tensor, self.model_x(self.x))
            self._tensors = (x, tf.convert_to_tensor(self.y))
        return self._tensors

    def batches(self, order):
        """``order``: a tf.data dataset of int64 index batches → a dataset of (x, y) batches in that order."""
        import tensorflow as tf

        x, y = self.tensors()

        def gather(indices):
            return tf.nest.map_structure(lambda a: tf.gather(a, indices), x), tf.gather(y, indices)

        return order.map(gather, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)

    def x_batches(self, batch_size: int) -> Iterator[Any]:
        """The inputs in order, ``batch_size`` rows at a time (for prediction: plain slices, no pipeline)."""
        for start in range(0, self.size, batch_size):
            rows = slice(start, start + batch_size)
            x = {k: v[rows] for k, v in self.x.items()} if isinstance(self.x, dict) else self.x[rows]
            yield self.model_x(x)


@dataclass
class Data:
    """One experiment's data: the description of its input and three splits."""

    description: InputDescription
    train: Split
    validation: Split
    test: Split
    # what training tells the user about how the data was read (a detected CSV delimiter), one line each
    notes: list[str] = field(default_factory=list)

    def split(self, name: str) -> Split:
        """`train`, `validation` or `test`."""
        return {"train": self.train, "validation": self.validation, "test": self.test}[name]

    @property
    def task(self) -> Task:
        return self.description.task

    @property
    def class_names(self) -> list[str] | None:
        return self.description.class_names

    @property
    def num_classes(self) -> int:
        return self.description.num_classes

    @property
    def n_targets(self) -> int:
        return self.description.n_targets

    @property
    def feature_names(self) -> list[str]:
        return self.description.feature_names

    @property
    def train_size(self) -> int:
        return self.train.size


@dataclass
class Example:
    """A tiny instance of a dataset, made offline, for the tests that loop over the registry: the `dataset:`
    fields, environment variables it needs, and a file of new inputs its reader takes (for `predict`)."""

    fields: dict[str, Any]
    env: dict[str, str] = field(default_factory=dict)
    new_inputs: Path | None = None


class DatasetSpec(StrictModel):
    """Fields every dataset accepts. Subclasses add ``name: Literal[...]`` and ``load``; kind bases
    (tabular.TabularDataset, images.ImageDataset) add ``input_block`` and ``reader``."""

    kind: ClassVar[InputKind] = "tabular"
    if TYPE_CHECKING:
        # every entry narrows it to ``Literal["its-name"]`` (the discriminator of the spec's `dataset` union)
        name: str
    # The dataset whose example the architecture smoke tests train on for this kind of input.
    smoke_reference: ClassVar[bool] = False

    @classmethod
    def example(cls, directory: Path) -> Example | None:
        """A tiny instance of this dataset written into ``directory`` (None: only real data exists, and it
        is absent here)."""
        return None

    max_train_samples: int | None = Field(
        None, ge=1, le=100_000_000, description="Train on only the first N training samples (quick trials)."
    )

    def known_task(self) -> Task | None:
        """The task when it is known without reading the data (None: decided at load time)."""
        return None

    def known_num_classes(self) -> int | None:
        return None

    def resolve_paths(self, base_dir: Path) -> DatasetSpec:
        """Return a copy whose relative file paths are made absolute against ``base_dir``."""
        return self

    def load(self, seed: int) -> Data:  # pragma: no cover - every entry overrides it
        raise NotImplementedError

    def problems(self) -> list[tuple[tuple, str]]:
        """What `annctl validate` can find wrong without loading the data: (field path, message) pairs.

        An entry overrides it where it can check something offline (a file's header, known names); data
        absent from this machine is not a problem here.
        """
        return []

    def summary_fields(self, description: InputDescription, test_metrics: dict[str, Any]) -> dict[str, Any]:
        """What this kind of input adds to a finished run's summary.json (fields of records.Summary), from the
        data's description and the test split's metrics (empty for a tuning trial)."""
        return {}

    def input_block(self, description: InputDescription):  # pragma: no cover - kind bases override it
        """The model's input layers for this kind: an :class:`InputBlock`."""
        raise NotImplementedError

    def reader(
        self, description: InputDescription, source: str, *, chunk_rows: int, warn: Warn | None = None
    ) -> InputReader:
        """The reader of new inputs from ``source`` (a file, a folder or ``-``) for `predict`, and of labeled
        ones for `evaluate --data`."""
        raise NotImplementedError  # pragma: no cover - kind bases override it


def unknown_name(path: tuple, name: str, known: list[str], what: str, plural: str = "") -> list[tuple[tuple, str]]:
    """A problem when ``name`` is not one of ``known`` (with a did-you-mean), else none."""
    if name in known:
        return []
    close = difflib.get_close_matches(name, known, n=1)
    hint = f" (did you mean `{close[0]}`?)" if close else ""
    return [(path, f"no {what} {name!r}{hint}; {plural or what + 's'}: {', '.join(known)}")]


class InputBlock:
    """A model's input layers for one kind of input, made fresh on each call.

    ``chain()`` gives them as a plain list (a ``keras.Input`` first) for Sequential models, or None when the
    input is not a chain (e.g. one named input per CSV column); ``functional()`` gives ``(inputs, tensor)``
    for the Functional API. ``shape`` is the prepared tensor's shape without the batch axis.
    """

    shape: tuple[int, ...] = ()
    # Regression outputs in the target's units: (offset, scale) per output unit, applied by the output layer
    # (annctl.models.base.Head), or None when the model learns the targets as they are.
    target_scale: tuple[tuple[float, ...], tuple[float, ...]] | None = None

    def chain(self) -> list | None:  # pragma: no cover - kind modules override it
        raise NotImplementedError

    def functional(self):
        layers = self.chain()
        tensor = layers[0]
        for layer in layers[1:]:
            tensor = layer(tensor)
        return layers[0], tensor


def steps(samples: int, batch_size: int) -> int:
    return math.ceil(samples / batch_size)
