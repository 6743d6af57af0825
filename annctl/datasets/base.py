"""What every dataset entry shares: its spec base class, the arrays it returns, and the split."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from annctl.errors import DataError
from annctl.specbase import StrictModel, Task

if TYPE_CHECKING:
    import numpy as np


@dataclass
class Dataset:
    """One experiment's data, already split, and what a model needs to know about it.

    Labels of a classification task are integer class indices ``0..len(class_names)-1``.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    task: Task
    feature_names: list[str]
    target_name: str
    class_names: list[str] | None = None
    # "tabular" inputs are standardised by a Normalization layer adapted on x_train;
    # "image" inputs are uint8 and rescaled to [0, 1] by a Rescaling layer in the model.
    input_kind: Literal["tabular", "image"] = "tabular"
    normalize: bool = True
    # CSV files only: "numeric" or "text" per feature (text columns make x a dict of named columns), and the
    # values that fill missing cells, computed on the training split and saved inside the model.
    feature_types: dict[str, str] | None = None
    fill_values: dict[str, float | str] | None = None

    @classmethod
    def same_rows(cls, x, y, **fields) -> Dataset:
        """A dataset whose few rows serve as training, validation and test set at once (by-hand examples)."""
        return cls(x_train=x, y_train=y, x_val=x, y_val=y, x_test=x, y_test=y, **fields)

    @property
    def train_size(self) -> int:
        return len(self.y_train)

    @property
    def has_text(self) -> bool:
        return bool(self.feature_types) and "text" in self.feature_types.values()

    @property
    def input_shape(self) -> tuple[int, ...]:
        if isinstance(self.x_train, dict):
            return (len(self.x_train),)
        return tuple(self.x_train.shape[1:])

    @property
    def num_classes(self) -> int:
        return len(self.class_names or [])

    @property
    def n_targets(self) -> int:
        return 1 if self.y_train.ndim == 1 else int(self.y_train.shape[1])


class DatasetSpec(StrictModel):
    """Fields every dataset accepts. Subclasses add ``name: Literal[...]`` and ``load``."""

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

    def load(self, seed: int) -> Dataset:  # pragma: no cover - every entry overrides it
        raise NotImplementedError

    def problems(self) -> list[tuple[tuple, str]]:
        """What `annctl validate` can find wrong without loading the data: (field path, message) pairs.

        An entry overrides it where it can check something offline (a file's header, known names); data
        absent from this machine is not a problem here.
        """
        return []


def unknown_name(path: tuple, name: str, known: list[str], what: str, plural: str = "") -> list[tuple[tuple, str]]:
    """A problem when ``name`` is not one of ``known`` (with a did-you-mean), else none."""
    if name in known:
        return []
    close = difflib.get_close_matches(name, known, n=1)
    hint = f" (did you mean `{close[0]}`?)" if close else ""
    return [(path, f"no {what} {name!r}{hint}; {plural or what + 's'}: {', '.join(known)}")]


class TabularSpec(DatasetSpec):
    """Tabular datasets: rows of numeric features, split at random (stratified for classes)."""

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
    ) -> Dataset:
        """Apply `features` and `positive_class`, split, and wrap the arrays in a Dataset."""
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
        parts = split_tabular(
            x if isinstance(x, dict) else np.asarray(x), np.asarray(y), self, seed, stratify=task == "classification"
        )
        return Dataset(
            *parts,
            task=task,
            feature_names=feature_names,
            target_name=target_name,
            class_names=class_names,
            normalize=self.normalize,
        )


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
