"""Fisher's iris flowers, as shipped inside scikit-learn (no download)."""

from __future__ import annotations

from typing import Literal

from annctl.datasets.base import Data, Example
from annctl.datasets.registry import register_dataset
from annctl.datasets.tabular import TabularSpec

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
CLASSES = ["setosa", "versicolor", "virginica"]


@register_dataset
class Iris(TabularSpec):
    """Iris flowers: 150 rows, 4 measurements (cm), 3 species (classification)."""

    name: Literal["iris"] = "iris"

    @classmethod
    def example(cls, directory):
        return Example({"name": "iris", "features": ["petal_length", "petal_width"]})

    def known_task(self):
        return "classification"

    def known_num_classes(self):
        return 2 if self.positive_class else len(CLASSES)

    def problems(self):
        return self.known_names(FEATURES, CLASSES)

    def load(self, seed: int) -> Data:
        from sklearn.datasets import load_iris

        iris = load_iris()
        x, y = iris.data.astype("float32"), iris.target.astype("int64")
        return self.finish(
            x, y, seed, task="classification", feature_names=FEATURES, target_name="species", class_names=CLASSES
        )
