"""The XOR truth table: the course's example of what a single perceptron cannot learn."""

from __future__ import annotations

from typing import Literal

from annctl.datasets.base import Data, Example
from annctl.datasets.registry import register_dataset
from annctl.datasets.tabular import TabularDataset, describe, same_rows


@register_dataset
class Xor(TabularDataset):
    """XOR truth table: 4 rows, 2 binary inputs, train = validation = test (classification)."""

    name: Literal["xor"] = "xor"

    @classmethod
    def example(cls, directory):
        return Example({"name": "xor"})

    def known_task(self):
        return "classification"

    def known_num_classes(self):
        return 2

    def load(self, seed: int) -> Data:
        import numpy as np

        x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype="float32")
        y = np.array([0, 1, 1, 0], dtype="int64")
        description = describe(
            x, ["x1", "x2"], normalize=False, task="classification", target_name="xor", class_names=["0", "1"]
        )
        return same_rows(x, y, description=description)
