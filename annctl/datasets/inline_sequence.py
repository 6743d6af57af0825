"""Sequences written in the experiment file itself, for `annctl backprop` through time (the sequence kind's
input block comes from annctl.datasets.timeseries)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, model_validator

from annctl.datasets.base import ArraySplit, Data, Example, Feature, InputDescription, Warn
from annctl.datasets.interfaces import InputReader
from annctl.datasets.registry import register_dataset
from annctl.datasets.tabular import load_array
from annctl.datasets.timeseries import SequenceDataset
from annctl.errors import DataError
from annctl.wording import shown_path

Number = Annotated[float, Field(ge=-1e6, le=1e6, allow_inf_nan=False)]
Step = Annotated[list[Number], Field(min_length=1, max_length=100)]


@register_dataset
class InlineSequence(SequenceDataset):
    """Sequences written in the YAML (`x`, `y`), train = validation = test, for `annctl backprop` through time."""

    name: Literal["inline_sequence"] = "inline_sequence"
    x: list[Annotated[list[Step | Number], Field(min_length=1, max_length=100)]] = Field(
        ...,
        min_length=1,
        max_length=1000,
        description="Sequences: one list of steps per sample, each step a number or a list of features, e.g. "
        "[[1.0, 0.5, -1.0]] (one sample, three steps of one feature).",
    )
    y: list[Annotated[list[Number], Field(min_length=1, max_length=100)]] | list[Number] = Field(
        ...,
        min_length=1,
        max_length=1000,
        description="Targets: one number or list of numbers per sample (regression), or class indices.",
    )
    task: Literal["regression", "classification"] = Field(
        "regression", description="`regression` fits the numbers; `classification` reads `y` as class indices."
    )

    @model_validator(mode="after")
    def _check(self) -> InlineSequence:
        shapes = {tuple(len(step) if isinstance(step, list) else 0 for step in sample) for sample in self.x}
        if len({len(sample) for sample in self.x}) > 1 or len({s for shape in shapes for s in shape}) > 1:
            raise ValueError("x: every sample needs the same number of steps and of features per step")
        if len(self.y) != len(self.x):
            raise ValueError(f"y: {len(self.y)} targets for {len(self.x)} sequences")
        if self.task == "classification" and any(isinstance(v, list) or v != int(v) or v < 0 for v in self.y):
            raise ValueError("y: classification needs one non-negative class index per sequence, e.g. [0, 1]")
        return self

    @classmethod
    def example(cls, directory):
        import numpy as np

        path = Path(directory) / "sequences.npy"
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, np.array([[[0.2], [0.4], [-0.1]]], dtype="float32"))
        fields = {"name": "inline_sequence", "x": [[0.5, 0.1, -0.3], [1.0, -0.5, 0.2]], "y": [0.3, -0.2]}
        return Example(fields, new_inputs=path)

    def known_task(self):
        return self.task

    def known_num_classes(self):
        return int(max(self.y)) + 1 if self.task == "classification" else None

    def load(self, seed: int) -> Data:
        import numpy as np

        x = np.asarray([[step if isinstance(step, list) else [step] for step in sample] for sample in self.x])
        x = x.astype("float64")  # exact course numbers; Keras casts to its float type
        if self.task == "classification":
            y = np.asarray(self.y, dtype="int64")
            names = [str(i) for i in range(int(y.max()) + 1)]
        else:
            y = np.asarray(self.y, dtype="float64")
            names = None
        width = 1 if y.ndim == 1 else y.shape[1]
        description = InputDescription(
            kind="sequence",
            shape=list(x.shape[1:]),
            dtype="float32",
            features=[Feature(name=f"x{i + 1}") for i in range(x.shape[2])],
            normalize=False,
            task=self.task,
            target_name="y" if width == 1 else ",".join(f"y{i + 1}" for i in range(width)),
            class_names=names,
            n_targets=width,
            details={"window": int(x.shape[1]), "horizon": 1},
        )
        split = ArraySplit(x, y)
        return Data(description, split, split, split)

    def reader(self, description: InputDescription, source: str, *, chunk_rows: int, warn: Warn | None = None):
        return ArrayReader(description, source, chunk_rows=chunk_rows)


class ArrayReader(InputReader):
    """New sequences for an `inline_sequence` run: a .npy/.npz array (N, steps, features)."""

    def __init__(self, description: InputDescription, source: str, *, chunk_rows: int = 8192):
        self.description, self.source, self.chunk_rows = description, source, chunk_rows

    def chunks(self):
        import numpy as np

        path = Path(self.source)
        if self.source == "-" or path.suffix.lower() not in (".npy", ".npz") or not path.is_file():
            raise DataError(f"{self.source}: this model takes a .npy/.npz array of sequences (N, steps, features)")
        array = load_array(path, self.description.shape)
        for start in range(0, len(array), self.chunk_rows):
            chunk = np.asarray(array[start : start + self.chunk_rows], dtype="float32")
            if not np.isfinite(chunk).all():
                raise DataError(
                    f"{shown_path(path)}: NaN or infinite value in sequences {start}…{start + len(chunk) - 1}"
                )
            yield chunk, None

    def read_labeled(self, path: Path):
        raise DataError(f"{shown_path(path)}: --data is not supported for inline_sequence runs")
