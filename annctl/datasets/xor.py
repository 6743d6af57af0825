"""The XOR truth table: the course's example of what a single perceptron cannot learn."""

from __future__ import annotations

from typing import Literal

from annctl.datasets import register_dataset
from annctl.datasets.base import Dataset, DatasetSpec


@register_dataset
class Xor(DatasetSpec):
    """XOR truth table: 4 rows, 2 binary inputs, train = validation = test (classification)."""

    name: Literal["xor"] = "xor"

    def known_task(self):
        return "classification"

    def known_num_classes(self):
        return 2

    def load(self, seed: int) -> Dataset:
        import numpy as np

        x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype="float32")
        y = np.array([0, 1, 1, 0], dtype="int64")
        return Dataset.same_rows(
            x,
            y,
            task="classification",
            feature_names=["x1", "x2"],
            target_name="xor",
            class_names=["0", "1"],
            normalize=False,
        )
