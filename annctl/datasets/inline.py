"""Data written in the experiment file itself, for the course's by-hand examples."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from annctl.datasets.base import Data, Example
from annctl.datasets.registry import register_dataset
from annctl.datasets.tabular import TabularDataset, describe, same_rows

Number = Annotated[float, Field(ge=-1e6, le=1e6, allow_inf_nan=False)]


@register_dataset
class Inline(TabularDataset):
    """Rows written in the YAML (`x`, `y`): train = validation = test = these rows."""

    name: Literal["inline"] = "inline"
    x: list[Annotated[list[Number], Field(min_length=1, max_length=1000)]] = Field(
        ..., min_length=1, max_length=10_000, description="Input rows, e.g. [[0.05, 0.10]]."
    )
    y: list[Annotated[list[Number], Field(min_length=1, max_length=1000)]] | list[Number] = Field(
        ...,
        min_length=1,
        max_length=10_000,
        description="Targets: one row of numbers per input row (regression), or one class index per row.",
    )
    task: Literal["regression", "classification"] = Field(
        "regression", description="`regression` fits the numbers; `classification` reads `y` as class indices."
    )
    normalize: bool = Field(False, description="Standardise the inputs (off: the course feeds raw numbers).")

    @model_validator(mode="after")
    def _check(self) -> Inline:
        widths = {len(row) for row in self.x}
        if len(widths) > 1:
            raise ValueError(f"x: rows have different lengths {sorted(widths)}")
        if len(self.y) != len(self.x):
            raise ValueError(f"y: {len(self.y)} targets for {len(self.x)} input rows")
        if self.task == "classification":
            if any(isinstance(v, list) or v != int(v) or v < 0 for v in self.y):
                raise ValueError("y: classification needs one non-negative class index per row, e.g. [0, 1, 1, 0]")
        elif isinstance(self.y[0], list) and len({len(row) for row in self.y}) > 1:
            raise ValueError("y: target rows have different lengths")
        return self

    @classmethod
    def example(cls, directory):
        return Example({"name": "inline", "x": [[0.05, 0.1], [0.2, 0.4], [0.9, 0.3]], "y": [[0.01], [0.5], [0.99]]})

    def known_task(self):
        return self.task

    def known_num_classes(self):
        return int(max(self.y)) + 1 if self.task == "classification" else None

    def load(self, seed: int) -> Data:
        import numpy as np

        x = np.asarray(self.x, dtype="float64")  # exact course numbers; Keras casts to its float type
        if self.task == "classification":
            y = np.asarray(self.y, dtype="int64")
            names = [str(i) for i in range(int(y.max()) + 1)]
        else:
            y = np.asarray(self.y, dtype="float64")
            names = None
        width = 1 if y.ndim == 1 else y.shape[1]
        description = describe(
            x,
            [f"x{i + 1}" for i in range(x.shape[1])],
            normalize=self.normalize,
            task=self.task,
            target_name="y" if width == 1 else ",".join(f"y{i + 1}" for i in range(width)),
            class_names=names,
            n_targets=width,
        )
        return same_rows(x, y, description=description)
